//! Access-token cache, one per app and token flavour.
//!
//! DingTalk warns against fetching a token per request, and a burst of turns must not turn
//! into a burst of token calls. So [`TokenCache`]:
//!
//! - returns the cached token until it is within a margin (default 5 min) of expiry;
//! - lets exactly one caller refresh while the others wait for its result (single flight), and
//!   hands a failed refresh to the waiters instead of having each of them try again;
//! - keeps serving the old token if a refresh inside the margin fails but the token has not
//!   actually expired yet;
//! - drops a token on [`TokenCache::invalidate`] only if it is still the cached one, so several
//!   callers that saw the same 401 cause one refresh.
//!
//! Time comes from `tokio::time::Instant`, so tests can pause and advance it.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::endpoints::{ApiEndpoint, Endpoints};
use crate::error::{Error, Result};
use crate::http::{ApiMetrics, default_http_client, execute};
use crate::ids::ClientId;

/// Default refresh margin before expiry (the official Python SDK uses 5 minutes).
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// After a failed refresh inside the margin, keep using the old token this long before trying
/// again.
const FAILURE_COOLDOWN: Duration = Duration::from_secs(10);

/// Attempts per refresh for retryable failures (network, 5xx, QPS), as the plugins do.
const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// The app secret used for token requests; `Debug` never prints it.
pub use crate::secret::Secret as ClientSecret;

/// An access token. `Debug` never prints it.
///
/// Two values are `==` when the token text is equal. DingTalk hands out the *same* text again
/// when asked inside the validity window, so [`TokenCache::invalidate`] compares by identity
/// (which fetch produced it) rather than by text.
#[derive(Clone)]
pub struct AccessToken(Arc<str>);

impl AccessToken {
    /// The token text, for the `x-acs-dingtalk-access-token` header or `access_token=` query.
    /// Never log it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn same_fetch(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for AccessToken {}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

/// Which token endpoint to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenFlavor {
    /// `POST /v1.0/oauth2/accessToken` on the OpenAPI host; sent as a header.
    OpenApi,
    /// Legacy `GET /gettoken` on the oapi host; sent as `access_token=` in the query.
    Legacy,
}

impl TokenFlavor {
    fn endpoint(self) -> ApiEndpoint {
        match self {
            Self::OpenApi => ApiEndpoint::AccessToken,
            Self::Legacy => ApiEndpoint::LegacyToken,
        }
    }
}

/// Cached, single-flight access token of one app. Cheap to clone (shared state).
#[derive(Clone)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    endpoints: Endpoints,
    client_id: ClientId,
    /// The operator's name for this app (a gateway account id), for logs.
    account: Option<Arc<str>>,
    secret: ClientSecret,
    flavor: TokenFlavor,
    margin: Duration,
    max_attempts: u32,
    metrics: Arc<ApiMetrics>,
    state: Mutex<State>,
    /// Held by the one caller that is fetching; the others queue behind it.
    refresh: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    /// Number of fetches that ran to completion; lets a waiter see that a fetch happened while
    /// it was queued.
    completed_fetches: u64,
    /// The error of the latest completed fetch, if it failed.
    last_failure: Option<Error>,
    /// When the latest completed fetch failed.
    failed_at: Option<Instant>,
}

#[derive(Clone)]
struct Cached {
    token: AccessToken,
    refresh_at: Instant,
    expires_at: Instant,
}

impl State {
    fn fresh(&self, now: Instant) -> Option<AccessToken> {
        self.cached
            .as_ref()
            .filter(|c| now < c.refresh_at)
            .map(|c| c.token.clone())
    }

    /// Right after a failed refresh, the still-valid old token, so that every call during a
    /// DingTalk outage does not pay for a refresh attempt.
    fn cooling_down(&self, now: Instant) -> Option<AccessToken> {
        self.failed_at
            .filter(|at| now < *at + FAILURE_COOLDOWN)
            .and_then(|_| self.unexpired(now))
    }

    fn unexpired(&self, now: Instant) -> Option<AccessToken> {
        self.cached
            .as_ref()
            .filter(|c| now < c.expires_at)
            .map(|c| c.token.clone())
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("client_id", &self.inner.client_id)
            .field("flavor", &self.inner.flavor)
            .field("margin", &self.inner.margin)
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// A cache with default settings (mainland hosts, 5 min margin, own HTTP client).
    pub fn new(client_id: ClientId, secret: ClientSecret, flavor: TokenFlavor) -> Self {
        Self::builder(client_id, secret).flavor(flavor).build()
    }

    /// Starts configuring a cache.
    pub fn builder(client_id: ClientId, secret: ClientSecret) -> TokenCacheBuilder {
        TokenCacheBuilder {
            client_id,
            account: None,
            secret,
            flavor: TokenFlavor::OpenApi,
            endpoints: Endpoints::default(),
            http: None,
            margin: DEFAULT_REFRESH_MARGIN,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            metrics: None,
        }
    }

    /// The app this cache belongs to.
    #[must_use]
    pub fn client_id(&self) -> &ClientId {
        &self.inner.client_id
    }

    /// The operator's name for this app (see [`TokenCacheBuilder::account`]), else the client
    /// id; for logs.
    #[must_use]
    pub fn account(&self) -> &str {
        self.inner
            .account
            .as_deref()
            .unwrap_or_else(|| self.inner.client_id.as_str())
    }

    /// Which token endpoint this cache uses.
    #[must_use]
    pub fn flavor(&self) -> TokenFlavor {
        self.inner.flavor
    }

    /// Returns a valid token, fetching one if none is cached or it is close to expiry.
    ///
    /// Concurrent callers share one fetch. A failed refresh while the cached token has not
    /// expired yet is logged and the cached token returned.
    ///
    /// # Errors
    /// Only when no unexpired token is cached:
    /// [`ApiErrorKind::InvalidCredentials`](crate::error::ApiErrorKind::InvalidCredentials) for a
    /// wrong clientId/clientSecret (never retried); the last error when every attempt (3 by
    /// default) failed with a retryable one ([`Error::is_retryable`]: transport, QPS limit, 5xx);
    /// [`Error::Decode`] when the answer is not JSON or lacks the token or its lifetime (body
    /// withheld: it may hold a token). Callers queued behind a failed fetch get a clone of its
    /// error.
    pub async fn token(&self) -> Result<AccessToken> {
        let seen = {
            let state = self.state();
            let now = Instant::now();
            if let Some(token) = state.fresh(now).or_else(|| state.cooling_down(now)) {
                return Ok(token);
            }
            state.completed_fetches
        };

        let _flight = self.inner.refresh.lock().await;
        {
            let state = self.state();
            if let Some(token) = state.fresh(Instant::now()) {
                return Ok(token);
            }
            if state.completed_fetches != seen {
                // Someone fetched while we queued and failed; don't hammer DingTalk with one
                // attempt per waiter.
                if let Some(err) = &state.last_failure {
                    return state.unexpired(Instant::now()).ok_or_else(|| err.clone());
                }
            }
        }

        let result = self.fetch_with_retries().await;
        let mut state = self.state();
        state.completed_fetches += 1;
        match result {
            Ok(cached) => {
                let token = cached.token.clone();
                state.cached = Some(cached);
                state.last_failure = None;
                state.failed_at = None;
                Ok(token)
            }
            Err(err) => {
                state.last_failure = Some(err.clone());
                state.failed_at = Some(Instant::now());
                // Inside the margin the old token still works; prefer it over failing the call.
                if let Some(token) = state.unexpired(Instant::now()) {
                    tracing::warn!(
                        client_id = %self.inner.client_id,
                        error = %err,
                        "token refresh failed; using the current token until it expires"
                    );
                    return Ok(token);
                }
                Err(err)
            }
        }
    }

    /// Drops `stale` if it is still the cached token, so the next [`TokenCache::token`] fetches.
    ///
    /// Call it after DingTalk rejected the token (see
    /// [`ApiErrorKind::TokenExpired`](crate::error::ApiErrorKind::TokenExpired)). A token fetched after `stale` is
    /// kept even if its text is identical.
    pub fn invalidate(&self, stale: &AccessToken) {
        let mut state = self.state();
        if state.cached.as_ref().is_some_and(|c| c.token.same_fetch(stale)) {
            state.cached = None;
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // No code path panics while holding the lock; recover the data if one ever does.
        self.inner.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn fetch_with_retries(&self) -> Result<Cached> {
        let mut attempt = 1;
        loop {
            match self.fetch_once().await {
                Ok(cached) => return Ok(cached),
                Err(err) if attempt < self.inner.max_attempts && err.is_retryable() => {
                    let pause = Duration::from_millis(250 * 2u64.pow(attempt - 1))
                        .max(err.retry_after().unwrap_or_default().min(Duration::from_secs(2)));
                    tracing::debug!(attempt, error = %err, "token fetch failed; retrying");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    async fn fetch_once(&self) -> Result<Cached> {
        let inner = &self.inner;
        let endpoint = inner.flavor.endpoint();
        let started = Instant::now();
        let (token, lifetime) = match inner.flavor {
            TokenFlavor::OpenApi => {
                let request = inner
                    .http
                    .post(inner.endpoints.api_url("/v1.0/oauth2/accessToken"))
                    .json(&serde_json::json!({
                        "appKey": inner.client_id.as_str(),
                        "appSecret": inner.secret.expose(),
                    }));
                let body = execute(&inner.metrics, endpoint, request).await?;
                let r: OpenApiTokenResponse = decode_withheld(endpoint, &body)?;
                (r.access_token, r.expire_in)
            }
            TokenFlavor::Legacy => {
                let request = inner.http.get(inner.endpoints.oapi_url("/gettoken")).query(&[
                    ("appkey", inner.client_id.as_str()),
                    ("appsecret", inner.secret.expose()),
                ]);
                let body = execute(&inner.metrics, endpoint, request).await?;
                let r: LegacyTokenResponse = decode_withheld(endpoint, &body)?;
                (r.access_token, r.expires_in)
            }
        };
        if token.is_empty() || lifetime == 0 {
            return Err(Error::decode(endpoint.name(), EmptyToken, WITHHELD));
        }
        let lifetime = Duration::from_secs(lifetime);
        // A margin larger than the lifetime would mean refreshing on every call.
        let margin = inner.margin.min(lifetime / 2);
        tracing::debug!(
            client_id = %inner.client_id,
            flavor = ?inner.flavor,
            lifetime_s = lifetime.as_secs(),
            "fetched DingTalk access token"
        );
        Ok(Cached {
            token: AccessToken(token.into()),
            refresh_at: started + lifetime - margin,
            expires_at: started + lifetime,
        })
    }
}

/// Stands in for a token response body in errors: a body that failed to parse may still hold
/// a token.
const WITHHELD: &str = "<token response withheld>";

fn decode_withheld<T: serde::de::DeserializeOwned>(endpoint: ApiEndpoint, body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(|e| {
        // serde_json's message may quote a mis-typed value, but only a non-string token field
        // could be quoted, and that is no usable token.
        Error::decode(endpoint.name(), e, WITHHELD)
    })
}

/// Answer of `POST /v1.0/oauth2/accessToken`.
#[derive(Deserialize)]
struct OpenApiTokenResponse {
    #[serde(rename = "accessToken", default)]
    access_token: String,
    #[serde(rename = "expireIn", default, deserialize_with = "seconds")]
    expire_in: u64,
}

/// Answer of legacy `GET /gettoken` (errcode already checked by `execute`).
#[derive(Deserialize)]
struct LegacyTokenResponse {
    #[serde(default)]
    access_token: String,
    #[serde(default, deserialize_with = "seconds")]
    expires_in: u64,
}

/// A lifetime sent as a number or, defensively, as a numeric string.
fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Secs {
        Number(u64),
        Text(String),
    }
    match Secs::deserialize(d)? {
        Secs::Number(n) => Ok(n),
        Secs::Text(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("token response has no token or no lifetime")]
struct EmptyToken;

/// Configures a [`TokenCache`].
#[derive(Debug)]
#[must_use]
pub struct TokenCacheBuilder {
    client_id: ClientId,
    account: Option<Arc<str>>,
    secret: ClientSecret,
    flavor: TokenFlavor,
    endpoints: Endpoints,
    http: Option<reqwest::Client>,
    margin: Duration,
    max_attempts: u32,
    metrics: Option<Arc<ApiMetrics>>,
}

impl TokenCacheBuilder {
    /// The operator's name for this app, e.g. the gateway account id; logs name it.
    pub fn account(mut self, account: impl Into<Arc<str>>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// New-API or legacy token (default: new API).
    pub fn flavor(mut self, flavor: TokenFlavor) -> Self {
        self.flavor = flavor;
        self
    }

    /// Where DingTalk lives (default: mainland production).
    pub fn endpoints(mut self, endpoints: Endpoints) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// HTTP client to use (default: one with 10 s connect / 30 s total timeouts that follows no
    /// redirect). A client given here should follow no redirect either.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Refresh this long before expiry (default 5 min; capped at half the token lifetime).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// Attempts per refresh for retryable failures (default 3, minimum 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Counters to record token calls in.
    pub fn metrics(mut self, metrics: Arc<ApiMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Builds the cache. No request is made until the first [`TokenCache::token`].
    pub fn build(self) -> TokenCache {
        TokenCache {
            inner: Arc::new(Inner {
                http: self.http.unwrap_or_else(default_http_client),
                endpoints: self.endpoints,
                client_id: self.client_id,
                account: self.account,
                secret: self.secret,
                flavor: self.flavor,
                margin: self.margin,
                max_attempts: self.max_attempts,
                metrics: self.metrics.unwrap_or_default(),
                state: Mutex::new(State::default()),
                refresh: tokio::sync::Mutex::new(()),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
