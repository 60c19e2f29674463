//! Which workspace files are bootstrap files, in which order they enter the prompt, and which
//! sessions see which of them.
//!
//! The list, the order and the per-session subsets follow OpenClaw
//! (openclaw/openclaw `src/agents/workspace.ts`: `loadWorkspaceBootstrapFiles` and
//! `filterBootstrapFilesForSession`): a group or channel session gets every file except
//! `MEMORY.md`, which holds the owner's private notes; a scheduled run gets only the rules,
//! persona and user files.

use clawtalk_core::ids::SessionScope;
use clawtalk_delivery::Target;

use crate::tools::ToolContext;

/// The operating rules.
pub const AGENTS: &str = "AGENTS.md";
/// The persona.
pub const SOUL: &str = "SOUL.md";
/// Notes about the tools at hand.
pub const TOOLS: &str = "TOOLS.md";
/// Name, emoji and theme.
pub const IDENTITY: &str = "IDENTITY.md";
/// Who the agent works for.
pub const USER: &str = "USER.md";
/// What to check on a heartbeat.
pub const HEARTBEAT: &str = "HEARTBEAT.md";
/// A first-run script (OpenClaw deletes it once the agent has set itself up).
pub const BOOTSTRAP: &str = "BOOTSTRAP.md";
/// Curated long-term memory: private sessions only.
pub const MEMORY: &str = "MEMORY.md";

/// Every bootstrap file, in prompt order.
pub const BOOTSTRAP_FILES: [&str; 8] = [AGENTS, SOUL, TOOLS, IDENTITY, USER, HEARTBEAT, BOOTSTRAP, MEMORY];

/// Whether `name` is exactly one of [`BOOTSTRAP_FILES`] (no directories, no other names).
#[must_use]
pub fn is_bootstrap_file(name: &str) -> bool {
    BOOTSTRAP_FILES.contains(&name)
}

/// What kind of conversation a turn is in, as far as the workspace files are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A DM (or the operator's console chat): every file, `MEMORY.md` included.
    Private,
    /// A group, an approval event, or a session this version cannot read: no `MEMORY.md`.
    Shared,
    /// A scheduled task's run: rules, persona and user files only.
    Scheduled,
}

impl SessionKind {
    /// The kind of the turn `context` describes. A session shared by one user's DMs and
    /// groups (`memoryScope: "user"`) is private only while the message came by DM.
    #[must_use]
    pub fn of(context: &ToolContext) -> Self {
        match context.session_key.as_ref().map(|k| &k.scope) {
            Some(SessionScope::Dm { .. } | SessionScope::WebChat { .. }) => Self::Private,
            Some(SessionScope::User { .. }) => match context.target {
                Some(Target::Group(_) | Target::CustomRobot { .. }) => Self::Shared,
                Some(Target::User(_)) | None => Self::Private,
            },
            Some(SessionScope::Cron { .. }) => Self::Scheduled,
            _ => Self::Shared,
        }
    }

    /// Whether a turn of this kind gets the bootstrap file `name`.
    #[must_use]
    pub fn sees(self, name: &str) -> bool {
        match self {
            Self::Private => true,
            Self::Shared => name != MEMORY,
            Self::Scheduled => [AGENTS, TOOLS, SOUL, IDENTITY, USER].contains(&name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_core::ids::{AccountId, AgentId, SessionKey};
    use dingtalk::ids::ConversationId;

    fn context(scope: SessionScope, target: Option<Target>) -> ToolContext {
        let account = AccountId::new("default");
        let key = SessionKey::new(AgentId::new("main"), account.clone(), scope);
        ToolContext {
            target,
            ..ToolContext::new(account, Some(key))
        }
    }

    #[test]
    fn dms_see_memory_groups_and_unknown_sessions_do_not() {
        let dm = context(SessionScope::Dm { sender: "u1".into() }, None);
        assert_eq!(SessionKind::of(&dm), SessionKind::Private);
        let group = context(
            SessionScope::Group {
                conversation: "cid1".into(),
            },
            None,
        );
        assert_eq!(SessionKind::of(&group), SessionKind::Shared);
        let unknown = ToolContext::new(AccountId::new("default"), None);
        assert_eq!(SessionKind::of(&unknown), SessionKind::Shared);
        assert!(SessionKind::Private.sees(MEMORY));
        assert!(!SessionKind::Shared.sees(MEMORY));
        assert!(SessionKind::Shared.sees(BOOTSTRAP));
    }

    #[test]
    fn a_user_wide_session_is_private_only_in_dms() {
        let scope = || SessionScope::User { sender: "u1".into() };
        let in_group = context(scope(), Some(Target::Group(ConversationId::new("cid1"))));
        assert_eq!(SessionKind::of(&in_group), SessionKind::Shared);
        let in_dm = context(scope(), None);
        assert_eq!(SessionKind::of(&in_dm), SessionKind::Private);
    }

    #[test]
    fn scheduled_runs_get_rules_persona_and_user_only() {
        let cron = context(SessionScope::Cron { task: 7 }, None);
        assert_eq!(SessionKind::of(&cron), SessionKind::Scheduled);
        let seen: Vec<_> = BOOTSTRAP_FILES
            .into_iter()
            .filter(|n| SessionKind::Scheduled.sees(n))
            .collect();
        assert_eq!(seen, [AGENTS, SOUL, TOOLS, IDENTITY, USER]);
    }

    #[test]
    fn only_exact_bootstrap_names_count() {
        assert!(is_bootstrap_file("SOUL.md"));
        for bad in ["soul.md", "../SOUL.md", "memory/2026-12-01.md", "", "SOUL.md/"] {
            assert!(!is_bootstrap_file(bad), "{bad}");
        }
    }
}
