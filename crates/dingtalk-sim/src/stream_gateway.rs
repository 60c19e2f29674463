//! Stream mode: `POST /v1.0/gateway/connections/open` (tickets) and the WebSocket at
//! `/connect?ticket=`, one task per connection (pings, frames, ACKs, faults).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::extract::ws::{
    CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::delivery::frame_text;
use crate::error::ApiError;
use crate::ids;
use crate::model::{ConnectionInfo, FrameCut, OpenRecord, PingRecord, Subscription};
use crate::state::{ConnCmd, ConnEntry, FrameRef, Shared, State as SimState, TicketEntry};

pub(crate) const OPEN_PATH: &str = "/v1.0/gateway/connections/open";

fn parse_subscriptions(body: &Value) -> Result<Vec<Subscription>, ApiError> {
    let Some(raw) = body.get("subscriptions") else {
        return Err(ApiError::missing("subscriptions"));
    };
    let Some(items) = raw.as_array() else {
        return Err(ApiError::bad_request(
            "invalidParameter.subscriptions",
            "subscriptions must be an array of {type, topic}",
        ));
    };
    let mut subs = Vec::with_capacity(items.len());
    for item in items {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or_default();
        let topic = item.get("topic").and_then(Value::as_str).unwrap_or_default();
        if !matches!(kind, "EVENT" | "CALLBACK") {
            return Err(ApiError::bad_request(
                "invalidParameter.subscriptions",
                format!("subscription type must be EVENT or CALLBACK, got {kind:?}"),
            ));
        }
        if topic.is_empty() {
            return Err(ApiError::bad_request(
                "invalidParameter.subscriptions",
                "subscription topic is empty",
            ));
        }
        if kind == "EVENT" && topic != "*" {
            return Err(ApiError::bad_request(
                "invalidParameter.subscriptions",
                format!("EVENT subscriptions only accept topic \"*\", got {topic:?}"),
            ));
        }
        subs.push(Subscription {
            kind: kind.to_owned(),
            topic: topic.to_owned(),
        });
    }
    Ok(subs)
}

/// `POST /v1.0/gateway/connections/open`.
pub(crate) async fn open(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let accept_json = accept.as_deref().is_some_and(|a| a.contains("application/json"));
    let mut record = OpenRecord {
        at_ms: shared.now_ms(),
        client_id: None,
        accept: accept.clone(),
        accept_json,
        status: 200,
        error_code: None,
        ua: None,
        local_ip: None,
        subscriptions: Vec::new(),
        ticket: None,
    };
    let result = issue_ticket(&shared, &body, &mut record);
    let now = shared.now_ms();
    let response = match result {
        Ok(ticket) => {
            let endpoint = format!(
                "{}/connect",
                shared
                    .url("")
                    .replacen("http://", "ws://", 1)
                    .replacen("https://", "wss://", 1)
            );
            record.ticket = Some(ticket.clone());
            if accept_json || !shared.config.strict_accept_header {
                Json(json!({"endpoint": endpoint, "ticket": ticket})).into_response()
            } else {
                let xml = format!(
                    "<OpenConnectionResponse><endpoint>{endpoint}</endpoint><ticket>{ticket}</ticket></OpenConnectionResponse>"
                );
                ([(header::CONTENT_TYPE, "application/xml;charset=utf-8")], xml).into_response()
            }
        }
        Err(e) => {
            record.status = e.status.as_u16();
            record.error_code = Some(e.code.clone());
            e.into_response()
        }
    };
    shared.mutate(|st| {
        if !accept_json {
            st.violation(
                now,
                None,
                record.client_id.as_deref(),
                "open_without_accept_json",
                "connections/open without `Accept: application/json` (the real server then answers XML)",
                accept.as_deref(),
            );
        }
        st.open_log.push(record);
    });
    response
}

fn issue_ticket(shared: &Shared, body: &[u8], record: &mut OpenRecord) -> Result<String, ApiError> {
    let body: Value = serde_json::from_slice(body).map_err(ApiError::invalid_body)?;
    let client_id = body
        .get("clientId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    record.client_id = client_id.map(str::to_owned);
    record.ua = body.get("ua").and_then(Value::as_str).map(str::to_owned);
    record.local_ip = body.get("localIp").and_then(Value::as_str).map(str::to_owned);
    let client_id = client_id.ok_or_else(|| ApiError::missing("clientId"))?;
    let secret = body
        .get("clientSecret")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::missing("clientSecret"))?;
    let subs = parse_subscriptions(&body)?;
    record.subscriptions.clone_from(&subs);
    let ua = record.ua.clone();
    shared.mutate(|st| {
        st.count_call(Some(client_id), OPEN_PATH);
        let app = match st.apps.get(client_id) {
            Some(app) if app.client_secret == secret => app,
            _ => return Err(ApiError::open_auth_failed()),
        };
        if !app.published {
            return Err(ApiError::bad_request(
                "app.notPublished",
                "应用未发布，请先发布应用",
            ));
        }
        if !app.stream_enabled {
            return Err(ApiError::bad_request(
                "gateway.streamModeNotEnabled",
                "机器人消息接收模式不是Stream模式，请在开发者后台开启Stream模式",
            ));
        }
        let ticket = ids::uuid();
        st.tickets.insert(
            ticket.clone(),
            TicketEntry {
                app: client_id.to_owned(),
                subscriptions: subs,
                ua,
                issued_at: Instant::now(),
                used: false,
            },
        );
        Ok(ticket)
    })
}

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
        let Some(t) = st.tickets.get_mut(&ticket) else {
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

impl SimState {
    /// Builds a SYSTEM ping for a connection and records it.
    fn new_ping(&mut self, now_ms: u64, conn_id: &str) -> String {
        let epoch = ids::epoch_ms();
        let message_id = ids::stream_message_id(epoch);
        let opaque = ids::uuid();
        let mut headers = BTreeMap::new();
        if let Some(c) = self.conns.get_mut(conn_id) {
            c.info.pings_sent += 1;
            if let Some(app) = self.apps.get(&c.info.app) {
                headers.insert("appId".to_owned(), app.app_id.clone());
            }
        }
        headers.insert("connectionId".into(), conn_id.to_owned());
        headers.insert("contentType".into(), "application/json".into());
        headers.insert("messageId".into(), message_id.clone());
        headers.insert("time".into(), epoch.to_string());
        headers.insert("topic".into(), "ping".into());
        let data = json!({"opaque": opaque}).to_string();
        self.frame_index
            .insert(message_id.clone(), FrameRef::Ping(self.pings.len()));
        self.pings.push(PingRecord {
            connection_id: conn_id.to_owned(),
            message_id,
            opaque,
            sent_at_ms: now_ms,
            acked_at_ms: None,
            echoed: None,
        });
        frame_text("SYSTEM", &headers, &data)
    }

    /// Sends SYSTEM disconnect on every open connection of the app; returns how many.
    pub fn send_disconnect(&mut self, now_ms: u64, app: &str, reason: &str) -> usize {
        let mut n = 0;
        for c in self.conns.values_mut() {
            if c.info.app != app || !c.info.is_open() || c.info.draining {
                continue;
            }
            let epoch = ids::epoch_ms();
            let message_id = ids::stream_message_id(epoch);
            let mut headers = BTreeMap::new();
            headers.insert("contentType".to_owned(), "application/json".to_owned());
            headers.insert("messageId".into(), message_id.clone());
            headers.insert("time".into(), epoch.to_string());
            headers.insert("topic".into(), "disconnect".into());
            let text = frame_text("SYSTEM", &headers, &json!({"reason": reason}).to_string());
            c.info.draining = true;
            c.info.disconnect_sent_at_ms = Some(now_ms);
            let _ = c.tx.send(ConnCmd::Disconnect(text));
            self.frame_index
                .insert(message_id, FrameRef::Disconnect(c.info.connection_id.clone()));
            n += 1;
        }
        n
    }

    /// Sends a command to every open connection of the app; returns how many.
    pub fn command_app_connections(&mut self, app: &str, mut cmd: impl FnMut() -> ConnCmd) -> usize {
        let mut n = 0;
        for c in self
            .conns
            .values()
            .filter(|c| c.info.app == app && c.info.is_open())
        {
            let _ = c.tx.send(cmd());
            n += 1;
        }
        n
    }

    /// Sets the zombie flag of every open connection of the app.
    pub fn set_zombie(&mut self, app: &str, on: bool) -> usize {
        for c in self
            .conns
            .values_mut()
            .filter(|c| c.info.app == app && c.info.is_open())
        {
            c.info.zombie = on;
        }
        self.command_app_connections(app, || ConnCmd::Zombie(on))
    }
}

async fn run_connection(shared: Arc<Shared>, socket: WebSocket, claim: Claim) {
    let conn_id = ids::uuid();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let app = claim.app.clone();
    tracing::info!(connection = %conn_id, %app, "stream connection opened");
    let s = Arc::clone(&shared);
    shared.mutate(|st| {
        st.conns.insert(
            conn_id.clone(),
            ConnEntry {
                info: ConnectionInfo {
                    connection_id: conn_id.clone(),
                    app: claim.app,
                    ticket: claim.ticket,
                    subscriptions: claim.subscriptions,
                    ua: claim.ua,
                    opened_at_ms: s.now_ms(),
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
        st.conn_order.push(conn_id.clone());
        st.flush_pending(&s, &app);
    });

    let (mut sink, mut stream) = socket.split();
    let mut shutdown = shared.shutdown_rx();
    // A zero interval: a server that never sends SYSTEM pings (DingTalk's interval is not
    // documented, so clients must stay alive on their own WebSocket pings).
    let ping_every = shared.config.ping_interval;
    let mut ping = (!ping_every.is_zero()).then(|| {
        let mut ticks = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks
    });
    let mut zombie = false;
    let mut cut: Option<FrameCut> = None;
    let mut close_at: Option<Instant> = None;

    let reason: String = loop {
        tokio::select! {
            _ = shutdown.changed() => {
                let _ = sink.send(close_msg(1001, "simulator shutting down")).await;
                break "simulator shut down".into();
            }
            cmd = rx.recv() => match cmd {
                None => break "connection channel closed".into(),
                Some(ConnCmd::Frame(text)) => {
                    if zombie {
                        shared.mutate(|st| bump(st, &conn_id, |i| i.frames_swallowed += 1));
                    } else if let Some(how) = cut.take() {
                        let written = match how {
                            FrameCut::AfterFrame => text.as_str(),
                            FrameCut::MidFrame => first_half(&text),
                        };
                        let _ = sink.send(Message::Text(written.to_owned().into())).await;
                        shared.mutate(|st| bump(st, &conn_id, |i| i.frames_sent += 1));
                        tracing::info!(connection = %conn_id, ?how, "cutting the connection at a frame");
                        break format!("cut by simulator ({how:?}, no close frame)");
                    } else if let Err(e) = sink.send(Message::Text(text.into())).await {
                        break format!("write failed: {e}");
                    } else {
                        shared.mutate(|st| bump(st, &conn_id, |i| i.frames_sent += 1));
                    }
                }
                Some(ConnCmd::Disconnect(text)) => {
                    close_at = Some(Instant::now() + shared.config.disconnect_grace);
                    if zombie {
                        shared.mutate(|st| bump(st, &conn_id, |i| i.frames_swallowed += 1));
                    } else if let Err(e) = sink.send(Message::Text(text.into())).await {
                        break format!("write failed: {e}");
                    } else {
                        shared.mutate(|st| bump(st, &conn_id, |i| i.frames_sent += 1));
                    }
                }
                Some(ConnCmd::Drop) => break "dropped by simulator (no close frame)".into(),
                Some(ConnCmd::Cut(how)) => cut = Some(how),
                Some(ConnCmd::Zombie(on)) => {
                    tracing::info!(connection = %conn_id, on, "zombie fault");
                    zombie = on;
                }
            },
            msg = stream.next(), if !zombie => match msg {
                None => break "connection lost (EOF without close frame)".into(),
                Some(Err(e)) => break format!("connection error: {e}"),
                Some(Ok(Message::Text(text))) => {
                    let s = Arc::clone(&shared);
                    shared.mutate(|st| st.on_client_text(&s, &conn_id, text.as_str()));
                }
                Some(Ok(Message::Binary(b))) => {
                    let now = shared.now_ms();
                    shared.mutate(|st| st.violation(now, Some(&conn_id), Some(&app), "binary_frame",
                        format!("client sent a binary frame of {} bytes; ACKs must be text", b.len()), None));
                }
                Some(Ok(Message::Close(frame))) => {
                    break match frame {
                        Some(f) => format!("closed by client ({} {})", f.code, f.reason),
                        None => "closed by client".into(),
                    };
                }
                // The pong itself is queued by the WebSocket layer and written on the next read.
                Some(Ok(Message::Ping(_))) => {
                    shared.mutate(|st| bump(st, &conn_id, |i| i.ws_pings_received += 1));
                }
                Some(Ok(_)) => {}
            },
            () = next_tick(ping.as_mut()), if !zombie && close_at.is_none() => {
                let now = shared.now_ms();
                let text = shared.mutate(|st| st.new_ping(now, &conn_id));
                if let Err(e) = sink.send(Message::Text(text.into())).await {
                    break format!("write failed: {e}");
                }
                shared.mutate(|st| bump(st, &conn_id, |i| i.frames_sent += 1));
            }
            () = tokio::time::sleep_until(close_at.unwrap_or_else(Instant::now)), if close_at.is_some() => {
                let _ = sink.send(close_msg(1000, "connection is expired")).await;
                break "closed by server after disconnect grace".into();
            }
        }
    };
    let s = Arc::clone(&shared);
    shared.mutate(|st| st.on_conn_closed(&s, &conn_id, &reason));
    // Dropping both halves drops the TCP stream; no close frame unless sent above.
    drop(sink);
    drop(stream);
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

fn bump(st: &mut SimState, conn_id: &str, f: impl FnOnce(&mut ConnectionInfo)) {
    if let Some(c) = st.conns.get_mut(conn_id) {
        f(&mut c.info);
    }
}
