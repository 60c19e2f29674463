//! The agent's workspace, read the way OpenClaw reads it: its bootstrap files (`AGENTS.md`,
//! `SOUL.md`, `TOOLS.md`, `IDENTITY.md`, `USER.md`, `HEARTBEAT.md`, `BOOTSTRAP.md`,
//! `MEMORY.md`) go into the system prompt in that order, within per-file and total caps,
//! together with the agent's identity. Pointing `workspace` at an OpenClaw workspace keeps
//! the bot's persona, rules and notes; anything else in it (`memory/`, `.openclaw/`, skills)
//! is not read here.

mod budget;
mod cache;
pub mod edit;
pub mod files;
mod identity;
pub mod starter;

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use clawtalk_config::{AgentConfig, BootstrapLimits, Identity};

pub use budget::marker as truncation_marker;
pub use files::{BOOTSTRAP_FILES, SessionKind, is_bootstrap_file};
pub use identity::parse as parse_identity;

/// What the workspace adds to one turn's system prompt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspacePrompt {
    /// The config's `identity`, completed from `IDENTITY.md`.
    pub identity: Identity,
    /// The identity and the files as prompt text; empty when there is nothing to add.
    pub text: String,
}

/// Reads agents' workspaces for their turns, re-reading a file only when it changed.
#[derive(Debug, Default, Clone)]
pub struct Workspaces {
    cache: Arc<cache::FileCache>,
}

impl Workspaces {
    /// The workspace part of the prompt for a turn of `agent` in a session of `kind`. File
    /// reads run off the async threads; a failure leaves the files out, never the turn.
    pub async fn prompt(&self, agent: &AgentConfig, kind: SessionKind) -> WorkspacePrompt {
        let cache = Arc::clone(&self.cache);
        let dir = agent.workspace.clone();
        let (config_identity, limits) = (agent.identity.clone(), agent.bootstrap);
        let built =
            tokio::task::spawn_blocking(move || build(&cache, &dir, &config_identity, limits, kind)).await;
        built.unwrap_or_else(|e| {
            tracing::warn!(agent = %agent.id, "reading the workspace failed: {e}");
            WorkspacePrompt {
                identity: agent.identity.clone(),
                text: String::new(),
            }
        })
    }
}

fn build(
    cache: &cache::FileCache,
    dir: &Path,
    config_identity: &Identity,
    limits: BootstrapLimits,
    kind: SessionKind,
) -> WorkspacePrompt {
    let texts: Vec<(&str, Arc<str>)> = BOOTSTRAP_FILES
        .into_iter()
        .filter(|name| kind.sees(name))
        .filter_map(|name| cache.read(dir, name).map(|text| (name, text)))
        .collect();
    let from_file = texts
        .iter()
        .find(|(name, _)| *name == files::IDENTITY)
        .map(|(_, text)| identity::parse(text))
        .unwrap_or_default();
    let identity = identity::merge(config_identity, &from_file);

    let mut text = String::new();
    let fields = [
        ("Name", &identity.name),
        ("Emoji", &identity.emoji),
        ("Theme", &identity.theme),
    ];
    if fields.iter().any(|(_, v)| v.is_some()) {
        text.push_str("## Your identity\n");
        for (label, value) in fields {
            if let Some(value) = value {
                let _ = writeln!(text, "- {label}: {value}");
            }
        }
    }
    let mut budget = budget::Budget::new(limits);
    let mut sections = String::new();
    for (name, content) in &texts {
        if let Some(kept) = budget.take(name, content) {
            let _ = write!(sections, "\n## {name}\n{kept}\n");
        }
    }
    if !sections.is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        let _ = write!(
            text,
            "# Workspace files\nThese files from your workspace ({}) are yours: follow AGENTS.md, \
             speak as SOUL.md and IDENTITY.md describe, and use USER.md, TOOLS.md and MEMORY.md \
             as your notes. The owner edits them; they are re-read before every turn.\n{sections}",
            dir.display()
        );
    }
    WorkspacePrompt { identity, text }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> BootstrapLimits {
        BootstrapLimits::default()
    }

    fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn files_come_in_openclaw_order_and_memory_only_in_private() {
        let dir = workspace(&[
            ("MEMORY.md", "remember: the 3rd floor printer"),
            ("USER.md", "the team: ops"),
            ("AGENTS.md", "rules first"),
            ("SOUL.md", "calm"),
            ("memory/2026-12-01.md", "daily note, not injected"),
            (".openclaw/workspace-state.json", "{}"),
        ]);
        let cache = cache::FileCache::default();
        let private = build(
            &cache,
            dir.path(),
            &Identity::default(),
            limits(),
            SessionKind::Private,
        );
        let at = |s: &str| {
            private
                .text
                .find(s)
                .unwrap_or_else(|| panic!("{s} in {}", private.text))
        };
        assert!(at("## AGENTS.md") < at("## SOUL.md"));
        assert!(at("## SOUL.md") < at("## USER.md"));
        assert!(at("## USER.md") < at("## MEMORY.md"));
        assert!(!private.text.contains("daily note"));
        assert!(!private.text.contains("workspace-state"));
        let shared = build(
            &cache,
            dir.path(),
            &Identity::default(),
            limits(),
            SessionKind::Shared,
        );
        assert!(!shared.text.contains("3rd floor printer"), "{}", shared.text);
        assert!(shared.text.contains("rules first"));
    }

    #[test]
    fn identity_file_fills_what_the_config_leaves_out() {
        let dir = workspace(&[("IDENTITY.md", "- **Name:** 小钉\n- Emoji: 🐙\n")]);
        let config = Identity {
            emoji: Some("🦞".into()),
            ..Identity::default()
        };
        let prompt = build(
            &cache::FileCache::default(),
            dir.path(),
            &config,
            limits(),
            SessionKind::Shared,
        );
        assert_eq!(prompt.identity.name.as_deref(), Some("小钉"));
        assert_eq!(prompt.identity.emoji.as_deref(), Some("🦞"));
        assert!(
            prompt
                .text
                .starts_with("## Your identity\n- Name: 小钉\n- Emoji: 🦞\n"),
            "{}",
            prompt.text
        );
    }

    #[test]
    fn an_empty_or_missing_workspace_adds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not-created");
        let prompt = build(
            &cache::FileCache::default(),
            &missing,
            &Identity::default(),
            limits(),
            SessionKind::Private,
        );
        assert_eq!(prompt, WorkspacePrompt::default());
    }
}
