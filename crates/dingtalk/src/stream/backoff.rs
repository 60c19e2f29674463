//! Jittered exponential backoff between failed connection attempts.

use std::time::Duration;

/// `delay(n) = min(initial · multiplier^(n-1), max) · (1 ± jitter)` for the n-th consecutive failure.
///
/// Jitter spreads the reconnects of many gateways (or replicas) that lost DingTalk at the same
/// moment, so they do not all hit `connections/open` in the same second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub initial: Duration,
    /// Upper bound before jitter.
    pub max: Duration,
    /// Growth factor per failure.
    pub multiplier: f64,
    /// Relative jitter in `[0, 1)`: 0.2 means ±20 %.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The un-jittered delay after `failures` consecutive failures (`failures >= 1`).
    #[must_use]
    pub fn base_delay(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(63);
        let factor = self
            .multiplier
            .max(1.0)
            .powi(i32::try_from(exponent).unwrap_or(i32::MAX));
        let secs = (self.initial.as_secs_f64() * factor).min(self.max.as_secs_f64());
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// The delay with jitter applied; `unit` is a uniform sample from `[0, 1)`.
    #[must_use]
    pub fn delay_with(&self, failures: u32, unit: f64) -> Duration {
        let jitter = self.jitter.clamp(0.0, 0.99);
        let scale = 1.0 + jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        Duration::from_secs_f64(self.base_delay(failures).as_secs_f64() * scale)
    }

    /// The delay with random jitter.
    #[must_use]
    pub fn delay(&self, failures: u32) -> Duration {
        self.delay_with(failures, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_and_caps() {
        let b = Backoff::default();
        let secs: Vec<u64> = (1..=9).map(|n| b.base_delay(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(b.base_delay(u32::MAX).as_secs(), 60);
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let b = Backoff::default();
        assert_eq!(b.delay_with(3, 0.0), Duration::from_secs_f64(3.2));
        assert_eq!(b.delay_with(3, 0.5), Duration::from_secs(4));
        assert!(b.delay_with(3, 0.999_999) < Duration::from_secs_f64(4.8 + 1e-6));
        for _ in 0..1000 {
            let d = b.delay(7).as_secs_f64();
            assert!((48.0..=72.0).contains(&d), "{d}");
        }
    }
}
