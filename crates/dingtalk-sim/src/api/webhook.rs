//! The webhook message format shared by sessionWebhook replies and custom robots: `msgtype`
//! plus its object (`text`, `markdown`, `link`, `actionCard`, `feedCard`).

use axum::http::{HeaderMap, header};
use serde_json::Value;

use crate::error::LegacyError;

/// Largest webhook body DingTalk accepts.
const MAX_WEBHOOK_BODY: usize = 20_000;

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
