//! `PUT /v1.0/card/streaming`: appends to (or replaces) one card variable, the way AI cards
//! stream a reply.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::model::{CardStatus, SCOPE_CARD_STREAMING, StreamUpdate};
use crate::state::Shared;

use super::{STREAMING, refresh_sent_text, respond};
use crate::api::auth::{authenticate, require_scope};
use crate::api::body::{json_body, opt_str, req_str};

/// `PUT /v1.0/card/streaming`.
pub(crate) async fn streaming(State(shared): State<Arc<Shared>>, headers: HeaderMap, raw: Bytes) -> Response {
    respond(streaming_inner(&shared, &headers, &raw))
}

fn streaming_inner(shared: &Shared, headers: &HeaderMap, raw: &[u8]) -> Result<Value, ApiError> {
    let app = authenticate(shared, headers, STREAMING)?;
    require_scope(&app, SCOPE_CARD_STREAMING)?;
    let body = json_body(raw)?;
    let out_track_id = req_str(&body, "outTrackId")?.to_owned();
    let guid = opt_str(&body, "guid")
        .filter(|g| !g.is_empty())
        .map(str::to_owned);
    let Some(guid) = guid else {
        return Err(ApiError::bad_request("param.stream.guidEmpty", "guid is empty"));
    };
    let Some(key) = opt_str(&body, "key").filter(|k| !k.is_empty()).map(str::to_owned) else {
        return Err(ApiError::bad_request("param.stream.keyEmpty", "key is empty"));
    };
    let Some(content) = opt_str(&body, "content").map(str::to_owned) else {
        return Err(ApiError::bad_request(
            "param.stream.contentEmpty",
            "content is empty",
        ));
    };
    let flag = |k: &str| body.get(k).and_then(Value::as_bool).unwrap_or(false);
    let (is_full, is_finalize, is_error) = (flag("isFull"), flag("isFinalize"), flag("isError"));
    let now = shared.now_ms();
    shared.mutate(|st| {
        let card = match st.cards.get_mut(&out_track_id) {
            Some(c) if c.app == app.client_id => c,
            _ => {
                return Err(ApiError::bad_request(
                    "param.stream.outTrackId",
                    "card is not exist",
                ));
            }
        };
        if card.stream_history.iter().any(|u| u.guid == guid) {
            // Same guid = a retry of a call already applied.
            return Ok(json!({"success": true, "result": true}));
        }
        let finished = matches!(card.status, CardStatus::Finished | CardStatus::Failed);
        let current_len = card.card_data.get(&key).map_or(0, String::len);
        let new_len = if is_full {
            content.len()
        } else {
            current_len + content.len()
        };
        if new_len > shared.config.card_content_max_bytes {
            return Err(ApiError::bad_request(
                "param.stream.content",
                format!(
                    "content is too large ({new_len} bytes; at most {})",
                    shared.config.card_content_max_bytes
                ),
            ));
        }
        let slot = card.card_data.entry(key.clone()).or_default();
        if is_full {
            slot.clone_from(&content);
        } else {
            slot.push_str(&content);
        }
        let value_after = slot.clone();
        card.status = if is_error {
            CardStatus::Failed
        } else if is_finalize {
            CardStatus::Finished
        } else if finished {
            card.status
        } else {
            CardStatus::Streaming
        };
        card.stream_history.push(StreamUpdate {
            at_ms: now,
            key,
            content,
            guid,
            is_full,
            is_finalize,
            is_error,
            value_after: value_after.clone(),
        });
        refresh_sent_text(st, &out_track_id, &value_after);
        if finished {
            st.violation(
                now,
                None,
                Some(&app.client_id),
                "stream_after_finalize",
                format!("card {out_track_id} streamed after it was finalized"),
                None,
            );
        }
        Ok(json!({"success": true, "result": true}))
    })
}
