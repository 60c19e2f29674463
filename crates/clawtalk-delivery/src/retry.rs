//! [`Retry`]: sends again after retryable failures, with exponential backoff and jitter.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use tokio::time::Instant;

use super::{DeliveryError, DeliveryPath, Outbound, OutboundMessage, SendReceipt};

/// How [`Retry`] retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most sends per message, the first included.
    pub max_attempts: u32,
    /// First backoff delay; it doubles per attempt (with random jitter up to the delay itself).
    pub min_delay: Duration,
    /// Largest backoff delay (a longer `retry_after` from DingTalk still wins).
    pub max_delay: Duration,
    /// Give up rather than wait past this much time since the first attempt. Failures asking for
    /// a longer pause (a custom robot throttled for 10 minutes) are handed back at once, for the
    /// caller's outbox to schedule.
    pub max_elapsed: Duration,
    /// Randomise delays so that many senders do not retry in lockstep.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    /// 4 attempts, 500 ms doubling to at most 8 s, at most 30 s in all — DingTalk's guidance for
    /// 5xx and QPS errors.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_elapsed: Duration::from_secs(30),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    fn backoff(&self) -> ExponentialBuilder {
        let builder = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize);
        if self.jitter {
            builder.with_jitter()
        } else {
            builder
        }
    }
}

/// Retries retryable failures of the inner [`Outbound`] (see [`DeliveryError::is_retryable`]),
/// never permanent ones.
///
/// Each delay is the larger of the backoff and the error's [`DeliveryError::retry_after`]. When it
/// stops while the last failure was still retryable it returns [`DeliveryError::GaveUp`].
/// Retrying can duplicate a message when a timed-out send actually arrived: robot APIs have no
/// idempotency key.
pub struct Retry {
    inner: Arc<dyn Outbound>,
    policy: RetryPolicy,
}

impl Retry {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Outbound>, policy: RetryPolicy) -> Self {
        Self { inner, policy }
    }
}

#[async_trait]
impl Outbound for Retry {
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, DeliveryError> {
        let started = Instant::now();
        let max_elapsed = self.policy.max_elapsed;
        let mut attempts = 0u32;
        let result = (|| {
            attempts += 1;
            self.inner.send(msg)
        })
        .retry(self.policy.backoff())
        .when(DeliveryError::is_retryable)
        .adjust(|err, backoff| {
            // `None` from the backoff means the attempts are used up.
            let delay = backoff?.max(err.retry_after().unwrap_or_default());
            (started.elapsed() + delay <= max_elapsed).then_some(delay)
        })
        .notify(|err, delay| {
            tracing::info!(
                account = %msg.account_id,
                idempotency_key = %msg.idempotency_key,
                path = err.path().map_or("none", DeliveryPath::as_str),
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %err,
                "send failed, retrying"
            );
        })
        .await;
        match result {
            Err(last) if last.is_retryable() => Err(DeliveryError::GaveUp {
                attempts,
                last: Box::new(last),
            }),
            other => other,
        }
    }

    fn planned_path(&self, msg: &OutboundMessage) -> DeliveryPath {
        self.inner.planned_path(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Body, Failure, RecordingOutbound, Target};
    use dingtalk::ids::StaffId;

    fn msg() -> OutboundMessage {
        OutboundMessage::new("a", Target::User(StaffId::new("u")), Body::text("hi"), "k")
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
            max_elapsed: Duration::from_secs(30),
            jitter: true,
        }
    }

    fn stack(recorder: &Arc<RecordingOutbound>, policy: RetryPolicy) -> Retry {
        Retry::new(Arc::clone(recorder) as Arc<dyn Outbound>, policy)
    }

    #[tokio::test(start_paused = true)]
    async fn retryable_failures_are_retried_until_success() {
        let rec = Arc::new(RecordingOutbound::new());
        rec.fail_next(2, Failure::ServerBusy);
        let receipt = stack(&rec, policy()).send(&msg()).await.unwrap();
        assert_eq!(receipt.path, DeliveryPath::RobotApi);
        assert_eq!(rec.attempts(), 3);
        assert_eq!(rec.sent().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_are_not_retried() {
        let rec = Arc::new(RecordingOutbound::new());
        rec.fail_next(1, Failure::PermissionMissing);
        let err = stack(&rec, policy()).send(&msg()).await.unwrap_err();
        assert!(err.is_permanent(), "{err}");
        assert!(!matches!(err, DeliveryError::GaveUp { .. }));
        assert_eq!(rec.attempts(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured() {
        let rec = Arc::new(RecordingOutbound::new());
        rec.fail_next(1, Failure::QpsLimited);
        let started = Instant::now();
        stack(&rec, policy()).send(&msg()).await.unwrap();
        // DingTalk's QPS window is 1 s; the 10 ms backoff alone would retry too early.
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_bounded() {
        let rec = Arc::new(RecordingOutbound::new());
        rec.fail_next(10, Failure::ServerBusy);
        let err = stack(&rec, policy()).send(&msg()).await.unwrap_err();
        match &err {
            DeliveryError::GaveUp { attempts, last } => {
                assert_eq!(*attempts, 4);
                assert!(last.is_retryable());
            }
            other => panic!("expected GaveUp, got {other}"),
        }
        assert_eq!(rec.attempts(), 4);
        assert!(err.is_retryable(), "the outbox may try again later");
    }

    #[tokio::test(start_paused = true)]
    async fn pauses_longer_than_the_budget_are_handed_back_at_once() {
        let rec = Arc::new(RecordingOutbound::new());
        rec.fail_next(1, Failure::RobotThrottled);
        let started = Instant::now();
        let err = stack(&rec, policy()).send(&msg()).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(rec.attempts(), 1);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(600)));
    }
}
