//! Custom (group webhook) robots: `POST /robot/send?access_token=&timestamp=&sign=`.
//!
//! Checks, in order: token, ban, Content-Type, size, body shape, signature (1-hour window),
//! keywords, then the rolling rate limit (20/min → errcode 410100 and a 10-minute ban).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;
use tokio::time::Instant;

use crate::crypto::sign::sign_matches;
use crate::error::LegacyError;
use crate::ids;
use crate::model::{SentMessage, SentTarget};
use crate::state::Shared;

use super::body::all_text;
use super::webhook::validate_webhook;

pub(crate) use crate::state::ROBOT_SEND;

/// `POST /robot/send`.
pub(crate) async fn send(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    match send_inner(&shared, &q, &headers, &raw) {
        Ok(()) => Json(json!({"errcode": 0, "errmsg": "ok"})).into_response(),
        Err(e) => {
            tracing::info!(errcode = e.errcode, errmsg = %e.errmsg, "custom robot send rejected");
            e.into_response()
        }
    }
}

fn send_inner(
    shared: &Shared,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    raw: &[u8],
) -> Result<(), LegacyError> {
    let token = q.get("access_token").cloned().unwrap_or_default();
    let now = Instant::now();
    let robot = shared.mutate(|st| {
        st.count_call(None, ROBOT_SEND);
        let Some(entry) = st.custom_robots.get(&token) else {
            return Err(LegacyError::new(300005, "token is not exist"));
        };
        if entry.banned_until.is_some_and(|b| b > now) {
            return Err(LegacyError::new(
                410100,
                "send too fast, exceed 20 times per minute, the robot is limited for 10 minutes",
            ));
        }
        Ok(entry.robot.clone())
    })?;
    let msg = validate_webhook(headers, raw)?;
    if let Some(secret) = &robot.secret {
        let (Some(ts), Some(sign)) = (q.get("timestamp"), q.get("sign")) else {
            return Err(LegacyError::new(
                310000,
                "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
            ));
        };
        let window = i128::try_from(shared.config.sign_window.as_millis()).unwrap_or(i128::MAX);
        let ts_ok = ts
            .parse::<i128>()
            .is_ok_and(|t| (t - i128::from(ids::epoch_ms())).abs() <= window);
        if !ts_ok {
            return Err(LegacyError::new(310000, "invalid timestamp"));
        }
        if !sign_matches(secret, ts, sign) {
            return Err(LegacyError::new(
                310000,
                "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
            ));
        }
    }
    if !robot.keywords.is_empty() {
        let mut text = String::new();
        all_text(&msg.body, &mut text);
        if !robot.keywords.iter().any(|k| text.contains(k.as_str())) {
            return Err(LegacyError::new(310000, "keywords not in content"));
        }
    }
    let config = &shared.config;
    let (at_ms, epoch_ms) = (shared.now_ms(), ids::epoch_ms());
    shared.mutate(|st| {
        let Some(entry) = st.custom_robots.get_mut(&token) else {
            return Err(LegacyError::new(300005, "token is not exist"));
        };
        while entry
            .accepted
            .front()
            .is_some_and(|t| now.duration_since(*t) >= config.custom_robot_window)
        {
            entry.accepted.pop_front();
        }
        if entry.accepted.len() >= config.custom_robot_limit as usize {
            entry.banned_until = Some(now + config.custom_robot_ban);
            tracing::warn!(robot = %robot.name, "custom robot rate limit hit, banned");
            return Err(LegacyError::new(
                410100,
                "send too fast, exceed 20 times per minute, the robot is limited for 10 minutes",
            ));
        }
        entry.accepted.push_back(now);
        st.push_sent(SentMessage {
            seq: 0,
            at_ms,
            epoch_ms,
            app: None,
            api: "customRobot".into(),
            path: format!("POST {ROBOT_SEND}"),
            target: SentTarget::CustomRobot {
                access_token: token.clone(),
            },
            conversation_id: Some(robot.group.clone()),
            msg_type: msg.msg_type,
            body: msg.body,
            text: msg.text,
            process_query_key: None,
            out_track_id: None,
            recalled: false,
        });
        Ok(())
    })
}
