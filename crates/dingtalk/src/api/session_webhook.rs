//! Replies through the `sessionWebhook` URL of an inbound bot message.

use std::sync::Arc;

use url::Url;

use crate::api::http::default_http_client;
use crate::api::metrics::{ApiEndpoint, ApiMetrics};
use crate::api::webhook;
use crate::error::Result;
use crate::model::outbound::WebhookMessage;

/// Client for sessionWebhook replies (no access token needed). Cheap to clone.
///
/// A sessionWebhook expires about 90 minutes after the message; posting later fails with
/// [`ApiErrorKind::SessionWebhookExpired`](crate::error::ApiErrorKind::SessionWebhookExpired):
/// fall back to the robot OpenAPI.
#[derive(Debug, Clone)]
pub struct SessionWebhookClient {
    http: reqwest::Client,
    metrics: Arc<ApiMetrics>,
}

impl Default for SessionWebhookClient {
    fn default() -> Self {
        Self::new(default_http_client(), Arc::default())
    }
}

impl SessionWebhookClient {
    /// A client using `http` and recording calls in `metrics`.
    #[must_use]
    pub fn new(http: reqwest::Client, metrics: Arc<ApiMetrics>) -> Self {
        Self { http, metrics }
    }

    /// Posts `message` to `session_webhook` (text, markdown, link, actionCard or feedCard;
    /// body ≤ 20 000 bytes, checked before sending).
    pub async fn send(&self, session_webhook: &Url, message: &WebhookMessage) -> Result<()> {
        webhook::post(
            &self.http,
            &self.metrics,
            ApiEndpoint::SessionWebhook,
            session_webhook.clone(),
            message,
        )
        .await
    }
}
