//! Robot OpenAPI: batchSend (DM), group send, recall.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::ids;
use crate::model::{App, SCOPE_ROBOT_SEND, SentMessage, SentTarget};
use crate::state::Shared;

use super::auth::{authenticate, require_scope};
use super::body::{json_body, req_str, req_str_list};

pub(crate) const BATCH_SEND: &str = "/v1.0/robot/oToMessages/batchSend";
pub(crate) const GROUP_SEND: &str = "/v1.0/robot/groupMessages/send";
pub(crate) const OTO_RECALL: &str = "/v1.0/robot/otoMessages/batchRecall";
pub(crate) const GROUP_RECALL: &str = "/v1.0/robot/groupMessages/recall";

/// msgKey → mandatory msgParam fields.
fn required_params(msg_key: &str) -> Option<&'static [&'static str]> {
    Some(match msg_key {
        "sampleText" => &["content"],
        "sampleMarkdown" => &["title", "text"],
        "sampleImageMsg" => &["photoURL"],
        "sampleLink" => &["title", "text", "messageUrl"],
        "sampleActionCard" => &["title", "text", "singleTitle", "singleURL"],
        "sampleActionCard2" => &[
            "title",
            "text",
            "actionTitle1",
            "actionURL1",
            "actionTitle2",
            "actionURL2",
        ],
        "sampleActionCard3" => &[
            "title",
            "text",
            "actionTitle1",
            "actionURL1",
            "actionTitle3",
            "actionURL3",
        ],
        "sampleActionCard4" => &[
            "title",
            "text",
            "actionTitle1",
            "actionURL1",
            "actionTitle4",
            "actionURL4",
        ],
        "sampleActionCard5" => &[
            "title",
            "text",
            "actionTitle1",
            "actionURL1",
            "actionTitle5",
            "actionURL5",
        ],
        "sampleActionCard6" => &[
            "title",
            "text",
            "buttonTitle1",
            "buttonUrl1",
            "buttonTitle2",
            "buttonUrl2",
        ],
        "sampleAudio" => &["mediaId", "duration"],
        "sampleFile" => &["mediaId", "fileName", "fileType"],
        "sampleVideo" => &["videoMediaId", "videoType", "picMediaId", "duration"],
        _ => return None,
    })
}

/// Human-readable text of a robot message.
pub(crate) fn robot_text(msg_key: &str, p: &Map<String, Value>) -> String {
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    match msg_key {
        "sampleText" => s("content"),
        "sampleMarkdown" | "sampleLink" => s("text"),
        "sampleImageMsg" => format!("[图片] {}", s("photoURL")),
        "sampleAudio" => "[语音]".to_owned(),
        "sampleFile" => format!("[文件] {}", s("fileName")),
        "sampleVideo" => "[视频]".to_owned(),
        _ => format!("{}\n{}", s("title"), s("text")),
    }
}

struct Checked {
    app: App,
    body: Value,
    msg_key: String,
    params: Map<String, Value>,
}

/// Token, scope, robotCode, msgKey and msgParam checks shared by both send APIs.
fn check_send(shared: &Shared, headers: &HeaderMap, raw: &[u8], api: &str) -> Result<Checked, ApiError> {
    let app = authenticate(shared, headers, api)?;
    require_scope(&app, SCOPE_ROBOT_SEND)?;
    let body = json_body(raw)?;
    check_robot_code(&app, &body)?;
    let msg_key = req_str(&body, "msgKey")?.to_owned();
    if required_params(&msg_key).is_none() {
        return Err(ApiError::bad_request(
            "invalidParameter.msgKey.invalid",
            format!("msgKey {msg_key} 不存在"),
        ));
    }
    let raw_param = match body.get("msgParam") {
        None | Some(Value::Null) => return Err(ApiError::missing("msgParam")),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalidParameter.msgParam.invalid",
                "msgParam must be a JSON string (JSON-encode the object)",
            ));
        }
    };
    let params = match serde_json::from_str::<Value>(&raw_param) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(ApiError::bad_request(
                "invalidParameter.msgParam.invalid",
                "msgParam is not a JSON object",
            ));
        }
    };
    for field in required_params(&msg_key).unwrap_or_default() {
        if params.get(*field).is_none_or(Value::is_null) {
            return Err(ApiError::bad_request(
                "invalidParameter.msgParam.invalid",
                format!("msgParam of {msg_key} lacks {field}"),
            ));
        }
    }
    check_media_ids(shared, &app, &msg_key, &params)?;
    Ok(Checked {
        app,
        body,
        msg_key,
        params,
    })
}

/// Media templates must name media this app uploaded (`sampleImageMsg` may also take a URL).
/// The real error for an unknown id is undocumented; this one names the field.
fn check_media_ids(
    shared: &Shared,
    app: &App,
    msg_key: &str,
    params: &Map<String, Value>,
) -> Result<(), ApiError> {
    let fields: &[&str] = match msg_key {
        "sampleImageMsg" => &["photoURL"],
        "sampleAudio" | "sampleFile" => &["mediaId"],
        "sampleVideo" => &["videoMediaId", "picMediaId"],
        _ => return Ok(()),
    };
    for field in fields {
        let value = params.get(*field).and_then(Value::as_str).unwrap_or_default();
        if msg_key == "sampleImageMsg" && (value.starts_with("http://") || value.starts_with("https://")) {
            continue;
        }
        let known = shared.read(|st| {
            st.media
                .uploads
                .get(value)
                .is_some_and(|blob| blob.app == app.client_id)
        });
        if !known {
            return Err(ApiError::bad_request(
                "invalidParameter.msgParam.invalid",
                format!("msgParam {field} {value:?} 不是本应用上传的 media_id"),
            ));
        }
    }
    Ok(())
}

pub(crate) fn check_robot_code(app: &App, body: &Value) -> Result<(), ApiError> {
    let code = req_str(body, "robotCode")?;
    if code != app.robot_code {
        return Err(ApiError::bad_request(
            "invalidParameter.robotCode.auth",
            "robotCode与当前应用不匹配，无权限操作该机器人",
        ));
    }
    Ok(())
}

fn logged_body(c: &Checked) -> Value {
    let mut body = c.body.clone();
    if let Some(o) = body.as_object_mut() {
        o.insert("msgParamParsed".into(), Value::Object(c.params.clone()));
    }
    body
}

/// `POST /v1.0/robot/oToMessages/batchSend`.
pub(crate) async fn batch_send(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    match batch_send_inner(&shared, &headers, &raw) {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

fn batch_send_inner(shared: &Shared, headers: &HeaderMap, raw: &[u8]) -> Result<Value, ApiError> {
    let c = check_send(shared, headers, raw, BATCH_SEND)?;
    let user_ids = req_str_list(&c.body, "userIds")?;
    if user_ids.is_empty() {
        return Err(ApiError::bad_request(
            "invalidParameter.userIds.empty",
            "userIds is empty",
        ));
    }
    if user_ids.len() > 20 {
        return Err(ApiError::bad_request(
            "invalidParameter.userIds.exceed",
            "userIds 最多 20 个",
        ));
    }
    let pqk = ids::process_query_key();
    let text = robot_text(&c.msg_key, &c.params);
    let body = logged_body(&c);
    let (at_ms, epoch_ms) = (shared.now_ms(), ids::epoch_ms());
    let invalid = shared.mutate(|st| {
        let mut invalid = Vec::new();
        for uid in &user_ids {
            if !st.users.contains_key(uid) {
                invalid.push(uid.clone());
                continue;
            }
            let cid = st.dm_conversation(&c.app.client_id, uid);
            st.push_sent(SentMessage {
                seq: 0,
                at_ms,
                epoch_ms,
                app: Some(c.app.client_id.clone()),
                api: "robot.batchSend".into(),
                path: format!("POST {BATCH_SEND}"),
                target: SentTarget::User {
                    staff_id: uid.clone(),
                },
                conversation_id: Some(cid),
                msg_type: c.msg_key.clone(),
                body: body.clone(),
                text: text.clone(),
                process_query_key: Some(pqk.clone()),
                out_track_id: None,
                recalled: false,
            });
        }
        invalid
    });
    Ok(json!({"processQueryKey": pqk, "invalidStaffIdList": invalid, "flowControlledStaffIdList": []}))
}

/// `POST /v1.0/robot/groupMessages/send`.
pub(crate) async fn group_send(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    match group_send_inner(&shared, &headers, &raw) {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

fn group_send_inner(shared: &Shared, headers: &HeaderMap, raw: &[u8]) -> Result<Value, ApiError> {
    let c = check_send(shared, headers, raw, GROUP_SEND)?;
    let cid = req_str(&c.body, "openConversationId")?.to_owned();
    if c.body["msgParam"].as_str().map_or(0, str::len) > 15_000 {
        return Err(ApiError::bad_request(
            "invalidParameter.msgParam.tooLong",
            "msgParam exceeds 15000 bytes",
        ));
    }
    let pqk = ids::process_query_key();
    let text = robot_text(&c.msg_key, &c.params);
    let body = logged_body(&c);
    let (at_ms, epoch_ms) = (shared.now_ms(), ids::epoch_ms());
    shared.mutate(|st| {
        let Some(group) = st.groups.get(&cid) else {
            return Err(ApiError::bad_request(
                "invalidParameter.openConversationId.invalid",
                "openConversationId 不存在",
            ));
        };
        if !group.bots.contains(&c.app.client_id) {
            return Err(ApiError::bad_request(
                "resource.unavailable",
                "机器人不在该群中或已被停用",
            ));
        }
        st.push_sent(SentMessage {
            seq: 0,
            at_ms,
            epoch_ms,
            app: Some(c.app.client_id.clone()),
            api: "robot.groupSend".into(),
            path: format!("POST {GROUP_SEND}"),
            target: SentTarget::Group {
                open_conversation_id: cid.clone(),
            },
            conversation_id: Some(cid.clone()),
            msg_type: c.msg_key.clone(),
            body,
            text,
            process_query_key: Some(pqk.clone()),
            out_track_id: None,
            recalled: false,
        });
        Ok(())
    })?;
    Ok(json!({"processQueryKey": pqk}))
}

/// `POST /v1.0/robot/otoMessages/batchRecall`.
pub(crate) async fn oto_recall(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    match recall_inner(&shared, &headers, &raw, false) {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /v1.0/robot/groupMessages/recall`.
pub(crate) async fn group_recall(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    match recall_inner(&shared, &headers, &raw, true) {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

fn recall_inner(shared: &Shared, headers: &HeaderMap, raw: &[u8], group: bool) -> Result<Value, ApiError> {
    let api = if group { GROUP_RECALL } else { OTO_RECALL };
    let app = authenticate(shared, headers, api)?;
    require_scope(&app, SCOPE_ROBOT_SEND)?;
    let body = json_body(raw)?;
    check_robot_code(&app, &body)?;
    let cid = if group {
        Some(req_str(&body, "openConversationId")?.to_owned())
    } else {
        None
    };
    let keys = req_str_list(&body, "processQueryKeys")?;
    if keys.is_empty() || keys.len() > 20 {
        return Err(ApiError::bad_request(
            "invalidParameter.processQueryKeys",
            "processQueryKeys must hold 1 to 20 keys",
        ));
    }
    Ok(shared.mutate(|st| {
        let mut ok = Vec::new();
        let mut failed = Map::new();
        for key in keys {
            let matching: Vec<&mut SentMessage> = st
                .sent
                .iter_mut()
                .filter(|m| {
                    m.app.as_deref() == Some(app.client_id.as_str())
                        && m.process_query_key.as_deref() == Some(key.as_str())
                        && match (&cid, &m.target) {
                            (Some(c), SentTarget::Group { open_conversation_id }) => {
                                open_conversation_id == c
                            }
                            (None, SentTarget::User { .. }) => true,
                            _ => false,
                        }
                })
                .collect();
            if matching.is_empty() {
                failed.insert(key, json!("processQueryKey not found"));
            } else if matching.iter().all(|m| m.recalled) {
                failed.insert(key, json!("message already recalled"));
            } else {
                for m in matching {
                    m.recalled = true;
                }
                ok.push(key);
            }
        }
        json!({"successResult": ok, "failedResult": failed})
    }))
}
