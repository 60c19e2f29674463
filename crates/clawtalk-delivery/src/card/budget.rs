//! One app's card API budget, shared by every conversation streaming a card.
//!
//! DingTalk counts calls per app and per API each second (20/s on the standard edition) and
//! answers 403 `QpsLimit` beyond that; users of other plugins hit it with two or three
//! concurrent answers. Intermediate updates only *try* for a permit and are skipped (the next
//! one carries the same full text), and only when no call waits; creating, first text and
//! finalizing a card *wait* for one, in the order of [`Class`] (`gate.rs`): under a burst,
//! every waiting user's first text goes before any card's further updates.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, RateLimiter};
use rand::Rng;
use tokio::time::Instant;

pub use super::gate::Class;
use super::gate::PriorityGate;
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

impl CardApi {
    const ALL: [Self; 3] = [Self::Create, Self::Stream, Self::Update];

    fn index(self) -> usize {
        match self {
            Self::Create => 0,
            Self::Stream => 1,
            Self::Update => 2,
        }
    }
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
    /// One queue per API, in the order of [`CardApi::ALL`].
    gates: [PriorityGate; 3],
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
/// When a call that only tried for a permit asks again if other calls queue for one or the
/// budget shared with other replicas is spent.
pub const BUSY_RETRY: Duration = Duration::from_millis(250);

impl CardBudget {
    /// `qps` calls per second per API (kept one under, as [`RateQuota`] does).
    #[must_use]
    pub fn new(qps: u32) -> Self {
        let quota = RateQuota::new(qps.max(2), Duration::from_secs(1))
            .unwrap_or(RateQuota::per_second(std::num::NonZeroU32::MIN));
        Self {
            limiter: RateLimiter::keyed(quota.governor_even()),
            quota,
            shared: None,
            paused_until: Mutex::new(None),
            qps_hits: AtomicU64::new(0),
            gates: CardApi::ALL.map(|_| PriorityGate::default()),
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

    /// A permit now, or how long to leave it before trying again: calls wait for one, the
    /// budget is paused, or the second's budget is spent here or, when shared, by all
    /// gateways together.
    ///
    /// # Errors
    /// No permit now; the duration is when to ask again.
    pub async fn try_acquire(&self, api: CardApi) -> Result<(), Duration> {
        match self.gates[api.index()].try_pass(|| self.take_local(api)) {
            Ok(()) => {}
            // The limiter names the moment its next permit frees. Asking again only a fixed
            // while later let cards that push at the same cadence take every permit before
            // a third (which then showed nothing new for seconds, with the budget half
            // unused); the jitter spreads callers turned away by the same permit over one
            // permit's spacing, so one wins and the rest do not all wake for it.
            Err(Some(wait)) => return Err(wait + self.jitter()),
            // The queue drains at the quota's pace, first texts and finishes first: there
            // is no moment to name.
            Err(None) => return Err(BUSY_RETRY),
        }
        match &self.shared {
            Some((prefix, budget)) => {
                if budget.try_take(&Self::shared_key(prefix, api), self.quota).await {
                    Ok(())
                } else {
                    Err(BUSY_RETRY)
                }
            }
            None => Ok(()),
        }
    }

    fn jitter(&self) -> Duration {
        let spacing = u64::try_from(self.per_call().as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        Duration::from_micros(rand::rng().random_range(0..spacing))
    }

    /// Waits for a permit, behind the calls of a more urgent class and those of the same
    /// class that came first.
    pub async fn acquire(&self, api: CardApi, class: Class) {
        self.gates[api.index()]
            .acquire(class, || self.take_local(api))
            .await;
        if let Some((prefix, budget)) = &self.shared {
            budget
                .take(&Self::shared_key(prefix, api), "card", self.quota)
                .await;
        }
    }

    /// Reports this process's `waiting` card calls to the budget shared with other replicas,
    /// and returns how many they have queued; `None` without a shared budget or when the
    /// store failed.
    pub async fn others_waiting(&self, waiting: u32) -> Option<u64> {
        let (prefix, budget) = self.shared.as_ref()?;
        budget.others_waiting(prefix, waiting).await
    }

    /// True when the card quota is shared with other replicas.
    #[must_use]
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Calls of `api` waiting for a permit in classes up to `up_to`.
    #[must_use]
    pub fn waiting(&self, api: CardApi, up_to: Class) -> usize {
        self.gates[api.index()].waiting(up_to)
    }

    /// How long a call of `class` starting now would wait for a permit of `api`, from the
    /// calls ahead of it and the quota.
    #[must_use]
    pub fn wait_estimate(&self, api: CardApi, class: Class) -> Duration {
        let ahead = u32::try_from(self.waiting(api, class)).unwrap_or(u32::MAX);
        self.per_call() * ahead
    }

    /// The time one permit takes at the quota's pace.
    #[must_use]
    pub fn per_call(&self) -> Duration {
        self.quota.per_call()
    }

    /// A permit from this process's limiter now, or how long until there may be one.
    fn take_local(&self, api: CardApi) -> Result<(), Duration> {
        if let Some(left) = self.pause_left() {
            return Err(left);
        }
        self.limiter
            .check_key(&api)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
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
            granted += usize::from(budget.try_acquire(CardApi::Stream).await.is_ok());
        }
        assert!((1..20).contains(&granted), "granted {granted}");
        // Another API has its own budget.
        assert!(budget.try_acquire(CardApi::Create).await.is_ok());
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
                granted += usize::from(replica.try_acquire(CardApi::Stream).await.is_ok());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            (5..=9).contains(&granted),
            "together within the app's 9: {granted}"
        );
        let other = CardBudget::new(10).with_shared("otherapp", Some(shared(&store)));
        assert!(
            other.try_acquire(CardApi::Stream).await.is_ok(),
            "another app has its own quota"
        );
    }

    #[tokio::test]
    async fn a_try_turned_away_by_the_pace_is_told_when_the_next_permit_frees() {
        let budget = CardBudget::new(20);
        assert!(budget.try_acquire(CardApi::Stream).await.is_ok());
        let after = budget.try_acquire(CardApi::Stream).await.unwrap_err();
        let spacing = budget.per_call();
        assert!(after <= spacing * 2, "{after:?} for a spacing of {spacing:?}");
        tokio::time::sleep(after).await;
        assert!(
            budget.try_acquire(CardApi::Stream).await.is_ok(),
            "the permit is free by then"
        );
    }

    #[tokio::test]
    async fn a_try_behind_a_waiting_call_asks_again_later() {
        let budget = CardBudget::new(20);
        budget.on_qps_limit();
        let tried = tokio::select! {
            biased;
            () = budget.acquire(CardApi::Update, Class::Finish) => panic!("paused"),
            tried = async {
                tokio::task::yield_now().await;
                budget.try_acquire(CardApi::Update).await
            } => tried,
        };
        assert_eq!(tried, Err(BUSY_RETRY));
    }

    #[tokio::test]
    async fn a_qps_limit_pauses_everyone() {
        let budget = CardBudget::new(20);
        budget.on_qps_limit();
        assert!(budget.try_acquire(CardApi::Update).await.is_err());
        assert_eq!(budget.qps_hits(), 1);
        let started = Instant::now();
        budget.acquire(CardApi::Update, Class::Finish).await;
        assert!(started.elapsed() >= QPS_PAUSE);
    }
}
