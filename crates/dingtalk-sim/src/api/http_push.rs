//! HTTP push, the sim's side: encrypted event subscription callbacks (with the `check_url`
//! handshake), HTTP-mode bot callbacks signed with the app secret, and presses on
//! `callbackType: HTTP` cards signed with the route's `apiSecret`.
//!
//! Injections queue work in the state's outbox under the lock; [`flush_outbox`] then sends
//! it from background tasks and records every attempt as an [`HttpPushRecord`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};

use crate::crypto::event_push::{EventKey, signature};
use crate::crypto::sign::{card_callback_signature, timestamped_sign};
use crate::error::{Result, SimError};
use crate::ids;
use crate::model::{HttpPushRecord, HttpPushSpec};
use crate::state::{CardCallbackPush, Outgoing, Shared, apply_update};

fn client(timeout: Duration) -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            dingtalk::tls::client_builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default()
        })
        .clone()
}

/// Sends everything queued by injections (in background tasks).
pub(crate) fn flush_outbox(shared: &Arc<Shared>) {
    let out = shared.mutate(|st| std::mem::take(&mut st.http_push.outbox));
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
                Outgoing::CardCallback(push) => Some(push_card_callback(&s, push).await),
            };
            if let Some(rec) = rec {
                s.mutate(|st| st.http_push.log.push(rec));
            }
        });
    }
}

/// Sends `{"EventType":"check_url"}` and validates the answer.
pub(crate) async fn check_url(shared: &Arc<Shared>, app: &str) -> Result<HttpPushRecord> {
    let rec = push_encrypted(shared, app, "check_url", None, "{\"EventType\":\"check_url\"}")
        .await
        .ok_or_else(|| SimError::Invalid(format!("app {app} has no HTTP push configuration")))?;
    shared.mutate(|st| st.http_push.log.push(rec.clone()));
    Ok(rec)
}

async fn push_encrypted(
    shared: &Arc<Shared>,
    app: &str,
    kind: &str,
    key: Option<String>,
    plaintext: &str,
) -> Option<HttpPushRecord> {
    let spec = shared.read(|st| st.http_push.events.get(app).cloned())?;
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
        response: None,
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
        response: None,
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

/// POSTs a press to the card's registered URL with `x-ddpaas-signature-timestamp` /
/// `x-ddpaas-signature` (when the route has an `apiSecret`). A 200 whose JSON carries
/// `cardData` / `userPrivateData` updates the card, as the `response` of a Stream callback's
/// ACK does (event-callback-card: the answer within 2 s is the card update).
async fn push_card_callback(shared: &Arc<Shared>, push: CardCallbackPush) -> HttpPushRecord {
    let timestamp = ids::epoch_ms().to_string();
    let started = tokio::time::Instant::now();
    let mut rec = HttpPushRecord {
        at_ms: shared.now_ms(),
        app: push.app.clone(),
        kind: "card_callback".into(),
        url: push.url.clone(),
        key: Some(push.key.clone()),
        status: None,
        ok: false,
        error: None,
        latency_ms: 0,
        response: None,
    };
    let mut request = client(shared.config.http_push_timeout)
        .post(&push.url)
        .header("Content-Type", "application/json; charset=utf-8")
        .timeout(shared.config.http_push_timeout)
        .body(push.payload);
    if let Some(secret) = &push.api_secret {
        request = request
            .header("x-ddpaas-signature-timestamp", &timestamp)
            .header("x-ddpaas-signature", card_callback_signature(secret, &timestamp));
    }
    let result = request.send().await;
    rec.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Err(e) => rec.error = Some(format!("request failed: {e}")),
        Ok(resp) => {
            let status = resp.status();
            rec.status = Some(status.as_u16());
            rec.ok = status.is_success();
            if !rec.ok {
                rec.error = Some(format!("status {status}"));
            }
            let body = resp.text().await.unwrap_or_default();
            rec.response = serde_json::from_str::<Value>(&body).ok();
        }
    }
    let update = rec.response.clone().filter(|r| {
        rec.status == Some(200) && (r.get("cardData").is_some() || r.get("userPrivateData").is_some())
    });
    if let Some(update) = update {
        shared.mutate(|st| {
            if let Some(card) = st.cards.get_mut(&push.out_track_id) {
                apply_update(card, &update, Some(&push.user));
            }
        });
    }
    tracing::info!(app = %push.app, ok = rec.ok, error = ?rec.error, "card callback pushed over HTTP");
    rec
}
