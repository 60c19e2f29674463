//! [`RecordingOutbound`]: an in-memory [`Outbound`] for other modules' tests.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use dingtalk::ApiError;
use dingtalk::ids::{ProcessQueryKey, StaffId};

use super::{DeliveryError, DeliveryPath, Outbound, OutboundMessage, SendReceipt, Target};

/// A scripted failure for [`RecordingOutbound::fail_next`], shaped like what DingTalk answers.
#[derive(Debug, Clone)]
pub enum Failure {
    /// HTTP 503: retryable, 500 ms pause.
    ServerBusy,
    /// HTTP 403 `QpsLimitForAppkeyAndApi`: retryable after 1 s.
    QpsLimited,
    /// Custom robot `410100`: retryable, but only after 10 minutes.
    RobotThrottled,
    /// `batchSend` flow-controlled the recipient: retryable.
    FlowControlled,
    /// HTTP 400 `invalidParameter`: permanent.
    InvalidParam,
    /// HTTP 403 missing `qyapi_robot_sendmsg`: permanent.
    PermissionMissing,
    /// Any other error.
    Error(DeliveryError),
}

impl Failure {
    /// The error a send fails with, on the path `msg` would take.
    fn into_error(self, msg: &OutboundMessage, path: DeliveryPath) -> DeliveryError {
        let api = |endpoint, status, body: &str| {
            let err = ApiError::from_response(endpoint, status, body)
                .unwrap_or_else(|| unreachable_ok(endpoint, status, body));
            DeliveryError::dingtalk(path, err.into())
        };
        match self {
            Self::ServerBusy => api(
                "robot.send",
                503,
                r#"{"code":"ServiceUnavailable","message":"x"}"#,
            ),
            Self::QpsLimited => api(
                "robot.send",
                403,
                r#"{"code":"Forbidden.AccessDenied.QpsLimitForAppkeyAndApi","message":"qps"}"#,
            ),
            Self::RobotThrottled => api(
                "customRobot",
                200,
                r#"{"errcode":410100,"errmsg":"send too fast"}"#,
            ),
            Self::FlowControlled => DeliveryError::FlowControlled {
                user: match &msg.target {
                    Target::User(user) => user.clone(),
                    _ => StaffId::new(""),
                },
            },
            Self::InvalidParam => api(
                "robot.send",
                400,
                r#"{"code":"invalidParameter.msgParam.invalid","message":"bad"}"#,
            ),
            Self::PermissionMissing => api(
                "robot.send",
                403,
                r#"{"code":"Forbidden.AccessDenied.AccessTokenPermissionDenied","message":"no","accessdenieddetail":{"requiredScopes":["qyapi_robot_sendmsg"]}}"#,
            ),
            Self::Error(err) => err,
        }
    }
}

/// Every scripted answer above classifies as an error; this keeps the code free of `unwrap`.
fn unreachable_ok(endpoint: &'static str, status: u16, body: &str) -> ApiError {
    ApiError {
        endpoint,
        kind: dingtalk::ApiErrorKind::Other,
        http_status: status,
        code: String::new(),
        message: "scripted failure".to_owned(),
        request_id: None,
        permission: None,
        retry_after_hint: None,
        raw_body: body.to_owned(),
    }
}

/// Records every message it is given; fails on demand.
///
/// Successful sends report the path the message would take ([`Outbound::planned_path`]'s
/// default) and, for the robot API, a made-up processQueryKey `pqk-<n>`.
#[derive(Debug, Default)]
pub struct RecordingOutbound {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    sent: Vec<OutboundMessage>,
    attempts: usize,
    script: VecDeque<Failure>,
}

impl RecordingOutbound {
    /// An empty recorder that accepts everything.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` sends fail with `failure` (after any failures already queued).
    pub fn fail_next(&self, n: usize, failure: Failure) {
        let mut state = self.lock();
        state.script.extend(std::iter::repeat_n(failure, n));
    }

    /// Messages delivered so far, in order.
    #[must_use]
    pub fn sent(&self) -> Vec<OutboundMessage> {
        self.lock().sent.clone()
    }

    /// The delivered messages' texts, in order.
    #[must_use]
    pub fn sent_texts(&self) -> Vec<String> {
        self.lock()
            .sent
            .iter()
            .map(|m| m.body.content().to_owned())
            .collect()
    }

    /// Sends attempted so far, failed ones included.
    #[must_use]
    pub fn attempts(&self) -> usize {
        self.lock().attempts
    }

    /// Forgets recorded messages, attempts and queued failures.
    pub fn clear(&self) {
        *self.lock() = State::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves valid data behind.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Outbound for RecordingOutbound {
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, DeliveryError> {
        let path = self.planned_path(msg);
        let mut state = self.lock();
        state.attempts += 1;
        if let Some(failure) = state.script.pop_front() {
            return Err(failure.into_error(msg, path));
        }
        state.sent.push(msg.clone());
        let process_query_key = (path == DeliveryPath::RobotApi)
            .then(|| ProcessQueryKey::new(format!("pqk-{}", state.sent.len())));
        Ok(SendReceipt {
            path,
            process_query_key,
            parts: 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Body;
    use dingtalk::ids::ConversationId;

    #[tokio::test]
    async fn records_and_fails_on_demand() {
        let rec = RecordingOutbound::new();
        let msg = OutboundMessage::new(
            "a",
            Target::Group(ConversationId::new("cid")),
            Body::markdown("t", "hello"),
            "k1",
        );
        rec.fail_next(1, Failure::ServerBusy);
        rec.fail_next(1, Failure::InvalidParam);
        assert!(rec.send(&msg).await.unwrap_err().is_retryable());
        assert!(rec.send(&msg).await.unwrap_err().is_permanent());
        let receipt = rec.send(&msg).await.unwrap();
        assert_eq!(receipt.process_query_key, Some(ProcessQueryKey::new("pqk-1")));
        assert_eq!(rec.sent_texts(), vec!["hello".to_owned()]);
        assert_eq!(rec.attempts(), 3);
        rec.clear();
        assert!(rec.sent().is_empty());
    }

    #[test]
    fn scripted_failures_classify_like_dingtalk() {
        let msg = OutboundMessage::new("a", Target::User(StaffId::new("u1")), Body::text("x"), "k");
        let err = |f: Failure| f.into_error(&msg, DeliveryPath::RobotApi);
        assert!(err(Failure::QpsLimited).is_retryable());
        assert!(err(Failure::RobotThrottled).is_retryable());
        assert!(err(Failure::PermissionMissing).is_permanent());
        assert!(
            err(Failure::PermissionMissing)
                .to_string()
                .contains("qyapi_robot_sendmsg")
        );
        assert!(matches!(
            err(Failure::FlowControlled),
            DeliveryError::FlowControlled { user } if user.as_str() == "u1"
        ));
    }
}
