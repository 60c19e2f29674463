//! Why a connection attempt or a socket failed.

/// Failure of one Stream connection attempt or of an established socket.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// `connections/open` answered with an error status (wrong credentials, app unpublished,
    /// bot not in Stream mode, IP allowlist, platform trouble).
    #[error(
        "DingTalk refused to open a Stream connection (HTTP {status}): {body}. {}",
        open_rejected_hint(*.status, body)
    )]
    OpenRejected {
        /// HTTP status.
        status: u16,
        /// Response body (DingTalk's code and message; contains no secret).
        body: String,
    },
    /// `connections/open` answered 200 with something that is not `{endpoint, ticket}`.
    #[error("DingTalk's connections/open answer is not {{endpoint, ticket}}: {reason}")]
    OpenResponse {
        /// What was wrong.
        reason: String,
    },
    /// The HTTP call itself failed (DNS, TCP, TLS, timeout).
    #[error("could not reach DingTalk's connections/open: {0}")]
    Http(#[source] reqwest::Error),
    /// The WebSocket handshake or the socket failed.
    #[error("Stream WebSocket failed: {0}")]
    WebSocket(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    /// The proxy the environment names (`HTTPS_PROXY`, …) did not open a tunnel to the
    /// socket's host.
    #[error("the Stream connection could not go through the proxy {proxy}: {reason}")]
    Proxy {
        /// The proxy's scheme, host and port (never its credentials).
        proxy: String,
        /// What went wrong, and what to do.
        reason: String,
    },
    /// A step took longer than the configured timeout.
    #[error("timed out while {0}")]
    Timeout(&'static str),
}

impl StreamError {
    /// Whether DingTalk refused the app's Client ID / Client Secret.
    ///
    /// `connections/open` answers wrong credentials with HTTP 401
    /// `{"code":"authFailed","message":"鉴权失败"}` (zfanswer/dify-on-dingtalk#28); the token
    /// endpoint's `invalidClientIdOrSecret` is accepted too.
    #[must_use]
    pub fn is_wrong_credentials(&self) -> bool {
        match self {
            Self::OpenRejected { status, body } => credentials_refused(*status, body),
            _ => false,
        }
    }
}

fn credentials_refused(status: u16, body: &str) -> bool {
    let code = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("code")
                .and_then(|c| c.as_str())
                .map(str::to_ascii_lowercase)
        })
        .unwrap_or_default();
    status == 401 || code == "authfailed" || code == "invalidclientidorsecret"
}

/// What to do about a refused `connections/open`: a 429 or 5xx is DingTalk's trouble and
/// passes by itself; a 401 is the credentials; anything else is most likely the app's settings.
fn open_rejected_hint(status: u16, body: &str) -> &'static str {
    if credentials_refused(status, body) {
        "Wrong Client ID / Client Secret: copy both again from the app's credentials page in \
         the DingTalk developer console"
    } else if status == 429 || status >= 500 {
        "DingTalk is unavailable or busy for now; the client keeps retrying"
    } else {
        "Check the Client ID / Client Secret, that the app is published and that the bot's \
         receive mode is Stream"
    }
}

/// The ACK could not be written because its connection is gone; the server will redeliver.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the Stream connection that carried this frame is closed; DingTalk will redeliver it")]
pub struct AckError;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_failed_on_open_means_wrong_credentials() {
        let rejected = |status, body: &str| StreamError::OpenRejected {
            status,
            body: body.into(),
        };
        let auth_failed = rejected(
            401,
            r#"{"requestid":"R","code":"authFailed","message":"鉴权失败"}"#,
        );
        assert!(auth_failed.is_wrong_credentials());
        let text = auth_failed.to_string();
        assert!(text.contains("Wrong Client ID / Client Secret"), "{text}");
        assert!(text.contains("authFailed"), "{text}");
        assert!(rejected(400, r#"{"code":"invalidClientIdOrSecret"}"#).is_wrong_credentials());
        assert!(!rejected(400, r#"{"code":"app.notPublished"}"#).is_wrong_credentials());
        assert!(!rejected(503, "").is_wrong_credentials());
        assert!(!StreamError::Timeout("x").is_wrong_credentials());
    }

    #[test]
    fn a_refused_open_points_at_the_settings_only_when_they_can_be_the_cause() {
        let rejected = |status| {
            StreamError::OpenRejected {
                status,
                body: r#"{"code":"x"}"#.into(),
            }
            .to_string()
        };
        assert!(rejected(400).contains("Check the Client ID"), "{}", rejected(400));
        assert!(!rejected(400).contains("Wrong Client ID"), "{}", rejected(400));
        for status in [429, 500, 503] {
            let text = rejected(status);
            assert!(
                !text.contains("Client ID") && text.contains("keeps retrying"),
                "{text}"
            );
        }
    }
}
