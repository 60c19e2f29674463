//! `POST /v1.0/card/instances/createAndDeliver`: creates a card and delivers it to group and
//! robot-DM spaces, each with its own result.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::api::auth::{authenticate, require_scope};
use crate::api::body::{json_body, opt_str, req_str};
use crate::error::ApiError;
use crate::ids;
use crate::model::{App, Card, CardSpace, CardStatus, SCOPE_CARD_INSTANCE, SentMessage, SentTarget};
use crate::state::{Shared, State as SimState};

use super::{CREATE_AND_DELIVER, card_text, param_map, respond};

/// `POST /v1.0/card/instances/createAndDeliver`.
pub(crate) async fn create_and_deliver(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    respond(create_and_deliver_inner(&shared, &headers, &raw))
}

fn create_and_deliver_inner(shared: &Shared, headers: &HeaderMap, raw: &[u8]) -> Result<Value, ApiError> {
    let app = authenticate(shared, headers, CREATE_AND_DELIVER)?;
    require_scope(&app, SCOPE_CARD_INSTANCE)?;
    let body = json_body(raw)?;
    let card = NewCard::parse(&body)?;
    let (at_ms, epoch_ms) = (shared.now_ms(), ids::epoch_ms());
    shared.mutate(|st| {
        check_route(st, &app, &card)?;
        if st.cards.contains_key(&card.out_track_id) {
            return Err(ApiError::bad_request(
                "param.cardAlreadyExist",
                "卡片已存在，outTrackId 重复",
            ));
        }
        let delivery = Delivery {
            app: &app,
            body: &body,
            card: &card,
            text: card_text(&card.card_data),
            at_ms,
            epoch_ms,
        };
        let mut results = Vec::new();
        let mut delivered = Vec::new();
        for (kind, id) in &card.spaces {
            let (result, space) = delivery.deliver(st, kind, id);
            results.push(result);
            delivered.extend(space);
        }
        st.cards.insert(
            card.out_track_id.clone(),
            Card {
                out_track_id: card.out_track_id.clone(),
                app: app.client_id.clone(),
                template_id: card.template_id.clone(),
                callback_type: card.callback_type.clone(),
                callback_route_key: card.callback_route_key.clone(),
                spaces: delivered,
                card_data: card.card_data.clone(),
                private_data: card.private_data.clone(),
                status: CardStatus::Created,
                stream_history: Vec::new(),
                update_history: Vec::new(),
                flow_status: card.card_data.get("flowStatus").cloned().into_iter().collect(),
                created_at_ms: at_ms,
                extension: card.extension.clone(),
            },
        );
        Ok(json!({"success": true, "result": {"outTrackId": card.out_track_id, "deliverResults": results}}))
    })
}

/// A checked `createAndDeliver` body.
struct NewCard {
    template_id: String,
    out_track_id: String,
    /// (space type, space id), in request order.
    spaces: Vec<(String, String)>,
    card_data: BTreeMap<String, String>,
    callback_type: Option<String>,
    /// `callbackRouteKey` (HTTP callbacks).
    callback_route_key: Option<String>,
    /// `userIdType` 2: `IM_ROBOT` spaces name unionIds instead of staff ids.
    union_ids: bool,
    extension: Option<String>,
    private_data: BTreeMap<String, BTreeMap<String, String>>,
}

impl NewCard {
    fn parse(body: &Value) -> Result<Self, ApiError> {
        let template_id = req_str(body, "cardTemplateId")?.to_owned();
        let out_track_id = req_str(body, "outTrackId")?.to_owned();
        let open_space_id = req_str(body, "openSpaceId")?;
        let card_data = param_map(
            body.get("cardData").and_then(|d| d.get("cardParamMap")),
            "cardData.cardParamMap",
        )?;
        let callback_type = opt_str(body, "callbackType").map(str::to_owned);
        if let Some(cb) = &callback_type
            && !matches!(cb.as_str(), "STREAM" | "HTTP")
        {
            return Err(ApiError::bad_request(
                "param.callbackTypeInvalid",
                "callbackType must be STREAM or HTTP",
            ));
        }
        let callback_route_key = opt_str(body, "callbackRouteKey")
            .filter(|k| !k.is_empty())
            .map(str::to_owned);
        let spaces = parse_spaces(open_space_id)?;
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
        Ok(Self {
            template_id,
            out_track_id,
            spaces,
            card_data,
            callback_type,
            callback_route_key,
            union_ids,
            extension,
            private_data,
        })
    }
}

/// An `HTTP` card must name a route key the app registered: DingTalk sends its presses to the
/// URL bound to that key (open.dingtalk.com/document/development/event-callback-card, "HTTP
/// 需要完成的准备工作"). DingTalk documents no error code for a missing or unknown key; the
/// sim answers the register API's `param.callbackRouteKeyEmpty` for a missing one and its own
/// `param.callbackRouteKeyNotExist` for an unregistered one, so the mistake cannot pass
/// unnoticed in tests.
fn check_route(st: &SimState, app: &App, card: &NewCard) -> Result<(), ApiError> {
    if card.callback_type.as_deref() != Some("HTTP") {
        return Ok(());
    }
    let Some(key) = &card.callback_route_key else {
        return Err(ApiError::bad_request(
            "param.callbackRouteKeyEmpty",
            "callbackType HTTP needs the callbackRouteKey of a registered callback (POST /v1.0/card/callbacks/register)",
        ));
    };
    if st.card_route_of(&app.client_id, key).is_none() {
        return Err(ApiError::bad_request(
            "param.callbackRouteKeyNotExist",
            format!(
                "callbackRouteKey {key:?} is not registered for this app; register it with POST /v1.0/card/callbacks/register first"
            ),
        ));
    }
    Ok(())
}

/// `dtv1.card//TYPE.id;TYPE.id…` → (type, id) pairs.
fn parse_spaces(open_space_id: &str) -> Result<Vec<(String, String)>, ApiError> {
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
    Ok(spaces)
}

/// What the deliveries of one card to its spaces share.
struct Delivery<'a> {
    app: &'a App,
    body: &'a Value,
    card: &'a NewCard,
    text: String,
    at_ms: u64,
    epoch_ms: u64,
}

impl Delivery<'_> {
    /// Delivers the card to one space: its `deliverResults` entry, and the space when the
    /// card landed there (logged as a sent message).
    fn deliver(&self, st: &mut SimState, kind: &str, id: &str) -> (Value, Option<CardSpace>) {
        let outcome = deliver_check(st, self.app, self.body, kind, id, self.card.union_ids);
        let mut r = json!({"spaceType": kind, "spaceId": id, "success": outcome.is_ok()});
        let (target, cid) = match outcome {
            Ok(landed) => landed,
            Err(msg) => {
                r["errorMsg"] = json!(msg);
                return (r, None);
            }
        };
        let carrier = ids::process_query_key();
        r["carrierId"] = json!(carrier);
        let space = CardSpace {
            space_type: kind.to_owned(),
            space_id: id.to_owned(),
            carrier_id: carrier.clone(),
        };
        st.push_sent(SentMessage {
            seq: 0,
            at_ms: self.at_ms,
            epoch_ms: self.epoch_ms,
            app: Some(self.app.client_id.clone()),
            api: "card".into(),
            path: format!("POST {CREATE_AND_DELIVER}"),
            target,
            conversation_id: Some(cid),
            msg_type: "card".into(),
            body: self.body.clone(),
            text: self.text.clone(),
            process_query_key: Some(carrier),
            out_track_id: Some(self.card.out_track_id.clone()),
            recalled: false,
        });
        (r, Some(space))
    }
}

/// Why a delivery to one space fails, or where it lands.
fn deliver_check(
    st: &mut SimState,
    app: &App,
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
