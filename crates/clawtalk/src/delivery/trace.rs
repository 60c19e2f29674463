//! [`Trace`]: one tracing span per message, with path, latency and outcome.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use tracing::Instrument;
use tracing::field::Empty;

use super::{DeliveryError, DeliveryPath, Outbound, OutboundMessage, SendReceipt};

/// Wraps every send in a `delivery.send` span (account, target kind, body kind, idempotency key)
/// and logs its outcome with path and latency: `info` when delivered, `warn` when not.
///
/// Message bodies are never logged (their length is, at `debug`); neither are webhook URLs or
/// secrets.
pub struct Trace {
    inner: Arc<dyn Outbound>,
}

impl Trace {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Outbound>) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl Outbound for Trace {
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, DeliveryError> {
        let span = tracing::info_span!(
            "delivery.send",
            account = %msg.account_id,
            target = msg.target.kind(),
            body = msg.body.kind(),
            reply = msg.reply.is_some(),
            idempotency_key = %msg.idempotency_key,
            path = Empty,
            latency_ms = Empty,
            outcome = Empty,
        );
        tracing::debug!(parent: &span, chars = msg.body.content().chars().count(), "sending");
        let started = Instant::now();
        let result = self.inner.send(msg).instrument(span.clone()).await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        span.record("latency_ms", latency_ms);
        match &result {
            Ok(receipt) => {
                span.record("path", receipt.path.as_str());
                span.record("outcome", "delivered");
                tracing::info!(
                    parent: &span,
                    path = receipt.path.as_str(),
                    latency_ms,
                    parts = receipt.parts,
                    "message delivered"
                );
            }
            Err(err) => {
                let path = err.path().map_or("none", DeliveryPath::as_str);
                span.record("path", path);
                span.record("outcome", err.outcome());
                tracing::warn!(
                    parent: &span,
                    path,
                    latency_ms,
                    outcome = err.outcome(),
                    error = %err,
                    "message not delivered"
                );
            }
        }
        result
    }

    fn planned_path(&self, msg: &OutboundMessage) -> DeliveryPath {
        self.inner.planned_path(msg)
    }
}
