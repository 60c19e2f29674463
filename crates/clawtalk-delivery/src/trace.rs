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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Body, Failure, RecordingOutbound, Target};
    use std::io::Write;
    use std::sync::Mutex;

    /// Collects formatted log lines.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn logs_outcomes_without_bodies_or_secrets() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let rec = Arc::new(RecordingOutbound::new());
        let trace = Trace::new(Arc::clone(&rec) as Arc<dyn Outbound>);
        let msg = OutboundMessage::new(
            "acct-7",
            Target::CustomRobot {
                webhook: url::Url::parse("https://oapi.dingtalk.com/robot/send?access_token=tok123").unwrap(),
                secret: Some(dingtalk::Secret::new("SECsecret")),
                keywords: Vec::new(),
            },
            Body::text("TOP SECRET BODY"),
            "turn-9/part-1",
        );
        trace.send(&msg).await.unwrap();
        rec.fail_next(1, Failure::InvalidParam);
        trace.send(&msg).await.unwrap_err();

        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(logs.contains("message delivered"), "{logs}");
        assert!(logs.contains("message not delivered"), "{logs}");
        assert!(
            logs.contains("turn-9/part-1") && logs.contains("acct-7"),
            "{logs}"
        );
        assert!(
            logs.contains("custom_robot") && logs.contains("permanent_error"),
            "{logs}"
        );
        for secret in ["TOP SECRET BODY", "tok123", "SECsecret"] {
            assert!(!logs.contains(secret), "{secret} leaked: {logs}");
        }
    }
}
