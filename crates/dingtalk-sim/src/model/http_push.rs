//! HTTP push: an app's event subscription over HTTP and every push the sim made.

use serde::{Deserialize, Serialize};

fn yes() -> bool {
    true
}

/// Event subscription over HTTP ("HTTP 推送") for an app.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpPushSpec {
    /// Request URL.
    pub url: String,
    /// Signature token.
    pub token: String,
    /// 43-character aes_key.
    pub aes_key: String,
    /// receiveId; the app's client id when absent.
    #[serde(default)]
    pub owner_key: Option<String>,
    /// Deliver injected events over HTTP instead of Stream.
    #[serde(default = "yes")]
    pub events: bool,
}

/// One HTTP push attempt by the simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpPushRecord {
    /// Monotonic ms since sim start.
    pub at_ms: u64,
    /// App.
    pub app: String,
    /// `check_url`, `event`, `bot_message` or `card_callback`.
    pub kind: String,
    /// Target URL.
    pub url: String,
    /// eventId / msgId / card callback delivery key.
    pub key: Option<String>,
    /// HTTP status answered.
    pub status: Option<u16>,
    /// Whether the reply was valid (encrypted `success` for events; 2xx for bot messages and
    /// card callbacks).
    pub ok: bool,
    /// What was wrong.
    pub error: Option<String>,
    /// Round trip.
    pub latency_ms: u64,
    /// The answer's body when it was JSON (a card callback's answer updates the card).
    #[serde(default)]
    pub response: Option<serde_json::Value>,
}
