//! [`RateLimit`]: waits until DingTalk's limits allow a send, so nothing is dropped, and keeps
//! the order of sends to one custom robot or conversation. A conversation whose sessionWebhook
//! budget is spent replies through the robot API rather than wait.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use clawtalk_config::DingTalkAccount;
use clawtalk_core::clock::Clock;

use super::lane::Lanes;
use super::prune::PruneSchedule;
use super::window::SlidingWindows;
use super::{DeliveryError, DeliveryPath, Outbound, OutboundMessage, SendReceipt, Target};
use clawtalk_store::RateBudgetStore;

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
    pub fn governor(&self) -> Quota {
        let budget = self.max.get().saturating_sub(1).max(1);
        let burst = (budget / 4).max(1);
        let steady = budget - burst;
        let interval = if steady == 0 { self.per } else { self.per / steady };
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(interval.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(burst))
            .allow_burst(burst)
    }

    /// The same `max - 1` sends a window as [`RateQuota::governor`], evenly spaced with no
    /// burst: for callers that queue for their turn anyway (AI cards), where a burst would only
    /// lower the pace the queue is served at.
    pub fn governor_even(&self) -> Quota {
        Quota::with_period(self.per_call().max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
    }

    /// The spacing of [`RateQuota::governor_even`].
    #[must_use]
    pub fn per_call(&self) -> Duration {
        self.per / self.max.get().saturating_sub(1).max(1)
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
    /// without capping the account's total (many conversations reply in parallel). A reply
    /// beyond it goes through the robot API instead of waiting (it waits only when the robot
    /// API cannot take it).
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

impl RateLimitConfig {
    /// DingTalk's limits with `account`'s `batchResponses`.
    #[must_use]
    pub fn for_account(account: &DingTalkAccount) -> Self {
        Self {
            batch_responses: account.batch_responses,
            ..Self::default()
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
    shared: Option<SharedBudget>,
    robot_api: DefaultKeyedRateLimiter<Key>,
    /// Counted in exact windows, as DingTalk states the limit: a conversation gets its
    /// minute's budget at once, and a reply beyond it takes the robot API instead of waiting.
    session_webhook: SlidingWindows<Key>,
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
    /// [`clawtalk_store::Store::shared_rate_budget`]), so that the gateways sharing that store
    /// together stay within each quota.
    pub fn with_shared_budget(
        inner: Arc<dyn Outbound>,
        config: RateLimitConfig,
        shared: Option<SharedBudget>,
    ) -> Self {
        Self {
            core: Arc::new(Core {
                inner,
                config,
                shared,
                robot_api: RateLimiter::keyed(config.robot_api.governor()),
                session_webhook: session_webhook_windows(config.session_webhook),
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
            (DeliveryPath::SessionWebhook, target) => {
                Key::SessionWebhook(account, conversation_key(msg.reply.as_ref(), target))
            }
            (_, Target::Group(_)) => Key::RobotApi(account, RobotApi::GroupSend),
            _ => Key::RobotApi(account, RobotApi::BatchSend),
        }
    }

    /// The GCRA limiter of a key counted that way (`None` for sessionWebhook conversations).
    fn limiter(&self, key: &Key) -> Option<&DefaultKeyedRateLimiter<Key>> {
        match key {
            Key::RobotApi(..) => Some(&self.robot_api),
            Key::SessionWebhook(..) => None,
            Key::CustomRobot(..) => Some(&self.custom_robot),
        }
    }

    /// Takes `key`'s permit in this process if one is free now.
    fn try_local(&self, key: &Key) -> bool {
        match self.limiter(key) {
            Some(limiter) => limiter.check_key(key).is_ok(),
            None => self.session_webhook.try_take(key).is_ok(),
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
        let mut waited = false;
        if !self.try_local(key) {
            tracing::debug!(
                account = %msg.account_id,
                idempotency_key = %msg.idempotency_key,
                kind = key.kind(),
                "rate limit reached, waiting for a permit"
            );
            match self.limiter(key) {
                Some(limiter) => limiter.until_key_ready(key).await,
                None => {
                    self.session_webhook.take(key).await;
                }
            }
            waited = true;
        }
        if let Some(shared) = &self.shared {
            waited |= shared.take(&key.shared_name(), key.kind(), self.quota(key)).await;
        }
        waited
    }

    /// Takes `key`'s permit only if one is free now, in this process and in the shared budget.
    async fn try_permit(&self, key: &Key) -> bool {
        if !self.try_local(key) {
            return false;
        }
        match &self.shared {
            Some(shared) => shared.try_take(&key.shared_name(), self.quota(key)).await,
            None => true,
        }
    }

    /// A conversation's sessionWebhook budget is spent: sends `msg` through the robot API
    /// instead (its budget is per second, not per minute), so the reply does not wait for the
    /// conversation's next permit. `None` when the robot API cannot take it (a DM sender
    /// without a staff id cannot be addressed there) or refused it; the caller then waits.
    async fn via_robot_api(&self, msg: &OutboundMessage) -> Option<Result<SendReceipt, DeliveryError>> {
        let addressable = match &msg.target {
            Target::User(user) => !user.as_str().is_empty(),
            Target::Group(group) => !group.as_str().is_empty(),
            Target::CustomRobot { .. } => false,
        };
        if !addressable {
            return None;
        }
        let mut direct = msg.clone();
        direct.reply = None;
        let planned = self.inner.planned_path(&direct);
        if planned != DeliveryPath::RobotApi {
            return None;
        }
        let key = self.slot(&direct, planned);
        self.permit(&key, &direct).await;
        tracing::info!(
            account = %msg.account_id,
            idempotency_key = %msg.idempotency_key,
            "the conversation's sessionWebhook budget is spent; sending through the robot API instead of waiting"
        );
        match self.inner.send(&direct).await {
            Ok(receipt) => Some(Ok(receipt)),
            Err(error) => {
                tracing::warn!(
                    account = %msg.account_id,
                    idempotency_key = %msg.idempotency_key,
                    %error,
                    "the robot API did not take the reply; waiting for the conversation's sessionWebhook budget"
                );
                None
            }
        }
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
                self.session_webhook.retain_recent()
            });
        let result = self.inner.send(msg).await;
        let actual = match &result {
            Ok(receipt) => Some(receipt.path),
            Err(err) => err.path(),
        };
        if let Some(actual) = actual.filter(|p| *p != planned) {
            let key = self.slot(msg, actual);
            // Best effort: a denied check charges nothing, the next send waits as usual.
            let _ = self.try_local(&key);
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

/// A conversation's sessionWebhook windows: the quota's full count, in a window a tenth
/// longer than DingTalk's (a send is counted when it leaves and reaches DingTalk a little
/// later, so sends a window apart here may arrive a little closer together there).
fn session_webhook_windows(quota: RateQuota) -> SlidingWindows<Key> {
    SlidingWindows::new(quota.max(), quota.per() + quota.per() / 10)
}

/// Longest single wait for the shared budget before asking it again.
const SHARED_WAIT_MAX: Duration = Duration::from_secs(5);

/// Takes from shared budgets that may be in the store at once, in this process. A take holds
/// a connection for its transaction, and while another replica takes from the same budget it
/// waits on that budget's lock with the connection in hand. The PostgreSQL store keeps such
/// takes in a pool of their own (so they cannot starve the turns' writes); this bound keeps
/// the takes queued here, in the order they came, rather than in the pool's acquire timeout,
/// which would fail them and let their sends go on the local limit only.
static STORE_TAKES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// How long a gateway's report of its queued sends counts for the others: a few of its
/// reports (see `card::account`), so a gateway that stopped or was killed soon stops counting.
pub const BACKLOG_FRESH: Duration = Duration::from_secs(5);

/// This process among the gateways reporting queued sends: random, so a restarted or
/// reloaded gateway never adds to a dead one's report.
fn process_owner() -> &'static str {
    static OWNER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OWNER.get_or_init(|| format!("{}-{:016x}", std::process::id(), rand::random::<u64>()))
}

/// A send budget shared with the other gateways on one store, counted at one clock.
#[derive(Clone)]
pub struct SharedBudget {
    store: Arc<dyn RateBudgetStore>,
    clock: Arc<dyn Clock>,
}

impl SharedBudget {
    /// `store`'s budget, with "now" read from `clock`.
    #[must_use]
    pub fn new(store: Arc<dyn RateBudgetStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// `store`'s budget (see [`clawtalk_store::Store::shared_rate_budget`]) when it has one.
    #[must_use]
    pub fn of(store: Option<Arc<dyn RateBudgetStore>>, clock: &Arc<dyn Clock>) -> Option<Self> {
        store.map(|store| Self::new(store, Arc::clone(clock)))
    }

    /// Takes one send from `budget_key` (of `quota`), waiting while the other gateways used it
    /// up; true when it had to wait. A store failure lets the send go (the in-process limiter
    /// still applies): holding every reply because the database hiccuped would be worse.
    pub async fn take(&self, budget_key: &str, kind: &str, quota: RateQuota) -> bool {
        let (limit, window_ms) = shared_limit(quota);
        let mut waited = false;
        loop {
            match self.store_take(budget_key, limit, window_ms).await {
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

    /// One take in the store, behind [`STORE_TAKES`]; "now" is read once the take may run.
    async fn store_take(
        &self,
        budget_key: &str,
        limit: u32,
        window_ms: i64,
    ) -> clawtalk_store::StoreResult<Option<i64>> {
        let _turn = STORE_TAKES.acquire().await;
        self.store
            .rate_take(budget_key, limit, window_ms, self.clock.now())
            .await
    }

    /// Reports that this process has `waiting` calls queued for `budget_key`, and returns how
    /// many the other gateways on the store have queued for it (reports of the last
    /// [`BACKLOG_FRESH`]); `None` when the store failed (the caller keeps its last figure).
    pub async fn others_waiting(&self, budget_key: &str, waiting: u32) -> Option<u64> {
        let fresh_ms = i64::try_from(BACKLOG_FRESH.as_millis()).unwrap_or(i64::MAX);
        let owner = process_owner();
        match self
            .store
            .rate_backlog(budget_key, owner, waiting, self.clock.now(), fresh_ms)
            .await
        {
            Ok(others) => Some(others),
            Err(error) => {
                tracing::warn!(%error, "could not read the other gateways' queued sends");
                None
            }
        }
    }

    /// One try: true when a send was taken (or the store failed, see [`SharedBudget::take`]).
    pub async fn try_take(&self, budget_key: &str, quota: RateQuota) -> bool {
        let (limit, window_ms) = shared_limit(quota);
        match self.store_take(budget_key, limit, window_ms).await {
            Ok(wait) => wait.is_none(),
            Err(error) => {
                tracing::warn!(%error, "shared send budget unavailable; sending on the local limit only");
                true
            }
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
        if single.abandoned() {
            continue;
        }
        let waited = if core.try_permit(&key).await {
            false
        } else {
            // DingTalk limits a sessionWebhook per conversation; the robot API is another
            // budget, so a busy conversation's reply need not wait a minute's share.
            if matches!(key, Key::SessionWebhook(..))
                && let Some(result) = core.via_robot_api(&single.msg).await
            {
                single.finish(&result);
                continue;
            }
            core.permit(&key, &single.msg).await;
            true
        };
        // The wait for a permit can be a minute's share (20 a minute per sessionWebhook).
        if single.abandoned() {
            tracing::debug!(
                kind = key.kind(),
                "a queued message's turn stopped waiting; not sent"
            );
            continue;
        }
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

/// The conversation a sessionWebhook reply goes to. Its own conversation id first: DM
/// senders without a staff id (external contacts) all share an empty `Target::User`, and one
/// conversation's budget must not hold up another's.
fn conversation_key(reply: Option<&super::ReplyContext>, target: &Target) -> String {
    if let Some(reply) = reply.filter(|r| !r.conversation_id.is_empty()) {
        return format!("conversation:{}", reply.conversation_id);
    }
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
    use crate::{Body, RecordingOutbound, ReplyContext};
    use clawtalk_core::clock::EpochMs;
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

    /// A reply into `conversation` (a DM from `user`) through its sessionWebhook.
    fn webhook_reply(user: &str, conversation: &str, key: &str) -> OutboundMessage {
        let context = ReplyContext {
            session_webhook: url::Url::parse("http://127.0.0.1:1/robot/sendBySession?session=s").unwrap(),
            expires_at_ms: EpochMs::from_millis(i64::MAX),
            sender_staff_id: None,
            is_group: false,
            conversation_id: conversation.to_owned(),
        };
        OutboundMessage::new("a", Target::User(StaffId::new(user)), Body::text(key), key).in_reply(context)
    }

    #[tokio::test]
    async fn session_webhook_budgets_are_per_conversation() {
        let rec = Arc::new(RecordingOutbound::new());
        let config = RateLimitConfig {
            session_webhook: quota(2, 60_000),
            ..RateLimitConfig::default()
        };
        let limited = RateLimit::new(Arc::clone(&rec) as Arc<dyn Outbound>, config);
        let first = webhook_reply("u0", "c0", "k");
        assert_eq!(limited.planned_path(&first), DeliveryPath::SessionWebhook);
        let started = Instant::now();
        // Fifty conversations of one account, one reply each: no waiting.
        for i in 0..50 {
            limited
                .send(&webhook_reply(&format!("u{i}"), &format!("c{i}"), "k"))
                .await
                .unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            rec.sent().iter().all(|m| m.reply.is_some()),
            "all by sessionWebhook"
        );
    }

    #[tokio::test]
    async fn one_users_quick_replies_in_different_conversations_are_not_delayed() {
        let rec = Arc::new(RecordingOutbound::new());
        let limited = RateLimit::new(Arc::clone(&rec) as Arc<dyn Outbound>, RateLimitConfig::default());
        // An external contact has no staff id: every conversation of such senders has the
        // same (empty) recipient, and one conversation's budget must not hold up another's.
        for user in ["0312", ""] {
            rec.clear();
            let started = Instant::now();
            for i in 0..5 {
                let reply = webhook_reply(user, &format!("conv-{user}-{i}"), &format!("k{i}"));
                limited.send(&reply).await.unwrap();
            }
            assert!(
                started.elapsed() < Duration::from_millis(500),
                "five replies took {:?}",
                started.elapsed()
            );
            assert!(
                rec.sent().iter().all(|m| m.reply.is_some()),
                "all by sessionWebhook"
            );
        }
    }

    #[tokio::test]
    async fn a_conversation_past_its_webhook_budget_replies_through_the_robot_api_at_once() {
        let rec = Arc::new(RecordingOutbound::new());
        let limited = RateLimit::new(Arc::clone(&rec) as Arc<dyn Outbound>, RateLimitConfig::default());
        let started = Instant::now();
        for i in 0..21 {
            limited
                .send(&webhook_reply("0312", "c", &format!("k{i}")))
                .await
                .unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let sent = rec.sent();
        let keys: Vec<&str> = sent.iter().map(|m| m.idempotency_key.as_str()).collect();
        let expected: Vec<String> = (0..21).map(|i| format!("k{i}")).collect();
        assert_eq!(keys, expected, "each reply exactly once, in order");
        // DingTalk's 20 a minute by sessionWebhook; the 21st by the robot API.
        assert!(sent[..20].iter().all(|m| m.reply.is_some()));
        assert!(sent[20].reply.is_none());
        assert_eq!(limited.planned_path(&sent[20]), DeliveryPath::RobotApi);
    }

    /// Uses up conversation `c`'s sessionWebhook window (two sends, k0 and k1) and has the
    /// robot API refuse the next reply (no permission), so the next one waits for the window.
    async fn fill_the_window_without_the_robot_api(limited: &RateLimit, rec: &RecordingOutbound) {
        for i in 0..2 {
            limited
                .send(&webhook_reply("0312", "c", &format!("k{i}")))
                .await
                .unwrap();
        }
        rec.fail_next(1, crate::recording::Failure::PermissionMissing);
    }

    #[tokio::test]
    async fn a_queued_message_whose_turn_stopped_waiting_is_not_sent() {
        // Sent alone, and merged into the send ahead of it (`batchResponses`).
        for batch_responses in [false, true] {
            a_queued_message_whose_turn_stopped_waiting_is_not_sent_with(batch_responses).await;
        }
    }

    async fn a_queued_message_whose_turn_stopped_waiting_is_not_sent_with(batch_responses: bool) {
        let rec = Arc::new(RecordingOutbound::new());
        let config = RateLimitConfig {
            session_webhook: quota(2, 600),
            batch_responses,
            ..RateLimitConfig::default()
        };
        let limited = Arc::new(RateLimit::new(Arc::clone(&rec) as Arc<dyn Outbound>, config));
        // The next two wait for the conversation's window, in order.
        fill_the_window_without_the_robot_api(&limited, &rec).await;
        let send = |key: &'static str| {
            let limited = Arc::clone(&limited);
            tokio::spawn(async move { limited.send(&webhook_reply("0312", "c", key)).await })
        };
        let waiting = send("k2");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let given_up = send("k3");
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The turn behind k3 is dropped (it gave its lease up) while k3 waits on the lane.
        given_up.abort();
        waiting.await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(900)).await;
        let sent: Vec<String> = rec.sent().iter().map(|m| m.idempotency_key.clone()).collect();
        assert_eq!(
            sent,
            ["k0", "k1", "k2"],
            "k3's next owner sends it, not this lane (batchResponses {batch_responses})"
        );
    }

    #[tokio::test]
    async fn without_the_robot_api_a_reply_waits_for_its_conversation() {
        let rec = Arc::new(RecordingOutbound::new());
        let config = RateLimitConfig {
            session_webhook: quota(2, 600),
            ..RateLimitConfig::default()
        };
        let limited = RateLimit::new(Arc::clone(&rec) as Arc<dyn Outbound>, config);
        // The robot API refuses the third (no permission): it waits for the window instead.
        fill_the_window_without_the_robot_api(&limited, &rec).await;
        let started = Instant::now();
        limited.send(&webhook_reply("0312", "c", "k2")).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        let sent = rec.sent();
        assert_eq!(sent.len(), 3);
        assert!(sent.iter().all(|m| m.reply.is_some()), "all by sessionWebhook");
        assert_eq!(rec.attempts(), 4, "the robot API was tried once");
    }
}
