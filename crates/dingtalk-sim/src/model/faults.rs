//! Faults injected into the HTTP APIs.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A fault on every API path starting with `path_prefix`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ApiFault {
    /// Path prefix, e.g. `/v1.0/card/streaming` or `/v1.0/robot/`.
    pub path_prefix: String,
    /// Added latency in ms for every matching call.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// Fail this many next matching calls.
    #[serde(default)]
    pub fail_next: Option<u32>,
    /// Status of the failures (default 503).
    #[serde(default)]
    pub status: Option<u16>,
    /// Body of the failures (default: a DingTalk-shaped error for the status).
    #[serde(default)]
    pub body: Option<Value>,
}
