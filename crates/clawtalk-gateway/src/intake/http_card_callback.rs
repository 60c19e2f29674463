//! Card presses of an HTTP-mode account, POSTed by DingTalk to the account's card path
//! (`/webhooks/dingtalk/<accountId>/card`, registered by `card_route.rs`): the same payload
//! as the Stream topic `/v1.0/card/instances/callback`, signed with the route's `apiSecret`
//! in `x-ddpaas-signature-timestamp` / `x-ddpaas-signature` (DOC:event-callback-card, "回调签名
//! 验证"). Verified, checked for replay, then handed to [`super::card_callback::receive`]
//! like a Stream callback; answered within DingTalk's 2 s once stored, the answer carrying
//! the card's update when there is one (an approval's decision).

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use clawtalk_core::clock::EpochMs;
use dingtalk::Secret;
use dingtalk::crypto::verify_fresh_card_callback;
use dingtalk::model::CardCallback;
use tokio::sync::oneshot;

use super::{Ack, callback_replay as replay, card_callback, refuse};
use crate::Shared;
use clawtalk_config::DingTalkAccount;
use clawtalk_core::inbound::Transport;
use clawtalk_store::SignUse;

const TIMESTAMP: &str = "x-ddpaas-signature-timestamp";
const SIGNATURE: &str = "x-ddpaas-signature";

/// One POSTed card callback of `account`, signed with `api_secret`.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    account: &Arc<DingTalkAccount>,
    api_secret: &Secret,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let (Some(timestamp), Some(signature)) = (header(TIMESTAMP), header(SIGNATURE)) else {
        tracing::warn!(account = %account.id, "card callback rejected: no x-ddpaas-signature headers");
        return refuse(
            StatusCode::UNAUTHORIZED,
            format!(
                "missing {TIMESTAMP}/{SIGNATURE} headers: a card callback must be signed with the registered apiSecret"
            ),
        );
    };
    let now = shared.clock.now();
    if let Err(error) = verify_fresh_card_callback(api_secret.expose(), timestamp, signature, now.as_millis())
    {
        tracing::warn!(account = %account.id, reason = %error, "card callback rejected");
        return refuse(StatusCode::UNAUTHORIZED, error.to_string());
    }
    let callback = match std::str::from_utf8(body)
        .map_err(|e| e.to_string())
        .and_then(|text| CardCallback::from_json(text).map_err(|e| e.to_string()))
    {
        Ok(callback) => callback,
        Err(error) => {
            tracing::error!(account = %account.id, %error, "signed card callback with an unreadable body; refused");
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("unreadable card callback: {error}"),
            );
        }
    };
    // The signature covers only the timestamp: a captured pair must not carry another press.
    let signed_at = timestamp.parse().map_or(now, EpochMs::from_millis);
    let owner = format!("{}#card", account.id);
    match replay::claim(
        &*shared.store,
        &owner,
        signed_at,
        &card_callback::digest(&callback),
        now,
    )
    .await
    {
        Ok(SignUse::First | SignUse::Again) => {}
        Ok(SignUse::Taken) => {
            tracing::warn!(account = %account.id, timestamp, reason = replay::TAKEN, "card callback rejected");
            return refuse(StatusCode::UNAUTHORIZED, replay::TAKEN.into());
        }
        Err(error) => {
            tracing::error!(account = %account.id, %error, "card callback could not be checked against the used signatures; refused so that DingTalk delivers it again");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the callback could not be checked for replay; deliver it again".into(),
            );
        }
    }
    // Policies (who may decide an approval) as the running config has them.
    let account = shared
        .account_settings(&account.id)
        .unwrap_or_else(|| Arc::clone(account));
    let (answer, answered) = oneshot::channel();
    let shared = Arc::clone(shared);
    // Deciding goes on after the answer, which DingTalk wants within 2 s.
    tokio::spawn(async move {
        card_callback::receive(
            &shared,
            &account,
            &callback,
            Transport::HttpCallback,
            Ack::Card(answer),
        )
        .await;
    });
    match answered.await {
        Ok(answer) if answer.admitted.acknowledged() => {
            let body = answer
                .update
                .map_or_else(|| serde_json::json!({}), |update| update.to_value());
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        _ => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the press could not be stored; deliver it again".into(),
        ),
    }
}
