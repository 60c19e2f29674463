//! The axum router: every DingTalk endpoint, the WebSocket, `/_sim` and the chat page.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Router, middleware};

use crate::error::ApiError;
use crate::state::Shared;
use crate::{faults, oauth, stream_gateway};

/// Largest request body accepted (media uploads are checked against their own limits).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let dingtalk = Router::new()
        .route("/v1.0/oauth2/accessToken", post(oauth::access_token))
        .route("/gettoken", get(oauth::gettoken))
        .route("/v1.0/gateway/connections/open", post(stream_gateway::open))
        .route("/connect", get(stream_gateway::connect))
        .merge(crate::server_ext::routes())
        .layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            faults::api_faults,
        ));
    Router::new()
        .merge(dingtalk)
        .nest("/_sim", crate::control::router())
        .merge(crate::server_ext::extra_routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared)
}

async fn not_found() -> impl IntoResponse {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "InvalidAction.NotFound",
        "Specified api is not found, please check your url and method.",
    )
}
