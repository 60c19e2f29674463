//! Fault injection for the HTTP APIs: latency and canned failures per path prefix, and the
//! per-app per-API QPS limiter. (Stream faults — drop, disconnect, zombie — live in
//! `stream_gateway`.)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::ids;
use crate::state::{Shared, State as SimState};

/// A fault on every API path starting with `path_prefix`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ApiFault {
    /// Path prefix, e.g. `/v1.0/card/streaming` or `/v1.0/robot/`.
    pub path_prefix: String,
    /// Added latency in ms for every matching call.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// Fail this many next matching calls.
    #[serde(default)]
    pub fail_next: Option<u32>,
    /// Status of the failures (default 503).
    #[serde(default)]
    pub status: Option<u16>,
    /// Body of the failures (default: a DingTalk-shaped error for the status).
    #[serde(default)]
    pub body: Option<Value>,
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub prefix: String,
    pub latency: Option<Duration>,
    pub fail_left: u32,
    pub status: StatusCode,
    pub body: Option<Value>,
}

#[derive(Default)]
pub(crate) struct Faults {
    pub rules: Vec<Rule>,
    /// (client id, api path) → limit override.
    pub qps_limits: HashMap<(String, String), u32>,
    /// (client id, api path) → (window index, calls in it).
    pub qps_windows: HashMap<(String, String), (u64, u32)>,
    /// Calls answered with a QPS error, per (client id, api path).
    pub qps_rejections: HashMap<(String, String), u64>,
}

/// DingTalk-looking error body for an injected failure status on `path`.
pub(crate) fn default_failure_body(path: &str, status: StatusCode) -> Value {
    let (code, message) = match status.as_u16() {
        // `connections/open` authenticates with clientId/clientSecret, the others with a token.
        401 if path.starts_with(crate::stream_gateway::OPEN_PATH) => {
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

impl Faults {
    pub fn add(&mut self, fault: &ApiFault) {
        let status = fault
            .status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        self.rules.push(Rule {
            prefix: fault.path_prefix.clone(),
            latency: fault.latency_ms.map(Duration::from_millis),
            fail_left: fault.fail_next.unwrap_or(0),
            status,
            body: fault.body.clone(),
        });
    }

    /// Latency to add and, maybe, a canned failure for `path`.
    fn take(&mut self, path: &str) -> (Duration, Option<(StatusCode, Value)>) {
        let mut latency = Duration::ZERO;
        let mut failure = None;
        for rule in self.rules.iter_mut().filter(|r| path.starts_with(&r.prefix)) {
            latency += rule.latency.unwrap_or_default();
            if failure.is_none() && rule.fail_left > 0 {
                rule.fail_left -= 1;
                let body = rule
                    .body
                    .clone()
                    .unwrap_or_else(|| default_failure_body(path, rule.status));
                failure = Some((rule.status, body));
            }
        }
        self.rules.retain(|r| r.fail_left > 0 || r.latency.is_some());
        (latency, failure)
    }
}

/// Middleware on every DingTalk route: applies path faults.
pub(crate) async fn api_faults(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let (latency, failure) = shared.mutate(|st| st.faults.take(&path));
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some((status, body)) = failure {
        tracing::info!(%path, %status, "injected API failure");
        return (status, Json(body)).into_response();
    }
    next.run(req).await
}

impl SimState {
    /// Counts a call against the app's QPS budget for `api`.
    pub fn check_qps(
        &mut self,
        config: &crate::SimConfig,
        now_ms: u64,
        app: &str,
        api: &str,
    ) -> Result<(), ApiError> {
        let key = (app.to_owned(), api.to_owned());
        let limit = self
            .faults
            .qps_limits
            .get(&key)
            .copied()
            .unwrap_or(config.default_qps_limit);
        if limit == 0 {
            return Ok(());
        }
        let window_ms = u64::try_from(config.qps_window.as_millis())
            .unwrap_or(1000)
            .max(1);
        let idx = now_ms / window_ms;
        let entry = self.faults.qps_windows.entry(key.clone()).or_insert((idx, 0));
        if entry.0 != idx {
            *entry = (idx, 0);
        }
        if entry.1 >= limit {
            *self.faults.qps_rejections.entry(key).or_default() += 1;
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
                format!("应用调用该接口的QPS超过限制({limit}/s)，请降低调用频率"),
            ));
        }
        entry.1 += 1;
        Ok(())
    }
}
