//! HTTP-mode bot message callbacks (protocol §8): `timestamp` + `sign` headers, the same
//! payload as a Stream bot message, the same lanes, inbox, policy and routing.

use clawtalk_core::clock::EpochMs;
use clawtalk_core::ids::AccountId;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dingtalk::crypto::verify_timestamped_sign;
use dingtalk::ids::RobotCode;
use dingtalk::model::BotMessage;
use tokio::sync::oneshot;

use super::{Ack, Admission, callback_replay as replay, enqueue, refuse};
use crate::Shared;
use clawtalk_config::DingTalkAccount;
use clawtalk_core::inbound::{InboundMessage, Transport};
use clawtalk_store::SignUse;

/// A callback to an HTTP-mode app, signed with its app secret.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    account: &DingTalkAccount,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let key = account.client_secret.expose();
    receive(shared, account, headers, body, key, Transport::HttpCallback).await
}

/// A bot callback signed with `key`: verified, checked for replay, then admitted through the
/// account's lanes; answered once stored (deciding goes on after the answer).
pub(crate) async fn receive(
    shared: &Arc<Shared>,
    account: &DingTalkAccount,
    headers: &HeaderMap,
    body: &[u8],
    key: &str,
    transport: Transport,
) -> Response {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let (Some(timestamp), Some(sign)) = (header("timestamp"), header("sign")) else {
        tracing::warn!(account = %account.id, "bot callback rejected: no timestamp/sign headers");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "missing timestamp/sign headers: a bot callback must be signed with the app secret".into(),
        );
    };
    let now = shared.clock.now();
    if let Err(error) = verify_timestamped_sign(key, timestamp, sign, now.as_millis()) {
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
    let signed_at = timestamp.parse().map_or(now, EpochMs::from_millis);
    match replay::claim(
        &*shared.store,
        &account.id,
        signed_at,
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
        &AccountId::new(account.id.clone()),
        &RobotCode::new(account.robot_code.clone()),
        transport,
        &message,
        now,
    );
    let (stored, acknowledged) = oneshot::channel();
    enqueue(shared, Admission::routed(account, inbound), Ack::Reply(stored));
    match acknowledged.await {
        Ok(admitted) if admitted.acknowledged() => ok(),
        // The pair stays this message's, so DingTalk delivering it again is accepted.
        _ => refuse(
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
