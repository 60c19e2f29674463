//! HTTP push: encrypted event subscription callbacks (with the `check_url` handshake) and
//! HTTP-mode bot callbacks signed with the app secret.
//!
//! Injections queue work in an outbox under the state lock; [`flush_outbox`] then sends it
//! from background tasks and records every attempt as an [`HttpPushRecord`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{Result, SimError};
use crate::evcrypto::{EventKey, signature};
use crate::ids;
use crate::sign::timestamped_sign;
use crate::state::{Shared, State};

fn yes() -> bool {
    true
}

/// Event subscription over HTTP ("HTTP 推送") for an app.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpPushSpec {
    /// Request URL.
    pub url: String,
    /// Signature token.
    pub token: String,
    /// 43-character aes_key.
    pub aes_key: String,
    /// receiveId; the app's client id when absent.
    #[serde(default)]
    pub owner_key: Option<String>,
    /// Deliver injected events over HTTP instead of Stream.
    #[serde(default = "yes")]
    pub events: bool,
}

/// One HTTP push attempt by the simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpPushRecord {
    /// Monotonic ms since sim start.
    pub at_ms: u64,
    /// App.
    pub app: String,
    /// `check_url`, `event` or `bot_message`.
    pub kind: String,
    /// Target URL.
    pub url: String,
    /// eventId / msgId.
    pub key: Option<String>,
    /// HTTP status answered.
    pub status: Option<u16>,
    /// Whether the reply was valid (encrypted `success` for events; 2xx for bot messages).
    pub ok: bool,
    /// What was wrong.
    pub error: Option<String>,
    /// Round trip.
    pub latency_ms: u64,
}

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
}

fn client(timeout: Duration) -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default()
        })
        .clone()
}

impl State {
    pub fn register_http_push(&mut self, app: &str, spec: HttpPushSpec) -> Result<()> {
        self.app(app)?;
        EventKey::new(&spec.aes_key).map_err(SimError::Invalid)?;
        url::Url::parse(&spec.url).map_err(|e| SimError::Invalid(format!("url: {e}")))?;
        self.ext.http_push.insert(app.to_owned(), spec);
        Ok(())
    }

    pub fn register_http_bot(&mut self, app: &str, url: Option<String>) -> Result<()> {
        self.app(app)?;
        match url {
            Some(u) => {
                url::Url::parse(&u).map_err(|e| SimError::Invalid(format!("url: {e}")))?;
                self.ext.http_bot.insert(app.to_owned(), u);
            }
            None => {
                self.ext.http_bot.remove(app);
            }
        }
        Ok(())
    }

    /// Queues an event for HTTP push (flattened PascalCase envelope).
    pub fn queue_http_event(
        &mut self,
        app: &str,
        event_type: &str,
        event_id: &str,
        corp: &str,
        data: &Value,
    ) {
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
        self.ext.outbox.push(Outgoing::Event {
            app: app.to_owned(),
            event_id: event_id.to_owned(),
            plaintext: Value::Object(m).to_string(),
        });
    }
}

/// Sends everything queued by injections (in background tasks).
pub(crate) fn flush_outbox(shared: &Arc<Shared>) {
    let out = shared.mutate(|st| std::mem::take(&mut st.ext.outbox));
    for item in out {
        let s = Arc::clone(shared);
        shared.runtime.spawn(async move {
            let rec = match item {
                Outgoing::Event {
                    app,
                    event_id,
                    plaintext,
                } => push_encrypted(&s, &app, "event", Some(event_id), &plaintext).await,
                Outgoing::BotMessage {
                    app,
                    msg_id,
                    url,
                    payload,
                } => push_bot(&s, &app, &msg_id, &url, payload).await,
            };
            if let Some(rec) = rec {
                s.mutate(|st| st.ext.http_push_log.push(rec));
            }
        });
    }
}

/// Sends `{"EventType":"check_url"}` and validates the answer.
pub(crate) async fn check_url(shared: &Arc<Shared>, app: &str) -> Result<HttpPushRecord> {
    let rec = push_encrypted(shared, app, "check_url", None, "{\"EventType\":\"check_url\"}")
        .await
        .ok_or_else(|| SimError::Invalid(format!("app {app} has no HTTP push configuration")))?;
    shared.mutate(|st| st.ext.http_push_log.push(rec.clone()));
    Ok(rec)
}

async fn push_encrypted(
    shared: &Arc<Shared>,
    app: &str,
    kind: &str,
    key: Option<String>,
    plaintext: &str,
) -> Option<HttpPushRecord> {
    let spec = shared.read(|st| st.ext.http_push.get(app).cloned())?;
    let owner = spec.owner_key.clone().unwrap_or_else(|| app.to_owned());
    let ek = EventKey::new(&spec.aes_key).ok()?;
    let mut random = [0u8; 16];
    random.copy_from_slice(ids::alnum(16).as_bytes());
    let encrypt = ek.encrypt(&random, plaintext, &owner);
    let timestamp = ids::epoch_ms().to_string();
    let nonce = ids::alnum(8);
    let sig = signature(&spec.token, &timestamp, &nonce, &encrypt);
    let started = tokio::time::Instant::now();
    let mut rec = HttpPushRecord {
        at_ms: shared.now_ms(),
        app: app.to_owned(),
        kind: kind.to_owned(),
        url: spec.url.clone(),
        key,
        status: None,
        ok: false,
        error: None,
        latency_ms: 0,
    };
    let result = client(shared.config.http_push_timeout)
        .post(&spec.url)
        .query(&[
            ("msg_signature", sig.as_str()),
            ("timestamp", &timestamp),
            ("nonce", &nonce),
        ])
        .timeout(shared.config.http_push_timeout)
        .json(&json!({"encrypt": encrypt}))
        .send()
        .await;
    rec.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Err(e) => rec.error = Some(format!("request failed: {e}")),
        Ok(resp) => {
            rec.status = Some(resp.status().as_u16());
            let body = resp.text().await.unwrap_or_default();
            match validate_reply(&spec, &ek, &owner, &body) {
                Ok(()) => rec.ok = true,
                Err(e) => rec.error = Some(e),
            }
            if rec.status != Some(200) {
                rec.ok = false;
                rec.error.get_or_insert_with(|| "status is not 200".into());
            }
        }
    }
    tracing::info!(app, kind, ok = rec.ok, error = ?rec.error, "HTTP push");
    Some(rec)
}

/// The reply must be `{msg_signature, timeStamp, nonce, encrypt}` with `encrypt` = `success`.
fn validate_reply(
    spec: &HttpPushSpec,
    ek: &EventKey,
    owner: &str,
    body: &str,
) -> std::result::Result<(), String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("reply is not JSON: {e}"))?;
    let field = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("reply lacks string field {k}"))
    };
    let (sig, ts, nonce, enc) = (
        field("msg_signature")?,
        field("timeStamp")?,
        field("nonce")?,
        field("encrypt")?,
    );
    if signature(&spec.token, ts, nonce, enc) != sig {
        return Err("reply msg_signature does not match".into());
    }
    let (msg, recv) = ek.decrypt(enc)?;
    if msg != "success" {
        return Err(format!("reply decrypts to {msg:?}, expected \"success\""));
    }
    if recv != owner {
        return Err(format!("reply receiveId {recv:?} is not the owner key {owner:?}"));
    }
    Ok(())
}

async fn push_bot(
    shared: &Arc<Shared>,
    app: &str,
    msg_id: &str,
    url: &str,
    payload: String,
) -> Option<HttpPushRecord> {
    let secret = shared.read(|st| st.apps.get(app).map(|a| a.client_secret.clone()))?;
    let timestamp = ids::epoch_ms().to_string();
    let sign = timestamped_sign(&secret, &timestamp);
    let started = tokio::time::Instant::now();
    let mut rec = HttpPushRecord {
        at_ms: shared.now_ms(),
        app: app.to_owned(),
        kind: "bot_message".into(),
        url: url.to_owned(),
        key: Some(msg_id.to_owned()),
        status: None,
        ok: false,
        error: None,
        latency_ms: 0,
    };
    let result = client(shared.config.http_push_timeout)
        .post(url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("timestamp", &timestamp)
        .header("sign", &sign)
        .timeout(shared.config.http_push_timeout)
        .body(payload)
        .send()
        .await;
    rec.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Err(e) => rec.error = Some(format!("request failed: {e}")),
        Ok(resp) => {
            rec.status = Some(resp.status().as_u16());
            rec.ok = resp.status().is_success();
            if !rec.ok {
                rec.error = Some(format!("status {}", resp.status()));
            }
        }
    }
    Some(rec)
}

pub(crate) fn bot_outgoing(app: &str, msg_id: &str, url: &str, payload: &Value) -> Outgoing {
    Outgoing::BotMessage {
        app: app.to_owned(),
        msg_id: msg_id.to_owned(),
        url: url.to_owned(),
        payload: payload.to_string(),
    }
}
