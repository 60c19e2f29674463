//! ACKs from Stream clients: checking their shape and applying them to the ping, disconnect
//! or push they answer.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::model::{DeliveryKind, DeliveryStatus, PushOutcome};

use super::stream::FrameRef;
use super::{Shared, State};

/// A text frame from a client, and where it came from.
struct Received<'a> {
    now: u64,
    conn_id: &'a str,
    app: Option<&'a str>,
    text: &'a str,
}

/// What an ACK says.
struct Ack {
    code: i64,
    message_id: String,
    data: Option<String>,
}

impl State {
    /// Handles a text frame from the client: must be an ACK.
    pub fn on_client_text(&mut self, shared: &Arc<Shared>, conn_id: &str, text: &str) {
        let app = self.stream.conns.get(conn_id).map(|c| c.info.app.clone());
        if let Some(c) = self.stream.conns.get_mut(conn_id) {
            c.info.acks_received += 1;
        }
        let from = Received {
            now: shared.now_ms(),
            conn_id,
            app: app.as_deref(),
            text,
        };
        let Some(ack) = self.validate_ack(&from) else {
            return;
        };
        match self.stream.frames.get(&ack.message_id).cloned() {
            None => self.bad_ack(
                &from,
                "ack_unknown_message_id",
                &format!(
                    "ACK for messageId {:?} that the server never sent",
                    ack.message_id
                ),
            ),
            Some(FrameRef::Ping(i)) => self.on_ping_ack(&from, i, &ack),
            Some(FrameRef::Disconnect(cid)) => {
                if cid != conn_id {
                    self.bad_ack(
                        &from,
                        "ack_wrong_connection",
                        "disconnect ACKed on another connection",
                    );
                }
                if let Some(c) = self.stream.conns.get_mut(&cid) {
                    c.info.disconnect_acked = true;
                }
            }
            Some(FrameRef::Push { delivery, push }) => self.on_push_ack(&from, delivery, push, &ack),
        }
    }

    /// Records a violation by the frame's sender.
    fn bad_ack(&mut self, from: &Received<'_>, kind: &str, detail: &str) {
        self.violation(
            from.now,
            Some(from.conn_id),
            from.app,
            kind,
            detail,
            Some(from.text),
        );
    }

    fn validate_ack(&mut self, from: &Received<'_>) -> Option<Ack> {
        let v: Value = match serde_json::from_str(from.text) {
            Ok(v) => v,
            Err(e) => {
                self.bad_ack(from, "ack_not_json", &format!("ACK is not JSON: {e}"));
                return None;
            }
        };
        let Some(obj) = v.as_object() else {
            self.bad_ack(from, "ack_not_object", "ACK is not a JSON object");
            return None;
        };
        let code = obj.get("code").and_then(Value::as_i64);
        if code.is_none() {
            self.bad_ack(from, "ack_bad_code", "ACK `code` is missing or not an integer");
        }
        let headers = obj.get("headers").and_then(Value::as_object);
        let Some(headers) = headers else {
            self.bad_ack(from, "ack_missing_headers", "ACK has no `headers` object");
            return None;
        };
        let Some(message_id) = headers
            .get("messageId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            self.bad_ack(
                from,
                "ack_missing_message_id",
                "ACK `headers.messageId` is missing or not a string",
            );
            return None;
        };
        if headers.get("contentType").and_then(Value::as_str).is_none() {
            self.bad_ack(
                from,
                "ack_missing_content_type",
                "ACK `headers.contentType` is missing or not a string",
            );
        }
        let data = match obj.get("data") {
            // JSON text, never empty: the official SDKs always write an encoded value
            // (Python `frames.py` `AckMessage.to_dict`: `json.dumps(data)`; Node `client.ts`:
            // `JSON.stringify(...)` or the echoed SYSTEM `data`).
            Some(Value::String(s)) if serde_json::from_str::<Value>(s).is_err() => {
                self.bad_ack(
                    from,
                    "ack_data_not_json_text",
                    &format!("ACK `data` must be JSON text, got {s:?}"),
                );
                Some(s.clone())
            }
            Some(Value::String(s)) => Some(s.clone()),
            None => {
                self.bad_ack(from, "ack_missing_data", "ACK has no `data` string");
                None
            }
            Some(_) => {
                self.bad_ack(
                    from,
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

    fn on_ping_ack(&mut self, from: &Received<'_>, i: usize, ack: &Ack) {
        let Some(ping) = self.stream.pings.get(i).cloned() else {
            return;
        };
        if ping.connection_id != from.conn_id {
            self.bad_ack(from, "ack_wrong_connection", "ping ACKed on another connection");
        }
        if ping.acked_at_ms.is_some() {
            self.bad_ack(from, "ack_duplicate", "ping ACKed twice");
            return;
        }
        let sent: Option<Value> =
            serde_json::from_str(&format!("{{\"opaque\":{}}}", json!(ping.opaque))).ok();
        let got: Option<Value> = ack.data.as_deref().and_then(|d| serde_json::from_str(d).ok());
        let echoed = ack.code == 200 && sent.is_some() && sent == got;
        if let Some(p) = self.stream.pings.get_mut(i) {
            p.acked_at_ms = Some(from.now);
            p.echoed = Some(echoed);
        }
        if echoed {
            if let Some(c) = self.stream.conns.get_mut(&ping.connection_id) {
                c.info.pings_echoed += 1;
            }
        } else {
            self.bad_ack(
                from,
                "ping_not_echoed",
                "ping ACK must be code 200 and echo the ping `data` unchanged",
            );
        }
    }

    fn on_push_ack(&mut self, from: &Received<'_>, idx: usize, push: usize, ack: &Ack) {
        let Some(d) = self.deliveries.get(idx) else { return };
        let kind = d.kind;
        let Some(p) = d.pushes.get(push) else { return };
        let wrong_conn = p.connection_id != from.conn_id;
        let duplicate = p.acked_at_ms.is_some();
        if wrong_conn {
            self.bad_ack(
                from,
                "ack_wrong_connection",
                "ACK must be written on the connection the frame came from",
            );
        }
        if duplicate {
            self.bad_ack(from, "ack_duplicate", "frame ACKed twice");
            return;
        }
        let parsed: Option<Value> = ack.data.as_deref().and_then(|s| serde_json::from_str(s).ok());
        // The data is checked (and violations recorded) whatever the code.
        let accepted = self.ack_data_accepts(from, kind, parsed.as_ref());
        let success = ack.code == 200 && accepted;
        let d = &mut self.deliveries[idx];
        let p = &mut d.pushes[push];
        p.acked_at_ms = Some(from.now);
        p.ack_code = Some(ack.code);
        p.ack_data.clone_from(&ack.data);
        if !success {
            p.outcome = PushOutcome::Rejected;
            return;
        }
        p.outcome = PushOutcome::Acked;
        if d.status != DeliveryStatus::Acked {
            d.status = DeliveryStatus::Acked;
            d.acked_at_ms = Some(from.now);
            if kind == DeliveryKind::CardCallback {
                let key = d.key.clone();
                let response = parsed.and_then(|v| v.get("response").cloned());
                self.on_card_callback_acked(&key, response);
            }
        }
    }

    /// Whether the ACK's `data` lets the delivery count as done: an EVENT needs status
    /// `SUCCESS` (`LATER` asks for redelivery); a CALLBACK should carry `response`.
    fn ack_data_accepts(&mut self, from: &Received<'_>, kind: DeliveryKind, data: Option<&Value>) -> bool {
        match kind {
            DeliveryKind::Event => match data.and_then(|v| v.get("status")).and_then(Value::as_str) {
                Some("SUCCESS") => true,
                Some("LATER") => false,
                _ => {
                    self.bad_ack(
                        from,
                        "ack_event_status",
                        "EVENT ACK `data` must be {\"status\":\"SUCCESS\"|\"LATER\",…}",
                    );
                    false
                }
            },
            DeliveryKind::BotMessage | DeliveryKind::CardCallback => {
                if data.is_none_or(|v| v.get("response").is_none()) {
                    self.bad_ack(
                        from,
                        "ack_callback_data",
                        "CALLBACK ACK `data` should be {\"response\": …}",
                    );
                }
                true
            }
        }
    }
}
