//! Stream delivery: picking a connection, pushing frames, redelivering (the ACKs that settle
//! a push are read in `acks`).
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

use crate::ids;
use crate::model::{Delivery, DeliveryKind, DeliveryStatus, Push, PushOutcome, Subscription};

use super::stream::{ConnCmd, FrameRef, frame_text};
use super::{Shared, State};

/// Whether a ticket with `subs` receives frames of this type and topic.
fn subscribed(subs: &[Subscription], frame_type: &str, topic: &str) -> bool {
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
            .stream
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
            .filter(|id| self.stream.conns.get(*id).is_some_and(|c| !c.info.zombie))
            .collect();
        let pool = if healthy.is_empty() { &candidates } else { &healthy };
        let Some(conn_id) = pool.choose(&mut rand::rng()).map(|s| (*s).to_owned()) else {
            self.deliveries[idx].status = DeliveryStatus::Pending;
            return;
        };
        let Some(conn) = self.stream.conns.get(&conn_id) else {
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
        self.stream
            .frames
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
        if let Some(c) = self.stream.conns.get_mut(conn_id) {
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
