//! [`OpenApiClient`]: construction and the one authenticated JSON call everything else uses.

use std::fmt;
use std::sync::Arc;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::token_retry::with_token_retry;
use crate::endpoints::{ApiEndpoint, Endpoints};
use crate::error::{Error, Result};
use crate::http::{ApiMetrics, BodyGate, TOKEN_HEADER, decode, default_http_client, execute_gated};
use crate::ids::ClientId;
use crate::token::{ClientSecret, DEFAULT_REFRESH_MARGIN, TokenCache, TokenFlavor};

/// Token-authenticated client of one DingTalk app. Cheap to clone (shared state).
///
/// Holds the HTTP client, the endpoints, a new-API [`TokenCache`] and a legacy one (only used by
/// media upload, fetched lazily), and the call counters.
///
/// # Errors every call can return
///
/// Besides the ones each method lists:
/// - the errors of [`TokenCache::token`] when no token can be had;
/// - [`Error::Transport`] when DingTalk cannot be reached or does not answer in time;
/// - [`Error::Api`] when DingTalk answers HTTP ≥ 300 or a non-zero `errcode`, classified as an
///   [`ApiErrorKind`](crate::error::ApiErrorKind), e.g. `QpsLimited` (HTTP 429 or a QPS code),
///   `PermissionMissing` (a scope the app lacks), `ServerBusy` (HTTP 5xx), `TokenExpired` (a
///   freshly fetched token was rejected as well);
/// - [`Error::Decode`] when a successful answer is not the expected JSON;
/// - [`Error::TooLarge`] when an answer exceeds 4 MiB.
#[derive(Clone)]
pub struct OpenApiClient {
    pub(crate) inner: Arc<Inner>,
    /// Awaited by every call's body (see [`OpenApiClient::with_body_gate`]).
    gate: Option<Arc<dyn BodyGate>>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) endpoints: Endpoints,
    pub(crate) tokens: TokenCache,
    pub(crate) legacy_tokens: TokenCache,
    pub(crate) metrics: Arc<ApiMetrics>,
}

impl fmt::Debug for OpenApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenApiClient")
            .field("client_id", self.inner.tokens.client_id())
            .field("endpoints", &self.inner.endpoints)
            .finish_non_exhaustive()
    }
}

impl OpenApiClient {
    /// A client for the mainland production hosts with default settings.
    pub fn new(client_id: ClientId, secret: ClientSecret) -> Self {
        Self::builder(client_id, secret).build()
    }

    /// Starts configuring a client.
    pub fn builder(client_id: ClientId, secret: ClientSecret) -> OpenApiClientBuilder {
        OpenApiClientBuilder {
            client_id,
            account: None,
            secret,
            endpoints: Endpoints::default(),
            http: None,
            metrics: None,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
        }
    }

    /// This client with every call's body waiting for `gate` once the call's connection is
    /// open (see [`BodyGate`]); the access token is fetched before and is not gated. Meant
    /// for a clone that sends one message.
    #[must_use]
    pub fn with_body_gate(mut self, gate: Arc<dyn BodyGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// The app this client acts as.
    #[must_use]
    pub fn client_id(&self) -> &ClientId {
        self.inner.tokens.client_id()
    }

    /// Where requests go.
    #[must_use]
    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.endpoints
    }

    /// Call counters (shared with the token caches).
    #[must_use]
    pub fn metrics(&self) -> &Arc<ApiMetrics> {
        &self.inner.metrics
    }

    /// The new-API token cache.
    #[must_use]
    pub fn token_cache(&self) -> &TokenCache {
        &self.inner.tokens
    }

    /// A sessionWebhook client sharing this client's HTTP connection pool and counters, that
    /// posts only to this client's `oapi` host.
    #[must_use]
    pub fn session_webhook_client(&self) -> crate::api::SessionWebhookClient {
        crate::api::SessionWebhookClient::new(self.inner.http.clone(), Arc::clone(&self.inner.metrics))
            .for_endpoints(&self.inner.endpoints)
    }

    /// Sends `body` as JSON to a new-API `path` with the access token header and decodes the
    /// answer. On a rejected token it refreshes and retries exactly once.
    pub(crate) async fn call<B, R>(
        &self,
        endpoint: ApiEndpoint,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<R>
    where
        B: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.call_keep_body(endpoint, method, path, body)
            .await
            .map(|(decoded, _)| decoded)
    }

    /// Like [`OpenApiClient::call`], also returning the raw body (for business-level errors
    /// found in a 200 answer).
    pub(crate) async fn call_keep_body<B, R>(
        &self,
        endpoint: ApiEndpoint,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<(R, String)>
    where
        B: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let payload = bytes::Bytes::from(serde_json::to_vec(body).map_err(|e| {
            Error::InvalidRequest(format!("{} body does not serialise: {e}", endpoint.name()))
        })?);
        let url = self.inner.endpoints.api_url(path);
        let inner = &self.inner;
        let gate = self.gate.as_ref();
        let text = with_token_retry(&inner.tokens, |token| {
            let request = inner
                .http
                .request(method.clone(), url.clone())
                .header(CONTENT_TYPE, "application/json");
            let payload = payload.clone();
            async move {
                let mut value = HeaderValue::from_str(token.as_str())
                    .map_err(|_| Error::InvalidRequest("access token is not a valid header value".into()))?;
                // Keeps the token out of any Debug output of the request.
                value.set_sensitive(true);
                let request = request.header(TOKEN_HEADER, value);
                execute_gated(&inner.metrics, endpoint, request, payload, gate).await
            }
        })
        .await?;
        Ok((decode(endpoint, &text)?, text))
    }
}

/// Configures an [`OpenApiClient`].
#[derive(Debug)]
#[must_use]
pub struct OpenApiClientBuilder {
    client_id: ClientId,
    account: Option<Arc<str>>,
    secret: ClientSecret,
    endpoints: Endpoints,
    http: Option<reqwest::Client>,
    metrics: Option<Arc<ApiMetrics>>,
    refresh_margin: std::time::Duration,
}

impl OpenApiClientBuilder {
    /// The operator's name for this app, e.g. the gateway account id; logs about its
    /// credentials name it (default: the client id).
    pub fn account(mut self, account: impl Into<Arc<str>>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// Where DingTalk lives (default: mainland production).
    pub fn endpoints(mut self, endpoints: Endpoints) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// HTTP client to use (default: 10 s connect / 30 s total timeouts, no redirects). A client
    /// given here should follow no redirect either (`reqwest::redirect::Policy::none()`).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Counters to record calls in (default: fresh ones, see [`OpenApiClient::metrics`]).
    pub fn metrics(mut self, metrics: Arc<ApiMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Token refresh margin (default 5 min).
    pub fn refresh_margin(mut self, margin: std::time::Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Builds the client. No request is made until the first call.
    pub fn build(self) -> OpenApiClient {
        let http = self.http.unwrap_or_else(default_http_client);
        let metrics = self.metrics.unwrap_or_default();
        let tokens = |flavor| {
            let mut builder = TokenCache::builder(self.client_id.clone(), self.secret.clone());
            if let Some(account) = &self.account {
                builder = builder.account(Arc::clone(account));
            }
            builder
                .flavor(flavor)
                .endpoints(self.endpoints.clone())
                .http_client(http.clone())
                .metrics(Arc::clone(&metrics))
                .refresh_margin(self.refresh_margin)
                .build()
        };
        let inner = Inner {
            tokens: tokens(TokenFlavor::OpenApi),
            legacy_tokens: tokens(TokenFlavor::Legacy),
            http: http.clone(),
            endpoints: self.endpoints.clone(),
            metrics: Arc::clone(&metrics),
        };
        OpenApiClient {
            inner: Arc::new(inner),
            gate: None,
        }
    }
}
