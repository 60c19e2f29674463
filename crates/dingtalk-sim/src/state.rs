//! The simulator's shared state: one mutex around everything, plus a change notifier for
//! the `wait_for_*` helpers and a shutdown signal for background tasks.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use url::Url;

use crate::config::SimConfig;
use crate::faults::Faults;
use crate::model::{
    App, ConnectionInfo, Delivery, Group, OpenRecord, PingRecord, SentMessage, Subscription, User,
    UserMessage, Violation,
};

/// Commands to a connection task.
#[derive(Debug)]
pub(crate) enum ConnCmd {
    /// Write this text frame (swallowed while a zombie).
    Frame(String),
    /// Write this SYSTEM disconnect frame, stop pinging, close after the grace period.
    Disconnect(String),
    /// Drop the socket without a close frame.
    Drop,
    /// Toggle the zombie fault.
    Zombie(bool),
    /// Cut the connection at the next pushed frame.
    Cut(crate::model::FrameCut),
}

pub(crate) struct ConnEntry {
    pub info: ConnectionInfo,
    pub tx: mpsc::UnboundedSender<ConnCmd>,
}

pub(crate) struct TicketEntry {
    pub app: String,
    pub subscriptions: Vec<Subscription>,
    pub ua: Option<String>,
    pub issued_at: Instant,
    pub used: bool,
}

pub(crate) struct TokenEntry {
    pub app: String,
    pub expires_at: Instant,
}

/// What a `headers.messageId` written by the sim refers to.
#[derive(Debug, Clone)]
pub(crate) enum FrameRef {
    /// Push `push` of delivery `delivery` (index into `State::deliveries`).
    Push { delivery: usize, push: usize },
    /// Index into `State::pings`.
    Ping(usize),
    /// A disconnect frame on this connection.
    Disconnect(String),
}

pub(crate) struct SessionEntry {
    pub app: String,
    pub conversation_id: String,
    pub expires_at: Instant,
}

/// Bytes behind a download code or media id.
#[derive(Debug, Clone)]
pub(crate) struct Blob {
    pub app: String,
    pub bytes: bytes::Bytes,
    pub content_type: String,
    pub file_name: Option<String>,
}

#[derive(Default)]
pub(crate) struct State {
    pub apps: BTreeMap<String, App>,
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
    /// (client id, staff id) → DM conversation id.
    pub dm_conversations: HashMap<(String, String), String>,
    pub tokens: HashMap<String, TokenEntry>,
    pub token_calls: BTreeMap<String, u64>,
    pub tickets: HashMap<String, TicketEntry>,
    pub open_log: Vec<OpenRecord>,
    pub conns: BTreeMap<String, ConnEntry>,
    pub conn_order: Vec<String>,
    pub deliveries: Vec<Delivery>,
    pub delivery_index: HashMap<(String, String), usize>,
    pub frame_index: HashMap<String, FrameRef>,
    pub pings: Vec<PingRecord>,
    pub violations: Vec<Violation>,
    pub sent: Vec<SentMessage>,
    pub user_messages: Vec<UserMessage>,
    pub sessions: HashMap<String, SessionEntry>,
    /// download code → inbound media.
    pub downloads: HashMap<String, Blob>,
    /// download URL token → (download code, expiry).
    pub download_urls: HashMap<String, (String, Instant)>,
    pub faults: Faults,
    /// (client id or `-`, path) → calls.
    pub api_calls: BTreeMap<(String, String), u64>,
    pub ext: crate::state_ext::StateExt,
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
    ) -> crate::Result<R> {
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
                    .ok_or_else(|| crate::SimError::Timeout(what.to_owned()));
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

    pub fn app(&self, client_id: &str) -> crate::Result<&App> {
        self.apps
            .get(client_id)
            .ok_or_else(|| crate::SimError::UnknownApp(client_id.to_owned()))
    }

    pub fn user(&self, staff_id: &str) -> crate::Result<&User> {
        self.users
            .get(staff_id)
            .ok_or_else(|| crate::SimError::UnknownUser(staff_id.to_owned()))
    }

    pub fn group(&self, cid: &str) -> crate::Result<&Group> {
        self.groups
            .get(cid)
            .ok_or_else(|| crate::SimError::UnknownGroup(cid.to_owned()))
    }

    /// DM conversation id between an app's bot and a user, created on first use.
    pub fn dm_conversation(&mut self, app: &str, staff_id: &str) -> String {
        self.dm_conversations
            .entry((app.to_owned(), staff_id.to_owned()))
            .or_insert_with(crate::ids::conversation_id)
            .clone()
    }

    pub fn push_sent(&mut self, mut msg: SentMessage) -> u64 {
        let seq = self.sent.len() as u64 + 1;
        msg.seq = seq;
        tracing::info!(seq, api = %msg.api, text = %msg.text, "bot sent a message");
        self.sent.push(msg);
        seq
    }
}
