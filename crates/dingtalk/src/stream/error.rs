//! Why a connection attempt or a socket failed.

/// Failure of one Stream connection attempt or of an established socket.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// `connections/open` answered with an error status (wrong credentials, app unpublished,
    /// bot not in Stream mode, IP allowlist, platform trouble).
    #[error(
        "DingTalk refused to open a Stream connection (HTTP {status}): {body}. Check the Client ID / \
         Client Secret, that the app is published and that the bot's receive mode is Stream"
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

/// The ACK could not be written because its connection is gone; the server will redeliver.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the Stream connection that carried this frame is closed; DingTalk will redeliver it")]
pub struct AckError;
