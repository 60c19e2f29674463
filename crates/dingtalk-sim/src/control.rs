//! The control API under `/_sim/…`: JSON twins of the [`crate::Simulator`] methods.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::directory::AppPatch;
use crate::error::{Result, SimError};
use crate::faults::ApiFault;
use crate::inject::{InjectCardCallback, InjectEvent, InjectMessage};
use crate::model::{AppSpec, GroupSpec, UserSpec};
use crate::state::{ConnCmd, Shared};

type S = State<Arc<Shared>>;

fn ok<T: serde::Serialize>(r: Result<T>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/state", get(state))
        .route("/apps", post(create_app))
        .route("/apps/update", post(update_app))
        .route("/apps/expire_tokens", post(expire_tokens))
        .route("/users", post(create_user))
        .route("/groups", post(create_group))
        .route("/groups/bots", post(add_bot).delete(remove_bot))
        .route("/groups/members", post(add_member))
        .route("/inject/message", post(inject_message))
        .route("/inject/event", post(inject_event))
        .route("/inject/card_callback", post(inject_card_callback))
        .route("/sent", get(sent))
        .route("/user_messages", get(user_messages))
        .route("/deliveries", get(deliveries))
        .route("/connections", get(connections))
        .route("/pings", get(pings))
        .route("/violations", get(violations))
        .route("/opens", get(opens))
        .route("/stats", get(stats))
        .route("/faults/drop_connections", post(drop_connections))
        .route("/faults/disconnect", post(disconnect))
        .route("/faults/zombie", post(zombie))
        .route("/faults/cut_next_frame", post(cut_next_frame))
        .route("/faults/fail_next_opens", post(fail_next_opens))
        .route("/faults/api", post(api_fault))
        .route("/faults/qps", post(qps))
        .route("/faults/clear", post(clear))
        .merge(crate::control_ext::router())
}

async fn state(State(sh): S) -> Response {
    sh.read(|st| {
        Json(json!({
            "base_url": sh.base_url.as_str(),
            "apps": st.apps.values().collect::<Vec<_>>(),
            "users": st.users.values().collect::<Vec<_>>(),
            "groups": st.groups.values().collect::<Vec<_>>(),
            "dm_conversations": st.dm_conversations.iter()
                .map(|((app, staff), cid)| json!({"app": app, "staff_id": staff, "conversation_id": cid}))
                .collect::<Vec<_>>(),
        }))
        .into_response()
    })
}

async fn create_app(State(sh): S, Json(spec): Json<AppSpec>) -> Response {
    let corp = sh.config.corp_id.clone();
    ok(sh.mutate(|st| st.create_app(&corp, spec)))
}

#[derive(Deserialize)]
struct AppUpdate {
    app: String,
    #[serde(flatten)]
    patch: AppPatch,
}

async fn update_app(State(sh): S, Json(req): Json<AppUpdate>) -> Response {
    ok(sh.mutate(|st| st.update_app(&req.app, &req.patch)))
}

#[derive(Deserialize)]
struct AppRef {
    app: String,
}

async fn expire_tokens(State(sh): S, Json(req): Json<AppRef>) -> Response {
    let n = sh.mutate(|st| st.expire_tokens(&req.app));
    Json(json!({"expired": n})).into_response()
}

async fn create_user(State(sh): S, Json(spec): Json<UserSpec>) -> Response {
    let corp = sh.config.corp_id.clone();
    ok(sh.mutate(|st| st.create_user(&corp, spec)))
}

async fn create_group(State(sh): S, Json(spec): Json<GroupSpec>) -> Response {
    ok(sh.mutate(|st| st.create_group(spec)))
}

#[derive(Deserialize)]
struct GroupBot {
    group: String,
    app: String,
}

async fn add_bot(State(sh): S, Json(req): Json<GroupBot>) -> Response {
    ok(sh.mutate(|st| st.add_bot_to_group(&req.group, &req.app)))
}

async fn remove_bot(State(sh): S, Json(req): Json<GroupBot>) -> Response {
    ok(sh.mutate(|st| st.remove_bot_from_group(&req.group, &req.app)))
}

#[derive(Deserialize)]
struct GroupMember {
    group: String,
    staff_id: String,
}

async fn add_member(State(sh): S, Json(req): Json<GroupMember>) -> Response {
    ok(sh.mutate(|st| st.add_member(&req.group, &req.staff_id)))
}

async fn inject_message(State(sh): S, Json(req): Json<InjectMessage>) -> Response {
    ok(crate::simulator::inject_message(&sh, &req))
}

async fn inject_event(State(sh): S, Json(req): Json<InjectEvent>) -> Response {
    ok(crate::simulator::inject_event(&sh, &req).map(|id| json!({"event_id": id})))
}

async fn inject_card_callback(State(sh): S, Json(req): Json<InjectCardCallback>) -> Response {
    let s = Arc::clone(&sh);
    ok(sh
        .mutate(|st| st.inject_card_callback(&s, &req))
        .map(|key| json!({"key": key})))
}

/// `?since=<seq>` (exclusive) and `?conversation=<cid>`.
async fn sent(State(sh): S, Query(q): Query<HashMap<String, String>>) -> Response {
    let since: u64 = q.get("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    let conv = q.get("conversation");
    let list: Vec<_> = sh.read(|st| {
        st.sent
            .iter()
            .filter(|m| m.seq > since)
            .filter(|m| conv.is_none() || m.conversation_id.as_ref() == conv)
            .cloned()
            .collect()
    });
    Json(list).into_response()
}

async fn user_messages(State(sh): S, Query(q): Query<HashMap<String, String>>) -> Response {
    let conv = q.get("conversation");
    let list: Vec<_> = sh.read(|st| {
        st.user_messages
            .iter()
            .filter(|m| conv.is_none_or(|c| &m.conversation_id == c))
            .cloned()
            .collect()
    });
    Json(list).into_response()
}

async fn deliveries(State(sh): S) -> Response {
    Json(sh.read(|st| st.deliveries.clone())).into_response()
}

async fn connections(State(sh): S) -> Response {
    let list: Vec<_> = sh.read(|st| {
        st.conn_order
            .iter()
            .filter_map(|id| st.conns.get(id).map(|c| c.info.clone()))
            .collect()
    });
    Json(list).into_response()
}

async fn pings(State(sh): S) -> Response {
    Json(sh.read(|st| st.pings.clone())).into_response()
}

async fn violations(State(sh): S) -> Response {
    Json(sh.read(|st| st.violations.clone())).into_response()
}

async fn opens(State(sh): S) -> Response {
    Json(sh.read(|st| st.open_log.clone())).into_response()
}

async fn stats(State(sh): S) -> Response {
    sh.read(|st| {
        Json(json!({
            "now_ms": sh.now_ms(),
            "token_calls": st.token_calls,
            "api_calls": st.api_calls.iter()
                .map(|((app, path), n)| json!({"app": app, "path": path, "count": n}))
                .collect::<Vec<_>>(),
            "qps_rejections": st.faults.qps_rejections.iter()
                .map(|((app, path), n)| json!({"app": app, "path": path, "count": n}))
                .collect::<Vec<_>>(),
        }))
        .into_response()
    })
}

async fn drop_connections(State(sh): S, Json(req): Json<AppRef>) -> Response {
    let n = sh.mutate(|st| st.command_app_connections(&req.app, || ConnCmd::Drop));
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
    let n = sh.mutate(|st| st.send_disconnect(now, &req.app, &reason));
    Json(json!({"connections": n})).into_response()
}

#[derive(Deserialize)]
struct ZombieReq {
    app: String,
    on: bool,
}

async fn zombie(State(sh): S, Json(req): Json<ZombieReq>) -> Response {
    let n = sh.mutate(|st| st.set_zombie(&req.app, req.on));
    Json(json!({"connections": n})).into_response()
}

#[derive(Deserialize)]
struct CutReq {
    app: String,
    how: crate::model::FrameCut,
}

async fn cut_next_frame(State(sh): S, Json(req): Json<CutReq>) -> Response {
    let n = sh.mutate(|st| st.command_app_connections(&req.app, || ConnCmd::Cut(req.how)));
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
            path_prefix: "/v1.0/gateway/connections/open".into(),
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
    sh.mutate(|st| {
        st.faults.rules.clear();
        st.faults.qps_limits.clear();
    });
    Json(Value::Null).into_response()
}
