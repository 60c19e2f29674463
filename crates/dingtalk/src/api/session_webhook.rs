//! Replies through the `sessionWebhook` URL of an inbound bot message.

use std::sync::Arc;

use url::Url;

use crate::api::webhook;
use crate::endpoints::{ApiEndpoint, Endpoints};
use crate::error::{Error, Result};
use crate::http::{ApiMetrics, BodyGate, default_http_client};
use crate::model::outbound::WebhookMessage;

/// Path of the reply URL under the legacy (`oapi`) host. DingTalk's bot message examples carry
/// `https://oapi.dingtalk.com/robot/sendBySession?session=…` (open-dingtalk developerpedia
/// `docs/explore/bot/message.md`; protocol reference §3).
pub const SEND_BY_SESSION_PATH: &str = "/robot/sendBySession";

/// Client for sessionWebhook replies (no access token needed). Cheap to clone.
///
/// A sessionWebhook expires about 90 minutes after the message; posting later fails with
/// [`ApiErrorKind::SessionWebhookExpired`](crate::error::ApiErrorKind::SessionWebhookExpired):
/// fall back to the robot OpenAPI.
///
/// The URL arrives in the callback body, which HTTP-mode signatures do not cover, so it is
/// only posted to when it is `sendBySession` on the configured `oapi` host (scheme, host and
/// port equal, no userinfo): anything else could aim the gateway at internal services or at
/// someone else's robot webhook.
#[derive(Debug, Clone)]
pub struct SessionWebhookClient {
    http: reqwest::Client,
    metrics: Arc<ApiMetrics>,
    /// `oapi` + [`SEND_BY_SESSION_PATH`]: the only URL (before its query) posted to.
    allowed: Url,
    gate: Option<Arc<dyn BodyGate>>,
}

impl Default for SessionWebhookClient {
    fn default() -> Self {
        Self::new(default_http_client(), Arc::default())
    }
}

impl SessionWebhookClient {
    /// A client using `http` and recording calls in `metrics`, posting only to the mainland
    /// `oapi` host (see [`SessionWebhookClient::for_endpoints`]).
    #[must_use]
    pub fn new(http: reqwest::Client, metrics: Arc<ApiMetrics>) -> Self {
        Self {
            http,
            metrics,
            allowed: Endpoints::default().oapi_url(SEND_BY_SESSION_PATH),
            gate: None,
        }
    }

    /// Makes every post wait for `gate` once its connection is open (see [`BodyGate`]).
    #[must_use]
    pub fn with_body_gate(mut self, gate: Arc<dyn BodyGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Posts only to sessionWebhooks on `endpoints.oapi`.
    #[must_use]
    pub fn for_endpoints(mut self, endpoints: &Endpoints) -> Self {
        self.allowed = endpoints.oapi_url(SEND_BY_SESSION_PATH);
        self
    }

    /// Whether `session_webhook` may be posted to; the error says why not, naming only its
    /// scheme, host and port (the `session` query is a credential).
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when it is not `sendBySession` on the configured `oapi` host.
    pub fn check(&self, session_webhook: &Url) -> Result<()> {
        let trusted = session_webhook.origin() == self.allowed.origin()
            && session_webhook.username().is_empty()
            && session_webhook.password().is_none()
            && session_webhook.path() == self.allowed.path();
        if trusted {
            Ok(())
        } else {
            Err(Error::InvalidRequest(format!(
                "sessionWebhook on {} is not {}: only DingTalk's configured oapi host is posted to",
                origin_of(session_webhook),
                self.allowed
            )))
        }
    }

    /// Posts `message` to `session_webhook` (text, markdown, link, actionCard or feedCard;
    /// body ≤ 20 000 bytes, checked before sending).
    ///
    /// # Errors
    /// [`SessionWebhookClient::check`] refuses the URL, the body is too large, or DingTalk
    /// refuses the post.
    pub async fn send(&self, session_webhook: &Url, message: &WebhookMessage) -> Result<()> {
        self.check(session_webhook)?;
        webhook::post(
            &self.http,
            &self.metrics,
            ApiEndpoint::SessionWebhook,
            session_webhook.clone(),
            message,
            self.gate.as_ref(),
        )
        .await
    }
}

/// `scheme://host:port` of a URL, for messages (no userinfo, path or query).
fn origin_of(url: &Url) -> String {
    match url.origin() {
        url::Origin::Tuple(..) => url.origin().ascii_serialization(),
        url::Origin::Opaque(_) => format!("a {:?} URL", url.scheme()),
    }
}
