//! The gateway: DingTalk in, agents in the middle, DingTalk out — with nothing lost.
//!
//! Flow of one message (see `store` for the durable state machine):
//!
//! 1. [`intake`]: every source — a Stream frame, an HTTP-mode callback, a custom robot's
//!    Outgoing callback, an event push, a card button press, an approval event, a scheduled
//!    run, a WebChat message — becomes an [`InboundMessage`] and enters through
//!    `intake::admit`: its route (a typed session key) is computed once, it is written to the
//!    inbox with that key *before* it is acknowledged (the frame ACKed, the request
//!    answered), and deduplicated on `robotCode + msgId`. Bot messages of one conversation,
//!    over Stream or HTTP, are admitted in arrival order through their account's lanes.
//! 2. [`decide`]: policy, pairing and chat commands settle it, or queue it for its session.
//! 3. [`scheduler`]: one worker per busy session claims its turns one at a time; sessions run
//!    in parallel.
//! 4. [`turn`]: the agent answers with the session's history.
//! 5. [`reply`]: the answer is split into parts, planned in the outbox, then sent; a part
//!    DingTalk accepted is never sent again, even after a crash.
//!
//! Each enabled account has one `AccountRuntime` (delivery stack, cards, department lookups,
//! OpenAPI client, intake lanes). The configuration is swappable ([`running`]): a reload
//! ([`reload`]) replaces it between turns, connects added accounts and drains removed ones.
//! The web console and the CLI see a running gateway only through [`GatewayHandle`].

mod account_control;
mod account_tasks;
mod accounts;
mod approvals;
mod card_route;
pub mod client_ip;
pub mod control_client;
mod cron;
mod decide;
mod departments;
mod fd_budget;
mod http;
mod http_server;
mod inbound_cap;
mod intake;
mod lease;
mod listen;
pub mod logfile;
pub mod memory;
pub(crate) mod metrics;
mod opening;
mod ops;
pub mod owner_only;
mod progress;
pub mod reload;
mod renewals;
mod reply;
mod retention;
pub mod routes;
mod running;
mod scheduler;
pub(crate) mod serve;
pub mod status;
pub mod throttle;
pub mod token;
mod turn;
pub mod usage;

pub use accounts::{account_stack, api_client};
pub use approvals::LiveApproval;
pub use intake::console_post::Posted;
pub use intake::webchat::WebChatOutcome;
pub use intake::webchat_approval::WebChatApproval;
pub use intake::webchat_live::LiveAnswer;
pub use serve::{Listen, WebConsole, instance_name, open_store, print_status, run, wait_for_signal};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use accounts::{AccountRuntime, Accounts};
use clawtalk_agent::AgentRuntime;
use clawtalk_config::DingTalkAccount;
use clawtalk_config::{Config, ConnectionMode};
use clawtalk_core::clock::{Clock, EpochMs, SystemClock};
use clawtalk_core::inbound::InboundMessage;
use clawtalk_delivery::Outbound;
use clawtalk_delivery::card::{CardAccount, CardStats};
use clawtalk_store::{InboundId, Store, WorkerId};

/// Messages of the session history sent to the model.
const HISTORY_LIMIT: u32 = 40;

/// `session.idleReset` in ms, for [`clawtalk_store::SessionStore::session_get_or_create`].
pub(crate) fn idle_reset_ms(config: &Config) -> Option<i64> {
    config
        .session
        .idle_reset
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What a turn's end does, awaited by the turn before it returns: the sources of turns
/// record what they need (the generic turn knows none of them).
pub(crate) type TurnEndHook = fn(Arc<Shared>, turn::TurnEnded) -> BoxedEnd;
/// The future of a [`TurnEndHook`].
pub(crate) type BoxedEnd = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Everything the gateway's tasks share.
pub(crate) struct Shared {
    /// The configuration and agents in force; read through [`Shared::config`] and
    /// [`Shared::agent`].
    live: running::Running,
    pub store: Arc<dyn Store>,
    /// Delivery, cards, department lookups and the OpenAPI client of each enabled account
    /// (and of removed ones while they drain).
    pub accounts: Accounts,
    /// Where WebChat answers are delivered.
    pub webchat: Arc<dyn Outbound>,
    /// WebChat answers while they are generated.
    pub webchat_live: intake::webchat_live::LiveAnswers,
    pub me: WorkerId,
    /// Cancellation of the turn running in each session (for `/stop`).
    pub running: Mutex<HashMap<String, CancellationToken>>,
    /// Turns this process is running now, each with when its lease surely lapses unless
    /// renewed (`lease.rs`). The store cannot tell them from a dead worker's when their lease
    /// lapsed; a sweep that claims one of them leaves it to the run already under way instead
    /// of starting it a second time (a second card, a second answer).
    pub running_turns: Mutex<HashMap<InboundId, tokio::time::Instant>>,
    /// Lease renewals of running turns waiting for the next store call (`renewals.rs`).
    pub(crate) renewals: renewals::Renewals,
    /// Permits for running agent turns (`gateway.maxConcurrentTurns`).
    pub turn_permits: Arc<tokio::sync::Semaphore>,
    /// Tells the scheduler about a session's messages.
    pub wake: mpsc::UnboundedSender<scheduler::Wake>,
    /// Wakes the scheduled-task loop (a task was created).
    pub cron_wake: Arc<tokio::sync::Notify>,
    /// Told how each turn ended, for the source that started it (scheduled runs record
    /// their outcome).
    pub turn_ended: TurnEndHook,
    /// Stops everything.
    pub shutdown: CancellationToken,
    /// What `clawtalk gateway status` reads.
    pub status: status::StatusBoard,
    /// Counters and latencies for `/metrics`.
    pub metrics: metrics::GatewayMetrics,
    /// Where every "now" of the gateway comes from.
    pub clock: Arc<dyn Clock>,
    /// What the last reload did, for the logs' readers and the web console.
    pub reload: reload::ReloadBoard,
    /// Tasks started after start-up (accounts a reload connects); shutdown waits for them.
    pub tasks: tokio_util::task::TaskTracker,
    /// What the webhook routes serve, once the listener runs; a reload replaces it.
    pub webhooks: http::WebhookTable,
    /// Tokens and DingTalk calls counted since the last flush to the store.
    pub usage: Arc<usage::meter::UsageMeter>,
}

/// What a fresh [`Shared`] hands to the tasks that serve it.
pub(crate) struct Receivers {
    /// The scheduler's wake-ups.
    pub wake: mpsc::UnboundedReceiver<scheduler::Wake>,
    /// Each account's intake lanes.
    pub lanes: Vec<(clawtalk_config::DingTalkAccount, intake::lanes::LaneReceiver)>,
}

impl Shared {
    /// The gateway's state for `config` over `store`, its leases held as `instance`, its time
    /// read from `clock`; nothing runs yet.
    ///
    /// # Errors
    /// A model provider the runtime cannot use.
    pub(crate) fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        instance: &str,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<(Arc<Self>, Receivers)> {
        let cron_wake = Arc::new(tokio::sync::Notify::new());
        let agent = running::build_agent(&config, &store, &cron_wake, &clock, None)?;
        let (wake, wake_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Self {
            live: running::Running::new(Arc::clone(&config), agent),
            store,
            accounts: Accounts::default(),
            webchat: Arc::new(intake::webchat::WebChatOutbound),
            webchat_live: intake::webchat_live::LiveAnswers::default(),
            me: WorkerId::new(instance),
            running: Mutex::new(HashMap::new()),
            running_turns: Mutex::new(HashMap::new()),
            renewals: renewals::Renewals::default(),
            turn_permits: Arc::new(tokio::sync::Semaphore::new(fd_budget::turn_cap(
                config.gateway.max_concurrent_turns.max(1),
            ))),
            wake,
            cron_wake,
            turn_ended: cron::turn_ended,
            shutdown: CancellationToken::new(),
            status: status::StatusBoard::new(
                &config.gateway.state_dir,
                instance,
                config.enabled_accounts().map(|a| a.id.clone()),
                Arc::clone(&clock),
            ),
            metrics: metrics::GatewayMetrics::default(),
            usage: Arc::new(usage::meter::UsageMeter::new(Arc::clone(&clock))),
            clock,
            reload: reload::ReloadBoard::default(),
            tasks: tokio_util::task::TaskTracker::new(),
            webhooks: http::WebhookTable::default(),
        });
        let lanes = config
            .enabled_accounts()
            .map(|account| (account.clone(), account_tasks::install(&shared, &config, account)))
            .collect();
        let receivers = Receivers { wake: wake_rx, lanes };
        Ok((shared, receivers))
    }

    /// The configuration in force. A piece of work (a turn, an admission) takes it once and
    /// keeps it, so a reload meanwhile never mixes two configurations in it.
    pub(crate) fn config(&self) -> Arc<Config> {
        self.live.live().config.clone()
    }

    /// The agent runtime of the configuration in force.
    pub(crate) fn agent(&self) -> Arc<AgentRuntime> {
        self.live.live().agent.clone()
    }

    /// `gateway.turnLeaseSeconds`: how long a claimed turn is ours before another worker may
    /// take it over.
    pub(crate) fn lease_ms(&self) -> i64 {
        i64::try_from(self.config().gateway.turn_lease.as_millis()).unwrap_or(60_000)
    }

    /// The runtime of an enabled account (or of a removed one still draining).
    pub(crate) fn account(&self, account_id: &str) -> Option<Arc<AccountRuntime>> {
        self.accounts.get(account_id)
    }

    /// The settings of an enabled account as the running config has them, or the last ones
    /// of a removed account still draining (its turns finish under them).
    pub(crate) fn account_settings(&self, account_id: &str) -> Option<Arc<DingTalkAccount>> {
        self.account(account_id).map(|a| Arc::clone(&a.settings))
    }

    /// The sender's departments when bindings of `account` route by department, else none.
    pub(crate) async fn departments_of(&self, account_id: &str, inbound: &InboundMessage) -> Vec<i64> {
        let runtime = self.account(account_id);
        let lookups = runtime.as_ref().and_then(|a| a.departments.as_ref());
        match (lookups, &inbound.sender.staff_id) {
            (Some(lookups), Some(staff)) => lookups.of(staff).await,
            _ => Vec::new(),
        }
    }

    /// Where replies to `inbound` are delivered: the page for WebChat, else its account's
    /// delivery stack.
    pub(crate) fn outbound_for(&self, inbound: &InboundMessage) -> anyhow::Result<Arc<dyn Outbound>> {
        if inbound.webchat.is_some() {
            return Ok(Arc::clone(&self.webchat));
        }
        let account_id = &inbound.account_id;
        self.account(account_id.as_str())
            .map(|a| Arc::clone(&a.outbound))
            .with_context(|| format!("no DingTalk account {account_id:?} is configured any more"))
    }

    /// The AI card machinery of an enabled account.
    pub(crate) fn cards_of(&self, account_id: &str) -> Option<Arc<CardAccount>> {
        self.account(account_id).map(|a| Arc::clone(&a.cards))
    }
}

/// A running gateway.
pub struct Gateway {
    shared: Arc<Shared>,
    tasks: tokio::task::JoinSet<()>,
    http_addr: Option<std::net::SocketAddr>,
}

/// A user interface the binary mounts on the gateway's listener (the web console): the
/// gateway serves it without knowing it, so the console lives above the gateway.
pub trait WebMount: Send {
    /// The console's routes over a handle of the running gateway.
    fn router(self: Box<Self>, gateway: GatewayHandle) -> axum::Router;
}

/// What a console may use of a running gateway: its configuration, store, agents and status,
/// never the delivery stacks or the scheduler behind them.
#[derive(Clone)]
pub struct GatewayHandle(Arc<Shared>);

impl GatewayHandle {
    /// The configuration the gateway runs with now (a reload may replace it).
    #[must_use]
    pub fn config(&self) -> Arc<Config> {
        self.0.config()
    }

    /// Every configuration the gateway runs with from now on, the current one first: for
    /// parts that keep state built from the config and must follow a reload.
    #[must_use]
    pub fn subscribe_config(&self) -> tokio::sync::watch::Receiver<Arc<Config>> {
        self.0.live.subscribe()
    }

    /// Reads the config file again and applies it, as SIGHUP does (whatever
    /// `gateway.reload.mode` says); what happened is also in [`GatewayHandle::reload_status`].
    pub async fn reload(&self) -> reload::ReloadReport {
        reload::reload_now(&self.0, reload::Trigger::Console).await
    }

    /// What the last reload did, and the settings that wait for a restart (`None` before
    /// the first reload).
    #[must_use]
    pub fn reload_status(&self) -> Option<reload::ReloadReport> {
        self.0.reload.snapshot()
    }

    /// The durable store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.0.store
    }

    /// The WebChat session of `agent`, as stored (`None` without an enabled account).
    #[must_use]
    pub fn webchat_session(&self, agent: &str) -> Option<String> {
        intake::webchat::session_key(&self.0.config(), agent).map(|key| key.to_string())
    }

    /// The key `agent`'s WebChat transcript had in stores of earlier versions (shown while
    /// the current session has none).
    #[must_use]
    pub fn webchat_earlier_session(&self, agent: &str) -> String {
        intake::webchat::earlier_session_key(agent)
    }

    /// Sends the operator's `text` to `agent` in WebChat: admitted like any chat message,
    /// then answered by the scheduler. Waits up to `limit` for the answer.
    ///
    /// # Errors
    /// The message could not be stored, or its row read back.
    pub async fn webchat_send(
        &self,
        agent: &str,
        text: &str,
        limit: Duration,
    ) -> anyhow::Result<intake::webchat::WebChatOutcome> {
        let id = intake::webchat::send(&self.0, agent, text).await?;
        intake::webchat::wait(&self.0, id, limit).await
    }

    /// [`GatewayHandle::webchat_send`] without waiting: the message's inbox id, whose answer
    /// [`GatewayHandle::webchat_follow`] and [`GatewayHandle::webchat_wait`] follow.
    ///
    /// # Errors
    /// The message could not be stored.
    pub async fn webchat_admit(&self, agent: &str, text: &str) -> anyhow::Result<clawtalk_store::InboundId> {
        intake::webchat::send(&self.0, agent, text).await
    }

    /// Sends the operator's `text` into the stored session `session_key` (any conversation,
    /// DingTalk's included) with its agent and history; the answer stays in the console
    /// (followed like a WebChat answer) and is not sent to DingTalk.
    ///
    /// # Errors
    /// Not a session key, its account is not enabled, or the message could not be stored.
    pub async fn webchat_continue(
        &self,
        session_key: &str,
        text: &str,
    ) -> anyhow::Result<clawtalk_store::InboundId> {
        let key = clawtalk_core::ids::SessionKey::parse(session_key)?;
        intake::webchat::send_to(&self.0, key, text).await
    }

    /// Stops the turn running in session `session_key`, as `/stop` in its chat would; whether
    /// one was running.
    ///
    /// # Errors
    /// The store could not cancel it.
    pub async fn session_stop(&self, session_key: &str) -> anyhow::Result<bool> {
        decide::stop_running(&self.0, session_key).await
    }

    /// Deletes session `session_key` with its history (after stopping a turn running in
    /// it); the conversation's next message starts a new session. Durable memories stay.
    /// The deleted session, `None` when there was none.
    ///
    /// # Errors
    /// The store could not stop the turn or delete the session.
    pub async fn session_delete(&self, session_key: &str) -> anyhow::Result<Option<clawtalk_store::Session>> {
        decide::stop_running(&self.0, session_key).await?;
        Ok(self.0.store.session_delete(session_key).await?)
    }

    /// Sends transcript entry `entry_id` of session `session_key`, an answer given in the
    /// console, into the session's DingTalk conversation through the outbox, once however
    /// often it is asked.
    ///
    /// # Errors
    /// Not a DingTalk conversation, not a console answer, the account is not enabled, or the
    /// store failed.
    pub async fn post_to_dingtalk(&self, session_key: &str, entry_id: i64) -> anyhow::Result<Posted> {
        intake::console_post::post(&self.0, session_key, entry_id).await
    }

    /// Whether `entry` is an answer given in the console (one [`GatewayHandle::post_to_dingtalk`]
    /// can send).
    ///
    /// # Errors
    /// The inbox could not be read.
    pub async fn is_console_answer(&self, entry: &clawtalk_store::TranscriptEntry) -> anyhow::Result<bool> {
        intake::console_post::is_console_answer(&self.0, entry).await
    }

    /// Tells the scheduled-task runner that tasks changed (created, resumed, asked to run
    /// now), so it looks again at once instead of at its next tick.
    pub fn cron_changed(&self) {
        self.0.cron_wake.notify_one();
    }

    /// Each MCP server's state in the running agent runtime (empty when none is enabled).
    #[must_use]
    pub fn mcp_status(&self) -> Vec<clawtalk_agent::McpServerStatus> {
        self.0.agent().mcp_status()
    }

    /// The answer to WebChat message `id` as it is generated, while its turn runs the agent
    /// (`None` before and after).
    #[must_use]
    pub fn webchat_follow(
        &self,
        id: clawtalk_store::InboundId,
    ) -> Option<tokio::sync::watch::Receiver<LiveAnswer>> {
        self.0.webchat_live.follow(id)
    }

    /// The console operator's decision on WebChat approval request `id`: `allow_once`,
    /// `allow_always` or `deny`; the waiting turn goes on.
    ///
    /// # Errors
    /// An unknown decision, or the store could not be read or written.
    pub async fn webchat_approve(&self, id: &str, decision: &str) -> anyhow::Result<WebChatApproval> {
        intake::webchat_approval::decide(&self.0, id, decision).await
    }

    /// Waits up to `limit` for the turn of WebChat message `id` to end.
    ///
    /// # Errors
    /// The inbox could not be read.
    pub async fn webchat_wait(
        &self,
        id: clawtalk_store::InboundId,
        limit: Duration,
    ) -> anyhow::Result<WebChatOutcome> {
        intake::webchat::wait(&self.0, id, limit).await
    }

    /// What `clawtalk gateway status` shows.
    #[must_use]
    pub fn status(&self) -> status::GatewayStatus {
        self.0.status.snapshot()
    }

    /// Agent turns this process is running now.
    #[must_use]
    pub fn turns_running(&self) -> usize {
        self.0.running.lock().map_or(0, |running| running.len())
    }

    /// Usage rows from `from_day` (`YYYY-MM-DD`, UTC) on, with what is counted but not yet
    /// stored, by day, account and agent.
    ///
    /// # Errors
    /// The store could not be read.
    pub async fn usage_since(&self, from_day: &str) -> anyhow::Result<Vec<clawtalk_store::UsageRow>> {
        usage::since(&self.0, from_day).await
    }

    /// Each enabled account's DingTalk calls this month against `monthlyApiQuota`.
    ///
    /// # Errors
    /// The store could not be read.
    pub async fn quota(&self) -> anyhow::Result<Vec<usage::QuotaStatus>> {
        usage::quota_now(&self.0).await
    }

    /// Now, by the gateway's clock.
    #[must_use]
    pub fn now(&self) -> EpochMs {
        self.0.clock.now()
    }

    /// Cancelled when the gateway shuts down.
    #[must_use]
    pub fn shutdown_token(&self) -> CancellationToken {
        self.0.shutdown.child_token()
    }
}

impl Gateway {
    /// Connects every enabled account and starts serving (no web UI).
    ///
    /// # Errors
    /// A model provider or account the runtime cannot use.
    pub async fn start(config: Arc<Config>, store: Arc<dyn Store>, instance: &str) -> anyhow::Result<Self> {
        Self::start_with(config, store, instance, None).await
    }

    /// [`Gateway::start`], also serving the web UI on `gateway.bind:gateway.port` when `web`
    /// is given.
    ///
    /// # Errors
    /// A model provider or account the runtime cannot use, or a port that cannot be bound.
    pub async fn start_with(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        instance: &str,
        web: Option<Box<dyn WebMount>>,
    ) -> anyhow::Result<Self> {
        Self::start_at(config, store, instance, web, Arc::new(SystemClock)).await
    }

    /// [`Gateway::start_with`] with every "now" read from `clock` (tests move time themselves).
    ///
    /// # Errors
    /// As [`Gateway::start_with`].
    pub async fn start_at(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        instance: &str,
        web: Option<Box<dyn WebMount>>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let (shared, receivers) = Shared::new(Arc::clone(&config), store, instance, clock)?;
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(scheduler::run(Arc::clone(&shared), receivers.wake));
        for (account, lanes) in receivers.lanes {
            account_tasks::spawn_lanes(&shared, account, lanes);
        }
        tasks.spawn(keep_status(Arc::clone(&shared)));
        tasks.spawn(cron::run(Arc::clone(&shared)));
        tasks.spawn(retention::run(Arc::clone(&shared)));
        tasks.spawn(usage::run(Arc::clone(&shared)));
        let closing = Arc::clone(&shared);
        tasks.spawn(async move { reply::close_interrupted(&closing).await });
        scheduler::recover(&shared)
            .await
            .context("resuming unfinished turns")?;
        let web_routes = web.map(|ui| ui.router(GatewayHandle(Arc::clone(&shared))));
        let web_enabled = web_routes.is_some();
        let mut http_addr = None;
        if let Some((addr, serving)) = listen::bind(&shared, web_routes).await? {
            if web_enabled {
                tracing::info!(%addr, "web UI listening on http://{addr}/");
            }
            http_addr = Some(addr);
            tasks.spawn(serving);
        }
        // HTTP-mode accounts receive over `/webhooks/dingtalk`; custom robots only send.
        for account in config
            .enabled_accounts()
            .filter(|a| a.mode == clawtalk_config::ConnectionMode::Stream)
        {
            account_tasks::connect(&shared, account);
        }
        for account in config.enabled_accounts() {
            account_tasks::register_card_route(&shared, account);
        }
        Ok(Self {
            shared,
            tasks,
            http_addr,
        })
    }

    /// Resolves once every Stream account's first connection attempt has ended (connected,
    /// or failed with an error), or after `limit`: until then start-up code still runs.
    pub fn first_connections_done(&self, limit: Duration) -> impl Future<Output = ()> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        let streams: Vec<String> = shared
            .config()
            .enabled_accounts()
            .filter(|a| a.mode == ConnectionMode::Stream)
            .map(|a| a.id.clone())
            .collect();
        async move {
            let attempted = || {
                let status = shared.status.snapshot();
                streams.iter().all(|id| {
                    status
                        .accounts
                        .iter()
                        .any(|a| &a.id == id && (a.connects > 0 || a.last_error.is_some()))
                })
            };
            let wait = async {
                while !attempted() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            };
            let _ = tokio::time::timeout(limit, wait).await;
        }
    }

    /// Reloads the configuration from where `source` says it was read, on SIGHUP, from the
    /// web console, and when the file changes (see [`reload`]).
    pub(crate) fn follow_config(&self, source: reload::Source) {
        let file = source.file.clone();
        self.shared.reload.set_source(source);
        reload::spawn_triggers(&self.shared, file.as_deref());
    }

    /// Where the HTTP listener (webhooks, web UI) listens, when it runs.
    #[must_use]
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.http_addr
    }

    /// AI card figures per account id: API calls, `QpsLimit` answers, and the latency from
    /// the model's first answer token to that text showing in a card, per streamed card.
    #[must_use]
    pub fn card_stats(&self) -> Vec<(String, CardStats)> {
        self.shared
            .accounts
            .all()
            .into_iter()
            .map(|(id, account)| (id.as_str().to_owned(), account.cards.stats()))
            .collect()
    }

    /// Stops taking messages, lets running turns finish for up to `grace`, then stops. Turns
    /// still unfinished stay in the store and resume at the next start.
    pub async fn shutdown(mut self, grace: Duration) {
        self.shared.shutdown.cancel();
        self.shared.tasks.close();
        let tracked = self.shared.tasks.clone();
        let drained = tokio::time::timeout(grace, async {
            while self.tasks.join_next().await.is_some() {}
            tracked.wait().await;
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                ?grace,
                "turns still running at shutdown; they resume at the next start"
            );
            self.tasks.abort_all();
        }
        usage::flush(&self.shared).await;
        self.shared.store.close().await;
    }
}

/// Rewrites the status file until shutdown, then removes it.
async fn keep_status(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(status::REFRESH);
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => break,
            _ = tick.tick() => {
                for (id, account) in shared.accounts.all() {
                    shared.status.update(id.as_str(), |a| {
                        a.card_calls = account.cards.calls();
                        a.card_qps_limits = account.cards.budget.qps_hits();
                    });
                }
                if let Err(error) = shared.status.write() {
                    tracing::warn!(error = %format!("{error:#}"), "cannot write the status file");
                }
            }
        }
    }
    shared.status.remove();
}

/// The inbound message stored with an inbox row.
pub(crate) fn decode_inbound(raw: &str) -> anyhow::Result<InboundMessage> {
    serde_json::from_str(raw).context("stored inbound message is not readable (written by another version?)")
}
