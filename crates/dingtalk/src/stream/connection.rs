//! One WebSocket connection: reads frames, answers pings, detects zombies, writes ACKs.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::model::frame::{AckFrame, StreamFrame};
use crate::stream::StreamEvent;
use crate::stream::delivery::Delivery;
use crate::stream::stats::StreamStats;

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The server closed the socket (normally after a `disconnect` notice).
    ServerClosed,
    /// The socket failed or vanished without a close frame.
    Dropped(String),
    /// Nothing arrived (no frame, no pong) within the idle timeout.
    Zombie,
    /// The connection was draining after a `disconnect` and its grace period ran out.
    Drained,
    /// The client is shutting down.
    Shutdown,
}

/// What a connection tells the supervisor.
#[derive(Debug)]
pub(crate) enum Signal {
    /// The first frame arrived: the server accepted us, reset the backoff.
    Healthy(u64),
    /// The server sent `disconnect`: open a replacement now; this one keeps draining.
    Draining(u64),
    /// The connection is over.
    Closed(u64, CloseReason),
}

pub(crate) struct Connection {
    pub id: u64,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    pub drain_timeout: Duration,
    pub events: mpsc::UnboundedSender<StreamEvent>,
    pub signals: mpsc::UnboundedSender<Signal>,
    pub stats: Arc<StreamStats>,
    pub shutdown: watch::Receiver<bool>,
}

impl Connection {
    pub(crate) async fn run(mut self, socket: Socket) {
        let reason = self.pump(socket).await;
        tracing::info!(connection = self.id, ?reason, "stream connection closed");
        let _ = self.signals.send(Signal::Closed(self.id, reason));
    }

    async fn pump(&mut self, socket: Socket) -> CloseReason {
        let (mut sink, mut stream) = socket.split();
        // ACKs come from caller tasks through this channel; the loop below is the only writer.
        let (outbox, mut pending) = mpsc::unbounded_channel::<Message>();
        let mut keepalive = Keepalive::new(Instant::now(), self.ping_interval, self.idle_timeout);
        let mut drain_deadline: Option<Instant> = None;
        let mut healthy = false;

        loop {
            let (ping_at, idle_deadline) = (keepalive.ping_at(), keepalive.dead_at());
            tokio::select! {
                biased;
                _ = self.shutdown.changed() => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
                    return CloseReason::Shutdown;
                }
                Some(out) = pending.recv() => {
                    if let Err(e) = sink.send(out).await {
                        return CloseReason::Dropped(e.to_string());
                    }
                    self.stats.add_ack();
                }
                msg = stream.next() => {
                    let msg = match msg {
                        None => return CloseReason::Dropped("socket ended without a close frame".into()),
                        Some(Err(e)) => return CloseReason::Dropped(e.to_string()),
                        Some(Ok(msg)) => msg,
                    };
                    keepalive.inbound(Instant::now());
                    if !healthy {
                        healthy = true;
                        let _ = self.signals.send(Signal::Healthy(self.id));
                    }
                    match msg {
                        Message::Text(text) => {
                            if let Some(reply) = self.on_text(text.as_str(), &outbox, &mut drain_deadline) {
                                if let Err(e) = sink.send(reply).await {
                                    return CloseReason::Dropped(e.to_string());
                                }
                                self.stats.add_ack();
                            }
                        }
                        Message::Close(_) => return CloseReason::ServerClosed,
                        // Pings are answered by tungstenite itself; pongs only prove liveness.
                        Message::Ping(_) | Message::Pong(_) => {}
                        Message::Binary(_) | Message::Frame(_) => {
                            tracing::debug!(connection = self.id, "ignoring non-text stream message");
                        }
                    }
                }
                () = tokio::time::sleep_until(ping_at) => {
                    keepalive.pinged(Instant::now());
                    if let Err(e) = sink.send(Message::Ping(Vec::new().into())).await {
                        return CloseReason::Dropped(e.to_string());
                    }
                }
                () = tokio::time::sleep_until(idle_deadline) => {
                    self.stats.add_zombie();
                    tracing::warn!(connection = self.id, idle = ?self.idle_timeout, "stream connection silent: treating it as dead");
                    return CloseReason::Zombie;
                }
                () = sleep_until_opt(drain_deadline) => return CloseReason::Drained,
            }
        }
    }

    /// Handles one text frame; returns an immediate reply for SYSTEM frames.
    fn on_text(
        &self,
        text: &str,
        outbox: &mpsc::UnboundedSender<Message>,
        drain_deadline: &mut Option<Instant>,
    ) -> Option<Message> {
        self.stats.add_frame();
        let frame = match StreamFrame::parse(text) {
            Ok(frame) => frame,
            Err(error) => {
                tracing::warn!(connection = self.id, %error, "undecodable stream frame");
                let _ = self.events.send(StreamEvent::Undecodable {
                    connection: self.id,
                    error: Arc::new(error),
                });
                return None;
            }
        };
        if frame.is_ping() {
            self.stats.add_ping();
            return AckFrame::pong(&frame).map(|ack| Message::text(ack.to_text()));
        }
        if frame.is_disconnect() {
            self.stats.add_disconnect_notice();
            tracing::info!(connection = self.id, data = %frame.data, "server asked to reconnect");
            if drain_deadline.is_none() {
                *drain_deadline = Some(Instant::now() + self.drain_timeout);
                let _ = self.signals.send(Signal::Draining(self.id));
            }
            // GO's SDK notes that an un-acked disconnect is resent, so acknowledge it.
            return AckFrame::system(&frame).map(|ack| Message::text(ack.to_text()));
        }
        let delivery = Delivery::new(self.id, frame, outbox.clone());
        let _ = self.events.send(StreamEvent::Frame(Box::new(delivery)));
        None
    }
}

/// When to ping and when to give up on a connection, both counted from the last inbound frame.
///
/// A WebSocket ping goes out once nothing arrived for `ping_interval`, and again every
/// `ping_interval` while the silence lasts; a connection silent for `idle_timeout` is dead.
/// Counting from the last frame (not on fixed ticks) means a server that answers each ping
/// is never silent for more than `ping_interval` plus one round trip, so it is never declared
/// dead, while a server that stops answering is replaced `idle_timeout` after its last frame.
/// DingTalk's own SYSTEM ping interval is not documented; the Node SDK pings every 8 s and
/// gives up after one unanswered interval (dingtalk-stream-sdk-nodejs `src/client.ts`).
#[derive(Debug, Clone, Copy)]
struct Keepalive {
    ping_interval: Duration,
    idle_timeout: Duration,
    last_inbound: Instant,
    last_ping: Option<Instant>,
}

impl Keepalive {
    fn new(now: Instant, ping_interval: Duration, idle_timeout: Duration) -> Self {
        // A ping interval at or above the idle timeout would let a healthy but quiet server
        // die unpinged; ping at half the timeout then.
        let ping_interval = if ping_interval.is_zero() || ping_interval >= idle_timeout {
            idle_timeout / 2
        } else {
            ping_interval
        };
        Self {
            ping_interval,
            idle_timeout,
            last_inbound: now,
            last_ping: None,
        }
    }

    fn inbound(&mut self, now: Instant) {
        self.last_inbound = now;
    }

    fn pinged(&mut self, now: Instant) {
        self.last_ping = Some(now);
    }

    /// The next ping: one interval after the last frame, or after the last ping while no
    /// frame came since.
    fn ping_at(&self) -> Instant {
        let since = match self.last_ping {
            Some(ping) if ping > self.last_inbound => ping,
            _ => self.last_inbound,
        };
        since + self.ping_interval
    }

    fn dead_at(&self) -> Instant {
        self.last_inbound + self.idle_timeout
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PING: Duration = Duration::from_secs(20);
    const IDLE: Duration = Duration::from_secs(30);

    #[test]
    fn a_server_answering_every_ping_is_never_due_to_die() {
        let start = Instant::now();
        let mut k = Keepalive::new(start, PING, IDLE);
        let rtt = Duration::from_millis(300);
        for _ in 0..200 {
            let ping = k.ping_at();
            assert!(ping < k.dead_at());
            k.pinged(ping);
            k.inbound(ping + rtt);
            assert_eq!(k.dead_at(), ping + rtt + IDLE);
        }
    }

    #[test]
    fn a_silent_server_is_pinged_then_dead_at_the_idle_timeout() {
        let start = Instant::now();
        let mut k = Keepalive::new(start, PING, IDLE);
        assert_eq!(k.ping_at(), start + PING);
        k.pinged(start + PING);
        assert_eq!(k.ping_at(), start + PING * 2);
        assert_eq!(k.dead_at(), start + IDLE);
    }

    #[test]
    fn a_ping_interval_not_below_the_idle_timeout_is_halved() {
        let start = Instant::now();
        let k = Keepalive::new(start, IDLE, IDLE);
        assert_eq!(k.ping_at(), start + IDLE / 2);
    }
}
