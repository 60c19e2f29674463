//! Per-account card machinery: the API client, the shared budget, the degrade switch, and
//! the three calls every card makes, each retried through `QpsLimit` the same way.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dingtalk::api::OpenApiClient;
use dingtalk::ids::{ConversationId, OutTrackId, RobotCode, StaffId};
use dingtalk::model::outbound::{
    CardData, CreateAndDeliverRequest, StreamingUpdateRequest, UpdateCardRequest,
};
use dingtalk::{ApiErrorKind, Error as ApiCallError};
use tokio::time::Instant;

use super::budget::{BUSY_RETRY, CardApi, CardBudget, Class};
use clawtalk_config::{CardOverflow, CardSettings};
use clawtalk_core::clock::{Clock, SystemClock};

/// Where a card goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardSpace {
    /// A group (`IM_GROUP`, the open conversation id).
    Group(ConversationId),
    /// The bot's DM with a user (`IM_ROBOT`, the staff id).
    Dm(StaffId),
}

impl CardSpace {
    /// The conversation id recorded with the card.
    #[must_use]
    pub fn conversation(&self) -> &str {
        match self {
            Self::Group(id) => id.as_str(),
            Self::Dm(id) => id.as_str(),
        }
    }
}

/// What became of an intermediate card update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streamed {
    /// The card shows it.
    Shown,
    /// Skipped for want of a permit: try again after this long, with the newest text.
    Skipped(Duration),
}

/// An AI card's `flowStatus`, which its template draws the card's state from. Values from
/// `AICardStatus` in open-dingtalk/dingtalk-stream-sdk-python `dingtalk_stream/card_replier.py`
/// (1 processing and 4 executing are not used here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowStatus {
    /// "2": the answer is being written.
    Inputting,
    /// "3": the answer is complete.
    Finished,
    /// "5": the turn failed, was stopped, or was cut off.
    Failed,
}

impl FlowStatus {
    /// The value DingTalk expects (a string variable).
    #[must_use]
    pub fn value(self) -> &'static str {
        match self {
            Self::Inputting => "2",
            Self::Finished => "3",
            Self::Failed => "5",
        }
    }

    /// How a card ends: failed or finished.
    #[must_use]
    pub fn closing(failed: bool) -> Self {
        if failed { Self::Failed } else { Self::Finished }
    }
}

/// How often a replica reports its queued card calls to the others and reads theirs: often
/// against a backlog that grows by the quota's 20 calls a second, rarely against the store.
/// Reports count for [`crate::rate_limit::BACKLOG_FRESH`].
const BACKLOG_EVERY: Duration = Duration::from_millis(500);

/// Attempts for a call that must land (create, finalize): QPS pauses are a second each.
const MUST_LAND_ATTEMPTS: u32 = 8;

/// One account's cards.
pub struct CardAccount {
    api: OpenApiClient,
    robot_code: RobotCode,
    /// The budget every conversation of this app shares.
    pub budget: CardBudget,
    /// Template, pacing and size.
    pub settings: CardSettings,
    degraded_until: Mutex<Option<Instant>>,
    calls: AtomicU64,
    first_text: Mutex<Vec<Duration>>,
    clock: Arc<dyn Clock>,
    /// Streaming cards opened (or being opened) that show no answer text yet: each needs a
    /// first-text call before a card opened now gets one.
    awaiting_first_text: AtomicUsize,
    /// Answers sent as markdown because a card would have waited too long.
    overflowed: AtomicU64,
    /// Card calls the other replicas sharing this app's quota have queued, as last read
    /// ([`CardAccount::refresh_shared_backlog`]).
    others_waiting: AtomicU64,
    /// When this process last reported its queued calls and read the others'.
    backlog_read_at: Mutex<Option<Instant>>,
    /// The registered HTTP callback route key cards name, so their presses reach an
    /// HTTP-mode gateway; `None` = presses come over Stream.
    http_callback: Option<String>,
}

/// Figures of one account's cards.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CardStats {
    /// API calls since start.
    pub calls: u64,
    /// `QpsLimit` answers since start.
    pub qps_limits: u64,
    /// Model's first answer token → that text shown in the card, per card (the latest
    /// [`FIRST_TEXT_SAMPLES`]).
    pub first_text: Vec<Duration>,
    /// Answers sent as markdown because a card's first text would have waited longer than
    /// `cardOverflowAfterMs` (`cardOverflow: "markdown"`).
    pub overflowed: u64,
}

/// Latency samples kept for [`CardStats::first_text`].
pub const FIRST_TEXT_SAMPLES: usize = 10_000;

impl std::fmt::Debug for CardAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardAccount")
            .field("robot_code", &self.robot_code)
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl CardAccount {
    /// Cards of the app behind `api`.
    #[must_use]
    pub fn new(api: OpenApiClient, robot_code: RobotCode, settings: CardSettings) -> Self {
        Self {
            budget: CardBudget::new(settings.qps),
            api,
            robot_code,
            settings,
            degraded_until: Mutex::new(None),
            calls: AtomicU64::new(0),
            first_text: Mutex::new(Vec::new()),
            clock: Arc::new(SystemClock),
            awaiting_first_text: AtomicUsize::new(0),
            overflowed: AtomicU64::new(0),
            others_waiting: AtomicU64::new(0),
            backlog_read_at: Mutex::new(None),
            http_callback: None,
        }
    }

    /// Creates cards whose presses go to the HTTP callback registered under `route_key`
    /// (`callbackType: "HTTP"`); `None` keeps Stream callbacks.
    #[must_use]
    pub fn with_http_callback(mut self, route_key: Option<String>) -> Self {
        self.http_callback = route_key;
        self
    }

    /// Makes the card budget also count in a budget shared with other replicas on the same
    /// app; `None` keeps it in this process.
    #[must_use]
    pub fn with_shared_budget(mut self, budget: Option<crate::rate_limit::SharedBudget>) -> Self {
        let app = self.robot_code.as_str().to_owned();
        self.budget = self.budget.with_shared(&app, budget);
        self
    }

    /// Reads "now" for the card records from `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The clock card records are stamped with.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Card API calls made since start (every attempt counts: DingTalk bills them).
    #[must_use]
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Notes how long the first answer text of a card took to show.
    pub fn record_first_text(&self, latency: Duration) {
        if let Ok(mut samples) = self.first_text.lock() {
            if samples.len() == FIRST_TEXT_SAMPLES {
                samples.remove(0);
            }
            samples.push(latency);
        }
    }

    /// Calls, `QpsLimit` answers and first-text latencies so far.
    #[must_use]
    pub fn stats(&self) -> CardStats {
        CardStats {
            calls: self.calls(),
            qps_limits: self.budget.qps_hits(),
            first_text: self.first_text.lock().map(|s| s.clone()).unwrap_or_default(),
            overflowed: self.overflowed(),
        }
    }

    /// Answers sent as markdown because a card would have waited too long.
    #[must_use]
    pub fn overflowed(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// How long a card's first text would wait if a turn opened one now: behind the creates
    /// queued for a permit and the first texts of every card still waiting for one.
    #[must_use]
    pub fn first_text_wait(&self) -> Duration {
        let create = self.budget.wait_estimate(CardApi::Create, Class::FirstText);
        let ahead = u32::try_from(self.awaiting_first_text.load(Ordering::Relaxed)).unwrap_or(u32::MAX);
        create.max(self.budget.per_call() * ahead)
    }

    /// How far behind the card budget is for a card opened now: its first text's wait, or
    /// the streaming calls already queued, closings included, whichever is longer. Every
    /// card needs two streaming calls that must land (its first text and its close) against
    /// one create, so a burst admitted at the create quota's pace would pile closings up on
    /// the streaming quota; and since first texts go first, those closings would wait for
    /// as long as new cards kept coming (the 9 AM bench: answers complete 50 s late).
    ///
    /// Replicas sharing the app's quota share its pace too: the calls the others have queued
    /// ([`CardAccount::refresh_shared_backlog`]) go through the same quota as this process's,
    /// so a card opened here waits behind them as well. Counting only this process's queue,
    /// each of three replicas would see a third of the backlog and overflow too late.
    #[must_use]
    pub fn card_wait(&self) -> Duration {
        let others = u32::try_from(self.others_waiting.load(Ordering::Relaxed)).unwrap_or(u32::MAX);
        self.budget.per_call() * self.own_waiting().saturating_add(others)
    }

    /// The card calls this process has ahead of a card opened now, at the quota's pace: the
    /// creates queued for a permit or the first texts of cards still waiting for one,
    /// or the streaming calls queued, closings included, whichever are more.
    fn own_waiting(&self) -> u32 {
        let creates = self.budget.waiting(CardApi::Create, Class::FirstText);
        let first_texts = self.awaiting_first_text.load(Ordering::Relaxed);
        let closings = self.budget.waiting(CardApi::Stream, Class::Finish);
        u32::try_from(creates.max(first_texts).max(closings)).unwrap_or(u32::MAX)
    }

    /// When the quota is shared with other replicas: reports this process's queued card
    /// calls and reads the others' (at most every [`BACKLOG_EVERY`]; one short statement),
    /// for [`CardAccount::card_wait`]. A store failure keeps the last figure.
    pub async fn refresh_shared_backlog(&self) {
        if !self.budget.is_shared() {
            return;
        }
        {
            let Ok(mut read_at) = self.backlog_read_at.lock() else {
                return;
            };
            if read_at.is_some_and(|at| at.elapsed() < BACKLOG_EVERY) {
                return;
            }
            *read_at = Some(Instant::now());
        }
        if let Some(others) = self.budget.others_waiting(self.own_waiting()).await {
            self.others_waiting.store(others, Ordering::Relaxed);
        }
    }

    /// True when an answer should go as markdown instead of a card now: `cardOverflow:
    /// "markdown"` and the card budget is further behind than `cardOverflowAfterMs`
    /// ([`CardAccount::card_wait`]).
    #[must_use]
    pub fn overflows(&self) -> bool {
        self.settings.overflow == CardOverflow::Markdown && self.card_wait() > self.settings.overflow_after
    }

    /// Counts an answer sent as markdown because [`CardAccount::overflows`].
    pub fn count_overflow(&self) {
        self.overflowed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a card as waiting for its first text until the returned guard is dropped.
    #[must_use]
    pub fn await_first_text(self: &Arc<Self>) -> AwaitingFirstText {
        self.awaiting_first_text.fetch_add(1, Ordering::Relaxed);
        AwaitingFirstText(Arc::clone(self))
    }

    /// False while replies fall back to markdown after a card permission error.
    #[must_use]
    pub fn usable(&self) -> bool {
        self.degraded_until
            .lock()
            .map_or(true, |until| until.is_none_or(|u| Instant::now() >= u))
    }

    /// Falls back to markdown for the configured time, saying why once in the log.
    pub fn degrade(&self, error: &ApiCallError) {
        let permission = error
            .api()
            .and_then(|e| e.permission.clone())
            .unwrap_or_else(|| "Card.Instance.Write / Card.Streaming.Write".to_owned());
        tracing::warn!(
            robot_code = %self.robot_code,
            %permission,
            minutes = self.settings.degrade.as_secs() / 60,
            "AI card permission missing: replying in markdown instead; grant `{permission}` to the app in the DingTalk developer console"
        );
        if let Ok(mut until) = self.degraded_until.lock() {
            *until = Some(Instant::now() + self.settings.degrade);
        }
    }

    /// Creates and delivers a card showing `content`.
    ///
    /// `record` (recording the card for crash recovery) runs once the card budget grants the
    /// call, just before it. In a burst a turn waits minutes for that grant: a card recorded
    /// while waiting was, if its replica died meanwhile, found open by the replica taking the
    /// turn over, which spent two refused card calls (adopting, closing) on a card that never
    /// existed, at the quota's price, over a thousand of them after one replica of three died.
    pub async fn create(
        &self,
        out_track_id: &str,
        space: &CardSpace,
        content: &str,
        turn_calls: &AtomicU32,
        record: impl std::future::Future<Output = ()>,
    ) -> Result<(), ApiCallError> {
        let id = OutTrackId::new(out_track_id);
        let template = self.settings.template_id.clone();
        let request = match space {
            CardSpace::Group(cid) => {
                CreateAndDeliverRequest::group(template, id, self.robot_code.clone(), cid)
            }
            CardSpace::Dm(user) => {
                CreateAndDeliverRequest::robot_dm(template, id, self.robot_code.clone(), user)
            }
        }
        .param(self.settings.content_key.clone(), content)
        .param("flowStatus", FlowStatus::Inputting.value());
        let request = match &self.http_callback {
            Some(route_key) => request.http_callback(route_key.clone()),
            None => request,
        };
        match self
            .must_land(CardApi::Create, Class::FirstText, turn_calls, record, || {
                self.api.create_and_deliver_card(&request)
            })
            .await
        {
            Ok(_) => Ok(()),
            // Every card gets an outTrackId of its own, so DingTalk knowing this one means an
            // earlier attempt or an earlier run of the turn (taken over from a replica that
            // created the card and then died or gave the turn up) created it: the card is
            // there, and is finished like any other instead of being left open beside a
            // markdown copy of its answer.
            Err(error) if already_exists(&error) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// One intermediate update, only if the shared budget has a permit now (or, with
    /// `wait`, once it has one: the first text of a card should not lose the race to cards
    /// that already show some).
    ///
    /// # Errors
    /// DingTalk refused the update for another reason than its rate limit.
    pub async fn try_stream(
        &self,
        out_track_id: &str,
        content: &str,
        wait: bool,
        turn_calls: &AtomicU32,
    ) -> Result<Streamed, ApiCallError> {
        if wait {
            self.budget.acquire(CardApi::Stream, Class::FirstText).await;
        } else if let Err(after) = self.budget.try_acquire(CardApi::Stream).await {
            return Ok(Streamed::Skipped(after));
        }
        let request = self.stream_request(out_track_id, content);
        self.count(turn_calls);
        match self.api.stream_card(&request).await {
            Ok(()) => Ok(Streamed::Shown),
            Err(e) if is_qps(&e) => {
                // The pause this starts is what the next try is told to wait.
                self.budget.on_qps_limit();
                Ok(Streamed::Skipped(BUSY_RETRY))
            }
            Err(e) => Err(e),
        }
    }

    /// The closing updates: the exact final content (`isFinalize`, and `isError` when the
    /// turn failed) on the streaming call, then the card's `flowStatus` set to finished or
    /// failed. The streaming flags alone leave AI card templates showing "typing":
    /// DingTalk's own `AICardReplier.finish`/`fail` (open-dingtalk/dingtalk-stream-sdk-python,
    /// `dingtalk_stream/card_replier.py`) and the OpenClaw DingTalk plugin's `finishAICard`
    /// (soimy/openclaw-channel-dingtalk) end every card with an instance update of
    /// `flowStatus` 3 (finished) or 5 (failed).
    pub async fn finalize(
        &self,
        out_track_id: &str,
        content: &str,
        failed: bool,
        turn_calls: &AtomicU32,
    ) -> Result<(), ApiCallError> {
        let mut request = self.stream_request(out_track_id, content).finalize();
        if failed {
            request = request.error();
        }
        self.must_land(
            CardApi::Stream,
            Class::Finish,
            turn_calls,
            std::future::ready(()),
            || self.api.stream_card(&request),
        )
        .await?;
        // The card shows the whole answer now; a status that will not land is worth a
        // warning, not the answer sent a second time as a message.
        let status = FlowStatus::closing(failed);
        if let Err(error) = self.set_flow(out_track_id, None, status, turn_calls).await {
            tracing::warn!(%error, %out_track_id, flow_status = status.value(), "AI card shows its final text but its state could not be set; its template may keep showing it in progress");
        }
        Ok(())
    }

    /// Re-applies the final content of a card that may already be finalized (after a crash):
    /// a variable update is legal on a finished card, a streaming update is not.
    pub async fn settle(
        &self,
        out_track_id: &str,
        content: &str,
        failed: bool,
        turn_calls: &AtomicU32,
    ) -> Result<(), ApiCallError> {
        self.set_flow(
            out_track_id,
            Some(content),
            FlowStatus::closing(failed),
            turn_calls,
        )
        .await
    }

    /// Marks a card failed without touching its content: for a card whose final update did
    /// not land, whose text goes out as a message instead.
    pub async fn mark_failed(&self, out_track_id: &str, turn_calls: &AtomicU32) -> Result<(), ApiCallError> {
        self.set_flow(out_track_id, None, FlowStatus::Failed, turn_calls)
            .await
    }

    /// A variable update (merged by key) of `flowStatus`, and of the content when given.
    async fn set_flow(
        &self,
        out_track_id: &str,
        content: Option<&str>,
        status: FlowStatus,
        turn_calls: &AtomicU32,
    ) -> Result<(), ApiCallError> {
        let mut data = CardData::default();
        if let Some(content) = content {
            data.card_param_map
                .insert(self.settings.content_key.clone(), content.to_owned());
        }
        data.card_param_map
            .insert("flowStatus".to_owned(), status.value().to_owned());
        let request = UpdateCardRequest::merge(OutTrackId::new(out_track_id), data);
        self.must_land(
            CardApi::Update,
            Class::Finish,
            turn_calls,
            std::future::ready(()),
            || self.api.update_card(&request),
        )
        .await
    }

    fn stream_request(&self, out_track_id: &str, content: &str) -> StreamingUpdateRequest {
        StreamingUpdateRequest::full(
            OutTrackId::new(out_track_id),
            self.settings.content_key.clone(),
            content,
        )
    }

    /// Waits for a permit and calls, again after each `QpsLimit` or transient failure.
    fn count(&self, turn_calls: &AtomicU32) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        turn_calls.fetch_add(1, Ordering::Relaxed);
    }

    async fn must_land<T, F, Fut>(
        &self,
        api: CardApi,
        class: Class,
        turn_calls: &AtomicU32,
        before_first_call: impl std::future::Future<Output = ()>,
        call: F,
    ) -> Result<T, ApiCallError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiCallError>>,
    {
        let mut attempt = 0;
        let mut before_first_call = Some(before_first_call);
        loop {
            attempt += 1;
            self.budget.acquire(api, class).await;
            if let Some(before) = before_first_call.take() {
                before.await;
            }
            self.count(turn_calls);
            match call().await {
                Ok(value) => return Ok(value),
                Err(e) if attempt < MUST_LAND_ATTEMPTS && is_qps(&e) => self.budget.on_qps_limit(),
                Err(e) if attempt < MUST_LAND_ATTEMPTS && e.is_retryable() => {
                    let pause = e.retry_after().unwrap_or(Duration::from_millis(500));
                    tokio::time::sleep(pause * attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// A card counted in [`CardAccount::first_text_wait`] while it waits for its first text.
pub struct AwaitingFirstText(Arc<CardAccount>);

impl Drop for AwaitingFirstText {
    fn drop(&mut self) {
        self.0.awaiting_first_text.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `param.cardAlreadyExist`: createAndDeliver's answer for an outTrackId it already has
/// (open.dingtalk.com, "创建并投放卡片" error codes; the code as DingTalk sends it, 400).
const CARD_ALREADY_EXISTS: &str = "param.cardAlreadyExist";

fn already_exists(error: &ApiCallError) -> bool {
    error.api().is_some_and(|e| e.code == CARD_ALREADY_EXISTS)
}

fn is_qps(error: &ApiCallError) -> bool {
    error.kind() == Some(ApiErrorKind::QpsLimited)
}

/// True when the error means cards cannot work for this app at all (not just now).
#[must_use]
pub fn is_permission_error(error: &ApiCallError) -> bool {
    error.kind() == Some(ApiErrorKind::PermissionMissing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dingtalk::ids::ClientId;
    use dingtalk::token::ClientSecret;

    fn account(qps: u32) -> Arc<CardAccount> {
        // Never called: the tests only queue for permits.
        let api = OpenApiClient::new(ClientId::new("dingtest"), ClientSecret::new("secret"));
        let settings = CardSettings {
            qps,
            ..CardSettings::default()
        };
        Arc::new(CardAccount::new(api, RobotCode::new("dingtest"), settings))
    }

    #[tokio::test]
    async fn closings_piling_up_on_the_streaming_quota_send_new_answers_to_markdown() {
        let cards = account(20);
        assert!(!cards.overflows(), "an idle budget takes a card");
        // 60 closings queued at 19 a second: about 3 s of streaming calls, more than the
        // 2 s `cardOverflowAfterMs`, while no first text waits at all.
        let mut waiting = Vec::new();
        for _ in 0..60 {
            let cards = Arc::clone(&cards);
            waiting.push(tokio::spawn(async move {
                cards.budget.acquire(CardApi::Stream, Class::Finish).await;
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(cards.first_text_wait() < Duration::from_millis(100));
        assert!(
            cards.card_wait() > Duration::from_secs(2),
            "{:?}",
            cards.card_wait()
        );
        assert!(cards.overflows());
        for task in waiting {
            task.abort();
        }
    }

    #[tokio::test]
    async fn a_card_is_recorded_once_the_budget_grants_its_creation_not_while_it_waits() {
        use std::sync::atomic::AtomicBool;
        let cards = account(2);
        // The budget is taken: the create below waits for a permit.
        let holders: Vec<_> = (0..4)
            .map(|_| {
                let cards = Arc::clone(&cards);
                tokio::spawn(async move { cards.budget.acquire(CardApi::Create, Class::FirstText).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let recorded = Arc::new(AtomicBool::new(false));
        let waiting = {
            let (cards, recorded) = (Arc::clone(&cards), Arc::clone(&recorded));
            tokio::spawn(async move {
                let space = CardSpace::Dm(StaffId::new("u1"));
                let calls = AtomicU32::new(0);
                // Stops there: this account's API is never to be called.
                let record = async {
                    recorded.store(true, Ordering::SeqCst);
                    std::future::pending::<()>().await;
                };
                let _ = cards.create("ct_wait", &space, "…", &calls, record).await;
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !recorded.load(Ordering::SeqCst),
            "recorded while waiting for a permit"
        );
        for holder in holders {
            holder.abort();
        }
        tokio::time::timeout(Duration::from_secs(10), async {
            while !recorded.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("recorded once the permit came");
        waiting.abort();
    }

    #[tokio::test]
    async fn a_card_an_earlier_run_created_is_there_to_finish() {
        use dingtalk_sim::{AppSpec, SimConfig, Simulator, UserSpec};
        const APP: &str = "dingcardsagain000001";
        let sim = Simulator::start_with(SimConfig::fast()).await.unwrap();
        sim.create_app(AppSpec::new(APP, "s")).unwrap();
        sim.create_user(UserSpec::new("u1", "User One")).unwrap();
        let api = OpenApiClient::builder(ClientId::new(APP), "s".into())
            .endpoints(dingtalk::Endpoints::single(sim.base_url()))
            .build();
        let cards = CardAccount::new(api, RobotCode::new(APP), CardSettings::default());
        let space = CardSpace::Dm(StaffId::new("u1"));
        let calls = AtomicU32::new(0);
        let ready = || std::future::ready(());
        cards
            .create("ct_again", &space, "…", &calls, ready())
            .await
            .unwrap();
        // The turn's next run creates the same card again: it exists, and is finished.
        cards
            .create("ct_again", &space, "…", &calls, ready())
            .await
            .unwrap();
        cards
            .finalize("ct_again", "the answer", false, &calls)
            .await
            .unwrap();
        let card = sim
            .cards()
            .into_iter()
            .find(|c| c.out_track_id == "ct_again")
            .unwrap();
        assert!(
            matches!(card.status, dingtalk_sim::CardStatus::Finished),
            "{card:?}"
        );
    }

    /// Another replica on the same store with `waiting` card calls queued.
    struct OtherReplica {
        waiting: u64,
    }

    #[async_trait::async_trait]
    impl clawtalk_store::RateBudgetStore for OtherReplica {
        async fn rate_take(
            &self,
            _key: &str,
            _limit: u32,
            _window_ms: i64,
            _now: clawtalk_core::clock::EpochMs,
        ) -> clawtalk_store::StoreResult<Option<i64>> {
            Ok(None)
        }

        async fn rate_backlog(
            &self,
            key: &str,
            _owner: &str,
            _waiting: u32,
            _now: clawtalk_core::clock::EpochMs,
            _fresh_ms: i64,
        ) -> clawtalk_store::StoreResult<u64> {
            assert_eq!(key, "card:dingtest");
            Ok(self.waiting)
        }
    }

    #[tokio::test]
    async fn the_other_replicas_queued_card_calls_count_toward_overflowing() {
        let api = OpenApiClient::new(ClientId::new("dingtest"), ClientSecret::new("secret"));
        let store: Arc<dyn clawtalk_store::RateBudgetStore> = Arc::new(OtherReplica { waiting: 60 });
        let budget = crate::rate_limit::SharedBudget::new(store, Arc::new(clawtalk_core::clock::SystemClock));
        let settings = CardSettings {
            qps: 20,
            ..CardSettings::default()
        };
        let cards =
            CardAccount::new(api, RobotCode::new("dingtest"), settings).with_shared_budget(Some(budget));
        assert!(!cards.overflows(), "nothing queued here, and nothing read yet");
        cards.refresh_shared_backlog().await;
        // 60 calls at 19 a second through the one quota all replicas share: about 3 s.
        assert!(
            cards.card_wait() > Duration::from_secs(2),
            "{:?}",
            cards.card_wait()
        );
        assert!(cards.overflows());
    }
}
