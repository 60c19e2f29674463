//! Stream mode, step one: `POST /v1.0/gateway/connections/open` checks the app's credentials
//! and subscriptions and hands out a one-time ticket for the WebSocket.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::error::ApiError;
use crate::ids;
use crate::model::{OpenRecord, Subscription};
use crate::state::{Shared, TicketEntry};

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
        st.stream.open_log.push(record);
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
        st.stream.tickets.insert(
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
