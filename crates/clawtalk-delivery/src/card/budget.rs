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

use crate::RateQuota;
use crate::rate_limit::SharedBudget;

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
    quota: RateQuota,
    /// The budget the other gateways on the same store take from (name prefix, store), so
    /// that replicas on one app together stay within its card quota.
    shared: Option<(String, SharedBudget)>,
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
            quota,
            shared: None,
            paused_until: Mutex::new(None),
            qps_hits: AtomicU64::new(0),
        }
    }

    /// Also takes every call from `store`'s budget for the app `app` (see
    /// [`clawtalk_store::Store::shared_rate_budget`]).
    #[must_use]
    pub fn with_shared(mut self, app: &str, budget: Option<SharedBudget>) -> Self {
        self.shared = budget.map(|budget| (format!("card:{app}"), budget));
        self
    }

    fn shared_key(prefix: &str, api: CardApi) -> String {
        format!("{prefix}:{api:?}")
    }

    fn pause_left(&self) -> Option<Duration> {
        let until = (*self.paused_until.lock().ok()?)?;
        until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    /// A permit now, or `false` (paused, or the second's budget is spent here or, when
    /// shared, by all gateways together).
    pub async fn try_acquire(&self, api: CardApi) -> bool {
        if self.pause_left().is_some() || self.limiter.check_key(&api).is_err() {
            return false;
        }
        match &self.shared {
            Some((prefix, budget)) => budget.try_take(&Self::shared_key(prefix, api), self.quota).await,
            None => true,
        }
    }

    /// Waits for a permit.
    pub async fn acquire(&self, api: CardApi) {
        while let Some(left) = self.pause_left() {
            tokio::time::sleep(left).await;
        }
        self.limiter.until_key_ready(&api).await;
        if let Some((prefix, budget)) = &self.shared {
            budget
                .take(&Self::shared_key(prefix, api), "card", self.quota)
                .await;
        }
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
    use clawtalk_store::RateBudgetStore;
    use std::sync::Arc;

    #[tokio::test]
    async fn try_acquire_stops_at_the_per_second_budget() {
        let budget = CardBudget::new(20);
        let mut granted = 0;
        for _ in 0..100 {
            granted += usize::from(budget.try_acquire(CardApi::Stream).await);
        }
        assert!((1..20).contains(&granted), "granted {granted}");
        // Another API has its own budget.
        assert!(budget.try_acquire(CardApi::Create).await);
    }

    fn shared(store: &Arc<dyn RateBudgetStore>) -> SharedBudget {
        SharedBudget::new(Arc::clone(store), Arc::new(clawtalk_core::clock::SystemClock))
    }

    #[tokio::test]
    async fn replicas_sharing_a_store_share_the_card_quota() {
        let store: Arc<dyn RateBudgetStore> =
            Arc::new(clawtalk_store::SqliteStore::in_memory().await.unwrap());
        let replicas = [
            CardBudget::new(10).with_shared("dingapp", Some(shared(&store))),
            CardBudget::new(10).with_shared("dingapp", Some(shared(&store))),
        ];
        // Within 0.9 s each alone would grant about 8 (its burst, then one per 1/7 s): 16
        // together. Shared, the app's budget is 9 per 1.1 s.
        let started = Instant::now();
        let mut granted = 0;
        while started.elapsed() < Duration::from_millis(900) {
            for replica in &replicas {
                granted += usize::from(replica.try_acquire(CardApi::Stream).await);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            (5..=9).contains(&granted),
            "together within the app's 9: {granted}"
        );
        let other = CardBudget::new(10).with_shared("otherapp", Some(shared(&store)));
        assert!(
            other.try_acquire(CardApi::Stream).await,
            "another app has its own quota"
        );
    }

    #[tokio::test]
    async fn a_qps_limit_pauses_everyone() {
        let budget = CardBudget::new(20);
        budget.on_qps_limit();
        assert!(!budget.try_acquire(CardApi::Update).await);
        assert_eq!(budget.qps_hits(), 1);
        let started = Instant::now();
        budget.acquire(CardApi::Update).await;
        assert!(started.elapsed() >= QPS_PAUSE);
    }
}
