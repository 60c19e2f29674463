//! Replay protection for HTTP-mode bot callbacks.
//!
//! The `sign` header covers only the timestamp, not the body, so a captured `timestamp`/`sign`
//! pair would authenticate any body for the hour it stays fresh. Each pair is therefore
//! accepted once; it is remembered until its timestamp is stale anyway.

use std::collections::HashMap;
use std::sync::Mutex;

use dingtalk::crypto::MAX_TIMESTAMP_SKEW_MS;

/// How often the remembered pairs are swept of stale ones.
const SWEEP_MS: i64 = 60_000;

/// The `timestamp`/`sign` pairs seen within the freshness window.
#[derive(Debug, Default)]
pub(crate) struct ReplayGuard {
    inner: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// `timestamp\nsign` → the timestamp in epoch ms.
    pairs: HashMap<String, i64>,
    last_sweep_ms: i64,
}

impl ReplayGuard {
    /// Records the pair; false when it was already used (a replay).
    pub(crate) fn admit(&self, timestamp: &str, sign: &str, timestamp_ms: i64, now_ms: i64) -> bool {
        let Ok(mut seen) = self.inner.lock() else {
            // A poisoned lock means a panic elsewhere; refusing is the safe side.
            return false;
        };
        if now_ms - seen.last_sweep_ms >= SWEEP_MS {
            seen.pairs
                .retain(|_, ts| now_ms.abs_diff(*ts) <= MAX_TIMESTAMP_SKEW_MS.unsigned_abs());
            seen.last_sweep_ms = now_ms;
        }
        seen.pairs.insert(key(timestamp, sign), timestamp_ms).is_none()
    }

    /// Forgets a pair whose request could not be stored, so DingTalk's retry is not a "replay".
    pub(crate) fn forget(&self, timestamp: &str, sign: &str) {
        if let Ok(mut seen) = self.inner.lock() {
            seen.pairs.remove(&key(timestamp, sign));
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().map_or(0, |s| s.pairs.len())
    }
}

fn key(timestamp: &str, sign: &str) -> String {
    format!("{timestamp}\n{sign}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_accepted_once_until_forgotten() {
        let guard = ReplayGuard::default();
        assert!(guard.admit("1000", "s1", 1000, 1000));
        assert!(!guard.admit("1000", "s1", 1000, 1001));
        assert!(guard.admit("1000", "s2", 1000, 1001));
        guard.forget("1000", "s1");
        assert!(guard.admit("1000", "s1", 1000, 1002));
    }

    #[test]
    fn stale_pairs_are_swept() {
        let guard = ReplayGuard::default();
        let hour = MAX_TIMESTAMP_SKEW_MS;
        assert!(guard.admit("1", "a", 1, 1));
        assert!(guard.admit("2", "b", hour, hour));
        assert_eq!(guard.len(), 2);
        // An hour and a sweep interval later, the first is stale (it would fail the
        // freshness check before reaching the guard) and is dropped.
        assert!(guard.admit("3", "c", hour + SWEEP_MS + 2, hour + SWEEP_MS + 2));
        assert_eq!(guard.len(), 2);
    }
}
