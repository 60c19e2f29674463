//! HTTP push settings (encrypted event subscriptions, HTTP-mode bot callback URLs), the
//! outbox injections fill under the state lock, and the log of every push attempt.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::crypto::event_push::EventKey;
use crate::error::{Result, SimError};
use crate::ids;
use crate::model::{HttpPushRecord, HttpPushSpec};

use super::State;

/// One HTTP push waiting to be sent.
pub(crate) enum Outgoing {
    Event {
        app: String,
        event_id: String,
        plaintext: String,
    },
    BotMessage {
        app: String,
        msg_id: String,
        url: String,
        payload: String,
    },
    CardCallback(CardCallbackPush),
}

/// A press on an `HTTP` card, for the URL registered under the card's route key.
pub(crate) struct CardCallbackPush {
    pub app: String,
    /// The delivery key the injection returned.
    pub key: String,
    pub url: String,
    /// Signs the push (`x-ddpaas-signature`) when the route was registered with one.
    pub api_secret: Option<String>,
    pub out_track_id: String,
    /// The pressing user, whose private data the answer's `userPrivateData` sets.
    pub user: String,
    pub payload: String,
}

#[derive(Default)]
pub(crate) struct HttpPush {
    /// client id → HTTP event push config.
    pub events: HashMap<String, HttpPushSpec>,
    /// client id → HTTP-mode bot callback URL.
    pub bot_urls: HashMap<String, String>,
    /// Pushes queued by injections, sent once the state lock is released.
    pub outbox: Vec<Outgoing>,
    /// Every HTTP push attempt.
    pub log: Vec<HttpPushRecord>,
}

impl HttpPush {
    /// Whether injected events of the app go over HTTP instead of Stream.
    pub fn takes_events(&self, app: &str) -> bool {
        self.events.get(app).is_some_and(|c| c.events)
    }

    /// Queues an event for HTTP push (flattened PascalCase envelope).
    pub fn queue_event(&mut self, app: &str, event_type: &str, event_id: &str, corp: &str, data: &Value) {
        let mut m = Map::new();
        m.insert("EventType".into(), json!(event_type));
        m.insert("EventTime".into(), json!(ids::epoch_ms().to_string()));
        m.insert("CorpId".into(), json!(corp));
        m.insert("BizId".into(), json!(ids::hex(32)));
        m.insert("eventId".into(), json!(event_id));
        if let Some(obj) = data.as_object() {
            for (k, v) in obj {
                m.insert(k.clone(), v.clone());
            }
        }
        self.outbox.push(Outgoing::Event {
            app: app.to_owned(),
            event_id: event_id.to_owned(),
            plaintext: Value::Object(m).to_string(),
        });
    }

    /// Queues a bot message for the app's HTTP-mode callback URL.
    pub fn queue_bot_message(&mut self, app: &str, msg_id: &str, url: &str, payload: &Value) {
        self.outbox.push(Outgoing::BotMessage {
            app: app.to_owned(),
            msg_id: msg_id.to_owned(),
            url: url.to_owned(),
            payload: payload.to_string(),
        });
    }
}

impl State {
    pub fn register_http_push(&mut self, app: &str, spec: HttpPushSpec) -> Result<()> {
        self.app(app)?;
        EventKey::new(&spec.aes_key).map_err(SimError::Invalid)?;
        url::Url::parse(&spec.url).map_err(|e| SimError::Invalid(format!("url: {e}")))?;
        self.http_push.events.insert(app.to_owned(), spec);
        Ok(())
    }

    pub fn register_http_bot(&mut self, app: &str, url: Option<String>) -> Result<()> {
        self.app(app)?;
        match url {
            Some(u) => {
                url::Url::parse(&u).map_err(|e| SimError::Invalid(format!("url: {e}")))?;
                self.http_push.bot_urls.insert(app.to_owned(), u);
            }
            None => {
                self.http_push.bot_urls.remove(app);
            }
        }
        Ok(())
    }
}
