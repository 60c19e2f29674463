//! [`Handover`]: what the sender tells the outbox around each request that carries a message.
//!
//! DingTalk's sessionWebhook and robot API have no key it drops repeats by, and a sender that
//! dies while a request is out cannot know whether DingTalk took it. A message the outbox
//! has marked as leaving is therefore never sent again by anyone else: it may be delivered.
//! Marking it just before the request, rather than recording it sent after the answer,
//! leaves only the instant between the mark and the request's first byte in which a death
//! costs the message, instead of the whole round trip in which it would send it twice.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

/// Told about each attempt to send one message. Implemented by the gateway's outbox.
#[async_trait]
pub trait HandoverLog: Send + Sync {
    /// The attempt's request is about to leave (after every wait: rate limits, tokens).
    /// `Ok(false)`: the message must not be sent (it is already sent, or was ended).
    /// `Err`: the mark could not be written; the attempt is not made.
    async fn handing_over(&self) -> Result<bool, String>;

    /// DingTalk answered the attempt with a refusal: it has nothing of it.
    async fn not_taken(&self);
}

/// A message's [`HandoverLog`], carried by its [`crate::OutboundMessage`].
#[derive(Clone)]
pub struct Handover(Arc<dyn HandoverLog>);

impl Handover {
    /// Wraps `log`.
    pub fn new(log: Arc<dyn HandoverLog>) -> Self {
        Self(log)
    }

    /// See [`HandoverLog::handing_over`].
    pub async fn handing_over(&self) -> Result<bool, String> {
        self.0.handing_over().await
    }

    /// See [`HandoverLog::not_taken`].
    pub async fn not_taken(&self) {
        self.0.not_taken().await;
    }
}

impl fmt::Debug for Handover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Handover")
    }
}

/// Two messages are the same whatever log follows them: the log is bookkeeping, not content.
impl PartialEq for Handover {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Handover {}
