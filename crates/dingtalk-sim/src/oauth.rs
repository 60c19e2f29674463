//! Access tokens: `POST /v1.0/oauth2/accessToken`, legacy `GET /gettoken`, and the token
//! checks every other API runs.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::error::{ApiError, LegacyError};
use crate::ids;
use crate::model::App;
use crate::state::{Shared, State as SimState, TokenEntry};

/// Header carrying the token on new-style APIs.
pub(crate) const TOKEN_HEADER: &str = "x-acs-dingtalk-access-token";

impl SimState {
    /// Issues (or re-issues and extends) the app's token.
    fn issue_token(&mut self, config: &crate::SimConfig, app: &str) -> String {
        let now = Instant::now();
        let expires_at = now + config.token_ttl;
        if let Some((token, entry)) = self
            .tokens
            .iter_mut()
            .find(|(_, e)| e.app == app && e.expires_at > now)
        {
            entry.expires_at = expires_at;
            return token.clone();
        }
        let token = ids::hex(32);
        self.tokens.insert(
            token.clone(),
            TokenEntry {
                app: app.to_owned(),
                expires_at,
            },
        );
        token
    }

    /// The app owning a live token.
    pub fn token_app(&self, token: &str) -> Option<App> {
        let entry = self.tokens.get(token)?;
        if entry.expires_at <= Instant::now() {
            return None;
        }
        self.apps.get(&entry.app).cloned()
    }

    /// Expires every token of the app; returns how many.
    pub fn expire_tokens(&mut self, app: &str) -> usize {
        let now = Instant::now();
        let mut n = 0;
        for entry in self
            .tokens
            .values_mut()
            .filter(|e| e.app == app && e.expires_at > now)
        {
            entry.expires_at = now;
            n += 1;
        }
        n
    }
}

fn expire_in_secs(config: &crate::SimConfig) -> u64 {
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
        *st.token_calls.entry(key.to_owned()).or_default() += 1;
        match st.apps.get(key) {
            Some(app) if app.client_secret == secret => Some(st.issue_token(config, key)),
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
        *st.token_calls.entry(key.clone()).or_default() += 1;
        match st.apps.get(key) {
            Some(app) if &app.client_secret == secret => Some(st.issue_token(config, key)),
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

/// Authenticates a new-style API call: token header, then the per-app QPS budget for `api`.
/// Counts the call.
pub(crate) fn authenticate(shared: &Shared, headers: &HeaderMap, api: &str) -> Result<App, ApiError> {
    let token = headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let now_ms = shared.now_ms();
    shared.mutate(|st| {
        let Some(app) = st.token_app(token) else {
            st.count_call(None, api);
            return Err(ApiError::invalid_token());
        };
        st.count_call(Some(&app.client_id), api);
        st.check_qps(&shared.config, now_ms, &app.client_id, api)?;
        Ok(app)
    })
}

/// Authenticates a legacy call by its `access_token` query parameter. Counts the call.
pub(crate) fn authenticate_legacy(
    shared: &Shared,
    token: Option<&str>,
    api: &str,
) -> Result<App, LegacyError> {
    shared.mutate(|st| {
        let app = token.and_then(|t| st.token_app(t));
        st.count_call(app.as_ref().map(|a| a.client_id.as_str()), api);
        app.ok_or_else(LegacyError::invalid_token)
    })
}

/// 403 unless the app holds `scope`.
pub(crate) fn require_scope(app: &App, scope: &str) -> Result<(), ApiError> {
    if app.permissions.contains(scope) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "Forbidden.AccessDenied.AccessTokenPermissionDenied",
        format!("没有调用该接口的权限，接口权限申请参考：https://open.dingtalk.com/document/orgapp/add-api-permission （缺少 {scope}）"),
    )
    .with_extra("accessdenieddetail", json!({"requiredScopes": [scope]})))
}
