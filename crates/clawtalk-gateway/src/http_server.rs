//! Serves the listener's router with hyper's HTTP/1 server, under limits that keep slow or
//! idle clients from exhausting the process (`axum::serve` has no settings for these):
//!
//! - a connection that has not sent a whole request head within `gateway.http.headerTimeoutSeconds`
//!   of connecting, or of its previous response, is closed (hyper's header-read timeout);
//! - at most [`super::fd_budget::connection_cap`] connections are open at once. When a new
//!   one arrives at the cap, the connection that has waited longest without a request in
//!   progress is closed to make room: a flood of half-sent requests then only displaces
//!   itself, and `/healthz` or a DingTalk callback still gets in. When every connection is
//!   in the middle of a request, the new one waits in the kernel's backlog;
//! - an accept that fails for lack of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`,
//!   `ENOMEM`) is retried after a short pause instead of ending the listener.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// The listener's limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Time allowed for a request head.
    pub header_timeout: Duration,
}

/// Pause after an accept failed for lack of resources: the pending connection stays in the
/// backlog, so retrying at once would spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one warning per this long about the same pressure.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown`; then stops accepting, lets each connection
/// finish its request, and returns when all are closed.
pub(crate) async fn serve(listener: TcpListener, app: Router, limits: Limits, shutdown: CancellationToken) {
    let conns = Arc::new(Connections::new(limits.max_connections));
    let mut warned_full: Option<Instant> = None;
    let mut warned_accept: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                if is_resource_error(&error) {
                    if due(&mut warned_accept) {
                        tracing::warn!(%error, "cannot accept HTTP connections: out of descriptors or memory; retrying (raise `ulimit -n`)");
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    }
                } else {
                    // The client gave up before we accepted (ECONNABORTED and the like).
                    tracing::debug!(%error, "accept failed");
                }
                continue;
            }
        };
        let permit = match Arc::clone(&conns.slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let evicted = conns.close_longest_idle();
                if due(&mut warned_full) {
                    tracing::warn!(
                        cap = limits.max_connections,
                        evicted,
                        "HTTP connection limit reached: closing the connection idle longest for each new one \
                         (slow or idle clients; raise gateway.http.maxConnections or `ulimit -n` if they are real)"
                    );
                }
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    permit = Arc::clone(&conns.slots).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                }
            }
        };
        tokio::spawn(connection(
            Arc::clone(&conns),
            permit,
            stream,
            peer,
            app.clone(),
            limits.header_timeout,
            shutdown.clone(),
        ));
    }
    drop(listener);
    // Every connection holds a permit until it closes.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = conns.slots.acquire_many(all).await;
}

/// One connection, from accept to close.
async fn connection(
    conns: Arc<Connections>,
    permit: OwnedSemaphorePermit,
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    header_timeout: Duration,
    shutdown: CancellationToken,
) {
    let (id, evicted) = conns.open(Instant::now());
    let _registered = Registered {
        conns: Arc::clone(&conns),
        id,
        _permit: permit,
    };
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        conns.set_busy(id, true);
        request.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        let conns = Arc::clone(&conns);
        async move {
            let response = app.oneshot(request.map(Body::new)).await;
            conns.set_busy(id, false);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        served = conn.as_mut() => {
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "HTTP connection ended with an error");
            }
        }
        // Dropping the connection closes the socket.
        () = evicted.cancelled() => tracing::debug!(%peer, "idle HTTP connection closed to make room"),
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// The open connections: a permit each, and whether a request is in progress.
struct Connections {
    slots: Arc<Semaphore>,
    open: Mutex<HashMap<u64, Tracked>>,
    next_id: AtomicU64,
}

struct Tracked {
    /// When it last had no request in progress; `None` while one is.
    idle_since: Option<Instant>,
    close: CancellationToken,
}

impl Connections {
    fn new(cap: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(cap.max(1))),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }

    fn open(&self, now: Instant) -> (u64, CancellationToken) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let close = CancellationToken::new();
        let tracked = Tracked {
            idle_since: Some(now),
            close: close.clone(),
        };
        self.lock().insert(id, tracked);
        (id, close)
    }

    fn set_busy(&self, id: u64, busy: bool) {
        if let Some(tracked) = self.lock().get_mut(&id) {
            tracked.idle_since = if busy { None } else { Some(Instant::now()) };
        }
    }

    /// Closes the connection without a request in progress for the longest time; false when
    /// every connection is busy.
    fn close_longest_idle(&self) -> bool {
        let mut open = self.lock();
        let oldest = open
            .iter_mut()
            .filter(|(_, t)| t.idle_since.is_some() && !t.close.is_cancelled())
            .min_by_key(|(_, t)| t.idle_since);
        match oldest {
            Some((_, tracked)) => {
                tracked.close.cancel();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Tracked>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Forgets a connection and frees its slot when its task ends, however it ends.
struct Registered {
    conns: Arc<Connections>,
    id: u64,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.conns.lock().remove(&self.id);
    }
}

/// Out of descriptors or kernel memory: transient, and worth a pause before retrying.
pub(crate) fn is_resource_error(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// True (and remembers now) when the last warning is older than [`WARN_EVERY`].
fn due(last: &mut Option<Instant>) -> bool {
    let now = Instant::now();
    if last.is_some_and(|at| now.duration_since(at) < WARN_EVERY) {
        return false;
    }
    *last = Some(now);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn start(limits: Limits) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route(
            "/healthz",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { format!("ok {}", peer.ip()) }),
        );
        let shutdown = CancellationToken::new();
        let served = tokio::spawn(serve(listener, app, limits, shutdown.clone()));
        (addr, shutdown, served)
    }

    async fn get_healthz(addr: SocketAddr) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).await.unwrap();
        text
    }

    #[tokio::test]
    async fn a_half_sent_request_is_closed_after_the_header_timeout() {
        let limits = Limits {
            max_connections: 16,
            header_timeout: Duration::from_millis(300),
        };
        let (addr, shutdown, served) = start(limits).await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        let started = Instant::now();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the server kept a half-sent request open");
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "{:?}",
            started.elapsed()
        );
        let answer = get_healthz(addr).await;
        assert!(answer.contains("ok 127.0.0.1"), "{answer}");
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), served)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn at_the_cap_idle_connections_make_room_for_a_real_request() {
        let limits = Limits {
            max_connections: 8,
            header_timeout: Duration::from_secs(60),
        };
        let (addr, shutdown, _served) = start(limits).await;
        let mut flood = Vec::new();
        for _ in 0..40 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
            flood.push(s);
        }
        let answered = tokio::time::timeout(Duration::from_secs(2), get_healthz(addr)).await;
        let answer = answered.expect("/healthz waited behind idle connections");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        drop(flood);
        shutdown.cancel();
    }

    #[test]
    fn resource_errors_are_recognised() {
        assert!(is_resource_error(&std::io::Error::from_raw_os_error(
            libc::EMFILE
        )));
        assert!(is_resource_error(&std::io::Error::from_raw_os_error(
            libc::ENFILE
        )));
        assert!(!is_resource_error(&std::io::Error::from_raw_os_error(
            libc::ECONNABORTED
        )));
    }
}
