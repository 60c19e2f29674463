//! Several gateways' rate limiters on one store's send budget stay within DingTalk's quota
//! together: on SQLite (two handles on one file) and, when `CLAWTALK_TEST_PG` names a server,
//! on PostgreSQL (two pools on one schema, as two replicas hold them).

#[path = "../../clawtalk-store/tests/support/pg.rs"]
#[allow(dead_code)] // Helpers for other tests too.
mod pg;

use clawtalk_core::clock::EpochMs;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use clawtalk_core::clock::SystemClock;
use clawtalk_delivery::{
    Body, DeliveryError, DeliveryPath, Outbound, OutboundMessage, RateLimit, RateLimitConfig, RateQuota,
    SendReceipt, SharedBudget, Target,
};
use clawtalk_store::{PgStore, RateBudgetStore, SqliteStore, StoreResult};
use dingtalk::ids::StaffId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state").join("clawtalk.db");
    layers_on_one_budget_stay_within_the_quota_together(async || {
        Arc::new(SqliteStore::open(&path).await.expect("open store")) as Arc<dyn RateBudgetStore>
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Some(schema) = pg::TestSchema::create("delivery_shared_budget").await else {
        return;
    };
    let url = schema.url();
    layers_on_one_budget_stay_within_the_quota_together(async || {
        Arc::new(PgStore::open(&url).await.expect("open store")) as Arc<dyn RateBudgetStore>
    })
    .await;
}

/// A budget that remembers when it granted each send (the store's clock).
struct GrantLog {
    inner: Arc<dyn RateBudgetStore>,
    granted: Arc<Mutex<Vec<i64>>>,
}

#[async_trait]
impl RateBudgetStore for GrantLog {
    async fn rate_take(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now: EpochMs,
    ) -> StoreResult<Option<i64>> {
        let wait = self.inner.rate_take(key, limit, window_ms, now).await?;
        if wait.is_none() {
            self.granted.lock().unwrap().push(now.as_millis());
        }
        Ok(wait)
    }
}

/// Counts sends that reached the inner sender.
#[derive(Default)]
struct SendCount(Mutex<usize>);

#[async_trait]
impl Outbound for SendCount {
    async fn send(&self, _msg: &OutboundMessage) -> Result<SendReceipt, DeliveryError> {
        *self.0.lock().unwrap() += 1;
        Ok(clawtalk_delivery::SendReceipt {
            path: DeliveryPath::RobotApi,
            process_query_key: None,
            parts: 1,
        })
    }
}

async fn layers_on_one_budget_stay_within_the_quota_together(
    open_budget: impl AsyncFn() -> Arc<dyn RateBudgetStore>,
) {
    const MAX: u32 = 6;
    const SENDS: usize = 24;
    let window = std::time::Duration::from_millis(500);
    let config = RateLimitConfig {
        robot_api: RateQuota::new(MAX, window).unwrap(),
        ..RateLimitConfig::default()
    };
    // Two gateways: each its own in-process limiter, both on the store's budget.
    let sent = Arc::new(SendCount::default());
    let granted = Arc::new(Mutex::new(Vec::new()));
    let mut layers = Vec::new();
    for _ in 0..2 {
        let budget = GrantLog {
            inner: open_budget().await,
            granted: Arc::clone(&granted),
        };
        let inner: Arc<dyn Outbound> = Arc::clone(&sent) as Arc<dyn Outbound>;
        layers.push(Arc::new(RateLimit::with_shared_budget(
            inner,
            config,
            Some(SharedBudget::new(Arc::new(budget), Arc::new(SystemClock))),
        )));
    }
    let started = std::time::Instant::now();
    let senders: Vec<_> = (0..6)
        .map(|n| {
            let layer = Arc::clone(&layers[n % 2]);
            tokio::spawn(async move {
                for i in 0..SENDS / 6 {
                    // Robot API DMs: no sessionWebhook, so the robot API budget is the one.
                    let msg = OutboundMessage::new(
                        "default",
                        Target::User(StaffId::new(format!("u{n}"))),
                        Body::text("x"),
                        format!("k{n}-{i}"),
                    );
                    layer.send(&msg).await.unwrap();
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    let elapsed = started.elapsed();
    assert_eq!(*sent.0.lock().unwrap(), SENDS);
    let mut granted = granted.lock().unwrap().clone();
    granted.sort_unstable();
    assert_eq!(
        granted.len(),
        SENDS,
        "every send was taken from the shared budget"
    );
    // The shared budget admits MAX - 1 per window (one of headroom, as the in-process limiter
    // does), over a window a tenth longer than DingTalk's.
    let shared_window = i64::try_from((window + window / 10).as_millis()).unwrap();
    for (i, start) in granted.iter().enumerate() {
        let in_window = granted[i..]
            .iter()
            .take_while(|t| **t - start < shared_window)
            .count();
        assert!(
            in_window < MAX as usize,
            "{in_window} sends within {shared_window} ms from send {i}: {granted:?}"
        );
    }
    // Each process alone would allow MAX - 1 per window, both together twice that: 24 sends
    // in about 1.1 s. Shared, they need at least four more windows after the first five.
    let floor = 4 * shared_window;
    assert!(
        i64::try_from(elapsed.as_millis()).unwrap() >= floor,
        "{SENDS} sends took {elapsed:?}, less than {floor} ms: the budget was not shared"
    );
}
