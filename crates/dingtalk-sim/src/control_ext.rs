//! Control endpoints of the milestone-2 features.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::custom_robot::CustomRobotSpec;
use crate::error::SimError;
use crate::http_push::HttpPushSpec;
use crate::state::Shared;

type S = State<Arc<Shared>>;

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/cards", get(cards))
        .route("/sessions/expire", post(expire_session))
        .route("/custom_robots", get(list_robots).post(create_robot))
        .route("/http_push", post(register_push))
        .route("/http_push/check_url", post(check_url))
        .route("/http_push/log", get(push_log))
        .route("/http_bot", post(register_bot))
        .route("/dm", get(dm))
        .route("/media", post(register_media))
        .route("/action_cards/press", post(press_button))
}

async fn press_button(State(sh): S, Json(req): Json<crate::PressButton>) -> Response {
    match crate::action_cards::press(&sh, &req) {
        Ok(pressed) => Json(pressed).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `?out_track_id=` → one card; otherwise all cards.
async fn cards(State(sh): S, Query(q): Query<HashMap<String, String>>) -> Response {
    sh.read(|st| match q.get("out_track_id") {
        Some(id) => match st.ext.cards.get(id) {
            Some(c) => Json(c).into_response(),
            None => SimError::UnknownCard(id.clone()).into_response(),
        },
        None => Json(st.ext.cards.values().collect::<Vec<_>>()).into_response(),
    })
}

#[derive(Deserialize)]
struct SessionReq {
    session: String,
}

async fn expire_session(State(sh): S, Json(req): Json<SessionReq>) -> Response {
    let found = sh.mutate(|st| st.expire_session(&req.session));
    Json(json!({"expired": found})).into_response()
}

async fn list_robots(State(sh): S) -> Response {
    sh.read(|st| {
        Json(
            st.ext
                .custom_robots
                .values()
                .map(|r| &r.robot)
                .collect::<Vec<_>>(),
        )
        .into_response()
    })
}

async fn create_robot(State(sh): S, Json(spec): Json<CustomRobotSpec>) -> Response {
    match sh.mutate(|st| st.create_custom_robot(&sh, spec)) {
        Ok(r) => Json(r).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct PushReq {
    app: String,
    #[serde(flatten)]
    spec: HttpPushSpec,
}

async fn register_push(State(sh): S, Json(req): Json<PushReq>) -> Response {
    match sh.mutate(|st| st.register_http_push(&req.app, req.spec)) {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct AppReq {
    app: String,
}

async fn check_url(State(sh): S, Json(req): Json<AppReq>) -> Response {
    match crate::http_push::check_url(&sh, &req.app).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn push_log(State(sh): S) -> Response {
    Json(sh.read(|st| st.ext.http_push_log.clone())).into_response()
}

#[derive(Deserialize)]
struct BotReq {
    app: String,
    #[serde(default)]
    url: Option<String>,
}

async fn register_bot(State(sh): S, Json(req): Json<BotReq>) -> Response {
    match sh.mutate(|st| st.register_http_bot(&req.app, req.url)) {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `?app=&staff_id=` → the DM conversation id.
async fn dm(State(sh): S, Query(q): Query<HashMap<String, String>>) -> Response {
    let (Some(app), Some(staff)) = (q.get("app"), q.get("staff_id")) else {
        return SimError::Invalid("app and staff_id are required".into()).into_response();
    };
    Json(json!({"conversation_id": sh.mutate(|st| st.dm_conversation(app, staff))})).into_response()
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
        st.register_download(
            &req.app,
            bytes,
            req.content_type
                .unwrap_or_else(|| "application/octet-stream".into()),
            req.file_name,
        )
    });
    Json(json!({"download_code": code})).into_response()
}
