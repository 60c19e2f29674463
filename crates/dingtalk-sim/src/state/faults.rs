//! Faults injected into the HTTP APIs (latency and canned failures per path prefix) and the
//! per-app, per-API QPS limiter. Stream faults (drop, disconnect, zombie, cut) act on the
//! connections in `stream`.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;

use crate::config::SimConfig;
use crate::error::ApiError;
use crate::model::ApiFault;

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub prefix: String,
    pub latency: Option<Duration>,
    pub fail_left: u32,
    pub status: StatusCode,
    pub body: Option<Value>,
}

/// A canned failure: the status, and the body when the fault gave one.
pub(crate) type Failure = (StatusCode, Option<Value>);

#[derive(Default)]
pub(crate) struct Faults {
    pub rules: Vec<Rule>,
    /// (client id, api path) → limit override.
    pub qps_limits: HashMap<(String, String), u32>,
    /// (client id, api path) → (window index, calls in it).
    pub qps_windows: HashMap<(String, String), (u64, u32)>,
    /// Calls answered with a QPS error, per (client id, api path).
    pub qps_rejections: HashMap<(String, String), u64>,
}

impl Faults {
    pub fn add(&mut self, fault: &ApiFault) {
        let status = fault
            .status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        self.rules.push(Rule {
            prefix: fault.path_prefix.clone(),
            latency: fault.latency_ms.map(Duration::from_millis),
            fail_left: fault.fail_next.unwrap_or(0),
            status,
            body: fault.body.clone(),
        });
    }

    /// Removes every path fault and QPS override.
    pub fn clear(&mut self) {
        self.rules.clear();
        self.qps_limits.clear();
    }

    /// Latency to add and, maybe, a canned failure for `path`.
    pub fn take(&mut self, path: &str) -> (Duration, Option<Failure>) {
        let mut latency = Duration::ZERO;
        let mut failure = None;
        for rule in self.rules.iter_mut().filter(|r| path.starts_with(&r.prefix)) {
            latency += rule.latency.unwrap_or_default();
            if failure.is_none() && rule.fail_left > 0 {
                rule.fail_left -= 1;
                failure = Some((rule.status, rule.body.clone()));
            }
        }
        self.rules.retain(|r| r.fail_left > 0 || r.latency.is_some());
        (latency, failure)
    }

    /// Counts a call against the app's QPS budget for `api`.
    pub fn check_qps(
        &mut self,
        config: &SimConfig,
        now_ms: u64,
        app: &str,
        api: &str,
    ) -> Result<(), ApiError> {
        let key = (app.to_owned(), api.to_owned());
        let limit = self
            .qps_limits
            .get(&key)
            .copied()
            .unwrap_or(config.default_qps_limit);
        if limit == 0 {
            return Ok(());
        }
        let window_ms = u64::try_from(config.qps_window.as_millis())
            .unwrap_or(1000)
            .max(1);
        let idx = now_ms / window_ms;
        let entry = self.qps_windows.entry(key.clone()).or_insert((idx, 0));
        if entry.0 != idx {
            *entry = (idx, 0);
        }
        if entry.1 >= limit {
            *self.qps_rejections.entry(key).or_default() += 1;
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
                format!("应用调用该接口的QPS超过限制({limit}/s)，请降低调用频率"),
            ));
        }
        entry.1 += 1;
        Ok(())
    }
}
