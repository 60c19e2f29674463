//! Encrypted event pushes (protocol §9): verify `msg_signature`, decrypt, answer `check_url`,
//! hand approval events to the workflows, and always answer with the encrypted `success`
//! once the event is safe (DingTalk waits 2.5 s for it).

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dingtalk::crypto::{CryptoError, EncryptedBody, EventCrypto, EventQuery};
use dingtalk::model::event::{Event, ReceivedEvent};
use rand::Rng as _;
use rand::distr::Alphanumeric;

use super::{Endpoint, refuse};
use crate::gateway::{Shared, now_ms, workflow};
use crate::inbound::Transport;

pub(super) async fn handle(shared: &Arc<Shared>, endpoint: &Endpoint, query: &str, body: &[u8]) -> Response {
    let account = &endpoint.account;
    let Some(crypto) = &endpoint.crypto else {
        tracing::warn!(account = %account.id, "encrypted event push for an account without token/aesKey; refused");
        return refuse(
            StatusCode::NOT_FOUND,
            format!(
                "account {:?} has no event subscription: set token and aesKey to receive HTTP pushes",
                account.id
            ),
        );
    };
    let plaintext = match open(crypto, query, body) {
        Ok(text) => text,
        Err((status, reason)) => {
            tracing::warn!(account = %account.id, %reason, "event push rejected");
            return refuse(status, reason);
        }
    };
    let event = match ReceivedEvent::from_http_push_json(&plaintext) {
        Ok(event) => event,
        Err(error) => {
            // Authentic but unreadable: refusing would only make DingTalk resend it forever.
            tracing::error!(account = %account.id, %error, "unreadable event push acknowledged and skipped");
            return success(crypto);
        }
    };
    if event.event == Event::CheckUrl {
        tracing::info!(account = %account.id, "event subscription URL check answered");
        return success(crypto);
    }
    if workflow::accept(shared, account, event, Transport::HttpPush).await {
        success(crypto)
    } else {
        refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the event could not be stored; deliver it again".into(),
        )
    }
}

/// Checks the signature over the ciphertext, then decrypts; the error says why not.
fn open(crypto: &EventCrypto, query: &str, body: &[u8]) -> Result<String, (StatusCode, String)> {
    let bad = |e: &dyn std::fmt::Display| (StatusCode::BAD_REQUEST, e.to_string());
    let params = EventQuery::from_query(query).map_err(|e| bad(&e))?;
    let body: EncryptedBody =
        serde_json::from_slice(body).map_err(|e| bad(&format!("body is not {{\"encrypt\": \"…\"}}: {e}")))?;
    crypto
        .open(&params.signature, &params.timestamp, &params.nonce, &body.encrypt)
        .map_err(|error| {
            let status = match error {
                CryptoError::SignatureMismatch | CryptoError::OwnerMismatch { .. } => {
                    StatusCode::UNAUTHORIZED
                }
                _ => StatusCode::BAD_REQUEST,
            };
            (status, error.to_string())
        })
}

/// The mandatory encrypted `success`, signed with our time and a fresh nonce.
fn success(crypto: &EventCrypto) -> Response {
    let nonce: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(16)
        .map(char::from)
        .collect();
    let reply = crypto.success_reply(&now_ms().to_string(), &nonce);
    (StatusCode::OK, Json(reply)).into_response()
}
