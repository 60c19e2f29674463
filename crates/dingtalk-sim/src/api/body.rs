//! Reading request bodies without trusting them: every failure becomes a DingTalk-shaped
//! error instead of a panic or an axum rejection.

use serde_json::Value;

use crate::error::ApiError;

pub(crate) fn json_body(bytes: &[u8]) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_slice(bytes).map_err(ApiError::invalid_body)?;
    if !v.is_object() {
        return Err(ApiError::invalid_body("the body must be a JSON object"));
    }
    Ok(v)
}

/// A mandatory non-empty string field.
pub(crate) fn req_str<'a>(body: &'a Value, key: &str) -> Result<&'a str, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Err(ApiError::missing(key)),
        Some(Value::String(s)) if s.is_empty() => Err(ApiError::missing(key)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::bad_request(
            format!("invalidParameter.{key}"),
            format!("{key} must be a string"),
        )),
    }
}

/// An optional string field.
pub(crate) fn opt_str<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str)
}

/// A mandatory array of strings.
pub(crate) fn req_str_list(body: &Value, key: &str) -> Result<Vec<String>, ApiError> {
    let Some(v) = body.get(key).filter(|v| !v.is_null()) else {
        return Err(ApiError::missing(key));
    };
    let Some(items) = v.as_array() else {
        return Err(ApiError::bad_request(
            format!("invalidParameter.{key}"),
            format!("{key} must be an array of strings"),
        ));
    };
    items
        .iter()
        .map(|i| {
            i.as_str().map(str::to_owned).ok_or_else(|| {
                ApiError::bad_request(
                    format!("invalidParameter.{key}"),
                    format!("{key} must contain strings only"),
                )
            })
        })
        .collect()
}

/// Concatenates every string value in a JSON tree (for keyword checks and log text).
pub(crate) fn all_text(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(a) => a.iter().for_each(|x| all_text(x, out)),
        Value::Object(o) => o.values().for_each(|x| all_text(x, out)),
        _ => {}
    }
}
