//! Access tokens: `POST /v1.0/oauth2/accessToken` and legacy `GET /gettoken`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::config::SimConfig;
use crate::error::{ApiError, LegacyError};
use crate::state::Shared;

fn expire_in_secs(config: &SimConfig) -> u64 {
    config.token_ttl.as_secs().max(1)
}

fn str_field<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// `POST /v1.0/oauth2/accessToken`.
pub(crate) async fn access_token(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return ApiError::invalid_body(e).into_response(),
    };
    let Some(key) = str_field(&body, "appKey") else {
        return ApiError::missing("appKey").into_response();
    };
    let Some(secret) = str_field(&body, "appSecret") else {
        return ApiError::missing("appSecret").into_response();
    };
    let config = &shared.config;
    let issued = shared.mutate(|st| {
        st.count_call(Some(key), "/v1.0/oauth2/accessToken");
        st.tokens.count_request(key);
        match st.apps.get(key) {
            Some(app) if app.client_secret == secret => Some(st.tokens.issue(config.token_ttl, key)),
            _ => None,
        }
    });
    match issued {
        Some(token) => {
            Json(json!({"accessToken": token, "expireIn": expire_in_secs(config)})).into_response()
        }
        None => {
            ApiError::bad_request("invalidClientIdOrSecret", "无效的clientId或者clientSecret").into_response()
        }
    }
}

/// `GET /gettoken?appkey=&appsecret=`.
pub(crate) async fn gettoken(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (Some(key), Some(secret)) = (q.get("appkey"), q.get("appsecret")) else {
        return LegacyError::new(40001, "appkey和appsecret不能为空").into_response();
    };
    let config = &shared.config;
    let issued = shared.mutate(|st| {
        st.count_call(Some(key), "/gettoken");
        st.tokens.count_request(key);
        match st.apps.get(key) {
            Some(app) if &app.client_secret == secret => Some(st.tokens.issue(config.token_ttl, key)),
            _ => None,
        }
    });
    match issued {
        Some(token) => Json(json!({
            "errcode": 0,
            "errmsg": "ok",
            "access_token": token,
            "expires_in": expire_in_secs(config),
        }))
        .into_response(),
        None => LegacyError::new(40089, "不合法的appKey或appSecret").into_response(),
    }
}
