//! Which memories a turn may see and touch, from the turn's own context only: its session
//! key, its sender and where it answers. The model's arguments never widen it.

use clawtalk_core::ids::SessionScope;
use clawtalk_core::target::Target;
use clawtalk_store::{MemoryScope, MemorySubject};

use crate::tools::ToolContext;

/// The owners one turn may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visibility {
    /// The agent answering.
    pub agent_id: String,
    /// The sender's key: their staff id, else the one their session is keyed by.
    pub user: Option<String>,
    /// The session's conversation (`dm:<sender>`, `group:<cid>:<sender>`, `group:<cid>`, …).
    pub conversation: Option<String>,
    /// The group the turn runs in.
    pub group: Option<String>,
}

impl Visibility {
    /// The visibility of the turn `context` describes; `None` without a readable session key.
    #[must_use]
    pub fn of(context: &ToolContext) -> Option<Self> {
        let key = context.session_key.as_ref()?;
        let (keyed_sender, keyed_group) = match &key.scope {
            SessionScope::Dm { sender } | SessionScope::User { sender } => (Some(sender.clone()), None),
            SessionScope::Group { conversation } => (None, Some(conversation.clone())),
            SessionScope::GroupSender { conversation, sender } => {
                (Some(sender.clone()), Some(conversation.clone()))
            }
            SessionScope::Workflow { .. }
            | SessionScope::Cron { .. }
            | SessionScope::WebChat { .. }
            | SessionScope::Other(_) => (None, None),
        };
        // A user-keyed session (`memoryScope: user`) also runs in groups: where it answers
        // says which one.
        let group = keyed_group.or_else(|| match &context.target {
            Some(Target::Group(cid)) => Some(cid.as_str().to_owned()),
            _ => None,
        });
        let conversation = match &key.scope {
            SessionScope::Other(_) => None,
            scope => Some(scope.to_string()),
        };
        Some(Self {
            agent_id: key.agent.as_str().to_owned(),
            user: context.sender.clone().or(keyed_sender),
            conversation,
            group,
        })
    }

    /// The owner of `scope` in this turn, when the turn has one.
    #[must_use]
    pub fn owner(&self, scope: MemoryScope) -> Option<MemorySubject> {
        let subject = match scope {
            MemoryScope::Agent => return Some(MemorySubject::agent()),
            MemoryScope::User => self.user.as_ref(),
            MemoryScope::Conversation => self.conversation.as_ref(),
            MemoryScope::Group => self.group.as_ref(),
        }?;
        Some(MemorySubject::new(scope, subject.clone()))
    }

    /// Every owner this turn may see: the agent's files, the sender, the conversation, the
    /// group.
    #[must_use]
    pub fn visible(&self) -> Vec<MemorySubject> {
        MemoryScope::ALL
            .into_iter()
            .filter_map(|s| self.owner(s))
            .collect()
    }

    /// True when this turn may see memories of `owner`.
    #[must_use]
    pub fn sees(&self, owner: &MemorySubject) -> bool {
        self.owner(owner.scope).as_ref() == Some(owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_core::ids::{AccountId, AgentId, SessionKey};
    use dingtalk::ids::{ConversationId, StaffId};

    fn context(scope: SessionScope, sender: Option<&str>, target: Option<Target>) -> ToolContext {
        let key = SessionKey::new(AgentId::new("main"), AccountId::new("default"), scope);
        let mut context = ToolContext::new(AccountId::new("default"), Some(key));
        context.sender = sender.map(str::to_owned);
        context.target = target;
        context
    }

    #[test]
    fn a_dm_sees_its_user_and_conversation_but_no_group() {
        let v = Visibility::of(&context(
            SessionScope::Dm {
                sender: "alice".into(),
            },
            Some("alice"),
            Some(Target::User(StaffId::new("alice"))),
        ))
        .unwrap();
        assert_eq!(v.agent_id, "main");
        assert_eq!(
            v.visible(),
            [
                MemorySubject::agent(),
                MemorySubject::new(MemoryScope::User, "alice"),
                MemorySubject::new(MemoryScope::Conversation, "dm:alice"),
            ]
        );
        assert!(!v.sees(&MemorySubject::new(MemoryScope::User, "bob")));
        assert!(v.owner(MemoryScope::Group).is_none());
    }

    #[test]
    fn a_group_turn_sees_its_sender_and_the_group() {
        let shared = context(
            SessionScope::Group {
                conversation: "cid1".into(),
            },
            Some("bob"),
            Some(Target::Group(ConversationId::new("cid1"))),
        );
        let v = Visibility::of(&shared).unwrap();
        assert!(v.sees(&MemorySubject::new(MemoryScope::User, "bob")));
        assert!(v.sees(&MemorySubject::new(MemoryScope::Group, "cid1")));
        assert!(!v.sees(&MemorySubject::new(MemoryScope::Group, "cid2")));
        // Everywhere-one-session users are placed in the group they talk in.
        let user_keyed = context(
            SessionScope::User { sender: "bob".into() },
            None,
            Some(Target::Group(ConversationId::new("cid9"))),
        );
        let v = Visibility::of(&user_keyed).unwrap();
        assert_eq!(v.user.as_deref(), Some("bob"));
        assert_eq!(v.group.as_deref(), Some("cid9"));
    }

    #[test]
    fn without_a_session_key_nothing_is_visible() {
        assert!(Visibility::of(&ToolContext::new(AccountId::new("default"), None)).is_none());
    }
}
