//! Faults: Stream connection faults, API failures, latency and QPS limits, and expiring a
//! sessionWebhook early.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::stream_open::OPEN_PATH;
use crate::error::SimError;
use crate::model::{ApiFault, FrameCut};
use crate::state::{ConnCmd, Shared};

use super::S;

pub(super) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/faults/drop_connections", post(drop_connections))
        .route("/faults/disconnect", post(disconnect))
        .route("/faults/zombie", post(zombie))
        .route("/faults/cut_next_frame", post(cut_next_frame))
        .route("/faults/fail_next_opens", post(fail_next_opens))
        .route("/faults/api", post(api_fault))
        .route("/faults/qps", post(qps))
        .route("/faults/clear", post(clear))
        .route("/sessions/expire", post(expire_session))
}

#[derive(Deserialize)]
struct AppRef {
    app: String,
}

async fn drop_connections(State(sh): S, Json(req): Json<AppRef>) -> Response {
    let n = sh.mutate(|st| st.stream.command_app_connections(&req.app, || ConnCmd::Drop));
    Json(json!({"connections": n})).into_response()
}

#[derive(Deserialize)]
struct DisconnectReq {
    app: String,
    #[serde(default)]
    reason: Option<String>,
}

async fn disconnect(State(sh): S, Json(req): Json<DisconnectReq>) -> Response {
    let now = sh.now_ms();
    let reason = req.reason.unwrap_or_else(|| "connection is expired".into());
    let n = sh.mutate(|st| st.stream.send_disconnect(now, &req.app, &reason));
    Json(json!({"connections": n})).into_response()
}

#[derive(Deserialize)]
struct ZombieReq {
    app: String,
    on: bool,
}

async fn zombie(State(sh): S, Json(req): Json<ZombieReq>) -> Response {
    let n = sh.mutate(|st| st.stream.set_zombie(&req.app, req.on));
    Json(json!({"connections": n})).into_response()
}

#[derive(Deserialize)]
struct CutReq {
    app: String,
    how: FrameCut,
}

async fn cut_next_frame(State(sh): S, Json(req): Json<CutReq>) -> Response {
    let n = sh.mutate(|st| {
        st.stream
            .command_app_connections(&req.app, || ConnCmd::Cut(req.how))
    });
    Json(json!({"connections": n})).into_response()
}

#[derive(Deserialize)]
struct FailOpens {
    n: u32,
    #[serde(default)]
    status: Option<u16>,
}

async fn fail_next_opens(State(sh): S, Json(req): Json<FailOpens>) -> Response {
    sh.mutate(|st| {
        st.faults.add(&ApiFault {
            path_prefix: OPEN_PATH.into(),
            fail_next: Some(req.n),
            status: Some(req.status.unwrap_or(503)),
            ..ApiFault::default()
        });
    });
    Json(json!({"ok": true})).into_response()
}

async fn api_fault(State(sh): S, Json(req): Json<ApiFault>) -> Response {
    if req.path_prefix.is_empty() {
        return SimError::Invalid("path_prefix must not be empty".into()).into_response();
    }
    sh.mutate(|st| st.faults.add(&req));
    Json(json!({"ok": true})).into_response()
}

#[derive(Deserialize)]
struct QpsReq {
    app: String,
    api: String,
    limit: u32,
}

async fn qps(State(sh): S, Json(req): Json<QpsReq>) -> Response {
    sh.mutate(|st| st.faults.qps_limits.insert((req.app, req.api), req.limit));
    Json(json!({"ok": true})).into_response()
}

async fn clear(State(sh): S) -> Response {
    sh.mutate(|st| st.faults.clear());
    Json(Value::Null).into_response()
}

#[derive(Deserialize)]
struct SessionReq {
    session: String,
}

async fn expire_session(State(sh): S, Json(req): Json<SessionReq>) -> Response {
    let found = sh.mutate(|st| st.expire_session(&req.session));
    Json(json!({"expired": found})).into_response()
}
