//! HTTP mode: encrypted event push settings with the `check_url` handshake, HTTP-mode bot
//! callback URLs, and the log of every push.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::api::http_push::check_url;
use crate::model::HttpPushSpec;
use crate::state::Shared;

use super::{S, ok};

pub(super) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/http_push", post(register_push))
        .route("/http_push/check_url", post(check))
        .route("/http_push/log", get(push_log))
        .route("/http_bot", post(register_bot))
}

#[derive(Deserialize)]
struct PushReq {
    app: String,
    #[serde(flatten)]
    spec: HttpPushSpec,
}

async fn register_push(State(sh): S, Json(req): Json<PushReq>) -> Response {
    ok(sh
        .mutate(|st| st.register_http_push(&req.app, req.spec))
        .map(|()| json!({"ok": true})))
}

#[derive(Deserialize)]
struct AppReq {
    app: String,
}

async fn check(State(sh): S, Json(req): Json<AppReq>) -> Response {
    ok(check_url(&sh, &req.app).await)
}

async fn push_log(State(sh): S) -> Response {
    Json(sh.read(|st| st.http_push.log.clone())).into_response()
}

#[derive(Deserialize)]
struct BotReq {
    app: String,
    #[serde(default)]
    url: Option<String>,
}

async fn register_bot(State(sh): S, Json(req): Json<BotReq>) -> Response {
    ok(sh
        .mutate(|st| st.register_http_bot(&req.app, req.url))
        .map(|()| json!({"ok": true})))
}
