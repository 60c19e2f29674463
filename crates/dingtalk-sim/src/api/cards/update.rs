//! `PUT /v1.0/card/instances`: replaces or merges a card's public and private data.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::model::{CardStatus, SCOPE_CARD_INSTANCE};
use crate::state::{Shared, apply_update};

use super::{INSTANCES, card_text, param_map, refresh_sent_text, respond};
use crate::api::auth::{authenticate, require_scope};
use crate::api::body::{json_body, req_str};

/// `PUT /v1.0/card/instances`.
pub(crate) async fn update_instance(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    respond(update_inner(&shared, &headers, &raw))
}

fn update_inner(shared: &Shared, headers: &HeaderMap, raw: &[u8]) -> Result<Value, ApiError> {
    let app = authenticate(shared, headers, INSTANCES)?;
    require_scope(&app, SCOPE_CARD_INSTANCE)?;
    let body = json_body(raw)?;
    let out_track_id = req_str(&body, "outTrackId")?.to_owned();
    param_map(
        body.get("cardData").and_then(|d| d.get("cardParamMap")),
        "cardData.cardParamMap",
    )?;
    if let Some(p) = body.get("privateData").and_then(Value::as_object) {
        for d in p.values() {
            param_map(d.get("cardParamMap"), "privateData.cardParamMap")?;
        }
    }
    shared.mutate(|st| {
        let card = match st.cards.get_mut(&out_track_id) {
            Some(c) if c.app == app.client_id => c,
            _ => return Err(ApiError::bad_request("param.cardNotExist", "card is not exist")),
        };
        apply_update(card, &body, None);
        match card.card_data.get("flowStatus").map(String::as_str) {
            Some("3") => card.status = CardStatus::Finished,
            Some("5") => card.status = CardStatus::Failed,
            Some("2") if card.status == CardStatus::Created => card.status = CardStatus::Streaming,
            _ => {}
        }
        let text = card_text(&card.card_data);
        refresh_sent_text(st, &out_track_id, &text);
        Ok(json!({"success": true, "result": true}))
    })
}
