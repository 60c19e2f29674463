//! Per-endpoint call counters.
//!
//! Every HTTP request the crate makes (including token fetches and retries) is counted here,
//! because DingTalk meters per call: QPS limits and the monthly quota count attempts, not
//! logical operations. The gateway uses the card counters to budget card updates per turn.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::endpoints::ApiEndpoint;

/// Callback invoked once per HTTP request, before it is sent.
pub type MetricsHook = Arc<dyn Fn(ApiEndpoint) + Send + Sync>;

/// Atomic call counters by endpoint, plus an optional hook.
///
/// Share one `Arc<ApiMetrics>` between the token caches and clients of an app.
#[derive(Default)]
pub struct ApiMetrics {
    counters: [AtomicU64; ApiEndpoint::ALL.len()],
    hook: Option<MetricsHook>,
    quota_hook: Option<MetricsHook>,
}

impl ApiMetrics {
    /// Counters only.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters plus a hook called for every request (e.g. to attribute calls to a turn).
    #[must_use]
    pub fn with_hook(hook: MetricsHook) -> Self {
        Self {
            hook: Some(hook),
            ..Self::default()
        }
    }

    /// Adds a hook called for every answer saying the organisation's API quota is used up
    /// (`ApiCountLimitForOrg`, 90020, 20001, 90030), so the operator can be told.
    #[must_use]
    pub fn with_quota_hook(mut self, hook: MetricsHook) -> Self {
        self.quota_hook = Some(hook);
        self
    }

    /// Notes that DingTalk refused a call of `endpoint` because the quota is used up.
    pub fn record_quota_refused(&self, endpoint: ApiEndpoint) {
        if let Some(hook) = &self.quota_hook {
            hook(endpoint);
        }
    }

    /// Counts one request.
    pub fn record(&self, endpoint: ApiEndpoint) {
        self.counters[endpoint.index()].fetch_add(1, Ordering::Relaxed);
        if let Some(hook) = &self.hook {
            hook(endpoint);
        }
    }

    /// Requests made to `endpoint` so far.
    #[must_use]
    pub fn count(&self, endpoint: ApiEndpoint) -> u64 {
        self.counters[endpoint.index()].load(Ordering::Relaxed)
    }

    /// Requests made to any card endpoint so far.
    #[must_use]
    pub fn card_calls(&self) -> u64 {
        ApiEndpoint::ALL
            .iter()
            .filter(|e| e.is_card())
            .map(|e| self.count(*e))
            .sum()
    }

    /// Requests made to any endpoint so far.
    #[must_use]
    pub fn total(&self) -> u64 {
        ApiEndpoint::ALL.iter().map(|e| self.count(*e)).sum()
    }

    /// Non-zero counters, in endpoint order.
    #[must_use]
    pub fn snapshot(&self) -> Vec<(ApiEndpoint, u64)> {
        ApiEndpoint::ALL
            .iter()
            .map(|e| (*e, self.count(*e)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

impl fmt::Debug for ApiMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiMetrics")
            .field("counts", &self.snapshot())
            .field("hook", &self.hook.is_some())
            .field("quota_hook", &self.quota_hook.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn counts_by_endpoint_and_calls_the_hook() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let m = ApiMetrics::with_hook(Arc::new(move |e| sink.lock().unwrap().push(e)));
        m.record(ApiEndpoint::CardStreaming);
        m.record(ApiEndpoint::CardStreaming);
        m.record(ApiEndpoint::CardUpdate);
        m.record(ApiEndpoint::BatchSend);
        assert_eq!(m.count(ApiEndpoint::CardStreaming), 2);
        assert_eq!(m.card_calls(), 3);
        assert_eq!(m.total(), 4);
        assert_eq!(seen.lock().unwrap().len(), 4);
        assert_eq!(m.snapshot()[0], (ApiEndpoint::BatchSend, 1));
    }

    #[test]
    fn quota_refusals_call_their_hook() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let m = ApiMetrics::new().with_quota_hook(Arc::new(move |e| sink.lock().unwrap().push(e)));
        m.record_quota_refused(ApiEndpoint::GroupSend);
        assert_eq!(*seen.lock().unwrap(), [ApiEndpoint::GroupSend]);
        assert_eq!(m.total(), 0, "a refusal is not another call");
    }
}
