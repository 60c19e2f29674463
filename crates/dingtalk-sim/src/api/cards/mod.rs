//! Interactive and AI cards: `createAndDeliver`, streaming updates, instance updates and the
//! registration of HTTP callback routes. (Clicks on a card come back to the bot as card
//! callbacks, over Stream or to the registered URL; see `inject`.)

mod deliver;
mod register;
mod streaming;
mod update;

use std::collections::BTreeMap;

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::ApiError;
use crate::state::State;

pub(crate) use deliver::create_and_deliver;
pub(crate) use register::register;
pub(crate) use streaming::streaming;
pub(crate) use update::update_instance;

pub(crate) const CREATE_AND_DELIVER: &str = "/v1.0/card/instances/createAndDeliver";
pub(crate) const STREAMING: &str = "/v1.0/card/streaming";
pub(crate) const INSTANCES: &str = "/v1.0/card/instances";
pub(crate) const REGISTER_CALLBACK: &str = "/v1.0/card/callbacks/register";

pub(super) fn param_map(v: Option<&Value>, what: &str) -> Result<BTreeMap<String, String>, ApiError> {
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

pub(super) fn respond(r: Result<Value, ApiError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The text a card shows in the sent-message log: its first non-empty text variable.
pub(super) fn card_text(data: &BTreeMap<String, String>) -> String {
    ["content", "msgContent", "markdown", "text", "title"]
        .iter()
        .find_map(|k| data.get(*k).filter(|v| !v.is_empty()).cloned())
        .unwrap_or_else(|| "[卡片]".to_owned())
}

/// Keeps the sent-message log in step with what the card now shows.
pub(super) fn refresh_sent_text(st: &mut State, out_track_id: &str, text: &str) {
    for m in st
        .sent
        .iter_mut()
        .filter(|m| m.out_track_id.as_deref() == Some(out_track_id))
    {
        text.clone_into(&mut m.text);
    }
}
