//! Stream connections: tickets from `connections/open`, the open WebSockets (each driven by
//! a task that takes [`ConnCmd`]s), SYSTEM pings and disconnects, and the index of every
//! frame the sim wrote, which ACKs refer to.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::ids;
use crate::model::{ConnectionInfo, FrameCut, OpenRecord, PingRecord, Subscription};

use super::State;

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
    Cut(FrameCut),
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

/// What a `headers.messageId` written by the sim refers to.
#[derive(Debug, Clone)]
pub(crate) enum FrameRef {
    /// Push `push` of delivery `delivery` (index into `State::deliveries`).
    Push { delivery: usize, push: usize },
    /// Index into `Connections::pings`.
    Ping(usize),
    /// A disconnect frame on this connection.
    Disconnect(String),
}

#[derive(Default)]
pub(crate) struct Connections {
    /// ticket → what `connections/open` granted.
    pub tickets: HashMap<String, TicketEntry>,
    /// Every `connections/open` call.
    pub open_log: Vec<OpenRecord>,
    /// connection id → connection.
    pub conns: BTreeMap<String, ConnEntry>,
    /// Connection ids in order of opening.
    pub order: Vec<String>,
    /// Every SYSTEM ping sent.
    pub pings: Vec<PingRecord>,
    /// `headers.messageId` → the frame it was written on.
    pub frames: HashMap<String, FrameRef>,
}

/// A downstream frame as JSON text: `data` is a string, header values are strings.
pub(crate) fn frame_text(frame_type: &str, headers: &BTreeMap<String, String>, data: &str) -> String {
    let headers: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({"specVersion": "1.0", "type": frame_type, "headers": headers, "data": data}).to_string()
}

impl Connections {
    /// Every connection, in order of opening.
    pub fn infos(&self) -> Vec<ConnectionInfo> {
        self.order
            .iter()
            .filter_map(|id| self.conns.get(id).map(|c| c.info.clone()))
            .collect()
    }

    /// Applies `f` to a connection's record.
    pub fn update_info(&mut self, conn_id: &str, f: impl FnOnce(&mut ConnectionInfo)) {
        if let Some(c) = self.conns.get_mut(conn_id) {
            f(&mut c.info);
        }
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
            self.frames
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

impl State {
    /// Builds a SYSTEM ping for a connection and records it.
    pub fn new_ping(&mut self, now_ms: u64, conn_id: &str) -> String {
        let epoch = ids::epoch_ms();
        let message_id = ids::stream_message_id(epoch);
        let opaque = ids::uuid();
        let mut headers = BTreeMap::new();
        if let Some(c) = self.stream.conns.get_mut(conn_id) {
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
        let stream = &mut self.stream;
        stream
            .frames
            .insert(message_id.clone(), FrameRef::Ping(stream.pings.len()));
        stream.pings.push(PingRecord {
            connection_id: conn_id.to_owned(),
            message_id,
            opaque,
            sent_at_ms: now_ms,
            acked_at_ms: None,
            echoed: None,
        });
        frame_text("SYSTEM", &headers, &data)
    }
}
