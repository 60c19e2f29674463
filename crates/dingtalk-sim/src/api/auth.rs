//! The checks every API call runs: the access token (header on the OpenAPI, query parameter
//! on the legacy host), the per-app QPS budget and permission scopes.

use axum::http::{HeaderMap, StatusCode};
use serde_json::json;

use crate::error::{ApiError, LegacyError};
use crate::model::App;
use crate::state::Shared;

/// Header carrying the token on new-style APIs.
pub(crate) const TOKEN_HEADER: &str = "x-acs-dingtalk-access-token";

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
        st.faults.check_qps(&shared.config, now_ms, &app.client_id, api)?;
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
