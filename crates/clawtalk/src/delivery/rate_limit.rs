//! [`RateLimit`]: waits until DingTalk's limits allow a send, so nothing is dropped, and keeps
//! the order of sends to one custom robot or conversation.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use super::lane::Lanes;
use super::prune::PruneSchedule;
use super::{DeliveryError, DeliveryPath, Outbound, OutboundMessage, SendReceipt, Target};
use crate::store::RateBudgetStore;

/// At most `max` sends in any window of `per`, as DingTalk counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateQuota {
    max: NonZeroU32,
    per: Duration,
}

impl RateQuota {
    /// `max` sends per `per`; `None` when either is zero.
    #[must_use]
    pub fn new(max: u32, per: Duration) -> Option<Self> {
        let max = NonZeroU32::new(max)?;
        (!per.is_zero()).then_some(Self { max, per })
    }

    /// `max` sends per second.
    #[must_use]
    pub const fn per_second(max: NonZeroU32) -> Self {
        Self {
            max,
            per: Duration::from_secs(1),
        }
    }

    /// `max` sends per minute.
    #[must_use]
    pub const fn per_minute(max: NonZeroU32) -> Self {
        Self {
            max,
            per: Duration::from_secs(60),
        }
    }

    /// The most sends per window.
    #[must_use]
    pub fn max(&self) -> u32 {
        self.max.get()
    }

    /// The window.
    #[must_use]
    pub fn per(&self) -> Duration {
        self.per
    }

    /// A GCRA quota that never puts more than `max - 1` sends into any window of `per`.
    ///
    /// A GCRA limiter with burst `b` and interval `t` admits up to `b + per / t` cells in a window
    /// of `per`. DingTalk counts in fixed (QPS) or sliding (custom robot) windows, and exceeding a
    /// custom robot's limit bans it for ten minutes, so `b + per / t` is kept one below `max` (the
    /// spare absorbs network jitter reordering two sends). A quarter of that goes to the burst, so
    /// a short multi-part reply leaves at once; the rest is spread evenly over the window.
    pub(crate) fn governor(&self) -> Quota {
        let budget = self.max.get().saturating_sub(1).max(1);
        let burst = (budget / 4).max(1);
        let steady = budget - burst;
        let interval = if steady == 0 { self.per } else { self.per / steady };
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(interval.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(burst))
            .allow_burst(burst)
    }
}

const TWENTY: NonZeroU32 = match NonZeroU32::new(20) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};

/// Quotas of the [`RateLimit`] layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Per account and robot API (`batchSend`, `groupMessages/send`): DingTalk allows 20 calls
    /// per second per app and API.
    pub robot_api: RateQuota,
    /// Per conversation, sessionWebhook replies. DingTalk documents no limit; the protocol
    /// notes assume the custom robot's 20 a minute per conversation, which bounds one chat
    /// without capping the account's total (many conversations reply in parallel).
    pub session_webhook: RateQuota,
    /// Per custom robot webhook: 20 messages a minute, above which the robot is banned for
    /// 10 minutes.
    pub custom_robot: RateQuota,
    /// `batchResponses` (default on): short text or markdown messages that wait behind a
    /// custom robot's or conversation's limit leave merged into one message.
    pub batch_responses: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            robot_api: RateQuota::per_second(TWENTY),
            session_webhook: RateQuota::per_minute(TWENTY),
            custom_robot: RateQuota::per_minute(TWENTY),
            batch_responses: true,
        }
    }
}

/// Conversations whose sessionWebhook budget is tracked before idle ones are pruned.
const MAX_TRACKED_CONVERSATIONS: usize = 10_000;

/// A failure that throttles a robot for this long or more stops its lane until then: posting
/// into a ban cannot succeed and might prolong it.
const PAUSE_AT_LEAST: Duration = Duration::from_secs(60);

/// What one limiter slot counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// (account, robot API).
    RobotApi(String, RobotApi),
    /// (account, conversation: the user or group the reply goes to).
    SessionWebhook(String, String),
    /// The webhook URL (its `access_token` identifies the robot; kept in memory only).
    CustomRobot(String),
}

impl Key {
    /// Sends on these keys go through an ordered lane: they wait long (a minute's budget is 20)
    /// and their order is visible in one chat. Robot API sends only wait milliseconds.
    fn is_ordered(&self) -> bool {
        !matches!(self, Self::RobotApi(..))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum RobotApi {
    BatchSend,
    GroupSend,
}

/// Waits for a permit before every send, keyed by account and API (or custom robot webhook).
///
/// It asks the inner sender which path a message will take ([`Outbound::planned_path`]). When a
/// reply falls back from the sessionWebhook to the robot API inside the inner sender, the robot
/// API's budget is charged afterwards (without waiting) so that the following sends slow down.
///
/// Custom robot and sessionWebhook sends queue in one lane per robot or conversation and leave
/// in arrival order; with [`RateLimitConfig::batch_responses`] the short ones that had to wait
/// are merged into one message. When DingTalk throttles a robot anyway (another sender used its
/// budget), its lane answers every send with that error until the throttle ends, without
/// posting; the callers keep the messages (the gateway's outbox sends them again later).
pub struct RateLimit {
    core: Arc<Core>,
}

struct Core {
    inner: Arc<dyn Outbound>,
    config: RateLimitConfig,
    /// The budget other gateways on the same store count in too; checked after the
    /// in-process limiter (which smooths this process's sends), it caps all replicas together.
    shared: Option<Arc<dyn RateBudgetStore>>,
    robot_api: DefaultKeyedRateLimiter<Key>,
    session_webhook: DefaultKeyedRateLimiter<Key>,
    /// When the idle conversations of `session_webhook` are forgotten.
    session_webhook_prune: PruneSchedule,
    custom_robot: DefaultKeyedRateLimiter<Key>,
    batch_responses: bool,
    lanes: Lanes<Key>,
    paused: Mutex<HashMap<Key, (Instant, DeliveryError)>>,
}

impl RateLimit {
    /// Wraps `inner` with `config`'s quotas.
    pub fn new(inner: Arc<dyn Outbound>, config: RateLimitConfig) -> Self {
        Self::with_shared_budget(inner, config, None)
    }

    /// [`RateLimit::new`] that also takes every send from `shared` (see
    /// [`crate::store::Store::shared_rate_budget`]), so that the gateways sharing that store
    /// together stay within each quota.
    pub fn with_shared_budget(
        inner: Arc<dyn Outbound>,
        config: RateLimitConfig,
        shared: Option<Arc<dyn RateBudgetStore>>,
    ) -> Self {
        Self {
            core: Arc::new(Core {
                inner,
                config,
                shared,
                robot_api: RateLimiter::keyed(config.robot_api.governor()),
                session_webhook: RateLimiter::keyed(config.session_webhook.governor()),
                session_webhook_prune: PruneSchedule::new(MAX_TRACKED_CONVERSATIONS),
                custom_robot: RateLimiter::keyed(config.custom_robot.governor()),
                batch_responses: config.batch_responses,
                lanes: Lanes::default(),
                paused: Mutex::default(),
            }),
        }
    }
}

impl Core {
    fn slot(&self, msg: &OutboundMessage, path: DeliveryPath) -> Key {
        if let Target::CustomRobot { webhook, .. } = &msg.target {
            return Key::CustomRobot(webhook_key(webhook));
        }
        let account = msg.account_id.clone();
        match (path, &msg.target) {
            (DeliveryPath::SessionWebhook, target) => Key::SessionWebhook(account, conversation_key(target)),
            (_, Target::Group(_)) => Key::RobotApi(account, RobotApi::GroupSend),
            _ => Key::RobotApi(account, RobotApi::BatchSend),
        }
    }

    fn limiter(&self, key: &Key) -> &DefaultKeyedRateLimiter<Key> {
        match key {
            Key::RobotApi(..) => &self.robot_api,
            Key::SessionWebhook(..) => &self.session_webhook,
            Key::CustomRobot(..) => &self.custom_robot,
        }
    }

    fn quota(&self, key: &Key) -> RateQuota {
        match key {
            Key::RobotApi(..) => self.config.robot_api,
            Key::SessionWebhook(..) => self.config.session_webhook,
            Key::CustomRobot(..) => self.config.custom_robot,
        }
    }

    /// Waits for `key`'s permit, in this process and then in the shared budget; true when
    /// it had to wait.
    async fn permit(&self, key: &Key, msg: &OutboundMessage) -> bool {
        let limiter = self.limiter(key);
        let mut waited = false;
        if limiter.check_key(key).is_err() {
            tracing::debug!(
                account = %msg.account_id,
                idempotency_key = %msg.idempotency_key,
                kind = key.kind(),
                "rate limit reached, waiting for a permit"
            );
            limiter.until_key_ready(key).await;
            waited = true;
        }
        if let Some(shared) = &self.shared {
            waited |= take_shared(shared.as_ref(), &key.shared_name(), key.kind(), self.quota(key)).await;
        }
        waited
    }

    /// Sends through the inner sender and charges the path it really took.
    async fn send_now(
        &self,
        msg: &OutboundMessage,
        planned: DeliveryPath,
    ) -> Result<SendReceipt, DeliveryError> {
        // One slot per conversation: forget idle ones so a long-running gateway stays small.
        self.session_webhook_prune
            .run_if_due(self.session_webhook.len(), || {
                self.session_webhook.retain_recent();
                self.session_webhook.len()
            });
        let result = self.inner.send(msg).await;
        let actual = match &result {
            Ok(receipt) => Some(receipt.path),
            Err(err) => err.path(),
        };
        if let Some(actual) = actual.filter(|p| *p != planned) {
            let key = self.slot(msg, actual);
            // Best effort: a denied check charges nothing, the next send waits as usual.
            let _ = self.limiter(&key).check_key(&key);
        }
        result
    }

    /// The error a paused lane answers with, while the pause lasts.
    fn pause_of(&self, key: &Key) -> Option<DeliveryError> {
        let mut paused = self
            .paused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match paused.get(key) {
            Some((until, error)) if *until > Instant::now() => Some(error.clone()),
            Some(_) => {
                paused.remove(key);
                None
            }
            None => None,
        }
    }

    fn pause_after(&self, key: &Key, result: &Result<SendReceipt, DeliveryError>) {
        let Err(error) = result else { return };
        if let Some(pause) = error.retry_after().filter(|p| *p >= PAUSE_AT_LEAST) {
            tracing::warn!(kind = key.kind(), pause_s = pause.as_secs(), error = %error, "DingTalk throttled this robot; holding its messages until the throttle ends");
            self.paused
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key.clone(), (Instant::now() + pause, error.clone()));
        }
    }
}

/// Longest single wait for the shared budget before asking it again.
const SHARED_WAIT_MAX: Duration = Duration::from_secs(5);

/// Takes one send from the shared budget `budget_key` (of `quota`), waiting while the other
/// gateways used it up; true when it had to wait. A store failure lets the send go (the
/// in-process limiter still applies): holding every reply because the database hiccuped
/// would be worse.
pub(crate) async fn take_shared(
    shared: &dyn RateBudgetStore,
    budget_key: &str,
    kind: &str,
    quota: RateQuota,
) -> bool {
    let (limit, window_ms) = shared_limit(quota);
    let mut waited = false;
    loop {
        match shared.rate_take(budget_key, limit, window_ms, epoch_ms()).await {
            Ok(None) => return waited,
            Ok(Some(wait_ms)) => {
                waited = true;
                let wait = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(1));
                tokio::time::sleep(wait.min(SHARED_WAIT_MAX)).await;
            }
            Err(error) => {
                tracing::warn!(kind, %error, "shared send budget unavailable; sending on the local limit only");
                return waited;
            }
        }
    }
}

/// One try at the shared budget: true when a send was taken (or the store failed, see
/// [`take_shared`]).
pub(crate) async fn try_take_shared(
    shared: &dyn RateBudgetStore,
    budget_key: &str,
    quota: RateQuota,
) -> bool {
    let (limit, window_ms) = shared_limit(quota);
    match shared.rate_take(budget_key, limit, window_ms, epoch_ms()).await {
        Ok(wait) => wait.is_none(),
        Err(error) => {
            tracing::warn!(%error, "shared send budget unavailable; sending on the local limit only");
            true
        }
    }
}

/// The limit and window a quota is counted with in the shared budget.
fn shared_limit(quota: RateQuota) -> (u32, i64) {
    // The same one-send headroom as the in-process limiter (see `RateQuota::governor`), and a
    // window a tenth longer than DingTalk's: a send is counted when it is taken, and reaches
    // DingTalk a little later, so two replicas' sends bunch up by that jitter at the edges.
    let limit = quota.max().saturating_sub(1).max(1);
    let per = quota.per() + quota.per() / 10;
    (limit, i64::try_from(per.as_millis()).unwrap_or(i64::MAX).max(1))
}

fn epoch_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Sends the messages queued on `key`'s lane until it is empty.
async fn drain(core: Arc<Core>, key: Key, planned: DeliveryPath) {
    // Closes the lane if this task ends early (a panic below), so the next send opens a new one.
    struct Guard<'a>(&'a Core, &'a Key, bool);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            if !self.2 {
                self.0.lanes.fail_all(self.1, &DeliveryError::Interrupted);
            }
        }
    }
    let mut guard = Guard(&core, &key, false);
    while !core.lanes.close_if_empty(&key) {
        if let Some(error) = core.pause_of(&key) {
            core.lanes.fail_all(&key, &error);
            continue;
        }
        let Some(single) = core.lanes.take(&key) else {
            continue;
        };
        let waited = core.permit(&key, &single.msg).await;
        // Messages queued while we waited for the permit ride along (`batchResponses`).
        let batch = if waited && core.batch_responses {
            core.lanes.extend(&key, single)
        } else {
            single
        };
        if batch.len() > 1 {
            tracing::info!(
                kind = key.kind(),
                merged = batch.len(),
                "merged queued messages into one send (batchResponses)"
            );
        }
        let result = core.send_now(&batch.msg, planned).await;
        core.pause_after(&key, &result);
        batch.finish(&result);
    }
    guard.2 = true;
}

fn conversation_key(target: &Target) -> String {
    match target {
        Target::User(user) => format!("user:{user}"),
        Target::Group(group) => format!("group:{group}"),
        _ => String::new(),
    }
}

fn webhook_key(webhook: &url::Url) -> String {
    webhook.as_str().to_owned()
}

impl Key {
    /// The budget's name in the shared store. Webhook URLs carry their robot's access token,
    /// so a custom robot is named by a hash of its URL, never the URL.
    fn shared_name(&self) -> String {
        match self {
            Self::RobotApi(account, RobotApi::BatchSend) => format!("robot_api:{account}:batchSend"),
            Self::RobotApi(account, RobotApi::GroupSend) => format!("robot_api:{account}:groupSend"),
            Self::SessionWebhook(account, conversation) => {
                format!("session_webhook:{account}:{conversation}")
            }
            Self::CustomRobot(webhook) => {
                use sha2::{Digest, Sha256};
                let digest = Sha256::digest(webhook.as_bytes());
                let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
                format!("custom_robot:{hex}")
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::RobotApi(..) => "robot_api",
            Self::SessionWebhook(..) => "session_webhook",
            Self::CustomRobot(..) => "custom_robot",
        }
    }
}

#[async_trait]
impl Outbound for RateLimit {
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, DeliveryError> {
        let core = &self.core;
        let planned = core.inner.planned_path(msg);
        let key = core.slot(msg, planned);
        if !key.is_ordered() {
            core.permit(&key, msg).await;
            return core.send_now(msg, planned).await;
        }
        if let Some(error) = core.pause_of(&key) {
            return Err(error);
        }
        let (outcome, opened) = core.lanes.push(&key, msg.clone());
        if opened {
            tokio::spawn(drain(Arc::clone(core), key, planned));
        }
        outcome.await.unwrap_or(Err(DeliveryError::Interrupted))
    }

    fn planned_path(&self, msg: &OutboundMessage) -> DeliveryPath {
        self.core.inner.planned_path(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{Body, RecordingOutbound, ReplyContext};
    use dingtalk::ids::StaffId;
    use std::time::Instant;

    fn quota(max: u32, per_ms: u64) -> RateQuota {
        RateQuota::new(max, Duration::from_millis(per_ms)).unwrap()
    }

    #[test]
    fn quotas_keep_one_send_of_headroom_per_window() {
        for (max, per) in [
            (20, 1000),
            (20, 60_000),
            (5, 1000),
            (2, 1000),
            (1, 1000),
            (100, 1000),
        ] {
            let q = quota(max, per).governor();
            let burst = q.burst_size().get();
            let window = Duration::from_millis(per);
            let per_window =
                burst + u32::try_from(window.as_nanos() / q.replenish_interval().as_nanos()).unwrap();
            // One below the limit; a limit of 1 or 2 gets one send per window plus the boundary.
            assert!(
                per_window <= (max - 1).max(2),
                "{max}/{per}ms admits {per_window}"
            );
            assert!(burst >= 1);
        }
        assert_eq!(quota(20, 1000).governor().burst_size().get(), 4);
        assert!(RateQuota::new(0, Duration::from_secs(1)).is_none());
        assert!(RateQuota::new(1, Duration::ZERO).is_none());
    }

    #[tokio::test]
    async fn sends_wait_instead_of_failing() {
        let rec = Arc::new(RecordingOutbound::new());
        let config = RateLimitConfig {
            robot_api: quota(5, 200),
            ..RateLimitConfig::default()
        };
        let limited = Arc::new(RateLimit::new(Arc::clone(&rec) as Arc<dyn Outbound>, config));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..10 {
            let limited = Arc::clone(&limited);
            tasks.push(tokio::spawn(async move {
                let msg = OutboundMessage::new(
                    "a",
                    Target::User(StaffId::new("u")),
                    Body::text(format!("{i}")),
                    format!("k{i}"),
                );
                limited.send(&msg).await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        // 5 per 200 ms with one spare: burst 1, then 3 per 200 ms → 10 sends take ≥ 600 ms.
        assert!(
            started.elapsed() >= Duration::from_millis(550),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(rec.sent().len(), 10);
    }

    #[tokio::test]
    async fn accounts_and_apis_have_separate_budgets() {
        let rec = Arc::new(RecordingOutbound::new());
        let config = RateLimitConfig {
            robot_api: quota(2, 60_000),
            ..RateLimitConfig::default()
        };
        let limited = RateLimit::new(Arc::clone(&rec) as Arc<dyn Outbound>, config);
        let started = Instant::now();
        for account in ["a", "b"] {
            for target in [
                Target::User(StaffId::new("u")),
                Target::Group(dingtalk::ids::ConversationId::new("c")),
            ] {
                let msg = OutboundMessage::new(account, target, Body::text("x"), "k");
                limited.send(&msg).await.unwrap();
            }
        }
        // Four different slots, one send each: nobody waited a minute.
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn session_webhook_budgets_are_per_conversation() {
        let rec = Arc::new(RecordingOutbound::new());
        let config = RateLimitConfig {
            session_webhook: quota(2, 60_000),
            ..RateLimitConfig::default()
        };
        let limited = RateLimit::new(Arc::clone(&rec) as Arc<dyn Outbound>, config);
        let reply = |user: &str| {
            let context = ReplyContext {
                session_webhook: url::Url::parse("http://127.0.0.1:1/robot/sendBySession?session=s").unwrap(),
                expires_at_ms: i64::MAX,
                sender_staff_id: None,
                is_group: false,
            };
            OutboundMessage::new("a", Target::User(StaffId::new(user)), Body::text("x"), "k")
                .in_reply(context)
        };
        assert_eq!(limited.planned_path(&reply("u0")), DeliveryPath::SessionWebhook);
        let started = Instant::now();
        // Fifty conversations of one account, one reply each: no waiting.
        for i in 0..50 {
            limited.send(&reply(&format!("u{i}"))).await.unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        // One conversation beyond its per-minute budget has to wait.
        let second = tokio::time::timeout(Duration::from_millis(500), async {
            for _ in 0..3 {
                limited.send(&reply("u0")).await.unwrap();
            }
        })
        .await;
        assert!(
            second.is_err(),
            "a single conversation must not exceed its budget"
        );
    }
}
