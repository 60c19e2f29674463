//! Card callbacks (button clicks, form submits) and the response that updates the card
//! (protocol §6.7). Stream topic `/v1.0/card/instances/callback`; the HTTP callback body is
//! the same JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::decode::{ModelError, Obj, parse_json};
use super::frame::{AckFrame, json_kind};
use crate::ids::{CorpId, MessageId, OutTrackId, StaffId, UnionId};

/// Name used for this payload in errors.
const WHAT: &str = "card callback";

/// A user acted on an interactive card.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CardCallback {
    /// `type`, e.g. `actionCallback`.
    pub callback_type: Option<String>,
    /// The card instance (required).
    pub out_track_id: OutTrackId,
    /// The user's organisation.
    pub corp_id: Option<CorpId>,
    /// The acting user, in the id kind given by [`CardCallback::user_id_type`].
    pub user_id: Option<String>,
    /// Kind of `user_id` (sent as a number or a string).
    pub user_id_type: Option<UserIdType>,
    /// Where the card lives, e.g. `IM_GROUP`, `IM_ROBOT`.
    pub space_type: Option<String>,
    /// Space id (a conversation id for `IM_GROUP`).
    pub space_id: Option<String>,
    /// `content` decoded from its JSON text.
    pub content: CardPrivateData,
    /// `extension` decoded leniently: its JSON if the text parses, else the text itself.
    pub extension: Option<Value>,
    /// The entire payload as received.
    pub raw: Value,
}

/// `userIdType` of a card callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UserIdType {
    /// `1`: org user id (staff id), DingTalk's default.
    UserId,
    /// `2`: union id.
    UnionId,
    /// Any other value.
    Other(i64),
}

impl From<i64> for UserIdType {
    fn from(raw: i64) -> Self {
        match raw {
            1 => Self::UserId,
            2 => Self::UnionId,
            other => Self::Other(other),
        }
    }
}

/// `cardPrivateData` inside a callback's `content`.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct CardPrivateData {
    /// Ids of the components the user acted on.
    pub action_ids: Vec<String>,
    /// Parameters configured on the component; form values also land here.
    pub params: Map<String, Value>,
}

impl CardCallback {
    /// Decodes a callback from JSON text.
    ///
    /// # Errors
    /// [`ModelError::Json`] when `text` is not JSON; otherwise as [`CardCallback::from_value`].
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        Self::from_value(parse_json(WHAT, text)?)
    }

    /// Decodes a callback from a parsed value, keeping it as [`CardCallback::raw`].
    ///
    /// # Errors
    /// [`ModelError::NotAnObject`] when `raw` is not an object; [`ModelError::MissingField`] when
    /// `outTrackId` is absent or empty; [`ModelError::InvalidField`] when a known field has the wrong
    /// JSON type; [`ModelError::EmbeddedJson`] when `content` holds text that is not JSON.
    pub fn from_value(raw: Value) -> Result<Self, ModelError> {
        let o = Obj::root(WHAT, &raw)?;
        let callback = Self {
            callback_type: o.string("type")?,
            out_track_id: OutTrackId::new(o.required("outTrackId")?),
            corp_id: o.id("corpId", CorpId::new)?,
            user_id: o.stringish("userId")?,
            user_id_type: o.int("userIdType")?.map(UserIdType::from),
            space_type: o.string("spaceType")?,
            space_id: o.stringish("spaceId")?,
            content: match o.embedded_json("content")? {
                None => CardPrivateData::default(),
                Some(content) => private_data(&content)?,
            },
            extension: extension(o.get("extension")),
            raw: Value::Null,
        };
        Ok(Self { raw, ..callback })
    }

    /// The user as a staff id, when `userIdType` is absent (DingTalk's default) or 1.
    #[must_use]
    pub fn staff_id(&self) -> Option<StaffId> {
        match self.user_id_type {
            None | Some(UserIdType::UserId) => self.user_id.as_deref().map(StaffId::new),
            _ => None,
        }
    }

    /// The user as a union id, when `userIdType` is 2.
    #[must_use]
    pub fn union_id(&self) -> Option<UnionId> {
        match self.user_id_type {
            Some(UserIdType::UnionId) => self.user_id.as_deref().map(UnionId::new),
            _ => None,
        }
    }

    /// The first action id, which is what a single button click carries.
    #[must_use]
    pub fn action_id(&self) -> Option<&str> {
        self.content.action_ids.first().map(String::as_str)
    }
}

fn private_data(content: &Value) -> Result<CardPrivateData, ModelError> {
    let c = Obj::nested(WHAT, "content".into(), content)?;
    let Some(data) = c.object("cardPrivateData")? else {
        return Ok(CardPrivateData::default());
    };
    let action_ids = match data.array("actionIds")? {
        None => Vec::new(),
        Some(ids) => ids
            .iter()
            .enumerate()
            .map(|(i, id)| match id {
                Value::String(s) => Ok(s.clone()),
                other => Err(ModelError::InvalidField {
                    what: WHAT,
                    field: data.path(&format!("actionIds[{i}]")),
                    expected: "a string",
                    found: json_kind(other).to_owned(),
                }),
            })
            .collect::<Result<_, _>>()?,
    };
    let params = data.map("params")?.cloned().unwrap_or_default();
    Ok(CardPrivateData { action_ids, params })
}

/// `extension` is documented as JSON text; anything unparseable is kept as-is rather than
/// failing a click whose essential part (`content`) is fine.
fn extension(v: Option<&Value>) -> Option<Value> {
    match v? {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))),
        other => Some(other.clone()),
    }
}

/// The answer to a card callback; it updates the card. Send it within 2 s, on Stream wrapped
/// as `{"response": …}` (see [`CardCallbackResponse::into_ack`]).
///
/// ```
/// use dingtalk::model::CardCallbackResponse;
/// let r = CardCallbackResponse::by_key().card_param("feedback", "up").private_param("voted", "true");
/// assert_eq!(r.to_value()["cardData"]["cardParamMap"]["feedback"], "up");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CardCallbackResponse {
    /// Public card variables, seen by everyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_data: Option<CardParamMap>,
    /// Variables private to the clicking user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_private_data: Option<CardParamMap>,
    /// Merge (by key) or replace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_update_options: Option<CardUpdateOptions>,
}

/// `{"cardParamMap": {…}}`. Values must be strings: DingTalk rejects other JSON types here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardParamMap {
    /// Variable name → value.
    pub card_param_map: BTreeMap<String, String>,
}

/// Whether updates merge into existing variables by key (`true`) or replace them all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardUpdateOptions {
    /// Merge `cardData` by key.
    pub update_card_data_by_key: bool,
    /// Merge `userPrivateData` by key.
    pub update_private_data_by_key: bool,
}

impl CardCallbackResponse {
    /// An empty response (no card change).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A response whose updates merge by key into both public and private data; what callers
    /// usually want, since a replace drops every variable not repeated.
    #[must_use]
    pub fn by_key() -> Self {
        Self::new().update_options(CardUpdateOptions {
            update_card_data_by_key: true,
            update_private_data_by_key: true,
        })
    }

    /// Sets a public card variable.
    #[must_use]
    pub fn card_param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.card_data
            .get_or_insert_with(CardParamMap::default)
            .card_param_map
            .insert(key.into(), value.into());
        self
    }

    /// Sets a variable private to the clicking user.
    #[must_use]
    pub fn private_param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.user_private_data
            .get_or_insert_with(CardParamMap::default)
            .card_param_map
            .insert(key.into(), value.into());
        self
    }

    /// Sets the update options.
    #[must_use]
    pub fn update_options(mut self, options: CardUpdateOptions) -> Self {
        self.card_update_options = Some(options);
        self
    }

    /// The response object (what goes under `"response"`).
    #[must_use]
    pub fn to_value(&self) -> Value {
        // Only string maps and booleans: serialisation cannot fail, so Null is unreachable.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The Stream ACK carrying this response for the callback frame `message_id`.
    #[must_use]
    pub fn into_ack(self, message_id: MessageId) -> AckFrame {
        AckFrame::callback(message_id, self.to_value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inline_object_content_and_string_user_id_type_are_accepted() {
        let cb = CardCallback::from_value(json!({
            "outTrackId": "t", "userId": "u", "userIdType": "2",
            "content": {"cardPrivateData": {"actionIds": ["a"], "params": {"k": 1}}},
            "extension": "not json"
        }))
        .unwrap();
        assert_eq!(cb.action_id(), Some("a"));
        assert_eq!(cb.content.params["k"], 1);
        assert_eq!(cb.union_id(), Some(UnionId::new("u")));
        assert_eq!(cb.staff_id(), None);
        assert_eq!(cb.extension, Some(Value::String("not json".into())));
    }

    #[test]
    fn non_string_action_id_is_named() {
        let err = CardCallback::from_value(json!({
            "outTrackId": "t", "content": "{\"cardPrivateData\":{\"actionIds\":[1]}}"
        }))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "card callback: field `content.cardPrivateData.actionIds[0]` must be a string, found a number"
        );
    }

    #[test]
    fn empty_response_serialises_to_empty_object() {
        assert_eq!(CardCallbackResponse::new().to_value(), json!({}));
    }
}
