//! The credential probe `clawtalk onboard` and `clawtalk channels status --probe` share: what the
//! gateway does at start-up, minus the WebSocket (fetch an access token, ask `connections/open`
//! for a ticket), with every failure in operator terms.

use std::time::{Duration, Instant};

use dingtalk::ids::ClientId;
use dingtalk::stream::{StreamConfig, StreamError, probe_open};
use dingtalk::token::{TokenCache, TokenFlavor};
use dingtalk::{ApiErrorKind, Endpoints};
use serde_json::Value;

/// Per-request limits of a probe: long enough for a slow link, short enough for a status check.
const PROBE_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a probe failed, already in operator terms.
#[derive(Debug)]
pub(crate) struct Failure {
    /// `access token` or `connections/open`.
    pub(crate) step: &'static str,
    /// Stable name for scripts (`wrong_credentials`, `stream_not_enabled`, …).
    pub(crate) kind: &'static str,
    /// One line: what is wrong and what to do. Never holds the secret (DingTalk's error bodies
    /// and our transport errors do not echo it).
    pub(crate) message: String,
}

/// The client of the DingTalk (and model) probes. It follows no redirect, like the gateway's
/// DingTalk clients: a redirected credential check would send the secret to whoever redirected.
pub(crate) fn probe_http_client() -> anyhow::Result<reqwest::Client> {
    dingtalk::tls::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(PROBE_CONNECT_TIMEOUT)
        .timeout(PROBE_TIMEOUT)
        .user_agent(concat!(
            "clawtalk/",
            env!("CARGO_PKG_VERSION"),
            " (channels status --probe)"
        ))
        .build()
        .map_err(|e| anyhow::anyhow!("cannot set up an HTTP client for the probe: {e}"))
}

/// Fetches an access token and, with `open_stream`, a Stream ticket for an app's credentials;
/// the time it took, or what is wrong in operator terms. Shared with `clawtalk onboard`.
pub(crate) async fn check_app(
    http: &reqwest::Client,
    client_id: &str,
    client_secret: &dingtalk::Secret,
    endpoints: &Endpoints,
    open_stream: bool,
) -> Result<Duration, Failure> {
    let started = Instant::now();
    let id = ClientId::new(client_id.to_owned());
    // One attempt: a status check should report a failure, not hide it behind retries.
    let tokens = TokenCache::builder(id.clone(), client_secret.clone())
        .flavor(TokenFlavor::OpenApi)
        .endpoints(endpoints.clone())
        .http_client(http.clone())
        .max_attempts(1)
        .build();
    if let Err(e) = tokens.token().await {
        return Err(token_failure(&e, client_id, endpoints));
    }
    if !open_stream {
        return Ok(started.elapsed());
    }
    let mut stream = StreamConfig::new(id, client_secret.clone(), endpoints.clone());
    stream.connect_timeout = Some(PROBE_TIMEOUT);
    match probe_open(http, &stream).await {
        Ok(()) => Ok(started.elapsed()),
        Err(e) => Err(open_failure(&e, client_id, endpoints)),
    }
}

fn token_failure(error: &dingtalk::Error, client_id: &str, endpoints: &Endpoints) -> Failure {
    let step = "access token";
    if matches!(error, dingtalk::Error::Transport { .. }) {
        return unreachable(step, endpoints, error);
    }
    match error.kind() {
        Some(ApiErrorKind::InvalidCredentials) => {
            let code = error.api().map_or("", |e| e.code.as_str());
            wrong_credentials(step, client_id, code)
        }
        _ => Failure {
            step,
            kind: "rejected",
            message: error.to_string(),
        },
    }
}

fn open_failure(error: &StreamError, client_id: &str, endpoints: &Endpoints) -> Failure {
    let step = "connections/open";
    match error {
        StreamError::OpenRejected { status, body } => {
            let (code, message) = error_fields(body);
            let lower = code.to_ascii_lowercase();
            // HTTP 401 `authFailed` (zfanswer/dify-on-dingtalk#28), see `is_wrong_credentials`.
            if error.is_wrong_credentials() {
                wrong_credentials(step, client_id, &code)
            } else if lower.contains("stream") {
                Failure {
                    step,
                    kind: "stream_not_enabled",
                    message: format!(
                        "the bot does not receive messages in Stream mode ({code}); set the \
                         robot's message receiving mode to Stream in the DingTalk developer \
                         console and publish the app"
                    ),
                }
            } else if lower.contains("notpublished") {
                Failure {
                    step,
                    kind: "app_not_published",
                    message: format!(
                        "the app is not published ({code}); publish a version in the DingTalk \
                         developer console"
                    ),
                }
            } else {
                Failure {
                    step,
                    kind: "rejected",
                    message: format!("DingTalk refused (HTTP {status}, code {code}): {message}"),
                }
            }
        }
        StreamError::Http(_) | StreamError::Timeout(_) => unreachable(step, endpoints, error),
        other => Failure {
            step,
            kind: "unexpected_answer",
            message: other.to_string(),
        },
    }
}

fn wrong_credentials(step: &'static str, client_id: &str, code: &str) -> Failure {
    let code = if code.is_empty() { "no code" } else { code };
    Failure {
        step,
        kind: "wrong_credentials",
        message: format!(
            "wrong Client ID / Client Secret: DingTalk rejected clientId {client_id} with this \
             clientSecret ({code}); copy both again from the app's credentials page and check the \
             account's clientSecret",
        ),
    }
}

pub(crate) fn unreachable(
    step: &'static str,
    endpoints: &Endpoints,
    error: &dyn std::fmt::Display,
) -> Failure {
    // Only scheme, host and port: a URL from the config could carry userinfo.
    let host = format!(
        "{}://{}{}",
        endpoints.api.scheme(),
        endpoints.api.host_str().unwrap_or("?"),
        endpoints.api.port().map(|p| format!(":{p}")).unwrap_or_default()
    );
    Failure {
        step,
        kind: "unreachable",
        message: format!(
            "cannot reach DingTalk at {host} ({}); check the network, proxy and firewall, and \
             the account's endpoints",
            one_line(&error.to_string())
        ),
    }
}

/// `code` and `message` of a DingTalk error body, when it is JSON.
fn error_fields(body: &str) -> (String, String) {
    let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let field = |name: &str| {
        json.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let code = field("code");
    let message = field("message");
    if code.is_empty() && message.is_empty() {
        ("unknown".to_owned(), one_line(body))
    } else {
        (code, message)
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_read_for_code_and_message() {
        let (code, message) = error_fields(r#"{"code":"gateway.streamModeNotEnabled","message":"no"}"#);
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("gateway.streamModeNotEnabled", "no")
        );
        let (code, message) = error_fields("<html>\n bad gateway </html>");
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("unknown", "<html> bad gateway </html>")
        );
    }
}
