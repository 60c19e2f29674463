//! Why a model call failed, for the logs ([`std::fmt::Display`]) and for the chat user
//! ([`LlmError::user_message`]).
//!
//! Every variant that got an answer from the provider keeps its request id, because that is the
//! one thing a provider's support desk asks for. No variant ever holds the API key: provider
//! messages are scrubbed of it before they are stored (some providers echo the key back in
//! "invalid key" errors).

use std::time::Duration;

use serde_json::Value;

/// Which wait ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// Opening the TCP/TLS connection.
    Connect,
    /// Waiting for the response headers and the first event.
    FirstByte,
    /// Waiting for the next chunk of a stream that had started.
    Idle,
    /// The whole non-streamed request.
    Request,
}

impl std::fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Connect => "connecting",
            Self::FirstByte => "waiting for the first byte",
            Self::Idle => "waiting for the next chunk",
            Self::Request => "waiting for the response",
        })
    }
}

/// A failed model call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    /// 401/403: the key is missing, wrong, expired or lacks access to the model.
    #[error("model provider rejected the API key (HTTP {status}): {message}; check the API key{}", rid(.request_id))]
    Auth {
        /// 401 or 403.
        status: u16,
        /// The provider's explanation.
        message: String,
        /// Provider request id.
        request_id: Option<String>,
    },

    /// 429 (or a rate-limit error inside a stream), still failing after the retries.
    #[error("model provider is rate limiting us{}: {message}{}", retry_after_text(.retry_after), rid(.request_id))]
    RateLimited {
        /// How long the provider asked us to wait, when it said.
        retry_after: Option<Duration>,
        /// The provider's explanation.
        message: String,
        /// Provider request id.
        request_id: Option<String>,
    },

    /// The prompt or the answer was blocked by the provider's content moderation.
    #[error("model provider refused the content (moderation): {message}{}", rid(.request_id))]
    ContentFiltered {
        /// The provider's explanation.
        message: String,
        /// Provider request id.
        request_id: Option<String>,
    },

    /// Any other non-success HTTP status.
    #[error("model provider answered HTTP {status}{}: {message}{}", code_text(.code), rid(.request_id))]
    Http {
        /// The HTTP status.
        status: u16,
        /// The provider's error code (`invalid_parameter`, `model_not_found`…), when given.
        code: Option<String>,
        /// The provider's explanation.
        message: String,
        /// Provider request id.
        request_id: Option<String>,
    },

    /// An error object inside a successful (200) response or stream.
    #[error("model provider reported an error{}: {message}{}", code_text(.code), rid(.request_id))]
    Provider {
        /// The provider's error code, when given.
        code: Option<String>,
        /// The provider's explanation.
        message: String,
        /// Provider request id.
        request_id: Option<String>,
    },

    /// A wait ran out.
    #[error("model request timed out after {after:?} {phase}{}", rid(.request_id))]
    Timeout {
        /// Which wait.
        phase: TimeoutPhase,
        /// How long we waited.
        after: Duration,
        /// Provider request id, when the response had started.
        request_id: Option<String>,
    },

    /// The stream ended before the model finished (no `finish_reason` and no `[DONE]`).
    #[error("model stream was cut off before the answer was complete: {reason}{}", rid(.request_id))]
    Truncated {
        /// What we saw (clean end of body, connection reset…).
        reason: String,
        /// Provider request id.
        request_id: Option<String>,
        /// The stream ended before its first event: nothing of the answer was handed out,
        /// so trying again cannot duplicate output.
        before_output: bool,
    },

    /// The provider's answer could not be understood.
    #[error("could not decode the model response: {message}; body starts with {snippet:?}{}", rid(.request_id))]
    Decode {
        /// What did not parse.
        message: String,
        /// The first bytes of the offending body or event.
        snippet: String,
        /// Provider request id.
        request_id: Option<String>,
    },

    /// The request got no answer: DNS, connect, TLS or a reset before the response.
    #[error("could not reach the model provider: {message}")]
    Transport {
        /// The underlying error, without the API key (reqwest never prints headers).
        message: String,
        /// True when the connection was never established (safe to retry).
        connect: bool,
    },

    /// The client configuration is unusable (bad base URL, header value…).
    #[error("invalid model client configuration: {0}")]
    Config(String),
}

fn rid(request_id: &Option<String>) -> String {
    request_id
        .as_ref()
        .map(|r| format!(" (request id {r})"))
        .unwrap_or_default()
}

fn code_text(code: &Option<String>) -> String {
    code.as_ref().map(|c| format!(" [{c}]")).unwrap_or_default()
}

fn retry_after_text(d: &Option<Duration>) -> String {
    d.map(|d| format!(" (retry after {d:?})")).unwrap_or_default()
}

impl LlmError {
    /// The provider's request id, when the provider answered at all.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Auth { request_id, .. }
            | Self::RateLimited { request_id, .. }
            | Self::ContentFiltered { request_id, .. }
            | Self::Http { request_id, .. }
            | Self::Provider { request_id, .. }
            | Self::Timeout { request_id, .. }
            | Self::Truncated { request_id, .. }
            | Self::Decode { request_id, .. } => request_id.as_deref(),
            Self::Transport { .. } | Self::Config(_) => None,
        }
    }

    /// True when the request never left because this process ran out of file descriptors
    /// (`EMFILE`/`ENFILE`): a passing local condition, not the provider's answer. The
    /// transport error is kept as scrubbed text, so this reads the OS error std prints.
    #[must_use]
    pub fn is_local_exhaustion(&self) -> bool {
        match self {
            Self::Transport { message, .. } => {
                message.contains("(os error 24)") || message.contains("(os error 23)")
            }
            _ => false,
        }
    }

    /// Whether trying the same request again may succeed: 429, 500/502/503/504, connect
    /// failures, and timeouts and cut streams before any answer arrived.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::RateLimited { .. } => true,
            Self::Http { status, .. } => matches!(status, 500 | 502 | 503 | 504),
            Self::Transport { connect, .. } => *connect,
            Self::Timeout { phase, .. } => {
                matches!(phase, TimeoutPhase::Connect | TimeoutPhase::FirstByte)
            }
            Self::Truncated { before_output, .. } => *before_output,
            _ => false,
        }
    }

    /// The wait the provider asked for (`Retry-After`), if any.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A short, plain, bilingual (Chinese, then English) explanation for the chat user.
    ///
    /// Never contains provider messages (they can be long, technical or leak internals), only
    /// the request id so that an administrator can find the matching log line.
    #[must_use]
    pub fn user_message(&self) -> String {
        use clawtalk_core::notices::model;
        let text = match self {
            Self::Auth { .. } => model::REJECTED_KEY,
            Self::RateLimited { .. } => model::BUSY,
            Self::ContentFiltered { .. } => model::FILTERED,
            Self::Http { status: 404, .. } => model::NOT_FOUND,
            Self::Http {
                status: 400 | 413 | 422,
                ..
            } => model::REJECTED_REQUEST,
            Self::Http { status, .. } if *status >= 500 => model::FAILING,
            Self::Http { .. } | Self::Provider { .. } => model::ERROR,
            Self::Timeout { .. } => model::TIMEOUT,
            Self::Truncated { .. } => model::CUT_OFF,
            Self::Decode { .. } => model::UNREADABLE,
            Self::Transport { .. } => model::UNREACHABLE,
            Self::Config(_) => model::BAD_SETTINGS,
        };
        model::with_request_id(text, self.request_id())
    }
}

/// What we could learn from an error body: message, code, request id.
#[derive(Debug, Default, PartialEq)]
pub struct ErrorBody {
    pub message: Option<String>,
    pub code: Option<String>,
    pub request_id: Option<String>,
}

impl ErrorBody {
    /// Reads the common shapes: OpenAI `{"error":{"message","code","type"}}`, DashScope native
    /// `{"code","message","request_id"}`, GLM `{"error":{"code","message"}}` with a numeric code.
    pub fn parse(v: &Value) -> Self {
        let err = v.get("error").filter(|e| e.is_object()).unwrap_or(v);
        let text = |x: Option<&Value>| -> Option<String> {
            match x? {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let message = text(err.get("message"))
            .or_else(|| text(v.get("error")))
            .or_else(|| text(v.get("message")));
        let code = text(err.get("code")).or_else(|| text(err.get("type")));
        let request_id = text(v.get("request_id")).or_else(|| text(err.get("request_id")));
        Self {
            message,
            code,
            request_id,
        }
    }

    /// True when a JSON value is an error report rather than a chunk or response.
    pub fn is_error(v: &Value) -> bool {
        v.get("error").is_some_and(|e| !e.is_null())
    }
}

/// Whether a provider code or message means content moderation.
pub fn is_content_filter(code: Option<&str>, message: &str) -> bool {
    // DashScope `data_inspection_failed`, GLM 1301, Moonshot/OpenAI `content_filter`.
    matches!(
        code,
        Some("data_inspection_failed" | "DataInspectionFailed" | "1301" | "content_filter")
    ) || message.contains("inappropriate content")
}

/// Whether a code inside a 200 body means "slow down" (GLM 1302/1303/1305, OpenAI style codes).
pub fn is_rate_limit_code(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "rate_limit_exceeded"
                | "rate_limit_error"
                | "Throttling"
                | "Throttling.RateQuota"
                | "429"
                | "1302"
                | "1303"
                | "1305"
        )
    )
}

/// Cuts provider text to a log-friendly length and removes the API key wherever it appears,
/// and the credentials of any URL it quotes (a transport error names the `baseUrl`).
pub fn scrub(text: &str, key: &str) -> String {
    const MAX: usize = 300;
    let mut s = if key.len() >= 4 {
        text.replace(key, "***")
    } else {
        text.to_owned()
    };
    s = clawtalk_core::mask::mask_text(&s).into_owned();
    if s.len() > MAX {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_messages_are_bilingual_and_carry_the_request_id() {
        let e = LlmError::RateLimited {
            retry_after: None,
            message: "slow down".into(),
            request_id: Some("r-1".into()),
        };
        let m = e.user_message();
        assert!(m.contains("请稍后再试") && m.contains("try again"), "{m}");
        assert!(m.contains("r-1"));
        assert!(!m.contains("slow down"), "provider text stays in the logs");
        let t = LlmError::Transport {
            message: "dns".into(),
            connect: true,
        };
        assert!(!t.is_local_exhaustion());
        let exhausted = LlmError::Transport {
            message: format!("tcp connect error: {}", std::io::Error::from_raw_os_error(24)),
            connect: true,
        };
        assert!(exhausted.is_local_exhaustion(), "{exhausted}");
        assert!(!t.user_message().contains("request id"));
    }

    #[test]
    fn error_bodies_of_several_providers() {
        let openai = json!({"error":{"message":"Invalid key","type":"invalid_request_error","code":"invalid_api_key"},"request_id":"abc"});
        assert_eq!(
            ErrorBody::parse(&openai),
            ErrorBody {
                message: Some("Invalid key".into()),
                code: Some("invalid_api_key".into()),
                request_id: Some("abc".into())
            }
        );
        let dashscope = json!({"code":"DataInspectionFailed","message":"bad","request_id":"d-1"});
        let b = ErrorBody::parse(&dashscope);
        assert_eq!(b.code.as_deref(), Some("DataInspectionFailed"));
        assert!(is_content_filter(b.code.as_deref(), ""));
        let glm = json!({"error":{"code":1302,"message":"并发过高"}});
        let b = ErrorBody::parse(&glm);
        assert!(is_rate_limit_code(b.code.as_deref()));
        let plain = json!({"error":"boom"});
        assert_eq!(ErrorBody::parse(&plain).message.as_deref(), Some("boom"));
    }

    #[test]
    fn scrub_removes_key_and_bounds_length() {
        let s = scrub("Incorrect API key provided: sk-secret-123", "sk-secret-123");
        assert_eq!(s, "Incorrect API key provided: ***");
        let long = "长".repeat(400);
        assert!(scrub(&long, "").chars().count() <= 101);
        let transport = scrub(
            "error sending request for url (https://bob:hunter2@llm.example/v1/chat/completions?key=k1)",
            "sk-other",
        );
        assert_eq!(
            transport,
            "error sending request for url (https://bob:***@llm.example/v1/chat/completions?key=***)"
        );
    }

    #[test]
    fn retryable_classification() {
        let http = |status| LlmError::Http {
            status,
            code: None,
            message: String::new(),
            request_id: None,
        };
        assert!(http(503).is_retryable());
        assert!(!http(400).is_retryable());
        assert!(!http(501).is_retryable());
        assert!(
            !LlmError::Timeout {
                phase: TimeoutPhase::Idle,
                after: Duration::from_secs(1),
                request_id: None
            }
            .is_retryable()
        );
        let cut = |before_output| LlmError::Truncated {
            reason: "reset".into(),
            request_id: None,
            before_output,
        };
        assert!(cut(true).is_retryable(), "nothing was said yet");
        assert!(!cut(false).is_retryable(), "a retry would repeat what was said");
    }
}
