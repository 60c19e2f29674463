//! The simulated organisation: apps, users, groups, DM conversations and custom robots.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::error::SimError;
use crate::model::{AppPatch, AppSpec, CustomRobotSpec, GroupSpec, UserSpec};
use crate::state::Shared;

use super::{S, ok};

pub(super) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/state", get(state))
        .route("/apps", post(create_app))
        .route("/apps/update", post(update_app))
        .route("/apps/expire_tokens", post(expire_tokens))
        .route("/users", post(create_user))
        .route("/groups", post(create_group))
        .route("/groups/bots", post(add_bot).delete(remove_bot))
        .route("/groups/members", post(add_member))
        .route("/dm", get(dm))
        .route("/custom_robots", get(list_robots).post(create_robot))
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
    let n = sh.mutate(|st| st.tokens.expire(&req.app));
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

/// `?app=&staff_id=` → the DM conversation id.
async fn dm(State(sh): S, Query(q): Query<HashMap<String, String>>) -> Response {
    let (Some(app), Some(staff)) = (q.get("app"), q.get("staff_id")) else {
        return SimError::Invalid("app and staff_id are required".into()).into_response();
    };
    Json(json!({"conversation_id": sh.mutate(|st| st.dm_conversation(app, staff))})).into_response()
}

async fn list_robots(State(sh): S) -> Response {
    sh.read(|st| Json(st.custom_robots.values().map(|r| &r.robot).collect::<Vec<_>>()).into_response())
}

async fn create_robot(State(sh): S, Json(spec): Json<CustomRobotSpec>) -> Response {
    ok(sh.mutate(|st| st.create_custom_robot(&sh, spec)))
}
