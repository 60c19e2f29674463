//! The fault middleware on every DingTalk route: injected latency, then an injected failure
//! answered in DingTalk's shape.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::ids;
use crate::state::Shared;

use super::stream_open::OPEN_PATH;

/// DingTalk-looking error body for an injected failure status on `path`.
fn default_failure_body(path: &str, status: StatusCode) -> Value {
    let (code, message) = match status.as_u16() {
        // `connections/open` authenticates with clientId/clientSecret, the others with a token.
        401 if path.starts_with(OPEN_PATH) => {
            let e = ApiError::open_auth_failed();
            return json!({"code": e.code, "message": e.message, "requestid": ids::request_id()});
        }
        400 => ("invalidParameter", "参数错误"),
        401 => ("InvalidAuthentication", "不合法的access_token"),
        403 => (
            "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
            "调用该接口触发QPS限流，请稍后重试",
        ),
        429 => ("Throttling", "Request was denied due to flow control."),
        500 => ("system.busy", "系统繁忙"),
        502 => ("BadGateway", "bad gateway"),
        503 => (
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        ),
        504 => ("GatewayTimeout", "The request timed out at the gateway."),
        _ => ("UnknownError", "injected failure"),
    };
    json!({"code": code, "message": message, "requestid": ids::request_id()})
}

/// Middleware on every DingTalk route: applies path faults.
pub(crate) async fn api_faults(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let (latency, failure) = shared.mutate(|st| st.faults.take(&path));
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some((status, body)) = failure {
        // Read the request's body before answering. How DingTalk's own front end treats the
        // body of a request it refuses is not documented (unverified); nginx, the usual one,
        // discards it and with `lingering_close` keeps reading what the client still sends
        // (nginx.org/en/docs/http/ngx_http_core_module.html#lingering_close). hyper, left to
        // itself, hangs up on a connection whose body it had not read, without saying so in
        // its answer, and the client could reuse it just as it closed: a failure of the
        // simulator's making, not DingTalk's.
        let _ = axum::body::to_bytes(req.into_body(), super::BODY_LIMIT).await;
        let body = body.unwrap_or_else(|| default_failure_body(&path, status));
        tracing::info!(%path, %status, "injected API failure");
        return (status, Json(body)).into_response();
    }
    next.run(req).await
}
