//! [`LlmClient`]: chat completions over HTTP, streamed or not, with retries and timeouts.

use std::sync::Arc;
use std::time::Duration;

use dingtalk::Secret;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tokio::time::Instant;
use url::Url;

use super::body::{RequestBody, ToolLists, serialize};
use super::decode::{Decoder, events_from_response, in_body_error, response_from_wire};
use super::error::{ErrorBody, LlmError, TimeoutPhase, is_content_filter, scrub};
use super::presets::{ProviderPreset, Quirks};
use super::retry::{RetryPolicy, parse_retry_after, with_retries};
use super::stream::{ChatStream, Reader, error_chain};
use super::transport::{Response, SendFailure, Transport, USER_AGENT};
use super::types::{ChatRequest, ChatResponse, WireResponse};

/// How long to wait at each stage of a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeouts {
    /// TCP + TLS connection setup.
    pub connect: Duration,
    /// From sending a streamed request to its first event (text, reasoning or tool call).
    /// Keep-alive comments and the empty role chunk do not count, so a request stuck in a
    /// provider's queue is abandoned and retried. Generous because thinking models can take
    /// a while to start.
    pub first_byte: Duration,
    /// Longest silence between two chunks of a stream that has started.
    pub idle: Duration,
    /// A whole non-streamed request, answer included.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(90),
            idle: Duration::from_secs(60),
            request: Duration::from_secs(300),
        }
    }
}

/// Everything needed to build an [`LlmClient`].
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// Which provider; decides the default URL, model and quirks.
    pub preset: ProviderPreset,
    /// Overrides the preset's base URL (required for [`ProviderPreset::Custom`]). Either the
    /// base (`…/v1`) or the full `…/chat/completions` URL.
    pub base_url: Option<String>,
    /// Sent as `Authorization: Bearer <key>`; an empty key sends no header (local servers).
    pub api_key: Secret,
    /// Model used when a request leaves `model` empty; defaults to the preset's.
    pub model: Option<String>,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Timeouts.
    pub timeouts: Timeouts,
}

impl LlmConfig {
    /// A preset with its default URL and model.
    pub fn new(preset: ProviderPreset, api_key: impl Into<Secret>) -> Self {
        Self {
            preset,
            base_url: None,
            api_key: api_key.into(),
            model: None,
            retry: RetryPolicy::default(),
            timeouts: Timeouts::default(),
        }
    }

    /// Any OpenAI-compatible endpoint.
    pub fn custom(base_url: impl Into<String>, api_key: impl Into<Secret>) -> Self {
        Self {
            base_url: Some(base_url.into()),
            ..Self::new(ProviderPreset::Custom, api_key)
        }
    }

    /// Sets the base URL.
    #[must_use]
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// Sets the default model.
    #[must_use]
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Sets the retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the timeouts.
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }
}

/// An OpenAI-compatible chat completions client. Cheap to clone (shares one connection pool).
#[derive(Debug, Clone)]
pub struct LlmClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: Transport,
    endpoint: Url,
    preset: ProviderPreset,
    quirks: Quirks,
    /// Kept for scrubbing provider messages; `Secret` never prints itself.
    key: Secret,
    /// Prepared once, marked sensitive so that no debug output of reqwest shows it.
    auth: Option<HeaderValue>,
    model: Option<String>,
    retry: RetryPolicy,
    timeouts: Timeouts,
    /// The agents' tool lists, serialized once (see `body.rs`).
    tool_lists: ToolLists,
}

/// Idle connections kept per host. A burst leaves one HTTP/1 connection per request that was
/// in flight, each with hyper's buffers; kept idle (90 s by default) they held memory long after
/// the burst. This many cover steady traffic; beyond them a burst connects anew, which costs
/// little beside a model's seconds per answer. HTTP/2 providers need one connection anyway.
const IDLE_CONNECTIONS_PER_HOST: usize = 64;

impl LlmClient {
    /// Builds a client; fails on an unusable URL or key.
    pub fn new(config: LlmConfig) -> Result<Self, LlmError> {
        let base = match (&config.base_url, config.preset.base_url()) {
            (Some(b), _) => b.as_str(),
            (None, Some(b)) => b,
            (None, None) => {
                return Err(LlmError::Config("a custom provider needs a baseUrl".to_owned()));
            }
        };
        let endpoint = chat_endpoint(base)?;
        let auth = if config.api_key.is_empty() {
            None
        } else {
            let mut v =
                HeaderValue::from_str(&format!("Bearer {}", config.api_key.expose())).map_err(|_| {
                    LlmError::Config(
                        "the API key contains characters that cannot be sent in an HTTP header".to_owned(),
                    )
                })?;
            v.set_sensitive(true);
            Some(v)
        };
        let http = dingtalk::tls::client_builder()
            .connect_timeout(config.timeouts.connect)
            .pool_max_idle_per_host(IDLE_CONNECTIONS_PER_HOST)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| LlmError::Config(format!("HTTP client: {}", error_chain(&e))))?;
        let http = Transport::for_endpoint(&endpoint, http, config.timeouts.connect);
        let model = config
            .model
            .filter(|m| !m.trim().is_empty())
            .or_else(|| config.preset.default_model().map(str::to_owned));
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                endpoint,
                preset: config.preset,
                quirks: config.preset.quirks(),
                key: config.api_key,
                auth,
                model,
                retry: config.retry,
                timeouts: config.timeouts,
                tool_lists: ToolLists::default(),
            }),
        })
    }

    /// The full `…/chat/completions` URL requests go to.
    #[must_use]
    pub fn endpoint(&self) -> &Url {
        &self.inner.endpoint
    }

    /// The provider preset.
    #[must_use]
    pub fn preset(&self) -> ProviderPreset {
        self.inner.preset
    }

    /// The model used when a request leaves `model` empty.
    #[must_use]
    pub fn default_model(&self) -> Option<&str> {
        self.inner.model.as_deref()
    }

    /// Sends a streamed request.
    ///
    /// Retries (per the policy) cover everything up to and including the first event, which
    /// is read before this returns: once the caller has seen output, a failure is reported
    /// as an error item in the stream and never retried, so output is never duplicated.
    pub async fn stream(&self, req: ChatRequest) -> Result<ChatStream, LlmError> {
        let (model, body) = self.prepare(req, true)?;
        let started = Instant::now();
        with_retries(&self.inner.retry, &model, |attempt| {
            let body = body.clone();
            let model = model.clone();
            async move { self.open_stream(body, model, attempt, started).await }
        })
        .await
    }

    /// Sends a non-streamed request and returns the whole answer.
    pub async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
        let (model, body) = self.prepare(req, false)?;
        let started = Instant::now();
        let limit = self.inner.timeouts.request;
        with_retries(&self.inner.retry, &model, |attempt| {
            let body = body.clone();
            let model = model.as_str();
            async move {
                let r = tokio::time::timeout(limit, self.complete_once(body))
                    .await
                    .map_err(|_| LlmError::Timeout {
                        phase: TimeoutPhase::Request,
                        after: limit,
                        request_id: None,
                    })??;
                tracing::info!(
                    model,
                    request_id = r.request_id.as_deref(),
                    attempt,
                    latency_ms = started.elapsed().as_millis() as u64,
                    finish_reason = r.finish_reason.as_deref(),
                    prompt_tokens = r.usage.map(|u| u.prompt_tokens),
                    completion_tokens = r.usage.map(|u| u.completion_tokens),
                    "llm request finished"
                );
                Ok(r)
            }
        })
        .await
    }

    /// Resolves the model, applies provider quirks and serializes the body once for all
    /// attempts.
    fn prepare(&self, mut req: ChatRequest, stream: bool) -> Result<(String, RequestBody), LlmError> {
        if req.model.trim().is_empty() {
            req.model = self
                .inner
                .model
                .clone()
                .ok_or_else(|| LlmError::Config("no model configured for this provider".to_owned()))?;
        }
        req.stream = stream;
        // Keys that duplicate typed fields would produce JSON with two `model` keys.
        for k in ["model", "messages", "tools", "stream"] {
            req.extra.remove(k);
        }
        if req.temperature.is_some() {
            req.extra.remove("temperature");
        }
        if req.max_tokens.is_some() {
            req.extra.remove("max_tokens");
        }
        let q = self.inner.quirks;
        if stream {
            if q.stream_usage_option && !req.extra.contains_key("stream_options") {
                req.extra
                    .insert("stream_options".into(), json!({"include_usage": true}));
            }
        } else {
            // OpenAI-style servers reject stream_options on non-streamed calls.
            req.extra.remove("stream_options");
            if q.no_thinking_when_not_streaming && !req.extra.contains_key("enable_thinking") {
                req.extra.insert("enable_thinking".into(), Value::Bool(false));
            }
        }
        let (messages, tools) = (req.messages.len(), req.tools.len());
        let model = req.model.clone();
        let body = serialize(req, &self.inner.tool_lists)
            .map_err(|e| LlmError::Config(format!("request does not serialize: {e}")))?;
        tracing::debug!(model, stream, messages, tools, bytes = body.len(), "llm request");
        Ok((model, body))
    }

    /// One HTTP attempt up to the response headers; non-2xx becomes a typed error.
    async fn send(&self, body: RequestBody, stream: bool) -> Result<Response, LlmError> {
        let i = &self.inner;
        let resp = i
            .http
            .post(&i.endpoint, i.auth.as_ref(), stream, &body)
            .await
            .map_err(|e| transport_error(e, i))?;
        if resp.status.is_success() {
            return Ok(resp);
        }
        // Boxed: inline, reading an error body would be reserved in every request waiting on
        // the model, which is every waiting turn.
        Err(Box::pin(self.status_error(resp)).await)
    }

    async fn open_stream(
        &self,
        body: RequestBody,
        model: String,
        attempt: u32,
        started: Instant,
    ) -> Result<ChatStream, LlmError> {
        let t = &self.inner.timeouts;
        let attempt_start = Instant::now();
        let deadline = attempt_start + t.first_byte;
        let resp = tokio::time::timeout(t.first_byte, self.send(body, true))
            .await
            .map_err(|_| LlmError::Timeout {
                phase: TimeoutPhase::FirstByte,
                after: t.first_byte,
                request_id: None,
            })??;
        let request_id = request_id_from_headers(&resp.headers);
        if is_json(&resp.headers) {
            // The provider ignored `stream: true`, or put an error in a 200 JSON body.
            let remaining = deadline.saturating_duration_since(Instant::now());
            let bytes = tokio::time::timeout(remaining.max(t.idle), resp.body.bytes())
                .await
                .map_err(|_| LlmError::Timeout {
                    phase: TimeoutPhase::FirstByte,
                    after: t.first_byte,
                    request_id: request_id.clone(),
                })?
                .map_err(|e| LlmError::Truncated {
                    reason: error_chain(&*e),
                    request_id: request_id.clone(),
                    before_output: true,
                })?;
            let r = self.parse_full_body(&bytes, request_id)?;
            let rid = r.request_id.clone();
            let events = events_from_response(r).into_iter().map(Ok);
            return Ok(ChatStream::from_stream(rid, futures_util::stream::iter(events)));
        }
        let decoder = Decoder::new(request_id, self.inner.key.clone());
        let mut reader = Reader::new(
            resp.body.into_stream(),
            decoder,
            deadline,
            t.first_byte,
            t.idle,
            model.clone(),
            attempt,
            started,
        );
        // Read the first event before returning, so that failures that happen before any
        // output (slow first byte, rate-limit error event, a cut before the first event) can
        // still be retried.
        match reader.next().await {
            Some(Ok(ev)) => reader.unread(ev),
            Some(Err(LlmError::Truncated {
                reason, request_id, ..
            })) => {
                return Err(LlmError::Truncated {
                    reason,
                    request_id,
                    before_output: true,
                });
            }
            Some(Err(e)) => return Err(e),
            None => {}
        }
        let request_id = reader.request_id();
        tracing::info!(
            model,
            request_id = request_id.as_deref(),
            attempt,
            first_event_ms = attempt_start.elapsed().as_millis() as u64,
            "llm stream started"
        );
        let events = futures_util::stream::unfold(reader, |mut r| async move {
            let item = r.next().await?;
            Some((item, r))
        });
        Ok(ChatStream::from_stream(request_id, events))
    }

    async fn complete_once(&self, body: RequestBody) -> Result<ChatResponse, LlmError> {
        let resp = self.send(body, false).await?;
        let request_id = request_id_from_headers(&resp.headers);
        // Nothing is handed out before the whole body parsed, so a cut body may be retried.
        let bytes = resp.body.bytes().await.map_err(|e| LlmError::Truncated {
            reason: error_chain(&*e),
            request_id: request_id.clone(),
            before_output: true,
        })?;
        self.parse_full_body(&bytes, request_id)
    }

    /// Parses a complete (non-streamed) 200 body.
    fn parse_full_body(&self, bytes: &[u8], request_id: Option<String>) -> Result<ChatResponse, LlmError> {
        let key = &self.inner.key;
        let decode = |message: String, request_id: Option<String>| LlmError::Decode {
            message,
            snippet: scrub(
                &String::from_utf8_lossy(&bytes[..bytes.len().min(200)]),
                key.expose(),
            ),
            request_id,
        };
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| decode(e.to_string(), request_id.clone()))?;
        if ErrorBody::is_error(&v) {
            return Err(in_body_error(&v, request_id, key));
        }
        let wire: WireResponse =
            serde_json::from_value(v).map_err(|e| decode(e.to_string(), request_id.clone()))?;
        response_from_wire(wire, request_id.clone()).map_err(|m| decode(m, request_id))
    }

    /// Turns a non-success response into the matching error.
    async fn status_error(&self, resp: Response) -> LlmError {
        let status = resp.status.as_u16();
        let headers = resp.headers;
        let header_id = request_id_from_headers(&headers);
        // The body only explains; don't let a stalled error body hold the turn hostage.
        let body = tokio::time::timeout(self.inner.timeouts.idle, resp.body.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let parsed = serde_json::from_slice::<Value>(&body)
            .map(|v| ErrorBody::parse(&v))
            .unwrap_or_default();
        let fallback = || {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)])
                .trim()
                .to_owned();
            if text.is_empty() {
                reqwest::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("no details")
                    .to_owned()
            } else {
                text
            }
        };
        let message = scrub(
            &parsed.message.clone().unwrap_or_else(fallback),
            self.inner.key.expose(),
        );
        let request_id = header_id.or(parsed.request_id);
        let code = parsed.code;
        match status {
            401 | 403 => LlmError::Auth {
                status,
                message,
                request_id,
            },
            // Out of credit is not a rate limit: waiting will not help.
            429 if code.as_deref() != Some("insufficient_quota") => LlmError::RateLimited {
                retry_after: parse_retry_after(&headers),
                message,
                request_id,
            },
            _ if is_content_filter(code.as_deref(), &message) => {
                LlmError::ContentFiltered { message, request_id }
            }
            _ => LlmError::Http {
                status,
                code,
                message,
                request_id,
            },
        }
    }
}

/// `base` + `/chat/completions`, unless `base` already is the full endpoint.
fn chat_endpoint(base: &str) -> Result<Url, LlmError> {
    let base = base.trim().trim_end_matches('/');
    let full = if base.ends_with("/chat/completions") {
        base.to_owned()
    } else {
        format!("{base}/chat/completions")
    };
    let url =
        Url::parse(&full).map_err(|e| LlmError::Config(format!("invalid model base URL {base:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(LlmError::Config(format!(
            "model base URL must be http(s), got {base:?}"
        )));
    }
    Ok(url)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().starts_with("application/json"))
}

/// The request id under any of the header names providers use.
pub fn request_id_from_headers(headers: &HeaderMap) -> Option<String> {
    const NAMES: [&str; 8] = [
        "x-request-id",
        "x-dashscope-request-id",
        "x-acs-request-id",
        "req-id",
        "request-id",
        "x-ds-trace-id",
        "msh-request-id",
        "x-log-id",
    ];
    NAMES.iter().find_map(|n| {
        let v = headers.get(*n)?.to_str().ok()?.trim();
        (!v.is_empty()).then(|| v.to_owned())
    })
}

fn transport_error(failure: SendFailure, inner: &Inner) -> LlmError {
    let connect_timeout = LlmError::Timeout {
        phase: TimeoutPhase::Connect,
        after: inner.timeouts.connect,
        request_id: None,
    };
    let (message, connect) = match failure {
        SendFailure::Reqwest(e) if e.is_connect() && e.is_timeout() => return connect_timeout,
        SendFailure::Reqwest(e) => (error_chain(&e), e.is_connect()),
        SendFailure::Http1(e) if e.timed_out => return connect_timeout,
        SendFailure::Http1(e) => (e.message, e.connect),
    };
    LlmError::Transport {
        message: scrub(&message, inner.key.expose()),
        connect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_from_base_urls() {
        let e = |b: &str| chat_endpoint(b).map(|u| u.to_string());
        assert_eq!(
            e("https://api.deepseek.com").unwrap(),
            "https://api.deepseek.com/chat/completions"
        );
        assert_eq!(
            e("https://dashscope.aliyuncs.com/compatible-mode/v1/").unwrap(),
            "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions"
        );
        assert_eq!(
            e("http://127.0.0.1:8080/v1/chat/completions").unwrap(),
            "http://127.0.0.1:8080/v1/chat/completions"
        );
        assert!(e("ftp://x").is_err());
        assert!(e("not a url").is_err());
    }

    #[test]
    fn presets_resolve_to_their_urls_and_models() {
        for (preset, url) in [
            (
                ProviderPreset::DashScope,
                "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions",
            ),
            (
                ProviderPreset::DeepSeek,
                "https://api.deepseek.com/chat/completions",
            ),
            (
                ProviderPreset::Moonshot,
                "https://api.moonshot.cn/v1/chat/completions",
            ),
            (
                ProviderPreset::Zhipu,
                "https://open.bigmodel.cn/api/paas/v4/chat/completions",
            ),
            (
                ProviderPreset::ZAi,
                "https://api.z.ai/api/paas/v4/chat/completions",
            ),
        ] {
            let c = LlmClient::new(LlmConfig::new(preset, "k")).unwrap();
            assert_eq!(c.endpoint().as_str(), url);
            assert_eq!(c.default_model(), preset.default_model());
        }
        assert!(matches!(
            LlmClient::new(LlmConfig::new(ProviderPreset::Custom, "k")),
            Err(LlmError::Config(_))
        ));
        let custom =
            LlmClient::new(LlmConfig::custom("http://localhost:11434/v1", "").with_model("qwen3:8b"))
                .unwrap();
        assert_eq!(custom.default_model(), Some("qwen3:8b"));
        assert!(custom.inner.auth.is_none());
    }

    #[test]
    fn quirks_shape_the_body() {
        let c = LlmClient::new(LlmConfig::new(ProviderPreset::DashScope, "k")).unwrap();
        let req = ChatRequest::new("", vec![]).with_extra("model", json!("evil"));
        let (model, body) = c.prepare(req.clone(), true).unwrap();
        assert_eq!(model, "qwen-plus");
        let v: Value = serde_json::from_slice(&body.joined()).unwrap();
        assert_eq!(v["stream"], true);
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["model"], "qwen-plus");
        let (_, body) = c.prepare(req, false).unwrap();
        let v: Value = serde_json::from_slice(&body.joined()).unwrap();
        assert_eq!(v["enable_thinking"], false);
        assert!(v.get("stream_options").is_none());

        let glm = LlmClient::new(LlmConfig::new(ProviderPreset::Zhipu, "k")).unwrap();
        let (_, body) = glm.prepare(ChatRequest::new("glm-4.6", vec![]), true).unwrap();
        let v: Value = serde_json::from_slice(&body.joined()).unwrap();
        assert!(v.get("stream_options").is_none(), "GLM rejects stream_options");
    }

    #[test]
    fn key_with_newline_is_a_config_error_without_the_key() {
        let err = LlmClient::new(LlmConfig::new(ProviderPreset::DeepSeek, "sk-abc\nd")).unwrap_err();
        assert!(!err.to_string().contains("sk-abc"));
    }

    /// The size of the future `f` returns, without calling it.
    fn future_size<A, F: Future>(_: impl Fn(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every turn waiting on the model holds a request future, so reading an error body (a
    /// rare step after the wait) is boxed and not reserved in it.
    #[test]
    fn a_waiting_request_reserves_no_room_for_an_error_body() {
        type C = &'static LlmClient;
        let send = future_size(|(c, b): (C, RequestBody)| c.send(b, true));
        let error = future_size(|(c, r): (C, Response)| c.status_error(r));
        assert!(
            send < error,
            "sending ({send} bytes) holds reading an error body ({error} bytes)"
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let c = LlmClient::new(LlmConfig::new(ProviderPreset::DeepSeek, "sk-very-secret")).unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("sk-very-secret"), "{d}");
    }
}
