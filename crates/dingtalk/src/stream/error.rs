//! Why a connection attempt or a socket failed.

/// Failure of one Stream connection attempt or of an established socket.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// `connections/open` answered with an error status (wrong credentials, app unpublished,
    /// bot not in Stream mode, IP allowlist, platform trouble).
    #[error(
        "DingTalk refused to open a Stream connection (HTTP {status}): {body}. {}",
        open_rejected_hint(*.status)
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
    /// A step took longer than the configured timeout.
    #[error("timed out while {0}")]
    Timeout(&'static str),
}

/// What to do about a refused `connections/open`: a 429 or 5xx is DingTalk's trouble and
/// passes by itself; anything else is most likely the app's settings.
fn open_rejected_hint(status: u16) -> &'static str {
    if status == 429 || status >= 500 {
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
    fn a_refused_open_points_at_the_settings_only_when_they_can_be_the_cause() {
        let rejected = |status| {
            StreamError::OpenRejected {
                status,
                body: r#"{"code":"x"}"#.into(),
            }
            .to_string()
        };
        assert!(rejected(400).contains("Check the Client ID"), "{}", rejected(400));
        for status in [429, 500, 503] {
            let text = rejected(status);
            assert!(
                !text.contains("Client ID") && text.contains("keeps retrying"),
                "{text}"
            );
        }
    }
}
