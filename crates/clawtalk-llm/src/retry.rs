//! Retry policy: capped exponential backoff with jitter, honouring `Retry-After`.
//!
//! backon supplies the delay schedule; the loop is ours because it has to stretch a delay to
//! the provider's `Retry-After`, give up when that wait is unreasonably long, and log each
//! attempt with the request id. The loop only ever wraps the part of a call that runs before
//! the first streamed event is handed to the caller, so a retry can never duplicate output.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::header::HeaderMap;

use super::error::LlmError;

/// How often and how patiently a failed request is tried again.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts including the first; `1` disables retries.
    pub max_attempts: u32,
    /// Delay before the first retry; doubles after each one.
    pub min_delay: Duration,
    /// Upper bound of the backoff delay (before jitter).
    pub max_delay: Duration,
    /// Adds a random 0–100 % to each delay so that many clients do not retry in lockstep.
    pub jitter: bool,
    /// A `Retry-After` longer than this is not waited for: the error goes to the user at once
    /// rather than leaving the chat silent for minutes.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            jitter: true,
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// One attempt only.
    #[must_use]
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The backoff delays between attempts (`max_attempts - 1` of them).
    pub fn schedule(&self) -> impl Iterator<Item = Duration> + use<> {
        let retries = self.max_attempts.saturating_sub(1) as usize;
        let builder = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_max_times(retries);
        let builder = if self.jitter {
            builder.with_jitter()
        } else {
            builder
        };
        builder.build()
    }

    /// The wait before the next attempt: the backoff, stretched to the provider's
    /// `Retry-After`; `None` when that would exceed [`RetryPolicy::max_retry_after`].
    pub fn delay(&self, backoff: Duration, err: &LlmError) -> Option<Duration> {
        match err.retry_after() {
            Some(ra) if ra > self.max_retry_after => None,
            Some(ra) => Some(ra.max(backoff)),
            None => Some(backoff),
        }
    }
}

/// Runs `attempt(n)` (n from 1) until it succeeds, fails for good, or the policy runs out.
pub async fn with_retries<T, F, Fut>(policy: &RetryPolicy, model: &str, mut attempt: F) -> Result<T, LlmError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, LlmError>>,
{
    let mut schedule = policy.schedule();
    let mut n = 1;
    loop {
        let err = match attempt(n).await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let next = if err.is_retryable() {
            schedule.next().and_then(|b| policy.delay(b, &err))
        } else {
            None
        };
        let Some(delay) = next else {
            tracing::warn!(
                model,
                attempt = n,
                request_id = err.request_id(),
                error = %err,
                "llm request failed"
            );
            return Err(err);
        };
        tracing::info!(
            model,
            attempt = n,
            request_id = err.request_id(),
            retry_in_ms = delay.as_millis() as u64,
            error = %err,
            "llm request failed, retrying"
        );
        tokio::time::sleep(delay).await;
        n += 1;
    }
}

/// Reads `retry-after-ms` (OpenAI style) or `Retry-After` in seconds. HTTP-date values are
/// ignored: no provider we target sends them, and a wrong clock would make them harmful.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Duration::try_from_secs_f64(ms / 1000.0).ok();
    }
    let secs = get("retry-after")?.parse::<f64>().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn rate_limited(retry_after: Option<Duration>) -> LlmError {
        LlmError::RateLimited {
            retry_after,
            message: String::new(),
            request_id: None,
        }
    }

    #[test]
    fn schedule_doubles_and_caps_without_jitter() {
        let p = RetryPolicy {
            max_attempts: 6,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
            jitter: false,
            ..RetryPolicy::default()
        };
        let ms: Vec<u128> = p.schedule().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![100, 200, 400, 500, 500]);
        assert_eq!(RetryPolicy::none().schedule().count(), 0);
    }

    #[test]
    fn jitter_stays_within_double() {
        let p = RetryPolicy {
            max_attempts: 2,
            min_delay: Duration::from_millis(100),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let d = p.schedule().next().unwrap();
            assert!(d >= Duration::from_millis(100) && d <= Duration::from_millis(200));
        }
    }

    #[test]
    fn retry_after_stretches_the_delay_or_gives_up() {
        let p = RetryPolicy::default();
        let b = Duration::from_millis(500);
        assert_eq!(p.delay(b, &rate_limited(None)), Some(b));
        assert_eq!(
            p.delay(b, &rate_limited(Some(Duration::from_secs(2)))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            p.delay(b, &rate_limited(Some(Duration::from_millis(10)))),
            Some(b)
        );
        assert_eq!(p.delay(b, &rate_limited(Some(Duration::from_secs(600)))), None);
    }

    #[test]
    fn parses_retry_after_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(250)));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("-1"));
        assert_eq!(parse_retry_after(&h), None);
    }

    #[tokio::test(start_paused = true)]
    async fn loop_counts_attempts_and_stops_on_permanent_errors() {
        let p = RetryPolicy {
            max_attempts: 4,
            ..RetryPolicy::default()
        };
        let mut seen = 0;
        let r: Result<(), _> = with_retries(&p, "m", |n| {
            seen = n;
            async move {
                Err(LlmError::Http {
                    status: 503,
                    code: None,
                    message: String::new(),
                    request_id: Some(format!("r{n}")),
                })
            }
        })
        .await;
        assert_eq!(seen, 4);
        assert_eq!(r.unwrap_err().request_id(), Some("r4"));

        let mut seen = 0;
        let r: Result<(), _> = with_retries(&p, "m", |n| {
            seen = n;
            async move { Err(LlmError::Config("x".into())) }
        })
        .await;
        assert_eq!(seen, 1);
        assert!(r.is_err());

        let started = tokio::time::Instant::now();
        let r = with_retries(&p, "m", |n| async move {
            if n < 2 {
                Err(rate_limited(Some(Duration::from_secs(7))))
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(r.unwrap(), 2);
        assert!(started.elapsed() >= Duration::from_secs(7));
    }
}
