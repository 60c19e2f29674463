//! Stream mode, step two: the WebSocket at `/connect?ticket=`, one task per connection that
//! writes frames and SYSTEM pings, reads ACKs, and plays the faults it is told to.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{
    CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval};

use crate::error::ApiError;
use crate::ids;
use crate::model::{ConnectionInfo, FrameCut, Subscription};
use crate::state::{ConnCmd, ConnEntry, Shared};

struct Claim {
    ticket: String,
    app: String,
    subscriptions: Vec<Subscription>,
    ua: Option<String>,
}

/// `GET /connect?ticket=` (WebSocket upgrade).
pub(crate) async fn connect(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(ticket) = q.get("ticket").filter(|t| !t.is_empty()).cloned() else {
        return ApiError::missing("ticket").into_response();
    };
    let ttl = shared.config.ticket_ttl;
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let claim = shared.mutate(|st| {
        let Some(t) = st.stream.tickets.get_mut(&ticket) else {
            return Err(("unknown", "ticket does not exist"));
        };
        if t.used {
            return Err(("used", "ticket has already been used"));
        }
        if t.issued_at.elapsed() > ttl {
            return Err(("expired", "ticket has expired"));
        }
        t.used = true;
        Ok(Claim {
            ticket: ticket.clone(),
            app: t.app.clone(),
            subscriptions: t.subscriptions.clone(),
            ua: t.ua.clone(),
        })
    });
    match claim {
        Ok(claim) => ws.on_upgrade(move |socket| run_connection(shared, socket, claim)),
        Err((kind, msg)) => {
            tracing::info!(%ticket, kind, "rejected stream connect");
            ApiError::new(StatusCode::UNAUTHORIZED, format!("invalidTicket.{kind}"), msg).into_response()
        }
    }
}

async fn run_connection(shared: Arc<Shared>, socket: WebSocket, claim: Claim) {
    let conn_id = ids::uuid();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let app = claim.app.clone();
    tracing::info!(connection = %conn_id, %app, "stream connection opened");
    register(&shared, &conn_id, claim, tx);

    let (sink, mut stream) = socket.split();
    let mut shutdown = shared.shutdown_rx();
    let mut ping = ping_ticks(shared.config.ping_interval);
    let mut conn = Connection {
        shared: Arc::clone(&shared),
        id: conn_id.clone(),
        app,
        sink,
        zombie: false,
        cut: None,
        close_at: None,
    };
    let reason: String = loop {
        let ended = tokio::select! {
            _ = shutdown.changed() => {
                conn.close(1001, "simulator shutting down").await;
                Some("simulator shut down".into())
            }
            cmd = rx.recv() => conn.on_command(cmd).await,
            msg = stream.next(), if !conn.zombie => conn.on_client_message(msg),
            () = next_tick(ping.as_mut()), if !conn.zombie && conn.close_at.is_none() => conn.ping().await,
            () = tokio::time::sleep_until(conn.close_at.unwrap_or_else(Instant::now)), if conn.close_at.is_some() => {
                conn.close(1000, "connection is expired").await;
                Some("closed by server after disconnect grace".into())
            }
        };
        if let Some(reason) = ended {
            break reason;
        }
    };
    let s = Arc::clone(&shared);
    shared.mutate(|st| st.on_conn_closed(&s, &conn_id, &reason));
    // Dropping both halves drops the TCP stream; no close frame unless sent above.
    drop(conn);
    drop(stream);
}

/// Records a new connection and pushes the app's pending deliveries to it.
fn register(shared: &Arc<Shared>, conn_id: &str, claim: Claim, tx: mpsc::UnboundedSender<ConnCmd>) {
    let app = claim.app.clone();
    shared.mutate(|st| {
        st.stream.conns.insert(
            conn_id.to_owned(),
            ConnEntry {
                info: ConnectionInfo {
                    connection_id: conn_id.to_owned(),
                    app: claim.app,
                    ticket: claim.ticket,
                    subscriptions: claim.subscriptions,
                    ua: claim.ua,
                    opened_at_ms: shared.now_ms(),
                    closed_at_ms: None,
                    close_reason: None,
                    zombie: false,
                    draining: false,
                    disconnect_sent_at_ms: None,
                    disconnect_acked: false,
                    frames_sent: 0,
                    frames_swallowed: 0,
                    pings_sent: 0,
                    pings_echoed: 0,
                    acks_received: 0,
                    ws_pings_received: 0,
                },
                tx,
            },
        );
        st.stream.order.push(conn_id.to_owned());
        st.flush_pending(shared, &app);
    });
}

/// SYSTEM ping ticks, or none for a zero interval: a server that never sends SYSTEM pings
/// (DingTalk's interval is not documented, so clients must stay alive on their own WebSocket
/// pings).
fn ping_ticks(every: Duration) -> Option<Interval> {
    (!every.is_zero()).then(|| {
        let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks
    })
}

/// One open WebSocket as its task sees it: the write half and the faults in force.
struct Connection {
    shared: Arc<Shared>,
    id: String,
    app: String,
    sink: SplitSink<WebSocket, Message>,
    zombie: bool,
    cut: Option<FrameCut>,
    close_at: Option<Instant>,
}

/// Why the connection ended, once it has.
type Ended = Option<String>;

impl Connection {
    fn count(&self, f: impl FnOnce(&mut ConnectionInfo)) {
        self.shared.mutate(|st| st.stream.update_info(&self.id, f));
    }

    /// Writes a text frame and counts it.
    async fn write(&mut self, text: String) -> Ended {
        if let Err(e) = self.sink.send(Message::Text(text.into())).await {
            return Some(format!("write failed: {e}"));
        }
        self.count(|i| i.frames_sent += 1);
        None
    }

    async fn close(&mut self, code: u16, reason: &str) {
        let _ = self.sink.send(close_msg(code, reason)).await;
    }

    async fn on_command(&mut self, cmd: Option<ConnCmd>) -> Ended {
        match cmd {
            None => Some("connection channel closed".into()),
            Some(ConnCmd::Frame(text)) => self.on_frame(text).await,
            Some(ConnCmd::Disconnect(text)) => {
                self.close_at = Some(Instant::now() + self.shared.config.disconnect_grace);
                if self.zombie {
                    self.count(|i| i.frames_swallowed += 1);
                    None
                } else {
                    self.write(text).await
                }
            }
            Some(ConnCmd::Drop) => Some("dropped by simulator (no close frame)".into()),
            Some(ConnCmd::Cut(how)) => {
                self.cut = Some(how);
                None
            }
            Some(ConnCmd::Zombie(on)) => {
                tracing::info!(connection = %self.id, on, "zombie fault");
                self.zombie = on;
                None
            }
        }
    }

    /// A pushed frame: swallowed by a zombie, cut when a cut is pending, written otherwise.
    async fn on_frame(&mut self, text: String) -> Ended {
        if self.zombie {
            self.count(|i| i.frames_swallowed += 1);
            return None;
        }
        let Some(how) = self.cut.take() else {
            return self.write(text).await;
        };
        let written = match how {
            FrameCut::AfterFrame => text.as_str(),
            FrameCut::MidFrame => first_half(&text),
        };
        let _ = self.sink.send(Message::Text(written.to_owned().into())).await;
        self.count(|i| i.frames_sent += 1);
        tracing::info!(connection = %self.id, ?how, "cutting the connection at a frame");
        Some(format!("cut by simulator ({how:?}, no close frame)"))
    }

    fn on_client_message(&self, msg: Option<Result<Message, axum::Error>>) -> Ended {
        match msg {
            None => Some("connection lost (EOF without close frame)".into()),
            Some(Err(e)) => Some(format!("connection error: {e}")),
            Some(Ok(Message::Text(text))) => {
                let s = Arc::clone(&self.shared);
                self.shared
                    .mutate(|st| st.on_client_text(&s, &self.id, text.as_str()));
                None
            }
            Some(Ok(Message::Binary(b))) => {
                let now = self.shared.now_ms();
                self.shared.mutate(|st| {
                    st.violation(
                        now,
                        Some(&self.id),
                        Some(&self.app),
                        "binary_frame",
                        format!(
                            "client sent a binary frame of {} bytes; ACKs must be text",
                            b.len()
                        ),
                        None,
                    );
                });
                None
            }
            Some(Ok(Message::Close(frame))) => Some(match frame {
                Some(f) => format!("closed by client ({} {})", f.code, f.reason),
                None => "closed by client".into(),
            }),
            // The pong itself is queued by the WebSocket layer and written on the next read.
            Some(Ok(Message::Ping(_))) => {
                self.count(|i| i.ws_pings_received += 1);
                None
            }
            Some(Ok(_)) => None,
        }
    }

    async fn ping(&mut self) -> Ended {
        let now = self.shared.now_ms();
        let text = self.shared.mutate(|st| st.new_ping(now, &self.id));
        self.write(text).await
    }
}

/// The next SYSTEM ping tick; never when pings are off.
async fn next_tick(ticks: Option<&mut tokio::time::Interval>) {
    match ticks {
        Some(ticks) => {
            ticks.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The first half of `text`, cut at a character boundary.
fn first_half(text: &str) -> &str {
    let mut end = text.len() / 2;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn close_msg(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}
