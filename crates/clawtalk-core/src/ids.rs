//! The gateway's own ids: the configured account and agent, and the session key that names
//! one conversation's history.
//!
//! A session key is stored as text (`agent:<agent>:dingtalk:<account>:<scope>`, the inbox's
//! and the sessions' `session_key` column): [`SessionKey`]'s `Display` is the one place that
//! writes it and [`SessionKey::parse`] the one place that reads it back.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A configured DingTalk account (`channels.dingtalk.accounts.<id>`, `default` for the
/// top-level one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(String);

/// A configured agent (`agents.list[].id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(String);

macro_rules! text_id {
    ($name:ident, $what:literal) => {
        impl $name {
            #[doc = concat!("The ", $what, " with this id.")]
            #[must_use]
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as written in the config.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        // Maps keyed by id are looked up with the `&str` the config and the store hold.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

text_id!(AccountId, "account");
text_id!(AgentId, "agent");

/// Which conversation of an account a session covers; the part of the key after the account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SessionScope {
    /// One user's direct chat with the bot: `dm:<sender>`.
    Dm {
        /// The sender's key (staff id, else the encrypted DingTalk id).
        sender: String,
    },
    /// One user everywhere, DMs and groups alike (`memoryScope: "user"`): `user:<sender>`.
    User {
        /// The sender's key.
        sender: String,
    },
    /// A whole group: `group:<conversationId>`.
    Group {
        /// The group's conversation id.
        conversation: String,
    },
    /// One member within a group: `group:<conversationId>:<sender>`.
    GroupSender {
        /// The group's conversation id (DingTalk's ids hold no `:`).
        conversation: String,
        /// The member's key.
        sender: String,
    },
    /// One approval instance's events: `workflow:<processInstanceId>`.
    Workflow {
        /// The approval instance.
        process_instance: String,
    },
    /// A scheduled task's runs: `cron:<taskId>`.
    Cron {
        /// The task.
        task: i64,
    },
    /// The web console's chat with an operator: `webchat:<operator>`.
    WebChat {
        /// Who chats (the console has one operator).
        operator: String,
    },
    /// A scope this version does not know (written by another one), kept as it was.
    Other(String),
}

impl SessionScope {
    fn parse(tail: &str) -> Self {
        let other = || Self::Other(tail.to_owned());
        let Some((kind, rest)) = tail.split_once(':') else {
            return other();
        };
        if rest.is_empty() {
            return other();
        }
        let text = rest.to_owned();
        match kind {
            "dm" => Self::Dm { sender: text },
            "user" => Self::User { sender: text },
            "group" => match rest.split_once(':') {
                Some((conversation, sender)) if !conversation.is_empty() && !sender.is_empty() => {
                    Self::GroupSender {
                        conversation: conversation.to_owned(),
                        sender: sender.to_owned(),
                    }
                }
                Some(_) => other(),
                None => Self::Group { conversation: text },
            },
            "workflow" => Self::Workflow {
                process_instance: text,
            },
            "cron" => rest.parse().map_or_else(|_| other(), |task| Self::Cron { task }),
            "webchat" => Self::WebChat { operator: text },
            _ => other(),
        }
    }
}

impl fmt::Display for SessionScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dm { sender } => write!(f, "dm:{sender}"),
            Self::User { sender } => write!(f, "user:{sender}"),
            Self::Group { conversation } => write!(f, "group:{conversation}"),
            Self::GroupSender { conversation, sender } => write!(f, "group:{conversation}:{sender}"),
            Self::Workflow { process_instance } => write!(f, "workflow:{process_instance}"),
            Self::Cron { task } => write!(f, "cron:{task}"),
            Self::WebChat { operator } => write!(f, "webchat:{operator}"),
            Self::Other(tail) => f.write_str(tail),
        }
    }
}

/// Whose history a turn reads and writes: turns with the same key share it and run one at a
/// time. The agent is part of the key, so rebinding a chat to another agent starts afresh.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    /// The agent that answers in this session.
    pub agent: AgentId,
    /// The account the conversation is with.
    pub account: AccountId,
    /// Which conversation.
    pub scope: SessionScope,
}

/// Text that is not a session key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a session key (agent:<agent>:dingtalk:<account>:<scope>)")]
pub struct NotASessionKey(String);

impl SessionKey {
    /// The session of `agent` with `account` over `scope`.
    #[must_use]
    pub fn new(agent: AgentId, account: AccountId, scope: SessionScope) -> Self {
        Self {
            agent,
            account,
            scope,
        }
    }

    /// Reads a stored key back (the inverse of `Display`).
    ///
    /// # Errors
    /// [`NotASessionKey`] when `text` lacks the `agent:<agent>:dingtalk:<account>:` prefix or
    /// names no agent or account.
    pub fn parse(text: &str) -> Result<Self, NotASessionKey> {
        let refuse = || NotASessionKey(text.to_owned());
        let rest = text.strip_prefix("agent:").ok_or_else(refuse)?;
        let (agent, rest) = rest.split_once(':').ok_or_else(refuse)?;
        let rest = rest.strip_prefix("dingtalk:").ok_or_else(refuse)?;
        let (account, tail) = rest.split_once(':').ok_or_else(refuse)?;
        if agent.is_empty() || account.is_empty() || tail.is_empty() {
            return Err(refuse());
        }
        Ok(Self::new(
            AgentId::new(agent),
            AccountId::new(account),
            SessionScope::parse(tail),
        ))
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "agent:{}:dingtalk:{}:{}", self.agent, self.account, self.scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(agent: &str, account: &str, scope: SessionScope) -> SessionKey {
        SessionKey::new(AgentId::new(agent), AccountId::new(account), scope)
    }

    #[test]
    fn every_scope_reads_back_as_written() {
        let scopes = [
            SessionScope::Dm {
                sender: "0312".into(),
            },
            // Senders without a staff id are keyed by their encrypted id, which holds `:`.
            SessionScope::Dm {
                sender: "$:LWCP_v1:$abc==".into(),
            },
            SessionScope::User { sender: "bob".into() },
            SessionScope::Group {
                conversation: "cidA==".into(),
            },
            SessionScope::GroupSender {
                conversation: "cidA==".into(),
                sender: "$:LWCP_v1:$x".into(),
            },
            SessionScope::Workflow {
                process_instance: "9Qgx5Qqj".into(),
            },
            SessionScope::Cron { task: 7 },
            SessionScope::WebChat {
                operator: "operator".into(),
            },
            SessionScope::Other("thread:42".into()),
        ];
        for scope in scopes {
            let written = key("ops-2", "bot1", scope).to_string();
            let read = SessionKey::parse(&written).unwrap();
            assert_eq!(read.to_string(), written);
            assert_eq!(read.agent, "ops-2");
            assert_eq!(read.account, "bot1");
        }
    }

    #[test]
    fn stored_keys_parse_into_their_parts() {
        assert_eq!(
            SessionKey::parse("agent:main:dingtalk:default:group:cidA==:bob").unwrap(),
            key(
                "main",
                "default",
                SessionScope::GroupSender {
                    conversation: "cidA==".into(),
                    sender: "bob".into()
                }
            )
        );
        assert_eq!(
            SessionKey::parse("agent:main:dingtalk:default:cron:7")
                .unwrap()
                .scope,
            SessionScope::Cron { task: 7 }
        );
    }

    #[test]
    fn text_without_agent_or_account_is_no_key() {
        for text in [
            "agent::dingtalk:bot1:dm:alice",
            "dingtalk:bot1:dm:alice",
            "agent:main:webchat:operator",
            "agent:main:dingtalk::dm:alice",
            "agent:main:dingtalk:bot1:",
        ] {
            assert!(SessionKey::parse(text).is_err(), "{text}");
        }
    }
}
