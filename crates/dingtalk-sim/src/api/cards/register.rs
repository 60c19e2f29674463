//! `POST /v1.0/card/callbacks/register`: binds a route key to the URL that receives the
//! presses on the app's `callbackType: HTTP` cards (open.dingtalk.com/document/development/
//! register-card-callback-address: body `callbackRouteKey`, `callbackUrl`, optional
//! `apiSecret` and `forceUpdate`; answer `{"success":true,"result":{"callbackUrl","apiSecret"}}`;
//! errors 400 `param.callbackRouteKeyEmpty`, `param.callbackUrlEmpty`, `param.empty`;
//! permission `Card.Instance.Write`). What a repeated registration does is in
//! `state/card_routes.rs`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::api::auth::{authenticate, require_scope};
use crate::api::body::{json_body, opt_str};
use crate::error::ApiError;
use crate::model::SCOPE_CARD_INSTANCE;
use crate::state::{Registered, Shared};

use super::{REGISTER_CALLBACK, respond};

/// `POST /v1.0/card/callbacks/register`.
pub(crate) async fn register(State(shared): State<Arc<Shared>>, headers: HeaderMap, raw: Bytes) -> Response {
    respond(register_inner(&shared, &headers, &raw))
}

fn register_inner(shared: &Shared, headers: &HeaderMap, raw: &[u8]) -> Result<Value, ApiError> {
    let app = authenticate(shared, headers, REGISTER_CALLBACK)?;
    require_scope(&app, SCOPE_CARD_INSTANCE)?;
    let body = json_body(raw)?;
    if body.as_object().is_none_or(serde_json::Map::is_empty) {
        return Err(ApiError::bad_request("param.empty", "param.empty"));
    }
    let route_key = nonempty(&body, "callbackRouteKey", "param.callbackRouteKeyEmpty")?;
    let url = nonempty(&body, "callbackUrl", "param.callbackUrlEmpty")?;
    // DingTalk requires a publicly reachable URL; the sim only needs one it can POST to.
    if url::Url::parse(url).is_err() {
        return Err(ApiError::bad_request(
            "param.callbackUrlInvalid",
            format!("callbackUrl {url:?} is not an absolute URL"),
        ));
    }
    let api_secret = opt_str(&body, "apiSecret").filter(|s| !s.is_empty());
    let force = body.get("forceUpdate").and_then(Value::as_bool).unwrap_or(false);
    let route = match shared
        .mutate(|st| st.register_card_route(&app.client_id, route_key, url, api_secret, force))
    {
        Registered::Bound(route) => {
            tracing::info!(app = %app.client_id, route_key, "card callback route bound");
            route
        }
        Registered::Kept(route) => {
            tracing::info!(app = %app.client_id, route_key, "card callback route already bound elsewhere; kept (no forceUpdate)");
            route
        }
    };
    Ok(json!({"success": true, "result": {"callbackUrl": route.url, "apiSecret": route.api_secret}}))
}

/// A string field that must be present and non-empty, with DingTalk's code for its absence.
fn nonempty<'a>(body: &'a Value, key: &str, code: &str) -> Result<&'a str, ApiError> {
    match body.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(Value::String(_) | Value::Null) | None => Err(ApiError::bad_request(code, code)),
        Some(_) => Err(ApiError::bad_request(
            format!("invalidParameter.{key}"),
            format!("{key} must be a string"),
        )),
    }
}
