//! `POST /robot/sendBySession?session=…`: the per-message reply URL.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use crate::error::LegacyError;
use crate::ids;
use crate::model::{SentMessage, SentTarget};
use crate::state::Shared;

use super::webhook::validate_webhook;

pub(crate) const SEND_BY_SESSION: &str = "/robot/sendBySession";

/// `POST /robot/sendBySession?session=`.
pub(crate) async fn send_by_session(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    match send_inner(&shared, &q, &headers, &raw) {
        Ok(()) => Json(json!({"errcode": 0, "errmsg": "ok"})).into_response(),
        Err(e) => e.into_response(),
    }
}

fn send_inner(
    shared: &Shared,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    raw: &[u8],
) -> Result<(), LegacyError> {
    let session = q.get("session").cloned().unwrap_or_default();
    let route = shared.mutate(|st| {
        let route = st.session_route(&session);
        st.count_call(route.as_ref().map(|r| r.0.as_str()), SEND_BY_SESSION);
        route
    });
    let Some((app, cid)) = route else {
        return Err(LegacyError::new(300001, "session 不存在"));
    };
    let msg = validate_webhook(headers, raw)?;
    let (at_ms, epoch_ms) = (shared.now_ms(), ids::epoch_ms());
    shared.mutate(|st| {
        st.push_sent(SentMessage {
            seq: 0,
            at_ms,
            epoch_ms,
            app: Some(app),
            api: "sessionWebhook".into(),
            path: format!("POST {SEND_BY_SESSION}"),
            target: SentTarget::SessionWebhook { session },
            conversation_id: Some(cid),
            msg_type: msg.msg_type,
            body: msg.body,
            text: msg.text,
            process_query_key: None,
            out_track_id: None,
            recalled: false,
        });
    });
    Ok(())
}
