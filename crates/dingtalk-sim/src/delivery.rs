//! Stream delivery: picking a connection, pushing frames, reading ACKs, redelivering.
//!
//! Rules (mirroring what DingTalk does as far as it is known):
//! - a push goes to ONE random open connection of the app whose ticket subscribed the topic
//!   (CALLBACK by exact topic, EVENT through `*`); draining connections get nothing, zombie
//!   connections are only used when nothing else is open (the frame is then lost);
//! - every push carries a fresh `headers.messageId`; the `data` (and so `msgId`/`eventId`)
//!   never changes;
//! - a push not acked within the redelivery timeout, acked with a non-200 code or with event
//!   status `LATER` is pushed again; when its connection closes it is pushed again at once;
//! - with no eligible connection the delivery waits and goes out when one opens;
//! - after `max_delivery_attempts` pushes the sim gives up.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::seq::IndexedRandom as _;
use serde_json::{Map, Value, json};

use crate::ids;
use crate::model::{Delivery, DeliveryKind, DeliveryStatus, Push, PushOutcome, Subscription};
use crate::state::{ConnCmd, FrameRef, Shared, State};

/// A downstream frame as JSON text: `data` is a string, header values are strings.
pub(crate) fn frame_text(frame_type: &str, headers: &BTreeMap<String, String>, data: &str) -> String {
    let headers: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({"specVersion": "1.0", "type": frame_type, "headers": headers, "data": data}).to_string()
}

pub(crate) fn subscribed(subs: &[Subscription], frame_type: &str, topic: &str) -> bool {
    subs.iter()
        .any(|s| s.kind == frame_type && (s.topic == topic || (frame_type == "EVENT" && s.topic == "*")))
}

/// What to enqueue.
pub(crate) struct NewDelivery {
    pub key: String,
    pub kind: DeliveryKind,
    pub app: String,
    pub frame_type: &'static str,
    pub topic: String,
    pub extra_headers: BTreeMap<String, String>,
    pub data: String,
}

impl State {
    /// Records a delivery and pushes it if a connection is available.
    pub fn enqueue_delivery(&mut self, shared: &Arc<Shared>, new: NewDelivery) -> usize {
        let idx = self.deliveries.len();
        self.delivery_index
            .insert((new.app.clone(), new.key.clone()), idx);
        self.deliveries.push(Delivery {
            key: new.key,
            kind: new.kind,
            app: new.app,
            frame_type: new.frame_type.to_owned(),
            topic: new.topic,
            extra_headers: new.extra_headers,
            data: new.data,
            created_at_ms: shared.now_ms(),
            status: DeliveryStatus::Pending,
            pushes: Vec::new(),
            acked_at_ms: None,
        });
        self.try_push(shared, idx);
        idx
    }

    /// Pushes delivery `idx` to a connection, or leaves it pending.
    pub fn try_push(&mut self, shared: &Arc<Shared>, idx: usize) {
        let max = shared.config.max_delivery_attempts.max(1) as usize;
        let Some(d) = self.deliveries.get(idx) else { return };
        if d.pushes.len() >= max {
            tracing::warn!(key = %d.key, attempts = d.pushes.len(), "giving up on delivery");
            self.deliveries[idx].status = DeliveryStatus::GaveUp;
            return;
        }
        let candidates: Vec<&str> = self
            .conns
            .values()
            .filter(|c| {
                c.info.is_open()
                    && !c.info.draining
                    && c.info.app == d.app
                    && subscribed(&c.info.subscriptions, &d.frame_type, &d.topic)
            })
            .map(|c| c.info.connection_id.as_str())
            .collect();
        let healthy: Vec<&str> = candidates
            .iter()
            .copied()
            .filter(|id| self.conns.get(*id).is_some_and(|c| !c.info.zombie))
            .collect();
        let pool = if healthy.is_empty() { &candidates } else { &healthy };
        let Some(conn_id) = pool.choose(&mut rand::rng()).map(|s| (*s).to_owned()) else {
            self.deliveries[idx].status = DeliveryStatus::Pending;
            return;
        };
        let Some(conn) = self.conns.get(&conn_id) else {
            return;
        };
        let app_id = self
            .apps
            .get(&d.app)
            .map(|a| a.app_id.clone())
            .unwrap_or_default();
        let epoch = ids::epoch_ms();
        let message_id = ids::stream_message_id(epoch);
        let mut headers = d.extra_headers.clone();
        headers.insert("appId".into(), app_id);
        headers.insert("connectionId".into(), conn_id.clone());
        headers.insert("contentType".into(), "application/json".into());
        headers.insert("messageId".into(), message_id.clone());
        headers.insert("time".into(), epoch.to_string());
        headers.insert("topic".into(), d.topic.clone());
        let text = frame_text(&d.frame_type, &headers, &d.data);
        let outcome = if conn.info.zombie {
            PushOutcome::Swallowed
        } else {
            PushOutcome::Sent
        };
        let _ = conn.tx.send(ConnCmd::Frame(text));
        tracing::debug!(key = %d.key, %message_id, connection = %conn_id, "push");
        let d = &mut self.deliveries[idx];
        let push = d.pushes.len();
        d.pushes.push(Push {
            message_id: message_id.clone(),
            connection_id: conn_id,
            at_ms: shared.now_ms(),
            outcome,
            acked_at_ms: None,
            ack_code: None,
            ack_data: None,
        });
        d.status = DeliveryStatus::InFlight;
        self.frame_index
            .insert(message_id.clone(), FrameRef::Push { delivery: idx, push });
        spawn_redelivery_timer(shared, idx, message_id);
    }

    fn on_redelivery_timer(&mut self, shared: &Arc<Shared>, idx: usize, message_id: &str) {
        let Some(d) = self.deliveries.get_mut(idx) else {
            return;
        };
        if d.status != DeliveryStatus::InFlight {
            return;
        }
        let Some(last) = d.pushes.last_mut() else { return };
        if last.message_id != message_id {
            return;
        }
        if matches!(last.outcome, PushOutcome::Sent | PushOutcome::Swallowed) {
            last.outcome = PushOutcome::TimedOut;
        }
        tracing::info!(key = %d.key, "no ACK in time, redelivering");
        self.try_push(shared, idx);
    }

    /// Pushes the app's pending deliveries after a connection opened.
    pub fn flush_pending(&mut self, shared: &Arc<Shared>, app: &str) {
        let pending: Vec<usize> = self
            .deliveries
            .iter()
            .enumerate()
            .filter(|(_, d)| d.app == app && d.status == DeliveryStatus::Pending)
            .map(|(i, _)| i)
            .collect();
        for idx in pending {
            self.try_push(shared, idx);
        }
    }

    /// Records the end of a connection and moves its un-acked pushes elsewhere.
    pub fn on_conn_closed(&mut self, shared: &Arc<Shared>, conn_id: &str, reason: &str) {
        let now = shared.now_ms();
        if let Some(c) = self.conns.get_mut(conn_id) {
            c.info.closed_at_ms.get_or_insert(now);
            c.info.close_reason.get_or_insert_with(|| reason.to_owned());
            tracing::info!(connection = %conn_id, reason, "stream connection closed");
        }
        let orphans: Vec<usize> = self
            .deliveries
            .iter()
            .enumerate()
            .filter(|(_, d)| {
                d.status == DeliveryStatus::InFlight
                    && d.pushes.last().is_some_and(|p| p.connection_id == conn_id)
            })
            .map(|(i, _)| i)
            .collect();
        for idx in orphans {
            if let Some(last) = self.deliveries[idx].pushes.last_mut() {
                last.outcome = PushOutcome::ConnectionClosed;
            }
            self.try_push(shared, idx);
        }
    }

    /// Handles a text frame from the client: must be an ACK.
    pub fn on_client_text(&mut self, shared: &Arc<Shared>, conn_id: &str, text: &str) {
        let now = shared.now_ms();
        let app = self.conns.get(conn_id).map(|c| c.info.app.clone());
        if let Some(c) = self.conns.get_mut(conn_id) {
            c.info.acks_received += 1;
        }
        let app = app.as_deref();
        let Some(ack) = self.validate_ack(now, conn_id, app, text) else {
            return;
        };
        match self.frame_index.get(&ack.message_id).cloned() {
            None => self.violation(
                now,
                Some(conn_id),
                app,
                "ack_unknown_message_id",
                format!(
                    "ACK for messageId {:?} that the server never sent",
                    ack.message_id
                ),
                Some(text),
            ),
            Some(FrameRef::Ping(i)) => self.on_ping_ack(now, conn_id, app, i, &ack, text),
            Some(FrameRef::Disconnect(cid)) => {
                if cid != conn_id {
                    self.violation(
                        now,
                        Some(conn_id),
                        app,
                        "ack_wrong_connection",
                        "disconnect ACKed on another connection",
                        Some(text),
                    );
                }
                if let Some(c) = self.conns.get_mut(&cid) {
                    c.info.disconnect_acked = true;
                }
            }
            Some(FrameRef::Push { delivery, push }) => {
                self.on_push_ack(shared, now, conn_id, app, delivery, push, &ack, text);
            }
        }
    }

    fn validate_ack(&mut self, now: u64, conn_id: &str, app: Option<&str>, text: &str) -> Option<Ack> {
        let bad = |st: &mut State, kind: &str, detail: &str| {
            st.violation(now, Some(conn_id), app, kind, detail, Some(text));
        };
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                bad(self, "ack_not_json", &format!("ACK is not JSON: {e}"));
                return None;
            }
        };
        let Some(obj) = v.as_object() else {
            bad(self, "ack_not_object", "ACK is not a JSON object");
            return None;
        };
        let code = obj.get("code").and_then(Value::as_i64);
        if code.is_none() {
            bad(self, "ack_bad_code", "ACK `code` is missing or not an integer");
        }
        let headers = obj.get("headers").and_then(Value::as_object);
        let Some(headers) = headers else {
            bad(self, "ack_missing_headers", "ACK has no `headers` object");
            return None;
        };
        let Some(message_id) = headers
            .get("messageId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            bad(
                self,
                "ack_missing_message_id",
                "ACK `headers.messageId` is missing or not a string",
            );
            return None;
        };
        if headers.get("contentType").and_then(Value::as_str).is_none() {
            bad(
                self,
                "ack_missing_content_type",
                "ACK `headers.contentType` is missing or not a string",
            );
        }
        let data = match obj.get("data") {
            // JSON text, never empty: the official SDKs always write an encoded value
            // (Python `frames.py` `AckMessage.to_dict`: `json.dumps(data)`; Node `client.ts`:
            // `JSON.stringify(...)` or the echoed SYSTEM `data`).
            Some(Value::String(s)) if serde_json::from_str::<Value>(s).is_err() => {
                bad(
                    self,
                    "ack_data_not_json_text",
                    &format!("ACK `data` must be JSON text, got {s:?}"),
                );
                Some(s.clone())
            }
            Some(Value::String(s)) => Some(s.clone()),
            None => {
                bad(self, "ack_missing_data", "ACK has no `data` string");
                None
            }
            Some(_) => {
                bad(
                    self,
                    "ack_data_not_string",
                    "ACK `data` must be JSON text (a string), not inline JSON",
                );
                None
            }
        };
        Some(Ack {
            code: code.unwrap_or(0),
            message_id: message_id.to_owned(),
            data,
        })
    }

    fn on_ping_ack(&mut self, now: u64, conn_id: &str, app: Option<&str>, i: usize, ack: &Ack, text: &str) {
        let Some(ping) = self.pings.get(i).cloned() else {
            return;
        };
        if ping.connection_id != conn_id {
            self.violation(
                now,
                Some(conn_id),
                app,
                "ack_wrong_connection",
                "ping ACKed on another connection",
                Some(text),
            );
        }
        if ping.acked_at_ms.is_some() {
            self.violation(
                now,
                Some(conn_id),
                app,
                "ack_duplicate",
                "ping ACKed twice",
                Some(text),
            );
            return;
        }
        let sent: Option<Value> =
            serde_json::from_str(&format!("{{\"opaque\":{}}}", json!(ping.opaque))).ok();
        let got: Option<Value> = ack.data.as_deref().and_then(|d| serde_json::from_str(d).ok());
        let echoed = ack.code == 200 && sent.is_some() && sent == got;
        let ping_conn = ping.connection_id.clone();
        if let Some(p) = self.pings.get_mut(i) {
            p.acked_at_ms = Some(now);
            p.echoed = Some(echoed);
        }
        if echoed {
            if let Some(c) = self.conns.get_mut(&ping_conn) {
                c.info.pings_echoed += 1;
            }
        } else {
            self.violation(
                now,
                Some(conn_id),
                app,
                "ping_not_echoed",
                "ping ACK must be code 200 and echo the ping `data` unchanged",
                Some(text),
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_push_ack(
        &mut self,
        shared: &Arc<Shared>,
        now: u64,
        conn_id: &str,
        app: Option<&str>,
        idx: usize,
        push: usize,
        ack: &Ack,
        text: &str,
    ) {
        let Some(d) = self.deliveries.get(idx) else { return };
        let kind = d.kind;
        let Some(p) = d.pushes.get(push) else { return };
        let wrong_conn = p.connection_id != conn_id;
        let duplicate = p.acked_at_ms.is_some();
        if wrong_conn {
            self.violation(
                now,
                Some(conn_id),
                app,
                "ack_wrong_connection",
                "ACK must be written on the connection the frame came from",
                Some(text),
            );
        }
        if duplicate {
            self.violation(
                now,
                Some(conn_id),
                app,
                "ack_duplicate",
                "frame ACKed twice",
                Some(text),
            );
            return;
        }
        let parsed: Option<Value> = ack.data.as_deref().and_then(|s| serde_json::from_str(s).ok());
        let mut success = ack.code == 200;
        match kind {
            DeliveryKind::Event => {
                let status = parsed
                    .as_ref()
                    .and_then(|v| v.get("status"))
                    .and_then(Value::as_str);
                match status {
                    Some("SUCCESS") => {}
                    Some("LATER") => success = false,
                    _ => {
                        success = false;
                        self.violation(
                            now,
                            Some(conn_id),
                            app,
                            "ack_event_status",
                            "EVENT ACK `data` must be {\"status\":\"SUCCESS\"|\"LATER\",…}",
                            Some(text),
                        );
                    }
                }
            }
            DeliveryKind::BotMessage | DeliveryKind::CardCallback => {
                if parsed.as_ref().is_none_or(|v| v.get("response").is_none()) {
                    self.violation(
                        now,
                        Some(conn_id),
                        app,
                        "ack_callback_data",
                        "CALLBACK ACK `data` should be {\"response\": …}",
                        Some(text),
                    );
                }
            }
        }
        let d = &mut self.deliveries[idx];
        let p = &mut d.pushes[push];
        p.acked_at_ms = Some(now);
        p.ack_code = Some(ack.code);
        p.ack_data.clone_from(&ack.data);
        if success {
            p.outcome = PushOutcome::Acked;
            if d.status != DeliveryStatus::Acked {
                d.status = DeliveryStatus::Acked;
                d.acked_at_ms = Some(now);
                if kind == DeliveryKind::CardCallback {
                    let key = d.key.clone();
                    let response = parsed.and_then(|v| v.get("response").cloned());
                    self.on_card_callback_acked(shared, &key, response);
                }
            }
        } else {
            p.outcome = PushOutcome::Rejected;
        }
    }
}

struct Ack {
    code: i64,
    message_id: String,
    data: Option<String>,
}

fn spawn_redelivery_timer(shared: &Arc<Shared>, idx: usize, message_id: String) {
    let shared2 = Arc::clone(shared);
    let mut shutdown = shared.shutdown_rx();
    let timeout = shared.config.redelivery_timeout;
    shared.runtime.spawn(async move {
        tokio::select! {
            () = tokio::time::sleep(timeout) => {}
            _ = shutdown.changed() => return,
        }
        let s = Arc::clone(&shared2);
        shared2.mutate(|st| st.on_redelivery_timer(&s, idx, &message_id));
    });
}
