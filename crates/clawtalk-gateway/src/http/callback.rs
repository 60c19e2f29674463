//! HTTP-mode bot message callbacks (protocol §8): `timestamp` + `sign` headers, the same
//! payload as a Stream bot message, the same inbox, policy and routing.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dingtalk::crypto::verify_timestamped_sign;
use dingtalk::ids::RobotCode;
use dingtalk::model::BotMessage;

use super::{Endpoint, refuse, replay};
use crate::ingest::{Stored, persist};
use crate::{Shared, decide, now_ms};
use clawtalk_config::ConnectionMode;
use clawtalk_config::routing;
use clawtalk_core::inbound::{InboundMessage, Transport};
use clawtalk_store::SignUse;

pub(super) async fn handle(
    shared: &Arc<Shared>,
    endpoint: &Endpoint,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let account = &endpoint.account;
    // HTTP-mode bots sign with the app secret; a custom robot's Outgoing callbacks with its
    // outgoing token.
    let (key, transport) = match (account.mode, super::outgoing_token(account)) {
        (ConnectionMode::Http, _) => (account.client_secret.expose(), Transport::HttpCallback),
        (ConnectionMode::CustomRobot, Some(token)) => (token.expose(), Transport::OutgoingRobot),
        _ => {
            tracing::warn!(account = %account.id, "bot callback over HTTP for an account that does not take them; refused");
            return refuse(
                StatusCode::NOT_FOUND,
                format!(
                    "account {:?} does not take bot callbacks over HTTP; set mode: \"http\" (an app) or outgoingToken (a custom robot) to use this URL",
                    account.id
                ),
            );
        }
    };
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let (Some(timestamp), Some(sign)) = (header("timestamp"), header("sign")) else {
        tracing::warn!(account = %account.id, "bot callback rejected: no timestamp/sign headers");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "missing timestamp/sign headers: a bot callback must be signed with the app secret".into(),
        );
    };
    let now = now_ms();
    if let Err(error) = verify_timestamped_sign(key, timestamp, sign, now) {
        tracing::warn!(account = %account.id, reason = %error, "bot callback rejected");
        return refuse(StatusCode::UNAUTHORIZED, error.to_string());
    }
    let message = match std::str::from_utf8(body)
        .map_err(|e| e.to_string())
        .and_then(|text| BotMessage::from_json(text).map_err(|e| e.to_string()))
    {
        Ok(message) => message,
        Err(error) => {
            tracing::error!(account = %account.id, %error, "signed bot callback with an unreadable body; refused");
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("unreadable bot message: {error}"),
            );
        }
    };
    // Verified, so the timestamp is epoch-ms digits.
    let timestamp_ms = timestamp.parse().unwrap_or(now);
    match replay::claim(
        &*shared.store,
        &account.id,
        timestamp_ms,
        message.msg_id.as_str(),
        now,
    )
    .await
    {
        Ok(SignUse::First | SignUse::Again) => {}
        Ok(SignUse::Taken) => {
            tracing::warn!(account = %account.id, timestamp, reason = replay::TAKEN, "bot callback rejected");
            return refuse(StatusCode::UNAUTHORIZED, replay::TAKEN.into());
        }
        Err(error) => {
            tracing::error!(account = %account.id, %error, "bot callback could not be checked against the used signatures; refused so that DingTalk delivers it again");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the callback could not be checked for replay; deliver it again".into(),
            );
        }
    }
    shared.status.update(&account.id, |s| {
        s.messages += 1;
        s.last_message_ms = Some(now);
    });
    let inbound = InboundMessage::from_bot_message(
        &account.id,
        &RobotCode::new(account.robot_code.clone()),
        transport,
        &message,
        now,
    );
    let departments = shared.departments_of(&account.id, &inbound).await;
    let route = routing::route(&shared.config, account, &inbound, &departments);
    match persist(shared, account, &inbound, &route).await {
        Stored::New(id) => {
            // Answered now; deciding may send a message (pairing, commands) and must not hold
            // DingTalk's request open.
            let (shared, account) = (Arc::clone(shared), Arc::clone(account));
            tokio::spawn(async move { decide::decide(&shared, &account, id, &inbound, &route).await });
            ok()
        }
        Stored::Duplicate => ok(),
        // The pair stays this message's, so DingTalk delivering it again is accepted.
        Stored::Failed => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the message could not be stored; deliver it again".into(),
        ),
    }
}

/// No message in the body: older robots posted a `msgtype` answer into the chat, and replies
/// go through the sessionWebhook or the OpenAPI instead.
fn ok() -> Response {
    (StatusCode::OK, axum::Json(serde_json::json!({}))).into_response()
}
