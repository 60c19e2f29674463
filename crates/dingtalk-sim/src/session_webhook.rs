//! `POST /robot/sendBySession?session=…`: the per-message reply URL, plus the webhook
//! message format it shares with custom robots.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::error::LegacyError;
use crate::ids;
use crate::model::{SentMessage, SentTarget};
use crate::state::Shared;

pub(crate) const SEND_BY_SESSION: &str = "/robot/sendBySession";
/// Largest webhook body DingTalk accepts.
pub(crate) const MAX_WEBHOOK_BODY: usize = 20_000;

/// A validated webhook message.
pub(crate) struct WebhookMessage {
    pub body: Value,
    pub msg_type: String,
    pub text: String,
}

/// Content-Type, size and shape checks shared by sessionWebhook and custom robots.
pub(crate) fn validate_webhook(headers: &HeaderMap, raw: &[u8]) -> Result<WebhookMessage, LegacyError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(LegacyError::new(43004, "无效的HTTP HEADER Content-Type"));
    }
    if raw.len() > MAX_WEBHOOK_BODY {
        return Err(LegacyError::new(
            460101,
            format!("message too long, exceed {MAX_WEBHOOK_BODY} bytes"),
        ));
    }
    let body: Value =
        serde_json::from_slice(raw).map_err(|e| LegacyError::new(40035, format!("缺少参数 json: {e}")))?;
    let msg_type = body
        .get("msgtype")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let obj = body.get(&msg_type);
    let field = |k: &str| obj.and_then(|o| o.get(k)).and_then(Value::as_str);
    let need = |ks: &[&str]| -> Result<(), LegacyError> {
        for k in ks {
            if field(k).is_none() {
                return Err(LegacyError::new(40035, format!("缺少参数 {msg_type}.{k}")));
            }
        }
        Ok(())
    };
    let text = match msg_type.as_str() {
        "text" => {
            need(&["content"])?;
            field("content").unwrap_or_default().to_owned()
        }
        "markdown" => {
            need(&["title", "text"])?;
            field("text").unwrap_or_default().to_owned()
        }
        "link" => {
            need(&["title", "text", "messageUrl"])?;
            format!(
                "{}\n{}",
                field("title").unwrap_or_default(),
                field("text").unwrap_or_default()
            )
        }
        "actionCard" => {
            need(&["title", "text"])?;
            let single = field("singleTitle").is_some() && field("singleURL").is_some();
            let btns = obj
                .and_then(|o| o.get("btns"))
                .and_then(Value::as_array)
                .is_some_and(|b| !b.is_empty());
            if !single && !btns {
                return Err(LegacyError::new(
                    40035,
                    "缺少参数 actionCard.singleTitle/singleURL 或 actionCard.btns",
                ));
            }
            field("text").unwrap_or_default().to_owned()
        }
        "feedCard" => {
            let links = obj.and_then(|o| o.get("links")).and_then(Value::as_array);
            let Some(links) = links.filter(|l| !l.is_empty()) else {
                return Err(LegacyError::new(40035, "缺少参数 feedCard.links"));
            };
            links
                .iter()
                .filter_map(|l| l.get("title").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n")
        }
        "" => return Err(LegacyError::new(40035, "缺少参数 msgtype")),
        other => return Err(LegacyError::new(400105, format!("不支持的消息类型 {other}"))),
    };
    Ok(WebhookMessage { body, msg_type, text })
}

/// `POST /robot/sendBySession?session=`.
pub(crate) async fn send_by_session(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    match send_inner(&shared, &q, &headers, &raw) {
        Ok(()) => Json(json!({"errcode": 0, "errmsg": "ok"})).into_response(),
        Err(e) => e.into_response(),
    }
}

fn send_inner(
    shared: &Shared,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    raw: &[u8],
) -> Result<(), LegacyError> {
    let session = q.get("session").cloned().unwrap_or_default();
    let route = shared.mutate(|st| {
        let entry = st
            .sessions
            .get(&session)
            .filter(|s| s.expires_at > Instant::now());
        let route = entry.map(|e| (e.app.clone(), e.conversation_id.clone()));
        st.count_call(route.as_ref().map(|r| r.0.as_str()), SEND_BY_SESSION);
        route
    });
    let Some((app, cid)) = route else {
        return Err(LegacyError::new(300001, "session 不存在"));
    };
    let msg = validate_webhook(headers, raw)?;
    let (at_ms, epoch_ms) = (shared.now_ms(), ids::epoch_ms());
    shared.mutate(|st| {
        st.push_sent(SentMessage {
            seq: 0,
            at_ms,
            epoch_ms,
            app: Some(app),
            api: "sessionWebhook".into(),
            path: format!("POST {SEND_BY_SESSION}"),
            target: SentTarget::SessionWebhook { session },
            conversation_id: Some(cid),
            msg_type: msg.msg_type,
            body: msg.body,
            text: msg.text,
            process_query_key: None,
            out_track_id: None,
            recalled: false,
        });
    });
    Ok(())
}

impl crate::state::State {
    /// Expires a session now; accepts the token or the full URL. Returns whether it existed.
    pub fn expire_session(&mut self, session_or_url: &str) -> bool {
        let token = session_or_url
            .rsplit_once("session=")
            .map_or(session_or_url, |(_, t)| t)
            .split('&')
            .next()
            .unwrap_or_default();
        match self.sessions.get_mut(token) {
            Some(s) => {
                s.expires_at = Instant::now();
                true
            }
            None => false,
        }
    }
}
