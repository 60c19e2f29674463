//! An in-process mock of an OpenAI-compatible chat completions server.
//!
//! Two jobs:
//!
//! - **Tests**: queue [`Script`]s (text, reasoning, tool calls streamed in fragments, HTTP
//!   errors, errors inside the stream, delays, cut-off streams), inject [`Failure`]s per model
//!   or key, and assert on every [`RecordedRequest`].
//! - **The offline demo model**: with nothing queued, any prompt gets a deterministic,
//!   clearly labelled answer ([`offline_reply`]), which is what `clawtalk demo` talks to when
//!   no API key is configured.
//!
//! ```
//! # async fn demo() -> std::io::Result<()> {
//! use llm_mock::{MockModel, Script};
//!
//! let mock = MockModel::start().await?;
//! mock.push(Script::text("Hello from the script"));
//! // Point any OpenAI-compatible client at mock.base_url() ("http://127.0.0.1:PORT/v1").
//! # Ok(()) }
//! ```
//!
//! Every path ending in `/chat/completions` is served, so a base URL with any prefix works
//! (`/v1`, `/compatible-mode/v1`, `/api/paas/v4`).
//!
//! # Layout
//!
//! - `script`: [`Script`], one scripted answer.
//! - `render`: scripts to OpenAI-format JSON and SSE bodies, pacing and truncation.
//! - `offline`: the default responder.
//! - `server`: the handler, recording and failure injection.

mod offline;
mod render;
mod script;
mod server;
mod synthetic;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use offline::{OFFLINE_LABEL, offline_reply};
pub use script::Script;
pub use server::{AuthSeen, Failure, RecordedRequest};
pub use synthetic::Synthetic;

use server::{Settings, Shared, lock};

/// The model id the offline demo model suggests using (any id is accepted).
pub const OFFLINE_MODEL: &str = "offline-demo";

/// A running mock server on `127.0.0.1`. Stops when dropped.
#[derive(Debug)]
pub struct MockModel {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// Options for [`MockModel`].
#[derive(Debug, Clone)]
pub struct MockModelBuilder {
    settings: Settings,
    addr: SocketAddr,
}

impl Default for MockModelBuilder {
    fn default() -> Self {
        Self {
            settings: Settings {
                record: true,
                ..Settings::default()
            },
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

impl MockModelBuilder {
    /// Ignore every scripted and offline delay (benchmarks).
    #[must_use]
    pub fn zero_delay(mut self) -> Self {
        self.settings.zero_delay = true;
        self
    }

    /// Keep (default) or skip recording requests; skip it in long benchmarks.
    #[must_use]
    pub fn record(mut self, record: bool) -> Self {
        self.settings.record = record;
        self
    }

    /// Keep the time the mock spent on each completion request (parsing it and building the
    /// whole answer), so a benchmark can tell the model's share of a round trip from the
    /// client's; see [`MockModel::take_answer_times`]. Off by default.
    #[must_use]
    pub fn time_answers(mut self, on: bool) -> Self {
        self.settings.time_answers = on;
        self
    }

    /// Registers an API key under an id. Once any key is registered, requests with another
    /// key (or none) are answered `401`, and [`AuthSeen::key_id`] names the key used.
    #[must_use]
    pub fn api_key(mut self, id: impl Into<String>, key: impl Into<String>) -> Self {
        self.settings.keys.push((id.into(), key.into()));
        self
    }

    /// Delay between chunks of offline answers, so that a demo visibly streams
    /// (default: none).
    #[must_use]
    pub fn offline_pacing(mut self, per_chunk: Duration) -> Self {
        self.settings.offline_pacing = per_chunk;
        self
    }

    /// Wait this long before the first byte of every offline answer, like a slow model
    /// (the load benchmark's "2-second model"); default none. Scripted answers keep their own
    /// delays.
    #[must_use]
    pub fn answer_delay(mut self, delay: Duration) -> Self {
        self.settings.answer_delay = delay;
        self
    }

    /// Answer every unscripted request like a real model of this shape (benchmarks): the
    /// question quoted, then `tokens` one-word tokens at the given pace. Takes the place of
    /// the offline model's answers and their delays.
    #[must_use]
    pub fn synthetic(mut self, shape: Synthetic) -> Self {
        self.settings.synthetic = Some(shape);
        self
    }

    /// Listen on this address instead of `127.0.0.1:0`.
    #[must_use]
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Binds and starts serving.
    pub async fn start(self) -> std::io::Result<MockModel> {
        let listener = listen_deep(self.addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            settings: self.settings,
            ..Shared::default()
        });
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            // No Nagle: streamed chunks must leave at once, as from a real provider.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "llm-mock server stopped");
            }
        });
        Ok(MockModel { addr, shared, task })
    }
}

impl MockModel {
    /// Starts a mock with default options on `127.0.0.1` and a free port.
    pub async fn start() -> std::io::Result<Self> {
        MockModelBuilder::default().start().await
    }

    /// Options before starting.
    #[must_use]
    pub fn builder() -> MockModelBuilder {
        MockModelBuilder::default()
    }

    /// `http://127.0.0.1:PORT/v1`, the base URL to give a client.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The listening address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues a scripted answer.
    pub fn push(&self, script: Script) {
        lock(&self.shared.scripts).push_back(script);
    }

    /// Queues several scripted answers, in order.
    pub fn push_all(&self, scripts: impl IntoIterator<Item = Script>) {
        lock(&self.shared.scripts).extend(scripts);
    }

    /// Scripts not used yet.
    #[must_use]
    pub fn pending_scripts(&self) -> usize {
        lock(&self.shared.scripts).len()
    }

    /// Adds a failure that takes precedence over scripts while it lasts.
    pub fn inject(&self, failure: Failure) {
        lock(&self.shared.failures).push(failure);
    }

    /// Every request received so far (empty when recording is off).
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.records).clone()
    }

    /// The most recent request.
    #[must_use]
    pub fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.shared.records).last().cloned()
    }

    /// Number of requests received (counted even when recording is off).
    #[must_use]
    pub fn request_count(&self) -> u64 {
        self.shared.count.load(Ordering::Relaxed)
    }

    /// Forgets recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.records).clear();
    }

    /// With [`MockModelBuilder::time_answers`]: the time spent on each completion request
    /// since the last call, in arrival order, from the request's arrival until its response is
    /// ready (a streamed answer's chunks are all built by then; delays between them come
    /// after and are not counted). Taking them empties the list.
    pub fn take_answer_times(&self) -> Vec<Duration> {
        std::mem::take(&mut *lock(&self.shared.answer_times))
    }
}

impl Drop for MockModel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `addr` with a deep accept queue. tokio's default of 1,024 overflowed in the 9 AM
/// bench, where thousands of turns connect at once: the kernel dropped connection attempts,
/// which then waited seconds for a retransmitted SYN or were reset. A real service behind its
/// load balancers does not refuse a burst that way. The kernel caps the queue at
/// `net.core.somaxconn`.
fn listen_deep(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(65_535)
}
