//! The simulator's in-memory state: one mutex around everything, plus a change notifier for
//! the `wait_for_*` helpers and a shutdown signal for background tasks.
//!
//! Each feature keeps its part of [`State`] and the transitions on it in its own file.

mod acks;
mod apps;
mod card_routes;
mod cards;
mod conversations;
mod custom_robots;
mod delivery;
mod directory;
mod faults;
mod http_push;
mod media;
mod stream;
mod tokens;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use url::Url;

use crate::config::SimConfig;
use crate::error::{Result, SimError};
use crate::model::{
    App, Card, CardCallbackRoute, Delivery, Group, SentMessage, User, UserMessage, Violation,
};

pub(crate) use card_routes::Registered;
pub(crate) use cards::apply_update;
pub(crate) use conversations::SessionEntry;
pub(crate) use custom_robots::{ROBOT_SEND, RobotEntry};
pub(crate) use delivery::NewDelivery;
pub(crate) use faults::Faults;
pub(crate) use http_push::{CardCallbackPush, HttpPush, Outgoing};
pub(crate) use media::{Blob, Media};
pub(crate) use stream::{ConnCmd, ConnEntry, Connections, TicketEntry};
pub(crate) use tokens::Tokens;

#[derive(Default)]
pub(crate) struct State {
    /// client id → app.
    pub apps: BTreeMap<String, App>,
    /// Access tokens and token requests.
    pub tokens: Tokens,
    /// staff id → user.
    pub users: BTreeMap<String, User>,
    /// openConversationId → group.
    pub groups: BTreeMap<String, Group>,
    /// (client id, staff id) → DM conversation id.
    pub dm_conversations: HashMap<(String, String), String>,
    /// sessionWebhook token → the conversation it answers into.
    pub sessions: HashMap<String, SessionEntry>,
    /// Everything simulated users posted.
    pub user_messages: Vec<UserMessage>,
    /// Everything bots sent, through any API.
    pub sent: Vec<SentMessage>,
    /// Stream tickets, connections, pings and the frames written on them.
    pub stream: Connections,
    /// Every Stream delivery.
    pub deliveries: Vec<Delivery>,
    /// (client id, delivery key) → index into `deliveries`.
    pub delivery_index: HashMap<(String, String), usize>,
    /// Inbound media (download codes) and uploads (media ids).
    pub media: Media,
    /// outTrackId → card.
    pub cards: BTreeMap<String, Card>,
    /// (client id, callbackRouteKey) → where presses on its HTTP cards go.
    pub card_routes: BTreeMap<(String, String), CardCallbackRoute>,
    /// webhook access token → custom robot.
    pub custom_robots: BTreeMap<String, RobotEntry>,
    /// HTTP event push and HTTP-mode bot callbacks.
    pub http_push: HttpPush,
    /// Injected API faults and the QPS limiter.
    pub faults: Faults,
    /// (client id or `-`, path) → calls.
    pub api_calls: BTreeMap<(String, String), u64>,
    /// Protocol violations seen.
    pub violations: Vec<Violation>,
}

pub(crate) struct Shared {
    pub config: SimConfig,
    pub start: Instant,
    pub base_url: Url,
    pub state: Mutex<State>,
    pub changed: Notify,
    pub shutdown: watch::Sender<bool>,
    pub runtime: tokio::runtime::Handle,
}

impl Shared {
    pub fn new(config: SimConfig, base_url: Url) -> Self {
        let (shutdown, _) = watch::channel(false);
        Self {
            config,
            start: Instant::now(),
            base_url,
            state: Mutex::new(State::default()),
            changed: Notify::new(),
            shutdown,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Monotonic ms since start.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent-enough data for a simulator.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the state and wakes every waiter.
    pub fn mutate<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let r = {
            let mut st = self.lock();
            f(&mut st)
        };
        self.changed.notify_waiters();
        r
    }

    /// Reads the state.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        let st = self.lock();
        f(&st)
    }

    /// Waits until `check` returns `Some`, re-checking after every state change.
    pub async fn wait_for<R>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&State) -> Option<R>,
    ) -> Result<R> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.read(&mut check) {
                return Ok(r);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self
                    .read(&mut check)
                    .ok_or_else(|| SimError::Timeout(what.to_owned()));
            }
        }
    }

    /// Joins `path` (starting with `/`) to the public base URL.
    pub fn url(&self, path_and_query: &str) -> String {
        let base = self.base_url.as_str().trim_end_matches('/');
        format!("{base}{path_and_query}")
    }

    pub fn shutdown_rx(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

impl State {
    pub fn violation(
        &mut self,
        at_ms: u64,
        connection_id: Option<&str>,
        app: Option<&str>,
        kind: &str,
        detail: impl Into<String>,
        excerpt: Option<&str>,
    ) {
        let detail = detail.into();
        tracing::warn!(kind, %detail, connection_id, "protocol violation");
        self.violations.push(Violation {
            at_ms,
            connection_id: connection_id.map(str::to_owned),
            app: app.map(str::to_owned),
            kind: kind.to_owned(),
            detail,
            excerpt: excerpt.map(|e| e.chars().take(300).collect()),
        });
    }

    pub fn count_call(&mut self, app: Option<&str>, path: &str) {
        *self
            .api_calls
            .entry((app.unwrap_or("-").to_owned(), path.to_owned()))
            .or_default() += 1;
    }
}
