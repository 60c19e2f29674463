//! Settings of the Stream client.

use std::time::Duration;

use crate::endpoints::Endpoints;
use crate::ids::ClientId;
use crate::model::connection::Subscription;
use crate::secret::Secret;
use crate::stream::backoff::Backoff;

/// Everything the Stream client needs; [`StreamConfig::new`] fills in sensible defaults.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// AppKey of the bot's app.
    pub client_id: ClientId,
    /// AppSecret of the bot's app.
    pub client_secret: Secret,
    /// Where `connections/open` lives.
    pub endpoints: Endpoints,
    /// What the server should push.
    pub subscriptions: Vec<Subscription>,
    /// Sent as `ua` when registering.
    pub user_agent: String,
    /// How often a WebSocket ping is sent when nothing else was received.
    pub ping_interval: Duration,
    /// A connection with no inbound frame or pong for this long is a zombie and is replaced.
    pub idle_timeout: Duration,
    /// How long an old connection may keep draining after a `disconnect` notice
    /// (the server closes it itself after about 10 s).
    pub drain_timeout: Duration,
    /// Delay policy after failed attempts.
    pub backoff: Backoff,
    /// Timeout of the `connections/open` call and of the WebSocket handshake.
    pub connect_timeout: Option<Duration>,
    /// Largest WebSocket message accepted.
    pub max_frame_bytes: usize,
}

impl StreamConfig {
    /// Defaults: bot messages, card callbacks and all events; ping every 20 s; zombie after 30 s
    /// of silence; backoff 1 s → 60 s ±20 %.
    pub fn new(client_id: ClientId, client_secret: impl Into<Secret>, endpoints: Endpoints) -> Self {
        Self {
            client_id,
            client_secret: client_secret.into(),
            endpoints,
            subscriptions: Subscription::gateway_defaults(),
            user_agent: concat!("clawtalk-dingtalk/", env!("CARGO_PKG_VERSION")).to_owned(),
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(15),
            backoff: Backoff::default(),
            connect_timeout: Some(Duration::from_secs(15)),
            max_frame_bytes: 4 * 1024 * 1024,
        }
    }
}
