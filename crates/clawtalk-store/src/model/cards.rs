//! AI cards opened by the gateway.

use clawtalk_core::clock::EpochMs;
use clawtalk_core::ids::AccountId;
use std::fmt;
use std::str::FromStr;

use crate::error::StoreError;
use crate::model::InboundId;

/// Where a card stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardStatus {
    /// Created and possibly streaming; not finalized yet.
    Open,
    /// Finalized with the complete answer.
    Finished,
    /// Finalized in the error state (the answer failed or moved to another message).
    Failed,
    /// Closed at start-up after a crash left it open.
    Interrupted,
}

impl CardStatus {
    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Finished => "finished",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }
}

impl FromStr for CardStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "open" => Self::Open,
            "finished" => Self::Finished,
            "failed" => Self::Failed,
            "interrupted" => Self::Interrupted,
            other => return Err(StoreError::decode(format!("unknown card status {other:?}"))),
        })
    }
}

impl fmt::Display for CardStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A card about to be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCard {
    /// Our id of the card instance (unique, ≤ 64 chars).
    pub out_track_id: String,
    /// The gateway account (DingTalk app) that owns it.
    pub account_id: AccountId,
    /// The message it answers, when it answers one.
    pub inbound_id: Option<InboundId>,
    /// The session its button callbacks belong to.
    pub session_key: String,
    /// The conversation it was delivered to.
    pub conversation_id: String,
}

/// A card as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRecord {
    /// Our id of the card instance.
    pub out_track_id: String,
    /// The owning account.
    pub account_id: AccountId,
    /// The message it answers.
    pub inbound_id: Option<InboundId>,
    /// The session its callbacks belong to.
    pub session_key: String,
    /// The conversation it was delivered to.
    pub conversation_id: String,
    /// The last content pushed into it.
    pub content: String,
    /// Where it stands.
    pub status: CardStatus,
    /// When it was created, epoch ms.
    pub created_at_ms: EpochMs,
    /// Last change, epoch ms.
    pub updated_at_ms: EpochMs,
}
