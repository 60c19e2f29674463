//! Protocol violations the simulator caught a client at.

use serde::{Deserialize, Serialize};

/// A protocol violation by a client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Violation {
    /// Monotonic ms since sim start.
    pub at_ms: u64,
    /// Connection, for Stream violations.
    pub connection_id: Option<String>,
    /// App, when known.
    pub app: Option<String>,
    /// Short machine-readable kind, e.g. `ack_not_json`, `ack_missing_message_id`.
    pub kind: String,
    /// Human explanation.
    pub detail: String,
    /// The offending frame or request excerpt.
    pub excerpt: Option<String>,
}
