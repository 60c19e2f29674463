//! Group custom robots: a webhook URL from the group settings, optionally signed.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use url::Url;

use crate::api::webhook;
use crate::endpoints::ApiEndpoint;
use crate::error::{ApiErrorKind, Error, Result};
use crate::http::{ApiMetrics, BodyGate, default_http_client};
use crate::model::outbound::WebhookMessage;

use crate::crypto::signed_webhook_url;

/// Client for custom (webhook) robots. Cheap to clone.
///
/// Custom robots allow 20 messages per minute; above that DingTalk throttles the robot for
/// 10 minutes ([`ApiErrorKind::RateLimitedRobot`]).
#[derive(Debug, Clone)]
pub struct CustomRobotClient {
    http: reqwest::Client,
    metrics: Arc<ApiMetrics>,
    gate: Option<Arc<dyn BodyGate>>,
}

impl Default for CustomRobotClient {
    fn default() -> Self {
        Self::new(default_http_client(), Arc::default())
    }
}

impl CustomRobotClient {
    /// A client using `http` and recording calls in `metrics`.
    #[must_use]
    pub fn new(http: reqwest::Client, metrics: Arc<ApiMetrics>) -> Self {
        Self {
            http,
            metrics,
            gate: None,
        }
    }

    /// Makes every post wait for `gate` once its connection is open (see [`BodyGate`]).
    #[must_use]
    pub fn with_body_gate(mut self, gate: Arc<dyn BodyGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Posts `message` to `webhook_url`, signing it with `secret` (the `SEC…` value) when the
    /// robot uses signing. The body must be ≤ 20 000 bytes (checked before sending).
    ///
    /// # Errors
    /// [`Error::TooLarge`] for a body over 20 000 bytes (nothing is sent); [`Error::Transport`] when
    /// DingTalk cannot be reached; [`Error::Api`] for a non-zero `errcode`, notably
    /// [`ApiErrorKind::SecurityCheckFailed`] (310000: keyword, signature, timestamp or IP allowlist),
    /// [`ApiErrorKind::RateLimitedRobot`] (over 20 messages a minute) and
    /// [`ApiErrorKind::InvalidCredentials`] (300001: the webhook's `access_token` does not exist).
    pub async fn send(
        &self,
        webhook_url: &Url,
        secret: Option<&str>,
        message: &WebhookMessage,
    ) -> Result<()> {
        let url = match secret {
            Some(secret) => signed_webhook_url(webhook_url, secret, now_ms()),
            None => webhook_url.clone(),
        };
        webhook::post(
            &self.http,
            &self.metrics,
            ApiEndpoint::CustomRobot,
            url,
            message,
            self.gate.as_ref(),
        )
        .await
        .map_err(reinterpret)
    }
}

/// For custom robots, `300001` means the webhook's `access_token` does not exist (a
/// configuration error), not an expired session.
fn reinterpret(err: Error) -> Error {
    match err {
        Error::Api(mut api) if api.kind == ApiErrorKind::SessionWebhookExpired => {
            api.kind = ApiErrorKind::InvalidCredentials;
            Error::Api(api)
        }
        other => other,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Lets the client tests recompute a signature without knowing where signing lives.
#[cfg(test)]
pub(crate) mod tests_support {
    pub(crate) fn sign_for(webhook: &url::Url, secret: &str, timestamp_ms: i64) -> url::Url {
        super::signed_webhook_url(webhook, secret, timestamp_ms)
    }
}
