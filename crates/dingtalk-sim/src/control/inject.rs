//! What users and the platform do: messages, events, card clicks, action-card button
//! presses, and media for messages to carry.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::error::SimError;
use crate::inject;
use crate::model::{InjectCardCallback, InjectEvent, InjectMessage, PressButton};
use crate::state::Shared;

use super::{S, ok};

pub(super) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/inject/message", post(inject_message))
        .route("/inject/event", post(inject_event))
        .route("/inject/card_callback", post(inject_card_callback))
        .route("/action_cards/press", post(press_button))
        .route("/media", post(register_media))
}

async fn inject_message(State(sh): S, Json(req): Json<InjectMessage>) -> Response {
    ok(inject::user_message(&sh, &req))
}

async fn inject_event(State(sh): S, Json(req): Json<InjectEvent>) -> Response {
    ok(inject::event(&sh, &req).map(|id| json!({"event_id": id})))
}

async fn inject_card_callback(State(sh): S, Json(req): Json<InjectCardCallback>) -> Response {
    ok(inject::card_callback(&sh, &req).map(|key| json!({"key": key})))
}

async fn press_button(State(sh): S, Json(req): Json<PressButton>) -> Response {
    ok(inject::press_button(&sh, &req))
}

#[derive(Deserialize)]
struct MediaReq {
    app: String,
    content_base64: String,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    file_name: Option<String>,
}

/// Registers downloadable content and returns its downloadCode.
async fn register_media(State(sh): S, Json(req): Json<MediaReq>) -> Response {
    use base64::Engine as _;
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&req.content_base64) else {
        return SimError::Invalid("content_base64 is not base64".into()).into_response();
    };
    let code = sh.mutate(|st| {
        st.media.register_download(
            &req.app,
            bytes,
            req.content_type
                .unwrap_or_else(|| "application/octet-stream".into()),
            req.file_name,
        )
    });
    Json(json!({"download_code": code})).into_response()
}
