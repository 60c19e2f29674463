//! Stream mode records: `connections/open` calls, WebSocket connections and SYSTEM pings.

use serde::{Deserialize, Serialize};

/// A Stream subscription as sent to `connections/open`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// `EVENT` or `CALLBACK`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Topic.
    pub topic: String,
}

/// One `connections/open` call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenRecord {
    /// Monotonic ms since sim start.
    pub at_ms: u64,
    /// `clientId` of the request, if readable.
    pub client_id: Option<String>,
    /// The `Accept` header as sent.
    pub accept: Option<String>,
    /// Whether `Accept` asked for JSON.
    pub accept_json: bool,
    /// HTTP status answered.
    pub status: u16,
    /// Error code answered, if any.
    pub error_code: Option<String>,
    /// `ua` of the request.
    pub ua: Option<String>,
    /// `localIp` of the request.
    pub local_ip: Option<String>,
    /// Subscriptions requested.
    pub subscriptions: Vec<Subscription>,
    /// Ticket issued.
    pub ticket: Option<String>,
}

/// One Stream WebSocket connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionInfo {
    /// Server-side connection id (`connectionId` header).
    pub connection_id: String,
    /// Client id of the app.
    pub app: String,
    /// Ticket used.
    pub ticket: String,
    /// Subscriptions of the ticket.
    pub subscriptions: Vec<Subscription>,
    /// `ua` sent to `connections/open`.
    pub ua: Option<String>,
    /// Monotonic ms since sim start.
    pub opened_at_ms: u64,
    /// When the connection ended.
    pub closed_at_ms: Option<u64>,
    /// Why it ended.
    pub close_reason: Option<String>,
    /// The zombie fault is active.
    pub zombie: bool,
    /// A SYSTEM disconnect was sent; the socket closes after the grace period.
    pub draining: bool,
    /// When the disconnect frame was sent.
    pub disconnect_sent_at_ms: Option<u64>,
    /// Whether the client acknowledged the disconnect frame.
    pub disconnect_acked: bool,
    /// Frames written (pings included).
    pub frames_sent: u64,
    /// Frames swallowed because the connection was a zombie.
    pub frames_swallowed: u64,
    /// SYSTEM pings sent.
    pub pings_sent: u64,
    /// Pings answered with the `data` echoed.
    pub pings_echoed: u64,
    /// Text frames received from the client.
    pub acks_received: u64,
    /// WebSocket ping frames received from the client (each answered with a pong, as RFC 6455
    /// §5.5.2 requires; every official SDK pings this way and expects the pong).
    #[serde(default)]
    pub ws_pings_received: u64,
}

impl ConnectionInfo {
    /// True while the socket is open.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.closed_at_ms.is_none()
    }
}

/// Where fault `cut_next_frame` cuts a connection: at the next pushed CALLBACK/EVENT frame,
/// before the client's ACK can come back, so the push is redelivered on a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameCut {
    /// The whole frame is written, then the TCP stream is dropped (no close frame): the
    /// client may have acted on the message, but its ACK cannot arrive.
    AfterFrame,
    /// Only the first half of the frame's JSON text is written, then the stream is dropped:
    /// what a reader gets of a message whose connection died while it was being written.
    MidFrame,
}

/// One SYSTEM ping.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PingRecord {
    /// Connection.
    pub connection_id: String,
    /// `headers.messageId`.
    pub message_id: String,
    /// The `opaque` value sent.
    pub opaque: String,
    /// Monotonic ms since sim start.
    pub sent_at_ms: u64,
    /// When the ACK arrived.
    pub acked_at_ms: Option<u64>,
    /// Whether the ACK's `data` echoed the ping's `data`.
    pub echoed: Option<bool>,
}
