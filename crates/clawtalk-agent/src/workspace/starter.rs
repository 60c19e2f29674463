//! Starter files for a new agent's workspace (`clawtalk agents add`): short, in Chinese and
//! English, and meant to be rewritten. Existing files are never overwritten, so pointing an
//! agent at an OpenClaw workspace keeps everything in it.

use std::io;
use std::path::Path;

use super::files::{AGENTS, IDENTITY, MEMORY, SOUL, TOOLS, USER};

/// The starter files for an agent called `name`, in prompt order.
#[must_use]
pub fn starter_files(name: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            AGENTS,
            "# AGENTS.md — 工作守则 / Operating rules\n\n\
             - 用用户使用的语言回答；简洁，先给结论。\n  Answer in the user's language; be brief, conclusion first.\n\
             - 群聊里只回答 @ 你的人，不泄露私聊内容。\n  In groups, answer whoever @-mentioned you; never repeat what was said in private.\n\
             - 不确定时先问清楚，不要编造。\n  When unsure, ask; never make things up.\n"
                .to_owned(),
        ),
        (
            SOUL,
            "# SOUL.md — 性格 / Persona\n\n\
             友好、专业、耐心。像一位可靠的同事。\n\
             Friendly, professional and patient: a colleague people can rely on.\n"
                .to_owned(),
        ),
        (
            TOOLS,
            "# TOOLS.md — 工具备注 / Notes on tools\n\n\
             在这里记下团队的系统、链接和约定，例如常用的群、审批流程。\n\
             Write down the team's systems, links and conventions here, e.g. key groups and approval flows.\n"
                .to_owned(),
        ),
        (
            IDENTITY,
            format!(
                "# IDENTITY.md — 身份 / Identity\n\n\
                 - Name: {name}\n\
                 - Emoji: 🦞\n\
                 - Theme: 钉钉里的团队助手 / a team assistant in DingTalk\n"
            ),
        ),
        (
            USER,
            "# USER.md — 服务对象 / Who you help\n\n\
             - 团队 / Team:\n\
             - 时区 / Time zone: Asia/Shanghai\n\
             - 偏好 / Preferences:\n"
                .to_owned(),
        ),
        (
            MEMORY,
            "# MEMORY.md — 长期记忆 / Long-term memory\n\n\
             只在私聊中可见。记下值得长期记住的事实与决定。\n\
             Seen in private chats only. Keep facts and decisions worth remembering here.\n"
                .to_owned(),
        ),
    ]
}

/// Creates `dir` (and its parents) and writes every starter file that does not exist yet.
/// Returns the names written.
///
/// # Errors
/// The directory cannot be created or a file cannot be written.
pub fn create_starter_files(dir: &Path, name: &str) -> io::Result<Vec<&'static str>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (file, text) in starter_files(name) {
        // `create_new` fails on an existing file (or a link), so nothing is ever replaced.
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.join(file));
        match opened {
            Ok(mut f) => {
                io::Write::write_all(&mut f, text.as_bytes())?;
                written.push(file);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_missing_files_and_keeps_existing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("workspace-ops");
        std::fs::create_dir(&ws).unwrap();
        std::fs::write(ws.join("SOUL.md"), "my own persona").unwrap();
        let written = create_starter_files(&ws, "Ops").unwrap();
        assert_eq!(written, [AGENTS, TOOLS, IDENTITY, USER, MEMORY]);
        assert_eq!(
            std::fs::read_to_string(ws.join("SOUL.md")).unwrap(),
            "my own persona"
        );
        let identity = std::fs::read_to_string(ws.join("IDENTITY.md")).unwrap();
        assert_eq!(
            super::super::identity::parse(&identity).name.as_deref(),
            Some("Ops")
        );
        assert!(create_starter_files(&ws, "Ops").unwrap().is_empty());
    }
}
