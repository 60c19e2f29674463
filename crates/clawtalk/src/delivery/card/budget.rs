//! One app's card API budget, shared by every conversation streaming a card.
//!
//! DingTalk counts calls per app and per API each second (20/s on the standard edition) and
//! answers 403 `QpsLimit` beyond that; users of other plugins hit it with two or three
//! concurrent answers. Intermediate updates only *try* for a permit and are skipped (the next
//! one carries the same full text); creating and finalizing a card *wait* for one.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, RateLimiter};
use rand::Rng;
use tokio::time::Instant;

use crate::delivery::RateQuota;

/// The card APIs, each with its own DingTalk quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardApi {
    /// `POST /v1.0/card/instances/createAndDeliver`.
    Create,
    /// `PUT /v1.0/card/streaming`.
    Stream,
    /// `PUT /v1.0/card/instances`.
    Update,
}

/// Shared permits for one app's card calls, plus the pause after DingTalk said `QpsLimit`.
pub struct CardBudget {
    limiter: DefaultKeyedRateLimiter<CardApi>,
    paused_until: Mutex<Option<Instant>>,
    qps_hits: AtomicU64,
}

impl std::fmt::Debug for CardBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardBudget")
            .field("qps_hits", &self.qps_hits())
            .finish_non_exhaustive()
    }
}

/// How long everyone pauses after a `QpsLimit`: DingTalk's window is one second.
const QPS_PAUSE: Duration = Duration::from_millis(1_000);

impl CardBudget {
    /// `qps` calls per second per API (kept one under, as [`RateQuota`] does).
    #[must_use]
    pub fn new(qps: u32) -> Self {
        let quota = RateQuota::new(qps.max(2), Duration::from_secs(1))
            .unwrap_or(RateQuota::per_second(std::num::NonZeroU32::MIN));
        Self {
            limiter: RateLimiter::keyed(quota.governor()),
            paused_until: Mutex::new(None),
            qps_hits: AtomicU64::new(0),
        }
    }

    fn pause_left(&self) -> Option<Duration> {
        let until = (*self.paused_until.lock().ok()?)?;
        until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    /// A permit now, or `false` (paused, or the second's budget is spent).
    pub fn try_acquire(&self, api: CardApi) -> bool {
        self.pause_left().is_none() && self.limiter.check_key(&api).is_ok()
    }

    /// Waits for a permit.
    pub async fn acquire(&self, api: CardApi) {
        while let Some(left) = self.pause_left() {
            tokio::time::sleep(left).await;
        }
        self.limiter.until_key_ready(&api).await;
    }

    /// DingTalk answered `QpsLimit`: every conversation of this app pauses for a jittered
    /// second, so the retries do not arrive together.
    pub fn on_qps_limit(&self) {
        self.qps_hits.fetch_add(1, Ordering::Relaxed);
        let jitter = Duration::from_millis(rand::rng().random_range(0..500));
        let until = Instant::now() + QPS_PAUSE + jitter;
        if let Ok(mut paused) = self.paused_until.lock()
            && paused.is_none_or(|p| p < until)
        {
            *paused = Some(until);
        }
    }

    /// `QpsLimit` answers seen so far.
    #[must_use]
    pub fn qps_hits(&self) -> u64 {
        self.qps_hits.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn try_acquire_stops_at_the_per_second_budget() {
        let budget = CardBudget::new(20);
        let granted = (0..100).filter(|_| budget.try_acquire(CardApi::Stream)).count();
        assert!((1..20).contains(&granted), "granted {granted}");
        // Another API has its own budget.
        assert!(budget.try_acquire(CardApi::Create));
    }

    #[tokio::test]
    async fn a_qps_limit_pauses_everyone() {
        let budget = CardBudget::new(20);
        budget.on_qps_limit();
        assert!(!budget.try_acquire(CardApi::Update));
        assert_eq!(budget.qps_hits(), 1);
        let started = Instant::now();
        budget.acquire(CardApi::Update).await;
        assert!(started.elapsed() >= QPS_PAUSE);
    }
}
