//! The supervisor: keeps exactly one live connection, replacing it on `disconnect`
//! (make-before-break), on zombie detection and on drops, with backoff between failures.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::stream::StreamEvent;
use crate::stream::config::StreamConfig;
use crate::stream::connection::{Connection, Signal};
use crate::stream::open::open_socket;
use crate::stream::stats::{StatsSnapshot, StreamStats};

/// Entry point of the Stream client.
#[derive(Debug)]
pub struct StreamClient;

impl StreamClient {
    /// Starts connecting in the background. Frames arrive on the returned [`StreamEvents`];
    /// nothing is acknowledged until the caller says so.
    ///
    /// Must be called inside a tokio runtime.
    #[must_use]
    pub fn spawn(config: StreamConfig) -> (StreamHandle, StreamEvents) {
        // DingTalk's `connections/open` answers in place; the shared client follows no redirect.
        let http = crate::http::default_http_client();
        Self::spawn_with_http(config, http)
    }

    /// Like [`StreamClient::spawn`] with a caller-provided HTTP client (proxy, custom roots).
    #[must_use]
    pub fn spawn_with_http(config: StreamConfig, http: reqwest::Client) -> (StreamHandle, StreamEvents) {
        // Unbounded on purpose: a slow consumer must never stop the socket from answering
        // pings, and DingTalk may not redeliver a bot message we failed to take in.
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let stats = Arc::new(StreamStats::default());
        let supervisor = Supervisor {
            config,
            http,
            events: events_tx,
            stats: Arc::clone(&stats),
            shutdown: shutdown_rx,
        };
        let task = tokio::spawn(supervisor.run());
        (
            StreamHandle {
                shutdown: shutdown_tx,
                stats,
                task: Some(task),
            },
            StreamEvents { rx: events_rx },
        )
    }
}

/// Controls a running client.
#[derive(Debug)]
pub struct StreamHandle {
    shutdown: watch::Sender<bool>,
    stats: Arc<StreamStats>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl StreamHandle {
    /// Current counters.
    #[must_use]
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Closes every connection and waits until the client has stopped; the event stream ends.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// What the client reports, in order.
#[derive(Debug)]
pub struct StreamEvents {
    rx: mpsc::UnboundedReceiver<StreamEvent>,
}

impl StreamEvents {
    /// The next event; `None` once the client has shut down.
    pub async fn recv(&mut self) -> Option<StreamEvent> {
        self.rx.recv().await
    }
}

struct Supervisor {
    config: StreamConfig,
    http: reqwest::Client,
    events: mpsc::UnboundedSender<StreamEvent>,
    stats: Arc<StreamStats>,
    shutdown: watch::Receiver<bool>,
}

impl Supervisor {
    async fn run(mut self) {
        let (signals_tx, mut signals) = mpsc::unbounded_channel::<Signal>();
        let mut tasks = JoinSet::new();
        let mut next_id: u64 = 0;
        // The connection new pushes are expected on; draining ones are not counted.
        let mut active: Option<u64> = None;
        let mut draining: HashSet<u64> = HashSet::new();
        let mut failures: u32 = 0;
        let mut next_attempt: Option<Instant> = Some(Instant::now());

        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.changed() => break,
                Some(signal) = signals.recv() => match signal {
                    Signal::Healthy(id) => {
                        tracing::debug!(connection = id, "stream connection healthy");
                        failures = 0;
                    }
                    Signal::Draining(id) => {
                        if active == Some(id) {
                            active = None;
                            draining.insert(id);
                            next_attempt = Some(Instant::now());
                        }
                    }
                    Signal::Closed(id, reason) => {
                        draining.remove(&id);
                        let _ = self.events.send(StreamEvent::Disconnected { connection: id, reason });
                        if active == Some(id) {
                            active = None;
                            // A connection that worked is replaced at once; one that failed
                            // before its first frame counts as a failure.
                            next_attempt = Some(Instant::now() + self.retry_delay(failures));
                        }
                    }
                },
                () = sleep_until_opt(next_attempt), if active.is_none() => {
                    next_attempt = None;
                    let attempt = tokio::select! {
                        biased;
                        _ = self.shutdown.changed() => break,
                        result = open_socket(&self.http, &self.config) => result,
                    };
                    match attempt {
                        Ok(socket) => {
                            next_id += 1;
                            active = Some(next_id);
                            // Counted now and reset on the first frame; see `Signal::Healthy`.
                            failures = failures.saturating_add(1);
                            self.stats.add_connect();
                            tracing::info!(connection = next_id, "stream connected");
                            let _ = self.events.send(StreamEvent::Connected { connection: next_id });
                            let connection = Connection {
                                id: next_id,
                                ping_interval: self.config.ping_interval,
                                idle_timeout: self.config.idle_timeout,
                                drain_timeout: self.config.drain_timeout,
                                events: self.events.clone(),
                                signals: signals_tx.clone(),
                                stats: Arc::clone(&self.stats),
                                shutdown: self.shutdown.clone(),
                            };
                            tasks.spawn(connection.run(socket));
                        }
                        Err(error) => {
                            failures = failures.saturating_add(1);
                            self.stats.add_open_failure();
                            let retry_in = self.config.backoff.delay(failures);
                            tracing::warn!(%error, failures, ?retry_in, "stream connect failed");
                            let _ = self.events.send(StreamEvent::ConnectFailed {
                                failures,
                                error: Arc::new(error),
                                retry_in,
                            });
                            next_attempt = Some(Instant::now() + retry_in);
                        }
                    }
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        // Connections watch the same shutdown flag; wait for them to close their sockets.
        while tasks.join_next().await.is_some() {}
        while let Ok(Signal::Closed(id, reason)) = signals.try_recv() {
            let _ = self.events.send(StreamEvent::Disconnected {
                connection: id,
                reason,
            });
        }
    }

    fn retry_delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            Duration::ZERO
        } else {
            self.config.backoff.delay(failures)
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
