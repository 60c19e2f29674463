//! The gateway: DingTalk in, agents in the middle, DingTalk out — with nothing lost.
//!
//! Flow of one message (see `store` for the durable state machine):
//!
//! 1. [`ingest`]: a Stream frame (or an HTTP-mode callback, [`http`]) becomes an
//!    [`InboundMessage`]; it is written to the inbox *before* the frame is acknowledged (the
//!    request answered), and deduplicated on `robotCode + msgId`. Approval events become
//!    turns of a workflow agent ([`workflow`]), deduplicated on `eventId`.
//! 2. [`decide`]: policy, pairing and chat commands settle it, or queue it for its session.
//! 3. [`scheduler`]: one worker per busy session claims its turns one at a time; sessions run
//!    in parallel.
//! 4. [`turn`]: the agent answers with the session's history.
//! 5. [`reply`]: the answer is split into parts, planned in the outbox, then sent; a part
//!    DingTalk accepted is never sent again, even after a crash.
//!
//! Scheduled tasks ([`cron`]) enter at step 2: each due run is stored as a turn of the
//! task's agent and answered to the task's target by the same steps.

mod card_callback;
pub mod client_ip;
pub mod control_client;
mod cron;
mod decide;
mod departments;
mod fd_budget;
mod http;
mod http_server;
mod inbound_cap;
mod ingest;
mod lanes;
mod listen;
pub mod logfile;
pub mod memory;
pub(crate) mod metrics;
mod ops;
pub mod owner_only;
mod progress;
mod reply;
mod retention;
pub mod routes;
mod scheduler;
pub(crate) mod serve;
pub mod status;
pub mod throttle;
pub mod token;
mod turn;
mod workflow;

pub use serve::{Listen, WebConsole, instance_name, open_store, print_status, run, wait_for_signal};
pub use turn::transcript_entry;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use dingtalk::api::OpenApiClient;
use dingtalk::ids::RobotCode;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use clawtalk_agent::{AgentRuntime, ToolRegistry};
use clawtalk_config::{Config, ConnectionMode};
use clawtalk_core::inbound::InboundMessage;
use clawtalk_delivery::card::{CardAccount, CardStats};
use clawtalk_delivery::{DeliveryStack, DingTalkOutbound, Outbound, RateLimitConfig, RetryPolicy};
use clawtalk_store::{Store, WorkerId};

/// Messages of the session history sent to the model.
const HISTORY_LIMIT: u32 = 40;

pub(crate) use clawtalk_core::clock::now_ms;

/// `session.idleReset` in ms, for [`clawtalk_store::SessionStore::session_get_or_create`].
pub fn idle_reset_ms(config: &Config) -> Option<i64> {
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
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub agent: AgentRuntime,
    /// One delivery stack per account id.
    pub outbound: HashMap<String, Arc<dyn Outbound>>,
    /// AI card machinery per account id (every account has one; only card-mode ones use it).
    pub cards: HashMap<String, Arc<CardAccount>>,
    /// Department lookups per account id, only for accounts that bindings route by department.
    pub departments: HashMap<String, departments::Departments>,
    /// The OpenAPI client per account id (media downloads).
    pub apis: HashMap<String, OpenApiClient>,
    pub me: WorkerId,
    /// Cancellation of the turn running in each session (for `/stop`).
    pub running: Mutex<HashMap<String, CancellationToken>>,
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
}

impl Shared {
    /// `gateway.turnLeaseSeconds`: how long a claimed turn is ours before another worker may
    /// take it over.
    pub(crate) fn lease_ms(&self) -> i64 {
        i64::try_from(self.config.gateway.turn_lease.as_millis()).unwrap_or(60_000)
    }

    /// The sender's departments when bindings of `account` route by department, else none.
    pub(crate) async fn departments_of(&self, account_id: &str, inbound: &InboundMessage) -> Vec<i64> {
        match (self.departments.get(account_id), &inbound.sender.staff_id) {
            (Some(lookups), Some(staff)) => lookups.of(staff).await,
            _ => Vec::new(),
        }
    }

    pub(crate) fn outbound_for(&self, account_id: &str) -> anyhow::Result<&Arc<dyn Outbound>> {
        self.outbound
            .get(account_id)
            .with_context(|| format!("no DingTalk account {account_id:?} is configured any more"))
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
    /// The configuration the gateway runs with.
    #[must_use]
    pub fn config(&self) -> &Arc<Config> {
        &self.0.config
    }

    /// The durable store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.0.store
    }

    /// The agent runtime (WebChat turns).
    #[must_use]
    pub fn agent(&self) -> &AgentRuntime {
        &self.0.agent
    }

    /// What `clawtalk gateway status` shows.
    #[must_use]
    pub fn status(&self) -> status::GatewayStatus {
        self.0.status.snapshot()
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
        let mut outbound = HashMap::new();
        let mut cards = HashMap::new();
        let mut departments = HashMap::new();
        let mut apis = HashMap::new();
        for account in config.enabled_accounts() {
            let api = OpenApiClient::builder(
                dingtalk::ids::ClientId::new(account.client_id.as_str()),
                account.client_secret.clone(),
            )
            .account(account.id.as_str())
            .endpoints(account.endpoints.clone())
            .build();
            let robot_code = RobotCode::new(account.robot_code.clone());
            let card = CardAccount::new(api.clone(), robot_code, account.card.clone())
                .with_shared_budget(store.shared_rate_budget());
            cards.insert(account.id.clone(), Arc::new(card));
            if clawtalk_config::routing::routes_by_department(&config, account) {
                departments.insert(account.id.clone(), departments::Departments::new(api.clone()));
            }
            let stack = delivery_stack(account, api.clone(), store.shared_rate_budget());
            apis.insert(account.id.clone(), api);
            outbound.insert(account.id.clone(), stack);
        }
        let cron_wake = Arc::new(tokio::sync::Notify::new());
        let mut tools = ToolRegistry::with_media();
        tools.register_cron(clawtalk_agent::CronTools::new(
            Arc::clone(&config),
            Arc::clone(&store) as Arc<dyn clawtalk_store::CronStore>,
            Arc::clone(&cron_wake),
        ));
        let agent =
            AgentRuntime::new(Arc::clone(&config), tools).context("setting up the model providers")?;
        let (wake, wake_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            config: Arc::clone(&config),
            store,
            agent,
            outbound,
            cards,
            departments,
            apis,
            me: WorkerId::new(instance),
            running: Mutex::new(HashMap::new()),
            turn_permits: Arc::new(tokio::sync::Semaphore::new(
                config.gateway.max_concurrent_turns.max(1),
            )),
            wake,
            cron_wake,
            turn_ended: cron::turn_ended,
            shutdown: CancellationToken::new(),
            status: status::StatusBoard::new(
                &config.gateway.state_dir,
                instance,
                config.enabled_accounts().map(|a| a.id.clone()),
            ),
            metrics: metrics::GatewayMetrics::default(),
        });
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(scheduler::run(Arc::clone(&shared), wake_rx));
        tasks.spawn(keep_status(Arc::clone(&shared)));
        tasks.spawn(cron::run(Arc::clone(&shared)));
        tasks.spawn(retention::run(Arc::clone(&shared)));
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
            tasks.spawn(ingest::run_stream(Arc::clone(&shared), account.clone()));
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
            .config
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
            .cards
            .iter()
            .map(|(id, cards)| (id.clone(), cards.stats()))
            .collect()
    }

    /// Stops taking messages, lets running turns finish for up to `grace`, then stops. Turns
    /// still unfinished stay in the store and resume at the next start.
    pub async fn shutdown(mut self, grace: Duration) {
        self.shared.shutdown.cancel();
        let drained =
            tokio::time::timeout(grace, async { while self.tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                ?grace,
                "turns still running at shutdown; they resume at the next start"
            );
            self.tasks.abort_all();
        }
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
                for (id, cards) in &shared.cards {
                    shared.status.update(id, |a| {
                        a.card_calls = cards.calls();
                        a.card_qps_limits = cards.budget.qps_hits();
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

/// The layers every send as `account` goes through, the gateway's and `clawtalk message
/// send`'s alike: DingTalk's OpenAPI under retries and the account's rate limits, which take
/// from `shared_budget` too when replicas share one.
pub fn account_stack(
    account: &clawtalk_config::DingTalkAccount,
    api: OpenApiClient,
    shared_budget: Option<Arc<dyn clawtalk_store::RateBudgetStore>>,
) -> DeliveryStack {
    let sender = DingTalkOutbound::new(
        account.id.clone(),
        RobotCode::new(account.robot_code.clone()),
        api,
    );
    DeliveryStack::new(Arc::new(sender))
        .with_retry(RetryPolicy::default())
        .with_rate_limit(RateLimitConfig::for_account(account))
        .with_shared_budget(shared_budget)
}

fn delivery_stack(
    account: &clawtalk_config::DingTalkAccount,
    api: OpenApiClient,
    shared_budget: Option<Arc<dyn clawtalk_store::RateBudgetStore>>,
) -> Arc<dyn Outbound> {
    let stack = account_stack(account, api, shared_budget).with_trace();
    match account.custom_robot_target() {
        Some(robot) => stack.with_custom_robot(robot).build(),
        None => stack.build(),
    }
}

/// The inbound message stored with an inbox row.
pub(crate) fn decode_inbound(raw: &str) -> anyhow::Result<InboundMessage> {
    serde_json::from_str(raw).context("stored inbound message is not readable (written by another version?)")
}
