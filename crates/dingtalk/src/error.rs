//! Errors of the HTTP side of the crate (tokens, OpenAPI, webhooks).
//!
//! DingTalk reports failures in two shapes: the new OpenAPI answers HTTP 4xx/5xx with
//! `{"code","message","requestid"}`, the legacy API answers HTTP 200 with a non-zero
//! `{"errcode","errmsg"}`. [`ApiError::from_response`] turns either into one [`ApiError`] with
//! an [`ApiErrorKind`] that says what the caller should do about it.
//!
//! Nothing in here ever formats an access token, an app secret or a full request URL (legacy
//! and webhook URLs carry credentials in their query string).

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::endpoints::ApiEndpoint;

/// Result alias for this crate's HTTP calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a call to DingTalk failed.
///
/// Cloneable (the sources are behind `Arc`) so that one failed token refresh can be handed to
/// every caller that was waiting on it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// DingTalk answered and said no.
    #[error(transparent)]
    Api(Box<ApiError>),

    /// The request never got an answer (DNS, connect, TLS, timeout, reset).
    #[error(
        "DingTalk {endpoint}: request failed: {}; check network access to DingTalk, retry later",
        error_chain(source.as_ref())
    )]
    Transport {
        /// Which call failed (see [`crate::endpoints::ApiEndpoint::name`]).
        endpoint: &'static str,
        /// The underlying error, stripped of its URL.
        #[source]
        source: Arc<reqwest::Error>,
    },

    /// DingTalk answered with something we could not understand.
    #[error("DingTalk {endpoint}: unexpected response: {source}")]
    Decode {
        /// Which call failed.
        endpoint: &'static str,
        /// What did not parse.
        #[source]
        source: Arc<dyn StdError + Send + Sync>,
        /// The response body as received (for logs and bug reports).
        body: String,
    },

    /// The request was rejected locally before anything was sent.
    #[error("invalid DingTalk request: {0}")]
    InvalidRequest(String),

    /// A payload is above a documented size limit (checked before sending / while downloading).
    #[error("{what} is too large: {} exceeds the limit of {limit} bytes", fmt_actual(*.actual))]
    TooLarge {
        /// What was too large, e.g. "voice upload" or "custom robot message body".
        what: &'static str,
        /// The limit in bytes.
        limit: u64,
        /// The size, when known (a streamed download is cut off before its end is seen).
        actual: Option<u64>,
    },

    /// The caller's body gate (`api::BodyGate`) withheld the request's body once its
    /// connection was open: DingTalk got a request cut short, and has nothing of it.
    #[error("DingTalk {endpoint}: not sent: {reason}")]
    Withheld {
        /// Which call it was.
        endpoint: &'static str,
        /// The gate's reason.
        reason: String,
    },

    /// Writing downloaded data to the caller's writer failed.
    #[error("writing downloaded media failed: {0}")]
    Io(#[source] Arc<std::io::Error>),
}

/// `error` and what caused it: reqwest's own text ("error sending request") says nothing of
/// why, its sources do (a refused connection, one closed before the answer came). Each cause
/// already quoted by the text before it is left out.
pub fn error_chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let line = inner.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        cause = inner.source();
    }
    text
}

/// What hyper says, and only says, of a write to the connection that failed: its
/// `Kind::BodyWrite`, for which it has no public predicate (hyper 1.x, `src/error.rs`). Pinned
/// by `error::tests::a_request_whose_write_failed_never_arrived_and_may_be_sent_again`.
const HYPER_WRITE_FAILED: &str = "error writing a body to connection";

/// Whether `error` is a request that failed while its bytes were being written to the
/// connection (a broken pipe, a reset, a pooled connection the server had closed).
///
/// Why that means the server has nothing: hyper reports a write failure only from flushing
/// its write buffer, and while a request is in flight that buffer holds the request's own
/// unsent bytes; a request whose last byte reached the socket fails while reading instead
/// ("connection closed before message completed"), which stays "may have arrived". A server
/// cannot act on a request it has not read to its end: the end of a JSON body is its last
/// byte, and `Content-Length` says where it is.
fn broke_off_while_written(error: &(dyn StdError + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(inner) = cause {
        if let Some(hyper) = inner.downcast_ref::<hyper::Error>() {
            return hyper.to_string() == HYPER_WRITE_FAILED;
        }
        cause = inner.source();
    }
    false
}

fn fmt_actual(actual: Option<u64>) -> String {
    match actual {
        Some(n) => format!("{n} bytes"),
        None => "the payload".to_owned(),
    }
}

impl Error {
    /// Wraps a transport error, dropping the URL (it may carry `access_token=` or a signature).
    pub(crate) fn transport(endpoint: &'static str, source: reqwest::Error) -> Self {
        Self::Transport {
            endpoint,
            source: Arc::new(source.without_url()),
        }
    }

    /// A response that did not parse as the expected type.
    pub(crate) fn decode(
        endpoint: &'static str,
        source: impl StdError + Send + Sync + 'static,
        body: impl Into<String>,
    ) -> Self {
        Self::Decode {
            endpoint,
            source: Arc::new(source),
            body: body.into(),
        }
    }

    /// The DingTalk-side error, if this is one.
    #[must_use]
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The classified kind of a DingTalk-side error.
    #[must_use]
    pub fn kind(&self) -> Option<ApiErrorKind> {
        self.api().map(|e| e.kind)
    }

    /// Whether sending the same request again later may succeed.
    ///
    /// True for QPS limits, server-side trouble, timeouts and connection failures, a request
    /// that broke off while it was written, any network failure of an access-token fetch, and for a throttled custom robot (after a long pause,
    /// see [`Error::retry_after`]). Retrying a send can duplicate a message: robot APIs have
    /// no idempotency key.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api(e) => e.is_retryable(),
            // A token fetch cut off anywhere is safe to repeat: it carries no message. A
            // reused pooled connection the server had just closed is the everyday case.
            Self::Transport { endpoint, .. } if ApiEndpoint::is_token_name(endpoint) => true,
            Self::Transport { source, .. } => {
                source.is_timeout() || source.is_connect() || broke_off_while_written(source.as_ref())
            }
            _ => false,
        }
    }

    /// Whether DingTalk may have taken the request although this error came back: it got no
    /// answer after the connection was made (a timeout, a reset), or an answer that did not
    /// parse. An answer that said no, a connection never made, a request that broke off
    /// before its last byte was written, and a failed access-token fetch (the call's own
    /// request never left) mean it has nothing.
    #[must_use]
    pub fn may_have_arrived(&self) -> bool {
        match self {
            // A call whose token fetch failed never sent its own request.
            Self::Transport { endpoint, .. } | Self::Decode { endpoint, .. }
                if ApiEndpoint::is_token_name(endpoint) =>
            {
                false
            }
            Self::Transport { source, .. } => {
                !source.is_connect() && !broke_off_while_written(source.as_ref())
            }
            Self::Decode { .. } => true,
            _ => false,
        }
    }

    /// The minimum pause before a retry, when there is a meaningful one.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api(e) => e.retry_after(),
            Self::Transport { .. } if self.is_retryable() => Some(Duration::from_millis(500)),
            _ => None,
        }
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Self::Api(Box::new(e))
    }
}

/// What kind of failure DingTalk reported, i.e. what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// DingTalk rejected the access token: revoked, expired early or unknown. On the OpenAPI host
    /// that is HTTP 400 (or 401) `InvalidAuthentication` "不合法的access_token"; on the legacy
    /// host HTTP 200 with errcode 40001/40014/42001. The clients already dropped the token,
    /// fetched a fresh one and retried once when you see this.
    TokenExpired,
    /// Wrong clientId/clientSecret (`invalidClientIdOrSecret`). Configuration error: do not retry.
    InvalidCredentials,
    /// A QPS limit (`…QpsLimitForAppkeyAndApi`, `…QpsLimitForApi`, 90018, 90002, HTTP 429).
    QpsLimited,
    /// The organisation's API call quota is used up (`ApiCountLimitForOrg`, 90020). Do not retry.
    QuotaExhausted,
    /// The request itself was rejected (`invalidParameter.*`, `param.*`, HTTP 400).
    InvalidParam,
    /// The app lacks an API permission; [`ApiError::permission`] names it when DingTalk did.
    PermissionMissing,
    /// The sessionWebhook expired (`300001`): reply through the robot OpenAPI instead.
    SessionWebhookExpired,
    /// A custom robot (or sessionWebhook) is throttled (410100/130101/660026): pause it 10 min.
    RateLimitedRobot,
    /// Custom robot security check failed (310000: keyword, signature, timestamp or IP allowlist).
    SecurityCheckFailed,
    /// The message is longer than DingTalk accepts (460101/101002, `param.stream.content`).
    MessageTooLong,
    /// DingTalk rejected the content itself (430101–430104, `param.contentUnsafe`).
    ContentRejected,
    /// DingTalk is busy or failing (HTTP 5xx, `system.busy`, errcode -1).
    ServerBusy,
    /// DingTalk timed out talking to its own backends (HTTP 504, errcode 15/88).
    Timeout,
    /// The addressed thing does not exist (HTTP 404, robot/webhook not found).
    NotFound,
    /// A card was created but at least one delivery reported `success:false`.
    DeliveryFailed,
    /// Anything not classified above; see `code` and `message`.
    Other,
}

impl ApiErrorKind {
    /// What the operator or caller should do, in one sentence.
    fn advice(self) -> &'static str {
        match self {
            Self::TokenExpired => {
                "the access token was rejected even after a refresh; check the app credentials and the system clock"
            }
            Self::InvalidCredentials => {
                "check clientId/clientSecret (or the custom robot webhook token); retrying will not help"
            }
            Self::QpsLimited => {
                "too many calls per second; back off at least 1 s and retry, and rate-limit calls per app and API"
            }
            Self::QuotaExhausted => {
                "the organisation's API quota is exhausted; do not retry, tell the operator or use cheaper paths"
            }
            Self::InvalidParam => {
                "DingTalk rejected the request parameters; fix the request, retrying unchanged will not help"
            }
            Self::PermissionMissing => {
                "grant the missing API permission to the app in the DingTalk developer console and publish a new version"
            }
            Self::SessionWebhookExpired => {
                "the sessionWebhook expired; send through the robot OpenAPI instead"
            }
            Self::RateLimitedRobot => {
                "the robot is throttled; stop sending through it for 10 minutes and merge queued messages"
            }
            Self::SecurityCheckFailed => {
                "the custom robot security check failed; check the keyword, signing secret, clock or IP allowlist"
            }
            Self::MessageTooLong => "the message is too long; split it into smaller messages",
            Self::ContentRejected => "DingTalk rejected the content; change the message",
            Self::ServerBusy => "DingTalk is having trouble; retry with exponential backoff",
            Self::Timeout => "DingTalk timed out internally; retry with backoff",
            Self::NotFound => "the robot, card, conversation or webhook does not exist; check the ids",
            Self::DeliveryFailed => {
                "the card was created but not delivered; check robot membership and the space id"
            }
            Self::Other => "see the code and message",
        }
    }
}

/// A failure reported by DingTalk, in either the new or the legacy shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Which call failed (see [`crate::endpoints::ApiEndpoint::name`]).
    pub endpoint: &'static str,
    /// Classification: what to do about it.
    pub kind: ApiErrorKind,
    /// HTTP status (legacy errors come with 200).
    pub http_status: u16,
    /// New-API `code` or legacy `errcode` as text; empty when the body had neither.
    pub code: String,
    /// New-API `message` or legacy `errmsg`.
    pub message: String,
    /// DingTalk's request id (quote it in support requests).
    pub request_id: Option<String>,
    /// The API permission (scope) DingTalk said is missing, e.g. `qyapi_robot_sendmsg`.
    pub permission: Option<String>,
    /// A pause DingTalk asked for (HTTP `Retry-After`, IP-block `wait`), if any.
    pub retry_after_hint: Option<Duration>,
    /// The response body exactly as received.
    pub raw_body: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DingTalk {} failed (HTTP {}", self.endpoint, self.http_status)?;
        if !self.code.is_empty() {
            write!(f, ", code {}", self.code)?;
        }
        f.write_str(")")?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(permission) = &self.permission {
            write!(f, "; missing permission `{permission}`")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        write!(f, " — {}", self.kind.advice())
    }
}

impl StdError for ApiError {}

impl ApiError {
    /// Classifies a response; `None` means it is not an error.
    ///
    /// Handles both body shapes: any HTTP status ≥ 400 is an error whatever the body says, and a
    /// 2xx body is an error when it carries a non-zero `errcode` (number or string, as custom
    /// robots send `"0"`). Bodies that are not JSON are kept raw and classified by status only.
    #[must_use]
    pub fn from_response(endpoint: &'static str, http_status: u16, body: &str) -> Option<Self> {
        let json: Option<Value> = serde_json::from_str(body).ok();
        let obj = json.as_ref().and_then(Value::as_object);
        let field = |name: &str| obj.and_then(|o| get_ci(o, name));

        let errcode = field("errcode").and_then(scalar_text);
        let legacy_failed = errcode.as_deref().is_some_and(|c| c != "0");
        // 3xx is a failure too: the clients follow no redirect, so the request went nowhere.
        if http_status < 300 && !legacy_failed {
            return None;
        }

        let code = field("code")
            .and_then(scalar_text)
            .filter(|c| !c.is_empty())
            .or(errcode)
            .unwrap_or_default();
        let message = field("message")
            .or_else(|| field("errmsg"))
            .and_then(scalar_text)
            .unwrap_or_default();
        let request_id = ["requestid", "request_id", "requestId"]
            .iter()
            .find_map(|k| field(k))
            .and_then(scalar_text)
            .filter(|s| !s.is_empty());
        let permission = obj.and_then(extract_permission);
        let mut kind = classify(http_status, &code, &message, permission.is_some(), obj);
        // A token request carries no token: a "token rejected" answer to it can only be about
        // the app's credentials.
        if kind == ApiErrorKind::TokenExpired && is_token_endpoint(endpoint) {
            kind = ApiErrorKind::InvalidCredentials;
        }

        // The per-IP block page says how long it lasts; treat `wait` as minutes (5 min block).
        let retry_after_hint = obj
            .filter(|o| get_ci(o, "punish").is_some())
            .and_then(|o| get_ci(o, "wait"))
            .and_then(Value::as_u64)
            .map(|m| Duration::from_secs(m * 60));

        Some(Self {
            endpoint,
            kind,
            http_status,
            code,
            message,
            request_id,
            permission,
            retry_after_hint,
            raw_body: body.to_owned(),
        })
    }

    /// An error DingTalk reported inside a successful (HTTP 200) answer, e.g. a failed card
    /// delivery.
    pub(crate) fn business(
        endpoint: crate::endpoints::ApiEndpoint,
        kind: ApiErrorKind,
        message: impl Into<String>,
        raw_body: String,
    ) -> Self {
        Self {
            endpoint: endpoint.name(),
            kind,
            http_status: 200,
            code: String::new(),
            message: message.into(),
            request_id: None,
            permission: None,
            retry_after_hint: None,
            raw_body,
        }
    }

    /// Whether sending the same request again later may succeed (see [`Error::is_retryable`]).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ApiErrorKind::QpsLimited
                | ApiErrorKind::ServerBusy
                | ApiErrorKind::Timeout
                | ApiErrorKind::RateLimitedRobot
        )
    }

    /// The minimum pause before retrying: DingTalk's own hint when it gave one, else 1 s for QPS
    /// limits (the window is 1 s), 10 min for a throttled robot, 500 ms for server trouble.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        if let Some(hint) = self.retry_after_hint {
            return Some(hint);
        }
        match self.kind {
            ApiErrorKind::QpsLimited => Some(Duration::from_secs(1)),
            ApiErrorKind::RateLimitedRobot => Some(Duration::from_secs(600)),
            ApiErrorKind::ServerBusy | ApiErrorKind::Timeout => Some(Duration::from_millis(500)),
            _ => None,
        }
    }
}

/// The classification table. Specific codes win over HTTP-status fallbacks.
fn classify(
    status: u16,
    code: &str,
    message: &str,
    has_permission: bool,
    obj: Option<&serde_json::Map<String, Value>>,
) -> ApiErrorKind {
    use ApiErrorKind as K;
    let lc = code.to_ascii_lowercase();

    // Before the errcode table: the legacy host also sends this text with codes that mean
    // something else in general (errcode 88).
    if message.contains(INVALID_TOKEN_TEXT) {
        return K::TokenExpired;
    }
    if let Some(kind) = code.parse::<i64>().ok().and_then(classify_legacy) {
        return kind;
    }
    if lc == "invalidclientidorsecret" {
        return K::InvalidCredentials;
    }
    if lc.contains("qpslimit") || status == 429 || obj.is_some_and(|o| get_ci(o, "punish").is_some()) {
        return K::QpsLimited;
    }
    if lc.contains("apicountlimit") {
        return K::QuotaExhausted;
    }
    // Checked before the token rule: `AccessTokenPermissionDenied` mentions the token but means
    // a missing scope.
    if has_permission || (lc.starts_with("forbidden") && lc.contains("permission")) {
        return K::PermissionMissing;
    }
    if is_token_rejection(status, &lc) {
        return K::TokenExpired;
    }
    if lc == "param.stream.content" {
        return K::MessageTooLong;
    }
    if lc.contains("contentunsafe") {
        return K::ContentRejected;
    }
    if lc.contains("system.busy") || lc.contains("serviceunavailable") {
        return K::ServerBusy;
    }
    if lc.contains("notfound") || lc.contains("notexist") || lc == "resource.unavailable" {
        return K::NotFound;
    }
    if lc.starts_with("invalidparameter")
        || lc.starts_with("param.")
        || lc.starts_with("invalid.")
        || lc.starts_with("missing")
    {
        return K::InvalidParam;
    }
    match status {
        504 => K::Timeout,
        500..=599 => K::ServerBusy,
        404 => K::NotFound,
        413 => K::MessageTooLong,
        400 => K::InvalidParam,
        _ if message.contains("session 不存在") => K::SessionWebhookExpired,
        _ => K::Other,
    }
}

/// Whether DingTalk refused the access token itself.
///
/// `api.dingtalk.com` answers a revoked or invalid token with HTTP **400**
/// `{"code":"InvalidAuthentication","message":"不合法的access_token"}`, not 401 (satorijs/satori#240,
/// apache/ozhera#74, ClouGence/open-cdm#342), where the shared protocol notes assumed 401; 401
/// is kept for any gateway in front of DingTalk that does use it. The
/// legacy host sends the same text with other errcodes too (errcode 88 in
/// 007gzs/dingtalk-sdk#52), so [`classify`] checks [`INVALID_TOKEN_TEXT`] first.
fn is_token_rejection(status: u16, lower_code: &str) -> bool {
    status == 401
        || lower_code == "invalidauthentication"
        || (lower_code.contains("token")
            && (lower_code.contains("invalid")
                || lower_code.contains("expire")
                || lower_code.contains("notexist")))
}

/// DingTalk's message for a rejected token, on both hosts ("invalid access_token").
const INVALID_TOKEN_TEXT: &str = "不合法的access_token";

/// The calls that fetch a token.
fn is_token_endpoint(endpoint: &str) -> bool {
    use crate::endpoints::ApiEndpoint;
    endpoint == ApiEndpoint::AccessToken.name() || endpoint == ApiEndpoint::LegacyToken.name()
}

/// Legacy `errcode`s (oapi, custom robot, sessionWebhook).
fn classify_legacy(errcode: i64) -> Option<ApiErrorKind> {
    use ApiErrorKind as K;
    Some(match errcode {
        // The oapi host answers a bad token with HTTP 200 and `{"errcode":40014,"errmsg":
        // "不合法的access_token"}` (satorijs/satori#240, hugozhu/godingtalk#5); 40001 (invalid
        // credential, token invalid or not the latest) and 42001 (token timed out) are the
        // same family's codes for a token to fetch again.
        40001 | 40014 | 42001 => K::TokenExpired,
        // gettoken with a wrong appkey/appsecret (unverified for DingTalk, borrowed convention).
        40089 => K::InvalidCredentials,
        90018 | 90002 | 90005 | 90006 => K::QpsLimited,
        90020 | 20001 | 90030 => K::QuotaExhausted,
        300001 => K::SessionWebhookExpired,
        310000 => K::SecurityCheckFailed,
        410100 | 130101 | 660026 => K::RateLimitedRobot,
        460101 | 101002 => K::MessageTooLong,
        430101..=430104 => K::ContentRejected,
        // 60121: no such user (contacts).
        300005 | 400101 | 400106 | 60121 => K::NotFound,
        // 60011: the app lacks the contacts permission the call needs.
        60011 => K::PermissionMissing,
        40035 | 43004 | 400105 | 40004 => K::InvalidParam,
        15 | 88 => K::Timeout,
        -1 => K::ServerBusy,
        _ => return None,
    })
}

/// Finds the name of a missing permission, defensively: first in a structured
/// `accessdenieddetail.requiredScopes` (any key case, array or string), then in the message
/// text, where DingTalk writes scope names such as `qyapi_robot_sendmsg` or `Card.Streaming.Write`.
fn extract_permission(obj: &serde_json::Map<String, Value>) -> Option<String> {
    let structured = get_ci(obj, "accessdenieddetail")
        .and_then(Value::as_object)
        .and_then(|d| get_ci(d, "requiredScopes").or_else(|| get_ci(d, "requiredScope")))
        .and_then(|scopes| match scopes {
            Value::Array(items) => {
                let names: Vec<&str> = items
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .collect();
                (!names.is_empty()).then(|| names.join(","))
            }
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        });
    structured.or_else(|| {
        let message = get_ci(obj, "message")
            .or_else(|| get_ci(obj, "errmsg"))
            .and_then(Value::as_str)?;
        permission_in_text(message)
    })
}

/// The first token in `text` shaped like a DingTalk permission code.
fn permission_in_text(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .map(|t| t.trim_matches('.'))
        .find(|t| looks_like_scope(t))
        .map(str::to_owned)
}

/// `qyapi_*` (legacy scopes) or `Area.Thing.Read|Write` (new scopes, e.g. `Card.Instance.Write`).
fn looks_like_scope(token: &str) -> bool {
    if token.starts_with("qyapi_") && token.len() > "qyapi_".len() {
        return true;
    }
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|p| !p.is_empty())
        && parts
            .last()
            .is_some_and(|last| last.ends_with("Read") || last.ends_with("Write"))
}

/// Case-insensitive object lookup (DingTalk spells `requestid`/`requestId` both ways).
fn get_ci<'a>(obj: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A string or number as text (codes come both ways).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify_body(status: u16, body: &str) -> ApiError {
        ApiError::from_response("test", status, body).expect("is an error")
    }

    #[test]
    fn success_bodies_are_not_errors() {
        assert!(ApiError::from_response("t", 200, r#"{"processQueryKey":"x"}"#).is_none());
        assert!(ApiError::from_response("t", 200, r#"{"errcode":0,"errmsg":"ok"}"#).is_none());
        assert!(ApiError::from_response("t", 200, r#"{"errcode":"0","errmsg":"ok"}"#).is_none());
        assert!(ApiError::from_response("t", 200, "").is_none());
    }

    #[test]
    fn new_api_qps_limit_is_classified_and_keeps_the_body() {
        let body = r#"{"code":"Forbidden.AccessDenied.QpsLimitForAppkeyAndApi","message":"qps exceeded","requestid":"R1"}"#;
        let e = classify_body(403, body);
        assert_eq!(e.kind, ApiErrorKind::QpsLimited);
        assert_eq!(e.request_id.as_deref(), Some("R1"));
        assert_eq!(e.raw_body, body);
        assert!(e.is_retryable());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
        let e = classify_body(
            403,
            r#"{"code":"Forbidden.AccessDenied.QpsLimitForApi","message":"x"}"#,
        );
        assert_eq!(e.kind, ApiErrorKind::QpsLimited);
        assert_eq!(classify_body(429, "slow down").kind, ApiErrorKind::QpsLimited);
    }

    #[test]
    fn quota_credentials_params_and_token() {
        let k = |s, b| classify_body(s, b).kind;
        assert_eq!(
            k(
                403,
                r#"{"code":"Forbidden.AccessDenied.ApiCountLimitForOrg","message":"m"}"#
            ),
            ApiErrorKind::QuotaExhausted
        );
        assert_eq!(
            k(400, r#"{"code":"invalidClientIdOrSecret","message":"bad"}"#),
            ApiErrorKind::InvalidCredentials
        );
        assert_eq!(
            k(400, r#"{"code":"invalidParameter.robotCode.auth","message":"m"}"#),
            ApiErrorKind::InvalidParam
        );
        assert_eq!(
            k(400, r#"{"code":"param.openSpaceIdInvalid","message":"m"}"#),
            ApiErrorKind::InvalidParam
        );
        assert_eq!(
            k(
                400,
                r#"{"code":"param.stream.content","message":"content is too large"}"#
            ),
            ApiErrorKind::MessageTooLong
        );
        assert_eq!(
            k(401, r#"{"code":"InvalidAuthentication","message":"m"}"#),
            ApiErrorKind::TokenExpired
        );
        assert_eq!(k(500, r#"{"code":"system.busy"}"#), ApiErrorKind::ServerBusy);
        assert_eq!(k(504, "<html>gateway timeout</html>"), ApiErrorKind::Timeout);
        assert_eq!(k(503, ""), ApiErrorKind::ServerBusy);
    }

    #[test]
    fn every_shape_of_a_rejected_token_is_token_expired() {
        let k = |s, b: &str| classify_body(s, b).kind;
        // api.dingtalk.com: HTTP 400, as seen in satorijs/satori#240.
        let api =
            r#"{"code":"InvalidAuthentication","requestid":"30EE8654","message":"不合法的access_token"}"#;
        assert_eq!(k(400, api), ApiErrorKind::TokenExpired);
        assert_eq!(k(401, api), ApiErrorKind::TokenExpired);
        // oapi.dingtalk.com: HTTP 200 with an errcode.
        for code in [40001, 40014, 42001] {
            let body = format!(r#"{{"errcode":{code},"errmsg":"x"}}"#);
            assert_eq!(k(200, &body), ApiErrorKind::TokenExpired, "{code}");
        }
        assert_eq!(
            k(200, r#"{"errcode":88,"errmsg":"不合法的access_token"}"#),
            ApiErrorKind::TokenExpired
        );
        // A plain bad parameter stays one.
        assert_eq!(
            k(400, r#"{"code":"InvalidParameter","message":"m"}"#),
            ApiErrorKind::InvalidParam
        );
    }

    #[test]
    fn a_token_rejection_answering_a_token_request_is_a_credentials_problem() {
        let e = ApiError::from_response("gettoken", 200, r#"{"errcode":40001,"errmsg":"x"}"#).unwrap();
        assert_eq!(e.kind, ApiErrorKind::InvalidCredentials);
        let e = ApiError::from_response(
            "oauth2.accessToken",
            400,
            r#"{"code":"InvalidAuthentication","message":"不合法的access_token"}"#,
        )
        .unwrap();
        assert_eq!(e.kind, ApiErrorKind::InvalidCredentials);
    }

    #[test]
    fn legacy_errcodes() {
        let k = |b| classify_body(200, b).kind;
        assert_eq!(
            k(r#"{"errcode":40014,"errmsg":"invalid access_token"}"#),
            ApiErrorKind::TokenExpired
        );
        assert_eq!(k(r#"{"errcode":90018,"errmsg":"qps"}"#), ApiErrorKind::QpsLimited);
        assert_eq!(k(r#"{"errcode":90002,"errmsg":"qps"}"#), ApiErrorKind::QpsLimited);
        assert_eq!(
            k(r#"{"errcode":90020,"errmsg":"quota"}"#),
            ApiErrorKind::QuotaExhausted
        );
        assert_eq!(
            k(r#"{"errcode":300001,"errmsg":"session 不存在"}"#),
            ApiErrorKind::SessionWebhookExpired
        );
        assert_eq!(
            k(r#"{"errcode":"310000","errmsg":"keywords not in content"}"#),
            ApiErrorKind::SecurityCheckFailed
        );
        for code in [410100, 130101, 660026] {
            let e = classify_body(200, &format!(r#"{{"errcode":{code},"errmsg":"too fast"}}"#));
            assert_eq!(e.kind, ApiErrorKind::RateLimitedRobot);
            assert_eq!(e.retry_after(), Some(Duration::from_secs(600)));
        }
        assert_eq!(
            k(r#"{"errcode":460101,"errmsg":"too long"}"#),
            ApiErrorKind::MessageTooLong
        );
        assert_eq!(
            k(r#"{"errcode":15,"errmsg":"isp.top-remote-connection-timeout"}"#),
            ApiErrorKind::Timeout
        );
        assert_eq!(k(r#"{"errcode":88,"errmsg":""}"#), ApiErrorKind::Timeout);
        let e = classify_body(200, r#"{"errcode":12345,"errmsg":"odd"}"#);
        assert_eq!((e.kind, e.code.as_str()), (ApiErrorKind::Other, "12345"));
    }

    #[test]
    fn permission_from_structured_detail() {
        let body = r#"{"code":"Forbidden.AccessDenied.AccessTokenPermissionDenied","requestid":"R9",
            "message":"没有调用该接口的权限","accessdenieddetail":{"requiredScopes":["qyapi_robot_sendmsg"],"isPermissionApplicable":true}}"#;
        let e = classify_body(403, body);
        assert_eq!(e.kind, ApiErrorKind::PermissionMissing);
        assert_eq!(e.permission.as_deref(), Some("qyapi_robot_sendmsg"));
        let text = e.to_string();
        assert!(text.contains("qyapi_robot_sendmsg"), "{text}");
        assert!(text.contains("R9"), "{text}");
        assert!(text.contains("developer console"), "{text}");
    }

    #[test]
    fn permission_from_message_text() {
        let body = r#"{"code":"Forbidden.AccessDenied.AccessTokenPermissionDenied",
            "message":"No permission, required scopes: [Card.Streaming.Write], see https://open.dingtalk.com/document/x"}"#;
        let e = classify_body(403, body);
        assert_eq!(e.kind, ApiErrorKind::PermissionMissing);
        assert_eq!(e.permission.as_deref(), Some("Card.Streaming.Write"));
        // Without any scope named it is still a permission problem, just unnamed.
        let e = classify_body(
            403,
            r#"{"code":"Forbidden.AccessDenied.AccessTokenPermissionDenied","message":"denied"}"#,
        );
        assert_eq!((e.kind, e.permission), (ApiErrorKind::PermissionMissing, None));
    }

    #[test]
    fn ip_block_page_gives_a_wait_hint() {
        let e = classify_body(403, r#"{"status":1111,"wait":5,"punish":"deny"}"#);
        assert_eq!(e.kind, ApiErrorKind::QpsLimited);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(300)));
    }

    #[test]
    fn display_has_no_body_secrets_and_says_what_to_do() {
        let e = classify_body(400, r#"{"code":"invalidClientIdOrSecret","message":"bad"}"#);
        let s = Error::from(e).to_string();
        assert!(
            s.contains("invalidClientIdOrSecret") && s.contains("clientSecret"),
            "{s}"
        );
        let e = Error::TooLarge {
            what: "voice upload",
            limit: 10,
            actual: Some(11),
        };
        assert_eq!(
            e.to_string(),
            "voice upload is too large: 11 bytes exceeds the limit of 10 bytes"
        );
    }
}

/// What hyper reports when a connection fails while a request is written, and after it was.
#[cfg(test)]
mod write_failure_tests {
    use std::io;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Waker};

    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    use std::error::Error as _;

    use super::broke_off_while_written;

    /// A connection whose writes fail (`broken`), or which takes every write and then ends.
    #[derive(Default)]
    struct Wire {
        broken: bool,
        written: bool,
        reader: Arc<Mutex<Option<Waker>>>,
    }

    impl AsyncRead for Wire {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if self.written {
                return Poll::Ready(Ok(()));
            }
            *self.reader.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    impl AsyncWrite for Wire {
        fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            if self.broken {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            self.written = true;
            if let Some(reader) = self.reader.lock().unwrap().take() {
                reader.wake();
            }
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    async fn post_over(wire: Wire) -> hyper::Error {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(wire))
            .await
            .unwrap();
        tokio::spawn(connection);
        let request = http::Request::post("/v1.0/robot/oToMessages/batchSend")
            .header("content-type", "application/json")
            .body(String::from(r#"{"msgKey":"sampleText"}"#))
            .unwrap();
        sender
            .send_request(request)
            .await
            .expect_err("the wire gives no answer")
    }

    /// A wrapper that keeps `inner` as its source, as reqwest and hyper-util wrap hyper's error.
    #[derive(Debug, thiserror::Error)]
    #[error("error sending request")]
    struct Wrapped(#[source] hyper::Error);

    #[tokio::test]
    async fn a_request_whose_write_failed_never_arrived_and_may_be_sent_again() {
        let error = post_over(Wire {
            broken: true,
            ..Wire::default()
        })
        .await;
        assert!(broke_off_while_written(&error), "{error} / {:?}", error.source());
        assert!(broke_off_while_written(&Wrapped(error)));
    }

    #[tokio::test]
    async fn a_request_written_whole_whose_answer_never_came_may_have_arrived() {
        let error = post_over(Wire::default()).await;
        assert!(error.is_incomplete_message(), "{error}");
        assert!(!broke_off_while_written(&error), "{error}");
        assert!(!broke_off_while_written(&Wrapped(error)));
    }
}
