//! Stream deliveries: what the sim pushes to a bot (messages, events, card callbacks) and
//! every push of it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What an injected delivery carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryKind {
    /// CALLBACK `/v1.0/im/bot/messages/get`.
    BotMessage,
    /// CALLBACK `/v1.0/card/instances/callback`.
    CardCallback,
    /// EVENT.
    Event,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for a connection.
    Pending,
    /// Pushed, waiting for the ACK.
    InFlight,
    /// Acknowledged with code 200 (and `SUCCESS` for events).
    Acked,
    /// Attempts exhausted.
    GaveUp,
}

/// Result of one push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushOutcome {
    /// Written, no answer yet.
    Sent,
    /// Swallowed by a zombie connection.
    Swallowed,
    /// ACKed successfully.
    Acked,
    /// ACKed with a non-200 code or event status `LATER`; will be redelivered.
    Rejected,
    /// No ACK within the redelivery timeout.
    TimedOut,
    /// The connection closed before the ACK.
    ConnectionClosed,
}

/// One push of a delivery over one connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Push {
    /// `headers.messageId` of this push (fresh per push).
    pub message_id: String,
    /// Connection it went to.
    pub connection_id: String,
    /// Monotonic ms since sim start.
    pub at_ms: u64,
    /// Outcome so far.
    pub outcome: PushOutcome,
    /// When the ACK arrived.
    pub acked_at_ms: Option<u64>,
    /// ACK `code`.
    pub ack_code: Option<i64>,
    /// ACK `data` (JSON text).
    pub ack_data: Option<String>,
}

/// A message/event/card callback the sim delivers over Stream, with its pushes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// Stable id: `msgId` for bot messages, `eventId` for events, a uuid for card callbacks.
    pub key: String,
    /// Kind.
    pub kind: DeliveryKind,
    /// Client id of the receiving app.
    pub app: String,
    /// Frame type: `CALLBACK` or `EVENT`.
    pub frame_type: String,
    /// Frame topic.
    pub topic: String,
    /// Headers added to every push besides the standard ones (event envelope).
    pub extra_headers: BTreeMap<String, String>,
    /// Frame `data` (JSON text, identical on every push).
    pub data: String,
    /// Created (monotonic ms).
    pub created_at_ms: u64,
    /// Status.
    pub status: DeliveryStatus,
    /// Every push so far.
    pub pushes: Vec<Push>,
    /// When it was acked.
    pub acked_at_ms: Option<u64>,
}

impl Delivery {
    /// `headers.messageId` of every push, in order.
    #[must_use]
    pub fn message_ids(&self) -> Vec<String> {
        self.pushes.iter().map(|p| p.message_id.clone()).collect()
    }
}
