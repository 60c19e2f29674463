//! Time as the store and DingTalk count it, epoch milliseconds ([`EpochMs`]), read from one
//! injectable [`Clock`]: the gateway holds one, and tests put in a [`ManualClock`] to move
//! time on their own terms (with tokio's paused time, for instance).

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since the Unix epoch, as DingTalk's `createAt` and
/// `sessionWebhookExpiredTime` and every timestamp column of the store.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EpochMs(i64);

impl EpochMs {
    /// The instant `millis` after the epoch.
    #[must_use]
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the epoch.
    #[must_use]
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// `duration` later (saturating).
    #[must_use]
    pub fn plus(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(millis_of(duration)))
    }

    /// `duration` earlier (saturating).
    #[must_use]
    pub fn minus(self, duration: Duration) -> Self {
        Self(self.0.saturating_sub(millis_of(duration)))
    }

    /// How long after `earlier` this is; zero when it is not later.
    #[must_use]
    pub fn since(self, earlier: Self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }
}

fn millis_of(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl fmt::Debug for EpochMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

impl fmt::Display for EpochMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> EpochMs;

    /// Now, in epoch milliseconds (what store calls take).
    fn now_ms(&self) -> i64 {
        self.now().as_millis()
    }
}

/// The system's wall clock (0 before 1970, saturating far in the future).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> EpochMs {
        EpochMs(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, millis_of))
    }
}

/// A clock that moves only when told: for tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock standing at `at`.
    #[must_use]
    pub fn at(at: EpochMs) -> Self {
        Self(AtomicI64::new(at.as_millis()))
    }

    /// Moves it to `at`.
    pub fn set(&self, at: EpochMs) {
        self.0.store(at.as_millis(), Ordering::SeqCst);
    }

    /// Moves it `by` forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(millis_of(by), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> EpochMs {
        EpochMs(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_arithmetic_saturates_instead_of_wrapping() {
        let t = EpochMs::from_millis(1_000);
        assert_eq!(t.plus(Duration::from_millis(500)).as_millis(), 1_500);
        assert_eq!(t.minus(Duration::from_secs(2)).as_millis(), -1_000);
        assert_eq!(
            EpochMs::from_millis(i64::MAX)
                .plus(Duration::from_secs(1))
                .as_millis(),
            i64::MAX
        );
        assert_eq!(t.since(EpochMs::from_millis(400)), Duration::from_millis(600));
        assert_eq!(t.since(EpochMs::from_millis(4_000)), Duration::ZERO);
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(EpochMs::from_millis(5));
        assert_eq!(clock.now_ms(), 5);
        clock.advance(Duration::from_millis(10));
        assert_eq!(clock.now(), EpochMs::from_millis(15));
        clock.set(EpochMs::from_millis(1));
        assert_eq!(clock.now_ms(), 1);
    }

    #[test]
    fn the_system_clock_is_after_2024() {
        assert!(SystemClock.now_ms() > 1_704_067_200_000);
    }
}
