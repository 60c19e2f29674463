//! Timings and limits of the simulated platform.
//!
//! Every duration DingTalk imposes is configurable so tests can run with millisecond
//! values. [`SimConfig::default`] mirrors production; [`SimConfig::fast`] is a preset for
//! tests.

use std::time::Duration;

/// Simulator settings. Build with [`SimConfig::default`] or [`SimConfig::fast`] and adjust
/// with the `with_*` methods or by setting fields directly.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Interval between SYSTEM `ping` frames on each Stream connection (30 s by default;
    /// DingTalk does not document its own). Zero: the server never sends them, and clients
    /// live on their own WebSocket pings, which the simulator always answers.
    pub ping_interval: Duration,
    /// Lifetime of a `connections/open` ticket (production: 90 s).
    pub ticket_ttl: Duration,
    /// Time between a SYSTEM `disconnect` frame and the server closing the socket (≈10 s).
    pub disconnect_grace: Duration,
    /// How long an un-acked CALLBACK/EVENT push waits before it is redelivered (60 s).
    pub redelivery_timeout: Duration,
    /// Total pushes of one message (first delivery included) before the sim gives up.
    pub max_delivery_attempts: u32,
    /// Access-token lifetime (7200 s).
    pub token_ttl: Duration,
    /// sessionWebhook lifetime after the message was created (90 min).
    pub session_webhook_ttl: Duration,
    /// Lifetime of a `messageFiles/download` URL.
    pub download_url_ttl: Duration,
    /// Default per-app, per-API call limit within one [`SimConfig::qps_window`] (20).
    pub default_qps_limit: u32,
    /// Length of a QPS window (1 s).
    pub qps_window: Duration,
    /// Largest streamed card variable, in bytes (9,000: DingTalk clients show cards above
    /// ~3,000 CJK characters blank; the API answers `param.stream.content` for too large).
    pub card_content_max_bytes: usize,
    /// Custom robot: messages allowed per [`SimConfig::custom_robot_window`] (20).
    pub custom_robot_limit: u32,
    /// Custom robot rolling window (1 min).
    pub custom_robot_window: Duration,
    /// Custom robot ban after exceeding the limit (10 min).
    pub custom_robot_ban: Duration,
    /// Allowed clock skew of custom-robot and HTTP-callback signatures (1 h).
    pub sign_window: Duration,
    /// When true, `connections/open` answers XML unless the request says `Accept: application/json`
    /// (what the real server does); the request is recorded either way.
    pub strict_accept_header: bool,
    /// Timeout of the sim's own HTTP pushes (HTTP-mode callbacks, encrypted events).
    pub http_push_timeout: Duration,
    /// Corp id used for the chatbot and users unless overridden.
    pub corp_id: String,
    /// Public base URL to hand out (endpoint, sessionWebhook, download URLs) instead of the
    /// bound address, e.g. when the sim runs behind a proxy.
    pub public_base_url: Option<url::Url>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(30),
            ticket_ttl: Duration::from_secs(90),
            disconnect_grace: Duration::from_secs(10),
            redelivery_timeout: Duration::from_secs(60),
            max_delivery_attempts: 5,
            token_ttl: Duration::from_secs(7200),
            session_webhook_ttl: Duration::from_secs(90 * 60),
            download_url_ttl: Duration::from_secs(3600),
            default_qps_limit: 20,
            qps_window: Duration::from_secs(1),
            card_content_max_bytes: 9_000,
            custom_robot_limit: 20,
            custom_robot_window: Duration::from_secs(60),
            custom_robot_ban: Duration::from_secs(600),
            sign_window: Duration::from_secs(3600),
            strict_accept_header: true,
            http_push_timeout: Duration::from_millis(2500),
            corp_id: "ding3f9a6c21d0b7e4a5f2".to_owned(),
            public_base_url: None,
        }
    }
}

impl SimConfig {
    /// Millisecond-scale timings for tests: ping 200 ms, ticket 2 s, disconnect grace
    /// 200 ms, redelivery 300 ms, 3 attempts. Token and sessionWebhook lifetimes stay long
    /// (tests shorten them explicitly).
    #[must_use]
    pub fn fast() -> Self {
        Self {
            ping_interval: Duration::from_millis(200),
            ticket_ttl: Duration::from_secs(2),
            disconnect_grace: Duration::from_millis(200),
            redelivery_timeout: Duration::from_millis(300),
            max_delivery_attempts: 3,
            ..Self::default()
        }
    }

    /// Sets [`SimConfig::ping_interval`] (zero: no SYSTEM pings at all).
    #[must_use]
    pub fn with_ping_interval(mut self, d: Duration) -> Self {
        self.ping_interval = d;
        self
    }

    /// Sets [`SimConfig::ticket_ttl`].
    #[must_use]
    pub fn with_ticket_ttl(mut self, d: Duration) -> Self {
        self.ticket_ttl = d;
        self
    }

    /// Sets [`SimConfig::disconnect_grace`].
    #[must_use]
    pub fn with_disconnect_grace(mut self, d: Duration) -> Self {
        self.disconnect_grace = d;
        self
    }

    /// Sets [`SimConfig::redelivery_timeout`].
    #[must_use]
    pub fn with_redelivery_timeout(mut self, d: Duration) -> Self {
        self.redelivery_timeout = d;
        self
    }

    /// Sets [`SimConfig::max_delivery_attempts`].
    #[must_use]
    pub fn with_max_delivery_attempts(mut self, n: u32) -> Self {
        self.max_delivery_attempts = n;
        self
    }

    /// Sets [`SimConfig::token_ttl`].
    #[must_use]
    pub fn with_token_ttl(mut self, d: Duration) -> Self {
        self.token_ttl = d;
        self
    }

    /// Sets [`SimConfig::session_webhook_ttl`].
    #[must_use]
    pub fn with_session_webhook_ttl(mut self, d: Duration) -> Self {
        self.session_webhook_ttl = d;
        self
    }

    /// Sets the custom-robot rate limit, window and ban.
    #[must_use]
    pub fn with_custom_robot_limits(mut self, limit: u32, window: Duration, ban: Duration) -> Self {
        self.custom_robot_limit = limit;
        self.custom_robot_window = window;
        self.custom_robot_ban = ban;
        self
    }

    /// Sets the default QPS limit and window.
    #[must_use]
    pub fn with_qps(mut self, limit: u32, window: Duration) -> Self {
        self.default_qps_limit = limit;
        self.qps_window = window;
        self
    }
}
