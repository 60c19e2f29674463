//! Posting a [`WebhookMessage`]: shared by sessionWebhook and custom-robot clients.

use std::sync::Arc;

use reqwest::header::CONTENT_TYPE;
use url::Url;

use crate::endpoints::ApiEndpoint;
use crate::error::Result;
use crate::http::{ApiMetrics, BodyGate, execute_gated};
use crate::model::outbound::WebhookMessage;

/// Posts `message` as JSON to `url` (which may embed a token: it is never logged).
///
/// The body size is checked first; a 200 answer with `errcode` other than `0`/`"0"` is an error.
/// The body waits for `gate`, when there is one, to leave.
pub(crate) async fn post(
    http: &reqwest::Client,
    metrics: &ApiMetrics,
    endpoint: ApiEndpoint,
    url: Url,
    message: &WebhookMessage,
    gate: Option<&Arc<dyn BodyGate>>,
) -> Result<()> {
    let body = message.to_body()?;
    let request = http
        .post(url)
        // Anything else gets errcode 43004 from custom robots.
        .header(CONTENT_TYPE, "application/json; charset=utf-8");
    execute_gated(metrics, endpoint, request, body.into(), gate)
        .await
        .map(drop)
}
