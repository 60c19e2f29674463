//! [`DeliveryStack`]: puts the layers together in the one order that works.

use std::sync::Arc;

use super::{
    CustomRobotAccount, Outbound, RateLimit, RateLimitConfig, Retry, RetryPolicy, SharedBudget, Target, Trace,
};

/// Builds `Trace → Retry → RateLimit → [CustomRobotAccount →] inner`, whatever order the options are given in.
///
/// Rate limiting sits under the retry layer so every attempt waits for a permit, and tracing on
/// top so one span covers all attempts of a message.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use clawtalk_delivery::*;
/// # fn demo(sender: DingTalkOutbound) -> Arc<dyn Outbound> {
/// DeliveryStack::new(Arc::new(sender))
///     .with_retry(RetryPolicy::default())
///     .with_rate_limit(RateLimitConfig::default())
///     .with_trace()
///     .build()
/// # }
/// ```
#[must_use]
pub struct DeliveryStack {
    inner: Arc<dyn Outbound>,
    retry: Option<RetryPolicy>,
    rate_limit: Option<RateLimitConfig>,
    shared_budget: Option<SharedBudget>,
    custom_robot: Option<Target>,
    trace: bool,
}

impl DeliveryStack {
    /// Starts from the sender that talks to DingTalk (or a test double).
    pub fn new(inner: Arc<dyn Outbound>) -> Self {
        Self {
            inner,
            retry: None,
            rate_limit: None,
            shared_budget: None,
            custom_robot: None,
            trace: false,
        }
    }

    /// Adds a [`Retry`] layer.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Adds a [`RateLimit`] layer.
    pub fn with_rate_limit(mut self, config: RateLimitConfig) -> Self {
        self.rate_limit = Some(config);
        self
    }

    /// Makes the [`RateLimit`] layer also take from a budget shared with other gateways
    /// (`None`: this process's limiter alone).
    pub fn with_shared_budget(mut self, budget: Option<SharedBudget>) -> Self {
        self.shared_budget = budget;
        self
    }

    /// Sends everything through one custom robot ([`CustomRobotAccount`], under the rate limit).
    pub fn with_custom_robot(mut self, robot: Target) -> Self {
        self.custom_robot = Some(robot);
        self
    }

    /// Adds a [`Trace`] layer.
    pub fn with_trace(mut self) -> Self {
        self.trace = true;
        self
    }

    /// The assembled sender.
    #[must_use]
    pub fn build(self) -> Arc<dyn Outbound> {
        let mut outbound = self.inner;
        if let Some(robot) = self.custom_robot {
            outbound = Arc::new(CustomRobotAccount::new(outbound, robot));
        }
        if let Some(config) = self.rate_limit {
            outbound = Arc::new(RateLimit::with_shared_budget(
                outbound,
                config,
                self.shared_budget,
            ));
        }
        if let Some(policy) = self.retry {
            outbound = Arc::new(Retry::new(outbound, policy));
        }
        if self.trace {
            outbound = Arc::new(Trace::new(outbound));
        }
        outbound
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Body, Failure, OutboundMessage, RecordingOutbound, Target};
    use dingtalk::ids::StaffId;
    use std::time::Duration;

    #[tokio::test]
    async fn layers_compose_in_any_order() {
        let rec = Arc::new(RecordingOutbound::new());
        rec.fail_next(1, Failure::ServerBusy);
        let stack = DeliveryStack::new(Arc::clone(&rec) as Arc<dyn Outbound>)
            .with_trace()
            .with_rate_limit(RateLimitConfig::default())
            .with_retry(RetryPolicy {
                min_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(5),
                ..RetryPolicy::default()
            })
            .build();
        let msg = OutboundMessage::new("a", Target::User(StaffId::new("u")), Body::text("x"), "k");
        // The retry layer waits out the 503's 500 ms pause, then the rate limiter lets it through.
        stack.send(&msg).await.unwrap();
        assert_eq!(rec.attempts(), 2);
        assert_eq!(rec.sent().len(), 1);
    }
}
