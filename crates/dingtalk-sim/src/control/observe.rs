//! What happened: messages sent and posted, Stream deliveries, connections, pings,
//! violations, `connections/open` calls, call counters and cards.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::error::SimError;
use crate::state::Shared;

use super::S;

pub(super) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/sent", get(sent))
        .route("/user_messages", get(user_messages))
        .route("/deliveries", get(deliveries))
        .route("/connections", get(connections))
        .route("/pings", get(pings))
        .route("/violations", get(violations))
        .route("/opens", get(opens))
        .route("/stats", get(stats))
        .route("/cards", get(cards))
        .route("/card_callback_routes", get(card_callback_routes))
}

async fn card_callback_routes(State(sh): S) -> Response {
    Json(sh.read(|st| st.card_routes.values().cloned().collect::<Vec<_>>())).into_response()
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
    Json(sh.read(|st| st.stream.infos())).into_response()
}

async fn pings(State(sh): S) -> Response {
    Json(sh.read(|st| st.stream.pings.clone())).into_response()
}

async fn violations(State(sh): S) -> Response {
    Json(sh.read(|st| st.violations.clone())).into_response()
}

async fn opens(State(sh): S) -> Response {
    Json(sh.read(|st| st.stream.open_log.clone())).into_response()
}

async fn stats(State(sh): S) -> Response {
    sh.read(|st| {
        Json(json!({
            "now_ms": sh.now_ms(),
            "token_calls": st.tokens.requests,
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

/// `?out_track_id=` → one card; otherwise all cards.
async fn cards(State(sh): S, Query(q): Query<HashMap<String, String>>) -> Response {
    sh.read(|st| match q.get("out_track_id") {
        Some(id) => match st.cards.get(id) {
            Some(c) => Json(c).into_response(),
            None => SimError::UnknownCard(id.clone()).into_response(),
        },
        None => Json(st.cards.values().collect::<Vec<_>>()).into_response(),
    })
}
