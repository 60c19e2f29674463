//! Shared request plumbing: send, read a bounded body, classify, log, decode.
//!
//! Every HTTP call of the crate goes through [`execute`], so counting, logging and error
//! classification happen in exactly one place. Logs carry the endpoint name, HTTP status,
//! DingTalk's request id and error code — never URLs (legacy and webhook URLs embed
//! credentials), tokens or secrets.

mod gate;
mod metrics;
#[cfg(test)]
pub(crate) mod test_stub;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::de::DeserializeOwned;

use crate::endpoints::ApiEndpoint;
use crate::error::{ApiError, Error, Result};

pub use gate::BodyGate;
pub use metrics::{ApiMetrics, MetricsHook};

/// Header carrying the new-API access token.
pub(crate) const TOKEN_HEADER: &str = "x-acs-dingtalk-access-token";

/// Response header in which DingTalk's API gateway reports its request id.
const REQUEST_ID_HEADER: &str = "x-acs-request-id";

/// JSON answers are small; anything bigger than this is not a DingTalk API answer.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The HTTP client used when the caller does not bring one.
///
/// It follows no redirect: DingTalk's APIs answer in place, and a redirect would carry a
/// request (POSTs turned into GETs, up to reqwest's default of 10 hops) to a host nobody
/// configured, such as an internal service named by a forged sessionWebhook.
pub(crate) fn default_http_client() -> reqwest::Client {
    crate::tls::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        // DingTalk gives up on its backends after 3 s; 30 s leaves room for slow networks
        // without letting a hung connection stall a turn forever.
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("clawtalk-dingtalk/", env!("CARGO_PKG_VERSION")))
        .build()
        // Building only fails when the TLS backend cannot initialise; nothing works then.
        .unwrap_or_default()
}

/// Sends `request`, counts it, and returns the body of a successful answer.
///
/// A body is an error when the HTTP status is ≥ 400 or a legacy `errcode` is non-zero.
pub(crate) async fn execute(
    metrics: &ApiMetrics,
    endpoint: ApiEndpoint,
    request: reqwest::RequestBuilder,
) -> Result<String> {
    let response = send(metrics, endpoint, request).await?;
    let result = read_checked(response, endpoint).await;
    if let Err(error) = &result
        && error.kind() == Some(crate::ApiErrorKind::QuotaExhausted)
    {
        metrics.record_quota_refused(endpoint);
    }
    result
}

/// [`execute`] with `payload` as the body, which waits for `gate` (when there is one) to
/// leave. A gate that refused makes the call fail with [`Error::Withheld`].
pub(crate) async fn execute_gated(
    metrics: &ApiMetrics,
    endpoint: ApiEndpoint,
    request: reqwest::RequestBuilder,
    payload: Bytes,
    gate: Option<&Arc<dyn BodyGate>>,
) -> Result<String> {
    let Some(gate) = gate else {
        return execute(metrics, endpoint, request.body(payload)).await;
    };
    let (body, verdict) = gate::gated(payload, Arc::clone(gate));
    let result = execute(metrics, endpoint, request.body(body)).await;
    verdict.answered();
    match verdict.withheld() {
        Some(reason) => Err(Error::Withheld {
            endpoint: endpoint.name(),
            reason,
        }),
        None => result,
    }
}

/// Counts and sends `request`; transport failures become [`Error::Transport`] without the URL.
pub(crate) async fn send(
    metrics: &ApiMetrics,
    endpoint: ApiEndpoint,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Response> {
    metrics.record(endpoint);
    request.send().await.map_err(|e| {
        let err = Error::transport(endpoint.name(), e);
        tracing::debug!(endpoint = endpoint.name(), error = %err, "DingTalk call did not complete");
        err
    })
}

/// Reads a response body (bounded), classifies it, logs the outcome.
pub(crate) async fn read_checked(response: reqwest::Response, endpoint: ApiEndpoint) -> Result<String> {
    let name = endpoint.name();
    let status = response.status().as_u16();
    let header_request_id = header_text(response.headers(), REQUEST_ID_HEADER);
    let retry_after = header_text(response.headers(), RETRY_AFTER.as_str())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = read_capped(response, endpoint).await?;

    match ApiError::from_response(name, status, &body) {
        None => {
            tracing::debug!(
                endpoint = name,
                status,
                request_id = header_request_id.as_deref().unwrap_or(""),
                "DingTalk call ok"
            );
            Ok(body)
        }
        Some(mut err) => {
            if err.request_id.is_none() {
                err.request_id = header_request_id;
            }
            if err.retry_after_hint.is_none() {
                err.retry_after_hint = retry_after;
            }
            tracing::debug!(
                endpoint = name,
                status,
                request_id = err.request_id.as_deref().unwrap_or(""),
                code = %err.code,
                kind = ?err.kind,
                "DingTalk call failed"
            );
            Err(err.into())
        }
    }
}

/// Parses a successful body, keeping it in the error when it does not match.
pub(crate) fn decode<T: DeserializeOwned>(endpoint: ApiEndpoint, body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(|e| Error::decode(endpoint.name(), e, body))
}

/// Reads the body, refusing to buffer more than [`MAX_RESPONSE_BYTES`].
async fn read_capped(mut response: reqwest::Response, endpoint: ApiEndpoint) -> Result<String> {
    let limit = MAX_RESPONSE_BYTES;
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(Error::TooLarge {
            what: "DingTalk response",
            limit: limit as u64,
            actual: response.content_length(),
        });
    }
    let mut buf = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Error::transport(endpoint.name(), e))?
    {
        if buf.len() + chunk.len() > limit {
            return Err(Error::TooLarge {
                what: "DingTalk response",
                limit: limit as u64,
                actual: None,
            });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}
