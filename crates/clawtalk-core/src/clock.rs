//! Wall-clock time as the store and DingTalk see it: epoch milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Epoch milliseconds now (0 before 1970, saturating far in the future).
#[must_use]
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
