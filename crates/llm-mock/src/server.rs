//! The HTTP side: one handler for every `…/chat/completions` path, shared state, request
//! recording and failure injection.
//!
//! State sits behind short-lived `std::sync::Mutex` locks that are never held across an
//! `.await`, so thousands of concurrent requests only ever contend for a few microseconds.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::offline::{last_user_text, offline_reply};
use crate::render::{Ctx, plain, render};
use crate::script::Script;

/// Whether and with which key a request authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthSeen {
    /// An `Authorization: Bearer …` header was sent.
    pub present: bool,
    /// The id the key was registered under ([`crate::MockModelBuilder::api_key`]); with no
    /// keys registered, a fingerprint `…` + last four characters.
    pub key_id: Option<String>,
}

/// One request as the mock received it (the `Authorization` header is not kept).
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Request path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The `model` field.
    pub model: String,
    /// The `stream` field.
    pub stream: bool,
    /// The `messages` array.
    pub messages: Vec<Value>,
    /// The `tools` array (empty when absent).
    pub tools: Vec<Value>,
    /// The whole JSON body, for provider-specific fields.
    pub body: Value,
    /// All headers except `Authorization`.
    pub headers: Vec<(String, String)>,
    /// What authentication the request carried.
    pub auth: AuthSeen,
    /// The request id the mock answered with (`x-request-id`).
    pub request_id: String,
}

impl RecordedRequest {
    /// The text of the last user message.
    #[must_use]
    pub fn last_user_text(&self) -> Option<String> {
        last_user_text(&self.body)
    }

    /// A header value by (lower-case) name.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An injected failure: the next `times` requests that match answer with an HTTP error
/// before any script is consulted.
#[derive(Debug, Clone)]
pub struct Failure {
    status: u16,
    body: Option<String>,
    retry_after: Option<Duration>,
    times: usize,
    model: Option<String>,
    key_id: Option<String>,
}

impl Failure {
    /// Answer with this status once (see [`Failure::times`]).
    #[must_use]
    pub fn status(status: u16) -> Self {
        Self {
            status,
            body: None,
            retry_after: None,
            times: 1,
            model: None,
            key_id: None,
        }
    }

    /// `429 Too Many Requests` with `Retry-After`.
    #[must_use]
    pub fn rate_limited(retry_after: Duration) -> Self {
        Self::status(429).retry_after(retry_after)
    }

    /// How many requests fail.
    #[must_use]
    pub fn times(mut self, n: usize) -> Self {
        self.times = n;
        self
    }

    /// The `Retry-After` sent.
    #[must_use]
    pub fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// The error body (default: an OpenAI-style error object).
    #[must_use]
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Only requests for this model fail.
    #[must_use]
    pub fn for_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Only requests with this key id fail (see [`AuthSeen::key_id`]).
    #[must_use]
    pub fn for_key(mut self, key_id: impl Into<String>) -> Self {
        self.key_id = Some(key_id.into());
        self
    }

    fn applies(&self, model: &str, key_id: Option<&str>) -> bool {
        self.times > 0
            && self.model.as_deref().is_none_or(|m| m == model)
            && self.key_id.as_deref().is_none_or(|k| Some(k) == key_id)
    }

    fn script(&self) -> Script {
        let body = self.body.clone().unwrap_or_else(|| {
            let (kind, code) = match self.status {
                429 => ("rate_limit_error", "rate_limit_exceeded"),
                401 | 403 => ("authentication_error", "invalid_api_key"),
                s if s >= 500 => ("server_error", "internal_error"),
                _ => ("invalid_request_error", "invalid_request"),
            };
            json!({"error": {"message": format!("llm-mock injected failure ({})", self.status),
                             "type": kind, "code": code}})
            .to_string()
        });
        let s = Script::error(self.status, body);
        match self.retry_after {
            Some(wait) => s.retry_after(wait),
            None => s,
        }
    }
}

/// Settings fixed at start.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub zero_delay: bool,
    pub record: bool,
    /// (id, key) pairs; when non-empty, unknown keys get 401.
    pub keys: Vec<(String, String)>,
    /// Delay between chunks of offline answers (a readable pace in demos).
    pub offline_pacing: Duration,
    /// Extra wait before the first byte of offline answers (a slow model).
    pub answer_delay: Duration,
    /// Keep each completion request's service time in [`Shared::answer_times`].
    pub time_answers: bool,
    /// The shape of unscripted answers, instead of the offline model's.
    pub synthetic: Option<crate::Synthetic>,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub settings: Settings,
    pub scripts: Mutex<VecDeque<Script>>,
    pub failures: Mutex<Vec<Failure>>,
    pub records: Mutex<Vec<RecordedRequest>>,
    pub answer_times: Mutex<Vec<Duration>>,
    pub count: AtomicU64,
}

/// Locks, recovering from poisoning: a panicking test thread must not wedge the mock.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn error_json(message: &str, code: &str) -> String {
    json!({"error": {"message": message, "type": "invalid_request_error", "code": code}}).to_string()
}

pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let n = shared.count.fetch_add(1, Ordering::Relaxed);
    let request_id = format!("mock-req-{n}");
    if uri.path().ends_with("/models") && method == Method::GET {
        return list_models(&shared.settings.keys, &headers, &request_id);
    }
    if !uri.path().ends_with("/chat/completions") {
        return plain(404, error_json("unknown path", "not_found"), &request_id);
    }
    if method != Method::POST {
        return plain(405, error_json("use POST", "method_not_allowed"), &request_id);
    }
    let started = Instant::now();
    let json: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return plain(
                400,
                error_json(&format!("body is not JSON: {e}"), "invalid_json"),
                &request_id,
            );
        }
    };
    let settings = &shared.settings;
    let (auth, token) = auth_of(&headers, &settings.keys);
    let model = json
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let stream = json.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let last_user = last_user_text(&json);

    if settings.record {
        let rec = RecordedRequest {
            path: uri.path().to_owned(),
            model: model.clone(),
            stream,
            messages: array(&json, "messages"),
            tools: array(&json, "tools"),
            body: json.clone(),
            headers: headers
                .iter()
                .filter(|(k, _)| *k != header::AUTHORIZATION)
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect(),
            auth: auth.clone(),
            request_id: request_id.clone(),
        };
        lock(&shared.records).push(rec);
    }

    if !settings.keys.is_empty() && auth.key_id.is_none() {
        // Like some real providers, echo the key: the client must scrub it from errors.
        let msg = format!(
            "Incorrect API key provided: {}",
            token.as_deref().unwrap_or("(none)")
        );
        return plain(401, error_json(&msg, "invalid_api_key"), &request_id);
    }

    let injected = {
        let mut failures = lock(&shared.failures);
        let hit = failures
            .iter_mut()
            .find(|f| f.applies(&model, auth.key_id.as_deref()))
            .map(|f| {
                f.times -= 1;
                f.script()
            });
        failures.retain(|f| f.times > 0);
        hit
    };
    let script = injected.or_else(|| {
        let mut scripts = lock(&shared.scripts);
        let at = scripts.iter().position(|s| s.matches(last_user.as_deref()))?;
        scripts.remove(at)
    });
    let script = script.unwrap_or_else(|| {
        if let Some(shape) = &settings.synthetic {
            return shape.answer(last_user.as_deref());
        }
        let pace = settings.offline_pacing;
        offline_reply(&json).delay(settings.answer_delay + pace, pace)
    });
    let ctx = Ctx {
        request_id: &request_id,
        model: &model,
        stream,
        prompt_chars: body.len(),
        zero_delay: settings.zero_delay,
    };
    let response = render(script, &ctx).await;
    if settings.time_answers {
        lock(&shared.answer_times).push(started.elapsed());
    }
    response
}

/// `GET /models`, as OpenAI-compatible servers answer it (checked keys, a model list). Not
/// recorded: it is not a completion request.
fn list_models(keys: &[(String, String)], headers: &HeaderMap, request_id: &str) -> Response {
    let (auth, token) = auth_of(headers, keys);
    if !keys.is_empty() && auth.key_id.is_none() {
        let msg = format!(
            "Incorrect API key provided: {}",
            token.as_deref().unwrap_or("(none)")
        );
        return plain(401, error_json(&msg, "invalid_api_key"), request_id);
    }
    let body =
        json!({"object": "list", "data": [{"id": "mock-model", "object": "model", "owned_by": "llm-mock"}]});
    plain(200, body.to_string(), request_id)
}

fn array(v: &Value, key: &str) -> Vec<Value> {
    v.get(key).and_then(Value::as_array).cloned().unwrap_or_default()
}

/// Reads the bearer token; returns what is recorded and the raw token (for the 401 echo).
fn auth_of(headers: &HeaderMap, keys: &[(String, String)]) -> (AuthSeen, Option<String>) {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let Some(t) = &token else {
        return (AuthSeen::default(), None);
    };
    let key_id = if keys.is_empty() {
        let tail: String = t
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Some(format!("…{tail}"))
    } else {
        keys.iter().find(|(_, k)| k == t).map(|(id, _)| id.clone())
    };
    (
        AuthSeen {
            present: true,
            key_id,
        },
        token,
    )
}
