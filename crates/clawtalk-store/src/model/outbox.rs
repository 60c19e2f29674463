//! Reply parts.

use clawtalk_core::clock::EpochMs;
use std::str::FromStr;

use super::inbox::{InboundId, Lease};
use crate::error::StoreError;
use clawtalk_core::reply::ReplyPart;

/// Primary key of an outbox row (one reply part).
pub type ReplyPartId = i64;

/// One part of a reply, as planned by the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReplyPart {
    /// Position in the reply, from 0.
    pub part: u32,
    /// Everything needed to send it (stored versioned, with its kind in a column of its own
    /// for queries).
    pub body: ReplyPart,
}

/// Delivery state of a reply part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyStatus {
    /// Written, not yet confirmed sent.
    Planned,
    /// Its request is leaving for DingTalk (written just before it goes) and its sender has
    /// not heard back. Nobody else sends it again: DingTalk may have it, and the sessionWebhook
    /// and robot API have no key it drops repeats by. Its sender makes it `Sent`, or `Planned`
    /// again when DingTalk refused it; a failure leaves it as it is.
    Handed,
    /// DingTalk accepted it: never send again.
    Sent,
    /// Gave up (permanent error).
    Failed,
}

impl ReplyStatus {
    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Handed => "handed",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    /// DingTalk has the part, or may have it: it is never sent again.
    #[must_use]
    pub fn went_out(self) -> bool {
        matches!(self, Self::Sent | Self::Handed)
    }
}

impl FromStr for ReplyStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "planned" => Self::Planned,
            "handed" => Self::Handed,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            other => return Err(StoreError::decode(format!("unknown outbox status {other:?}"))),
        })
    }
}

/// A stored reply part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxPart {
    /// Row id.
    pub id: ReplyPartId,
    /// The message it answers.
    pub inbound_id: InboundId,
    /// Position in the reply.
    pub part: u32,
    /// Stable per (message, part): use it as the send's idempotency key (card `outTrackId`,
    /// message uuid) where the API has one.
    pub idempotency_key: String,
    /// What to send.
    pub body: ReplyPart,
    /// Delivery state.
    pub status: ReplyStatus,
    /// Failed send attempts so far.
    pub attempts: u32,
    /// Who may send it now.
    pub lease: Option<Lease>,
    /// DingTalk's `processQueryKey` (or similar receipt) once sent.
    pub process_query_key: Option<String>,
    /// When it was confirmed sent, epoch ms.
    pub sent_at_ms: Option<EpochMs>,
    /// Last send error.
    pub last_error: Option<String>,
}

/// Proof that DingTalk accepted a reply part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReceipt {
    /// `processQueryKey` from the send response, when the API returns one.
    pub process_query_key: Option<String>,
    /// The response body, for auditing.
    pub response_json: Option<String>,
}
