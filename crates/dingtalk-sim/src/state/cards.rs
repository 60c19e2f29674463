//! Card instances: where a card's callbacks go, and how updates (instance updates and
//! callback responses) change its data.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::Card;

use super::State;

pub(crate) struct CardRoute {
    pub app: String,
    /// `Some(key)` for an `HTTP` card: its presses go to the URL registered under `key`.
    pub http_route_key: Option<String>,
    pub space_type: String,
    pub space_id: String,
    pub extension: Option<String>,
}

impl State {
    pub fn card_route(&self, out_track_id: &str) -> Option<CardRoute> {
        let card = self.cards.get(out_track_id)?;
        let space = card.spaces.first();
        Some(CardRoute {
            app: card.app.clone(),
            http_route_key: card
                .callback_route_key
                .clone()
                .filter(|_| card.callback_type.as_deref() == Some("HTTP")),
            space_type: space.map(|s| s.space_type.clone()).unwrap_or_default(),
            space_id: space.map(|s| s.space_id.clone()).unwrap_or_default(),
            extension: card.extension.clone(),
        })
    }

    /// Applies the `response` of a card-callback ACK to the card.
    pub fn on_card_callback_acked(&mut self, key: &str, response: Option<Value>) {
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
        if let Some(card) = self.cards.get_mut(&out_track_id) {
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

/// A card variable's value as the card keeps it: strings as they are, anything else as JSON.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
