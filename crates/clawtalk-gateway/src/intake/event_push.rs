//! Encrypted event pushes (protocol §9): refuse stale ones, verify `msg_signature`, decrypt,
//! answer `check_url`, hand approval events to the workflows, and always answer with the
//! encrypted `success` once the event is safe (DingTalk waits 2.5 s for it).

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dingtalk::crypto::{CryptoError, EncryptedBody, EventCrypto, EventQuery, MAX_TIMESTAMP_SKEW_MS};
use dingtalk::model::event::{Event, ReceivedEvent};
use rand::Rng as _;
use rand::distr::Alphanumeric;

use tokio::sync::oneshot;

use super::{Ack, approval_event, refuse};
use crate::Shared;
use clawtalk_config::DingTalkAccount;
use clawtalk_core::inbound::Transport;

/// Answers one push to `account`'s webhook; `crypto` is the account's `token` + `aesKey`.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    account: &Arc<DingTalkAccount>,
    crypto: Option<&EventCrypto>,
    query: &str,
    body: &[u8],
) -> Response {
    let Some(crypto) = crypto else {
        tracing::warn!(account = %account.id, "encrypted event push for an account without token/aesKey; refused");
        return refuse(
            StatusCode::NOT_FOUND,
            format!(
                "account {:?} has no event subscription: set token and aesKey to receive HTTP pushes",
                account.id
            ),
        );
    };
    let plaintext = match open(crypto, query, body, shared.clock.now_ms()) {
        Ok(text) => text,
        Err(refusal) => {
            tracing::warn!(account = %account.id, reason = %refusal.logged, "event push rejected");
            return refuse(refusal.status, refusal.shown);
        }
    };
    let event = match ReceivedEvent::from_http_push_json(&plaintext) {
        Ok(event) => event,
        Err(error) => {
            // Authentic but unreadable: refusing would only make DingTalk resend it forever.
            tracing::error!(account = %account.id, %error, "unreadable event push acknowledged and skipped");
            return success(crypto, shared.clock.now_ms());
        }
    };
    if event.event == Event::CheckUrl {
        tracing::info!(account = %account.id, "event subscription URL check answered");
        return success(crypto, shared.clock.now_ms());
    }
    // Answered once stored; deciding goes on after the answer.
    let (stored, acknowledged) = oneshot::channel();
    let clock = Arc::clone(&shared.clock);
    let (shared, account) = (Arc::clone(shared), Arc::clone(account));
    tokio::spawn(async move {
        let ack = Ack::Reply(stored);
        approval_event::receive(&shared, &account, event, Transport::HttpPush, ack).await;
    });
    match acknowledged.await {
        Ok(admitted) if admitted.acknowledged() => success(crypto, clock.now_ms()),
        _ => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the event could not be stored; deliver it again".into(),
        ),
    }
}

/// What the caller of a push that fails verification is told: nothing about which check
/// failed, so the endpoint is no oracle for forged or replayed ciphertexts. The reason is
/// logged.
const INVALID: &str = "invalid event push";

/// Why a push was refused: the status, what the caller sees, and what the log says.
struct Refusal {
    status: StatusCode,
    shown: String,
    logged: String,
}

impl Refusal {
    /// A malformed request (missing parameters, not `{"encrypt": …}`): nothing secret is
    /// involved, so the caller is told what to fix.
    fn malformed(reason: String) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            shown: reason.clone(),
            logged: reason,
        }
    }

    /// A failed check of the signature, the time or the ciphertext: only "invalid" to the
    /// caller.
    fn invalid(status: StatusCode, logged: String) -> Self {
        Self {
            status,
            shown: INVALID.to_owned(),
            logged,
        }
    }
}

/// Checks the push's age and the signature over the ciphertext, then decrypts.
fn open(crypto: &EventCrypto, query: &str, body: &[u8], now_ms: i64) -> Result<String, Refusal> {
    let params = EventQuery::from_query(query).map_err(|e| Refusal::malformed(e.to_string()))?;
    let body: EncryptedBody = serde_json::from_slice(body)
        .map_err(|e| Refusal::malformed(format!("body is not {{\"encrypt\": \"…\"}}: {e}")))?;
    check_age(&params.timestamp, now_ms)
        .map_err(|reason| Refusal::invalid(StatusCode::UNAUTHORIZED, reason))?;
    crypto
        .open(&params.signature, &params.timestamp, &params.nonce, &body.encrypt)
        .map_err(|error| {
            // The signature is checked first, so without the token every forgery ends here
            // with 401 whatever its ciphertext: the status tells nothing about the AES key.
            let status = match error {
                CryptoError::SignatureMismatch | CryptoError::OwnerMismatch { .. } => {
                    StatusCode::UNAUTHORIZED
                }
                _ => StatusCode::BAD_REQUEST,
            };
            Refusal::invalid(status, error.to_string())
        })
}

/// A push's `timestamp` must lie within the freshness window used for bot callbacks
/// ([`MAX_TIMESTAMP_SKEW_MS`]): a captured push replayed later is refused. DingTalk sends
/// epoch milliseconds (protocol §9; the simulator too), older integrations seconds; a value
/// below 10^11 is read as seconds (10^11 ms is 1973, 10^11 s the year 5138).
fn check_age(timestamp: &str, now_ms: i64) -> Result<(), String> {
    let value: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| format!("timestamp {timestamp:?} is not a number of seconds or milliseconds"))?;
    let at_ms = if value < 100_000_000_000 {
        value.saturating_mul(1000)
    } else {
        value
    };
    let skew = now_ms.saturating_sub(at_ms);
    if skew.unsigned_abs() > MAX_TIMESTAMP_SKEW_MS.unsigned_abs() {
        return Err(format!(
            "timestamp is {skew} ms away from this host's clock (allowed: ±{MAX_TIMESTAMP_SKEW_MS} ms; \
             positive = in the past): a replayed push, or a clock that is wrong"
        ));
    }
    Ok(())
}

/// The mandatory encrypted `success`, signed with our time and a fresh nonce.
fn success(crypto: &EventCrypto, now_ms: i64) -> Response {
    let nonce: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(16)
        .map(char::from)
        .collect();
    let reply = crypto.success_reply(&now_ms.to_string(), &nonce);
    (StatusCode::OK, Json(reply)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "push-token";
    const AES_KEY: &str = "1234567890123456789012345678901234567890123";
    const OWNER: &str = "dingpushowner";
    const NOW_MS: i64 = 1_767_225_600_000;

    fn crypto() -> EventCrypto {
        EventCrypto::new(TOKEN, AES_KEY, OWNER).unwrap()
    }

    fn request(timestamp: &str, encrypt: Option<&str>) -> (String, Vec<u8>) {
        let sealed = crypto().seal(r#"{"EventType":"check_url"}"#, timestamp, "nonce1");
        let query = format!(
            "msg_signature={}&timestamp={}&nonce={}",
            sealed.msg_signature, sealed.timestamp, sealed.nonce
        );
        let body = serde_json::json!({ "encrypt": encrypt.unwrap_or(&sealed.encrypt) });
        (query, body.to_string().into_bytes())
    }

    #[test]
    fn fresh_pushes_open_in_milliseconds_or_seconds() {
        for timestamp in [NOW_MS.to_string(), (NOW_MS / 1000 - 60).to_string()] {
            let (query, body) = request(&timestamp, None);
            let opened = open(&crypto(), &query, &body, NOW_MS).map_err(|r| r.logged);
            assert_eq!(
                opened.as_deref(),
                Ok(r#"{"EventType":"check_url"}"#),
                "{timestamp}"
            );
        }
    }

    #[test]
    fn pushes_older_than_the_window_are_refused_even_when_signed() {
        for timestamp in [
            (NOW_MS - MAX_TIMESTAMP_SKEW_MS - 1).to_string(),
            (NOW_MS / 1000 - 7_200).to_string(),
            (NOW_MS + MAX_TIMESTAMP_SKEW_MS + 1).to_string(),
            "yesterday".to_owned(),
        ] {
            let (query, body) = request(&timestamp, None);
            let Err(refusal) = open(&crypto(), &query, &body, NOW_MS) else {
                panic!("{timestamp} was accepted");
            };
            assert_eq!(refusal.status, StatusCode::UNAUTHORIZED, "{timestamp}");
            assert_eq!(refusal.shown, INVALID);
            assert!(refusal.logged.contains("timestamp"), "{}", refusal.logged);
        }
    }

    #[test]
    fn failed_checks_say_only_invalid_and_log_why() {
        let now = NOW_MS.to_string();
        // Bad signature.
        let (query, body) = request(&now, Some("AAAA"));
        let refusal = open(&crypto(), &query, &body, NOW_MS).err().unwrap();
        assert_eq!(
            (refusal.status, refusal.shown.as_str()),
            (StatusCode::UNAUTHORIZED, INVALID)
        );
        assert!(
            refusal.logged.contains("msg_signature does not match"),
            "{}",
            refusal.logged
        );
        // Correct signature over a ciphertext made with another key: decryption fails.
        let other = EventCrypto::new(TOKEN, "abcdefghijabcdefghijabcdefghijabcdefghijabc", OWNER).unwrap();
        let sealed = other.seal("{}", &now, "n2");
        let query = format!("msg_signature={}&timestamp={now}&nonce=n2", sealed.msg_signature);
        let body = serde_json::json!({ "encrypt": sealed.encrypt }).to_string();
        let refusal = open(&crypto(), &query, body.as_bytes(), NOW_MS).err().unwrap();
        assert_eq!(refusal.shown, INVALID);
        assert_ne!(refusal.logged, INVALID, "the log keeps the reason");
        // A malformed request still says what to fix: there is nothing to learn from it.
        let refusal = open(&crypto(), &format!("timestamp={now}&nonce=n"), b"{}", NOW_MS)
            .err()
            .unwrap();
        assert!(refusal.shown.contains("msg_signature"), "{}", refusal.shown);
    }
}
