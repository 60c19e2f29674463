//! Interactive / AI cards: createAndDeliver, streaming, instance updates, callbacks.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::{Shared, State};

/// Lifecycle of a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardStatus {
    /// Created, nothing streamed yet.
    Created,
    /// Streaming in progress ("inputting").
    Streaming,
    /// `isFinalize: true` received.
    Finished,
    /// `isError: true` received.
    Failed,
}

/// One space a card was delivered to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardSpace {
    /// `IM_GROUP` or `IM_ROBOT`.
    pub space_type: String,
    /// openConversationId or staff id.
    pub space_id: String,
    /// carrierId (processQueryKey).
    pub carrier_id: String,
}

/// One `PUT /v1.0/card/streaming` call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamUpdate {
    /// Monotonic ms since sim start.
    pub at_ms: u64,
    /// Variable.
    pub key: String,
    /// Content sent.
    pub content: String,
    /// `guid`.
    pub guid: String,
    /// `isFull`.
    pub is_full: bool,
    /// `isFinalize`.
    pub is_finalize: bool,
    /// `isError`.
    pub is_error: bool,
    /// The variable's value after this call.
    pub value_after: String,
}

/// A card instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Card {
    /// outTrackId.
    pub out_track_id: String,
    /// Owning app.
    pub app: String,
    /// cardTemplateId.
    pub template_id: String,
    /// `STREAM` or `HTTP`.
    pub callback_type: Option<String>,
    /// Where it was delivered.
    pub spaces: Vec<CardSpace>,
    /// Current public data (`cardParamMap`).
    pub card_data: BTreeMap<String, String>,
    /// Current private data per user.
    pub private_data: BTreeMap<String, BTreeMap<String, String>>,
    /// Lifecycle.
    pub status: CardStatus,
    /// Every streaming call.
    pub stream_history: Vec<StreamUpdate>,
    /// Every `PUT /v1.0/card/instances` body and callback response applied, in order.
    pub update_history: Vec<Value>,
    /// Every `flowStatus` the card was given (at creation, by instance updates, by callback
    /// responses), in order. AI card templates draw their state from this variable: 1
    /// processing, 2 inputting, 3 finished, 4 executing, 5 failed (`AICardStatus` in
    /// open-dingtalk/dingtalk-stream-sdk-python `dingtalk_stream/card_replier.py`). Streaming
    /// with `isFinalize` does not set it: that SDK's `AICardReplier.finish`/`fail` and the
    /// OpenClaw DingTalk plugins (soimy/openclaw-channel-dingtalk `finishAICard`) put it with
    /// an instance update after the last streaming call, or the template keeps showing
    /// "typing".
    #[serde(default)]
    pub flow_status: Vec<String>,
    /// Created (monotonic ms).
    pub created_at_ms: u64,
    /// Delivery `extension` as JSON text (from the deliver models).
    pub extension: Option<String>,
}

pub(crate) struct CardRoute {
    pub app: String,
    pub space_type: String,
    pub space_id: String,
    pub extension: Option<String>,
}

impl State {
    pub fn card_route(&self, out_track_id: &str) -> Option<CardRoute> {
        let card = self.ext.cards.get(out_track_id)?;
        let space = card.spaces.first();
        Some(CardRoute {
            app: card.app.clone(),
            space_type: space.map(|s| s.space_type.clone()).unwrap_or_default(),
            space_id: space.map(|s| s.space_id.clone()).unwrap_or_default(),
            extension: card.extension.clone(),
        })
    }

    /// Applies the `response` of a card-callback ACK to the card.
    pub fn on_card_callback_acked(&mut self, _shared: &Arc<Shared>, key: &str, response: Option<Value>) {
        let Some(response) = response.filter(|r| r.is_object()) else {
            return;
        };
        let Some(d) = self
            .delivery_index
            .iter()
            .find(|(k, _)| k.1 == key)
            .map(|(_, i)| *i)
        else {
            return;
        };
        let Some(data) = self
            .deliveries
            .get(d)
            .and_then(|d| serde_json::from_str::<Value>(&d.data).ok())
        else {
            return;
        };
        let out_track_id = data
            .get("outTrackId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let user = data
            .get("userId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Some(card) = self.ext.cards.get_mut(&out_track_id) {
            apply_update(card, &response, Some(&user));
        }
    }
}

/// Merges or replaces card data per `cardUpdateOptions` (callback responses and instance updates).
pub(crate) fn apply_update(card: &mut Card, body: &Value, clicking_user: Option<&str>) {
    let opts = body.get("cardUpdateOptions");
    let by_key = |name: &str| {
        opts.and_then(|o| o.get(name))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    if let Some(map) = body
        .get("cardData")
        .and_then(|d| d.get("cardParamMap"))
        .and_then(Value::as_object)
    {
        let new: BTreeMap<String, String> = map.iter().map(|(k, v)| (k.clone(), value_text(v))).collect();
        if by_key("updateCardDataByKey") {
            card.card_data.extend(new);
        } else {
            card.card_data = new;
        }
        if let Some(status) = map.get("flowStatus") {
            card.flow_status.push(value_text(status));
        }
    }
    let private_by_key = by_key("updatePrivateDataByKey");
    let mut merge_private = |user: &str, map: &serde_json::Map<String, Value>| {
        let new: BTreeMap<String, String> = map.iter().map(|(k, v)| (k.clone(), value_text(v))).collect();
        let slot = card.private_data.entry(user.to_owned()).or_default();
        if private_by_key {
            slot.extend(new);
        } else {
            *slot = new;
        }
    };
    if let (Some(user), Some(map)) = (
        clicking_user,
        body.get("userPrivateData")
            .and_then(|d| d.get("cardParamMap"))
            .and_then(Value::as_object),
    ) {
        merge_private(user, map);
    }
    if let Some(users) = body.get("privateData").and_then(Value::as_object) {
        for (user, data) in users {
            if let Some(map) = data.get("cardParamMap").and_then(Value::as_object) {
                merge_private(user, map);
            }
        }
    }
    card.update_history.push(body.clone());
}

pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

// ----- HTTP handlers -----

use axum::Json;
use axum::extract::State as AxState;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use crate::body::{json_body, opt_str, req_str};
use crate::error::ApiError;
use crate::ids;
use crate::model::{SCOPE_CARD_INSTANCE, SCOPE_CARD_STREAMING, SentMessage, SentTarget};
use crate::oauth::{authenticate, require_scope};

pub(crate) const CREATE_AND_DELIVER: &str = "/v1.0/card/instances/createAndDeliver";
pub(crate) const STREAMING: &str = "/v1.0/card/streaming";
pub(crate) const INSTANCES: &str = "/v1.0/card/instances";

fn param_map(v: Option<&Value>, what: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(BTreeMap::new());
    };
    let Some(map) = v.as_object() else {
        return Err(ApiError::bad_request(
            "param.cardParamMapInvalid",
            format!("{what} must be an object"),
        ));
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            other => Err(ApiError::bad_request(
                "param.cardParamMapInvalid",
                format!("{what}.{k} must be a string (JSON-encode objects, arrays, numbers and booleans), got {other}"),
            )),
        })
        .collect()
}

fn respond(r: Result<Value, ApiError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /v1.0/card/instances/createAndDeliver`.
pub(crate) async fn create_and_deliver(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    respond(create_and_deliver_inner(&shared, &headers, &raw))
}

fn create_and_deliver_inner(shared: &Shared, headers: &HeaderMap, raw: &[u8]) -> Result<Value, ApiError> {
    let app = authenticate(shared, headers, CREATE_AND_DELIVER)?;
    require_scope(&app, SCOPE_CARD_INSTANCE)?;
    let body = json_body(raw)?;
    let template_id = req_str(&body, "cardTemplateId")?.to_owned();
    let out_track_id = req_str(&body, "outTrackId")?.to_owned();
    let open_space_id = req_str(&body, "openSpaceId")?.to_owned();
    let card_data = param_map(
        body.get("cardData").and_then(|d| d.get("cardParamMap")),
        "cardData.cardParamMap",
    )?;
    let callback_type = opt_str(&body, "callbackType").map(str::to_owned);
    if let Some(cb) = &callback_type
        && !matches!(cb.as_str(), "STREAM" | "HTTP")
    {
        return Err(ApiError::bad_request(
            "param.callbackTypeInvalid",
            "callbackType must be STREAM or HTTP",
        ));
    }
    let Some(spaces_raw) = open_space_id.strip_prefix("dtv1.card//") else {
        return Err(ApiError::bad_request(
            "param.openSpaceIdInvalid",
            "openSpaceId must start with dtv1.card//",
        ));
    };
    let mut spaces = Vec::new();
    for part in spaces_raw.split(';').filter(|p| !p.is_empty()) {
        let Some((kind, id)) = part.split_once('.') else {
            return Err(ApiError::bad_request(
                "param.openSpaceIdInvalid",
                format!("bad space {part:?}"),
            ));
        };
        if !matches!(kind, "IM_GROUP" | "IM_ROBOT" | "IM_SINGLE" | "ONE_BOX") || id.is_empty() {
            return Err(ApiError::bad_request(
                "param.openSpaceIdInvalid",
                format!("bad space {part:?}"),
            ));
        }
        spaces.push((kind.to_owned(), id.to_owned()));
    }
    if spaces.is_empty() {
        return Err(ApiError::bad_request(
            "param.openSpaceIdInvalid",
            "openSpaceId names no space",
        ));
    }
    let union_ids = body.get("userIdType").and_then(Value::as_i64) == Some(2);
    let extension = body
        .get("imGroupOpenDeliverModel")
        .or_else(|| body.get("imRobotOpenDeliverModel"))
        .and_then(|m| m.get("extension"))
        .map(Value::to_string);
    let mut private_data = BTreeMap::new();
    if let Some(p) = body.get("privateData").and_then(Value::as_object) {
        for (user, d) in p {
            private_data.insert(
                user.clone(),
                param_map(d.get("cardParamMap"), "privateData.cardParamMap")?,
            );
        }
    }
    let (at_ms, epoch_ms) = (shared.now_ms(), ids::epoch_ms());
    shared.mutate(|st| {
        if st.ext.cards.contains_key(&out_track_id) {
            return Err(ApiError::bad_request(
                "param.cardAlreadyExist",
                "卡片已存在，outTrackId 重复",
            ));
        }
        let mut results = Vec::new();
        let mut delivered = Vec::new();
        let text = card_text(&card_data);
        for (kind, id) in &spaces {
            let outcome = deliver_check(st, &app, &body, kind, id, union_ids);
            let mut r = json!({"spaceType": kind, "spaceId": id, "success": outcome.is_ok()});
            match outcome {
                Ok((target, cid)) => {
                    let carrier = ids::process_query_key();
                    r["carrierId"] = json!(carrier);
                    delivered.push(CardSpace {
                        space_type: kind.clone(),
                        space_id: id.clone(),
                        carrier_id: carrier.clone(),
                    });
                    st.push_sent(SentMessage {
                        seq: 0,
                        at_ms,
                        epoch_ms,
                        app: Some(app.client_id.clone()),
                        api: "card".into(),
                        path: format!("POST {CREATE_AND_DELIVER}"),
                        target,
                        conversation_id: Some(cid),
                        msg_type: "card".into(),
                        body: body.clone(),
                        text: text.clone(),
                        process_query_key: Some(carrier),
                        out_track_id: Some(out_track_id.clone()),
                        recalled: false,
                    });
                }
                Err(msg) => r["errorMsg"] = json!(msg),
            }
            results.push(r);
        }
        st.ext.cards.insert(
            out_track_id.clone(),
            Card {
                out_track_id: out_track_id.clone(),
                app: app.client_id.clone(),
                template_id: template_id.clone(),
                callback_type: callback_type.clone(),
                spaces: delivered,
                card_data: card_data.clone(),
                private_data: private_data.clone(),
                status: CardStatus::Created,
                stream_history: Vec::new(),
                update_history: Vec::new(),
                flow_status: card_data.get("flowStatus").cloned().into_iter().collect(),
                created_at_ms: at_ms,
                extension: extension.clone(),
            },
        );
        Ok(json!({"success": true, "result": {"outTrackId": out_track_id, "deliverResults": results}}))
    })
}

/// Why a delivery to one space fails, or where it lands.
fn deliver_check(
    st: &mut State,
    app: &crate::model::App,
    body: &Value,
    kind: &str,
    id: &str,
    union_ids: bool,
) -> Result<(SentTarget, String), String> {
    let robot_ok = |model: &str| -> Result<(), String> {
        let Some(m) = body.get(model) else {
            return Err(format!("{model} is required for this space"));
        };
        match m.get("robotCode").and_then(Value::as_str) {
            Some(code) if code == app.robot_code => Ok(()),
            Some(_) => Err("robotCode does not belong to this app".into()),
            None => Err(format!("{model}.robotCode is required")),
        }
    };
    match kind {
        "IM_GROUP" => {
            robot_ok("imGroupOpenDeliverModel")?;
            let Some(g) = st.groups.get(id) else {
                return Err("openConversationId does not exist".into());
            };
            if !g.bots.contains(&app.client_id) {
                return Err("robot is not a member of the group".into());
            }
            Ok((
                SentTarget::Group {
                    open_conversation_id: id.to_owned(),
                },
                id.to_owned(),
            ))
        }
        "IM_ROBOT" => {
            robot_ok("imRobotOpenDeliverModel")?;
            let user = if union_ids {
                st.users.values().find(|u| u.union_id == id).cloned()
            } else {
                st.users.get(id).cloned()
            };
            let Some(user) = user else {
                return Err("user does not exist".into());
            };
            let cid = st.dm_conversation(&app.client_id, &user.staff_id);
            Ok((
                SentTarget::User {
                    staff_id: user.staff_id,
                },
                cid,
            ))
        }
        other => Err(format!("space type {other} is not simulated")),
    }
}

fn card_text(data: &BTreeMap<String, String>) -> String {
    ["content", "msgContent", "markdown", "text", "title"]
        .iter()
        .find_map(|k| data.get(*k).filter(|v| !v.is_empty()).cloned())
        .unwrap_or_else(|| "[卡片]".to_owned())
}

/// `PUT /v1.0/card/streaming`.
pub(crate) async fn streaming(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    respond(streaming_inner(&shared, &headers, &raw))
}

fn streaming_inner(shared: &Shared, headers: &HeaderMap, raw: &[u8]) -> Result<Value, ApiError> {
    let app = authenticate(shared, headers, STREAMING)?;
    require_scope(&app, SCOPE_CARD_STREAMING)?;
    let body = json_body(raw)?;
    let out_track_id = req_str(&body, "outTrackId")?.to_owned();
    let guid = opt_str(&body, "guid")
        .filter(|g| !g.is_empty())
        .map(str::to_owned);
    let Some(guid) = guid else {
        return Err(ApiError::bad_request("param.stream.guidEmpty", "guid is empty"));
    };
    let Some(key) = opt_str(&body, "key").filter(|k| !k.is_empty()).map(str::to_owned) else {
        return Err(ApiError::bad_request("param.stream.keyEmpty", "key is empty"));
    };
    let Some(content) = opt_str(&body, "content").map(str::to_owned) else {
        return Err(ApiError::bad_request(
            "param.stream.contentEmpty",
            "content is empty",
        ));
    };
    let flag = |k: &str| body.get(k).and_then(Value::as_bool).unwrap_or(false);
    let (is_full, is_finalize, is_error) = (flag("isFull"), flag("isFinalize"), flag("isError"));
    let now = shared.now_ms();
    shared.mutate(|st| {
        let card = match st.ext.cards.get_mut(&out_track_id) {
            Some(c) if c.app == app.client_id => c,
            _ => {
                return Err(ApiError::bad_request(
                    "param.stream.outTrackId",
                    "card is not exist",
                ));
            }
        };
        if card.stream_history.iter().any(|u| u.guid == guid) {
            // Same guid = a retry of a call already applied.
            return Ok(json!({"success": true, "result": true}));
        }
        let finished = matches!(card.status, CardStatus::Finished | CardStatus::Failed);
        let current_len = card.card_data.get(&key).map_or(0, String::len);
        let new_len = if is_full {
            content.len()
        } else {
            current_len + content.len()
        };
        if new_len > shared.config.card_content_max_bytes {
            return Err(ApiError::bad_request(
                "param.stream.content",
                format!(
                    "content is too large ({new_len} bytes; at most {})",
                    shared.config.card_content_max_bytes
                ),
            ));
        }
        let slot = card.card_data.entry(key.clone()).or_default();
        if is_full {
            slot.clone_from(&content);
        } else {
            slot.push_str(&content);
        }
        let value_after = slot.clone();
        card.status = if is_error {
            CardStatus::Failed
        } else if is_finalize {
            CardStatus::Finished
        } else if finished {
            card.status
        } else {
            CardStatus::Streaming
        };
        card.stream_history.push(StreamUpdate {
            at_ms: now,
            key,
            content,
            guid,
            is_full,
            is_finalize,
            is_error,
            value_after: value_after.clone(),
        });
        refresh_sent_text(st, &out_track_id, &value_after);
        if finished {
            st.violation(
                now,
                None,
                Some(&app.client_id),
                "stream_after_finalize",
                format!("card {out_track_id} streamed after it was finalized"),
                None,
            );
        }
        Ok(json!({"success": true, "result": true}))
    })
}

fn refresh_sent_text(st: &mut State, out_track_id: &str, text: &str) {
    for m in st
        .sent
        .iter_mut()
        .filter(|m| m.out_track_id.as_deref() == Some(out_track_id))
    {
        text.clone_into(&mut m.text);
    }
}

/// `PUT /v1.0/card/instances`.
pub(crate) async fn update_instance(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    respond(update_inner(&shared, &headers, &raw))
}

fn update_inner(shared: &Shared, headers: &HeaderMap, raw: &[u8]) -> Result<Value, ApiError> {
    let app = authenticate(shared, headers, INSTANCES)?;
    require_scope(&app, SCOPE_CARD_INSTANCE)?;
    let body = json_body(raw)?;
    let out_track_id = req_str(&body, "outTrackId")?.to_owned();
    param_map(
        body.get("cardData").and_then(|d| d.get("cardParamMap")),
        "cardData.cardParamMap",
    )?;
    if let Some(p) = body.get("privateData").and_then(Value::as_object) {
        for d in p.values() {
            param_map(d.get("cardParamMap"), "privateData.cardParamMap")?;
        }
    }
    shared.mutate(|st| {
        let card = match st.ext.cards.get_mut(&out_track_id) {
            Some(c) if c.app == app.client_id => c,
            _ => return Err(ApiError::bad_request("param.cardNotExist", "card is not exist")),
        };
        apply_update(card, &body, None);
        match card.card_data.get("flowStatus").map(String::as_str) {
            Some("3") => card.status = CardStatus::Finished,
            Some("5") => card.status = CardStatus::Failed,
            Some("2") if card.status == CardStatus::Created => card.status = CardStatus::Streaming,
            _ => {}
        }
        let text = card_text(&card.card_data);
        refresh_sent_text(st, &out_track_id, &text);
        Ok(json!({"success": true, "result": true}))
    })
}
