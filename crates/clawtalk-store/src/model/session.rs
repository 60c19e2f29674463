//! Sessions and transcripts.

use clawtalk_core::clock::EpochMs;
use std::str::FromStr;

use super::inbox::InboundId;
use crate::error::StoreError;

/// Primary key of a session.
pub type SessionId = i64;

/// A conversation session: one per DM user, group, or group + sender (the router decides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Row id.
    pub id: SessionId,
    /// Session key, case kept.
    pub key: String,
    /// Agent answering in it.
    pub agent_id: String,
    /// History epoch: bumped by idle reset, `/new`, `/reset` or an agent change; transcripts
    /// of older generations are kept but not loaded.
    pub generation: u32,
    /// When the current generation started, epoch ms.
    pub generation_started_at_ms: EpochMs,
    /// Last activity, epoch ms.
    pub last_active_ms: EpochMs,
}

/// Why a new generation started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewGeneration {
    /// First message ever for this key.
    Created,
    /// Idle longer than the reset time.
    IdleReset,
    /// The key is now routed to another agent.
    AgentChanged,
    /// `/new` or `/reset`.
    Manual,
}

/// Result of [`SessionStore::session_get_or_create`](crate::SessionStore::session_get_or_create).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedSession {
    /// The session as it is now.
    pub session: Session,
    /// Set when this call started a new generation.
    pub new_generation: Option<NewGeneration>,
}

/// Who said a transcript entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// System prompt or gateway note.
    System,
    /// The DingTalk user.
    User,
    /// The agent.
    Assistant,
    /// A tool result.
    Tool,
}

impl Role {
    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::Tool => "tool",
        }
    }
}

impl FromStr for Role {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "system" => Self::System,
            "user" => Self::User,
            "assistant" => Self::Assistant,
            "tool" => Self::Tool,
            other => return Err(StoreError::decode(format!("unknown transcript role {other:?}"))),
        })
    }
}

/// A transcript entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTranscriptEntry {
    /// Speaker.
    pub role: Role,
    /// Message content as JSON (text, tool calls, …).
    pub content_json: String,
    /// The inbound message it belongs to, when there is one.
    pub inbound_id: Option<InboundId>,
    /// When, epoch ms.
    pub at_ms: EpochMs,
}

/// A stored transcript entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptEntry {
    /// Row id (increasing in append order).
    pub id: i64,
    /// Generation it belongs to.
    pub generation: u32,
    /// Speaker.
    pub role: Role,
    /// Content as JSON.
    pub content_json: String,
    /// The inbound message it belongs to.
    pub inbound_id: Option<InboundId>,
    /// When, epoch ms.
    pub at_ms: EpochMs,
}
