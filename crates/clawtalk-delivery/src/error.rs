//! [`DeliveryError`]: why a message was not delivered, and whether sending it again can help.

use std::time::Duration;

use dingtalk::ids::StaffId;

use super::DeliveryPath;

/// Pause suggested after `batchSend` flow-controlled a recipient (DingTalk gives no hint).
const FLOW_CONTROL_PAUSE: Duration = Duration::from_secs(2);

/// Why a message was not delivered.
///
/// Every variant is either *retryable* (the same message may go through later, see
/// [`DeliveryError::retry_after`]) or *permanent* (sending it unchanged will fail again). Messages
/// say what to do and never contain tokens, secrets, webhook URLs or message bodies.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeliveryError {
    /// DingTalk refused the send, or could not be reached.
    #[error("sending via {path} failed: {error}")]
    DingTalk {
        /// The API that failed (the last one tried, after a fallback).
        path: DeliveryPath,
        /// DingTalk's classified error (it says what to do).
        error: dingtalk::Error,
    },

    /// `batchSend` accepted the call but flow-controlled the recipient: nothing was delivered.
    #[error(
        "DingTalk flow-controlled the DM to {user} (flowControlledStaffIdList) and did not deliver it; \
         send it again in a few seconds"
    )]
    FlowControlled {
        /// The user who did not get the message.
        user: StaffId,
    },

    /// `batchSend` does not know the recipient.
    #[error(
        "DingTalk does not know user {user} (invalidStaffIdList); check the staff id, \
         retrying will not help"
    )]
    UnknownRecipient {
        /// The rejected staff id.
        user: StaffId,
    },

    /// The message was handed to the sender of another account: a routing bug in the gateway.
    #[error(
        "a message of account `{message_account}` reached the sender of account `{sender_account}`; \
         this is a gateway routing bug, the message was not sent"
    )]
    WrongAccount {
        /// `account_id` of the message.
        message_account: String,
        /// The account the sender belongs to.
        sender_account: String,
    },

    /// The task sending queued messages stopped before this one was sent (a bug, or the runtime
    /// shutting down); sending it again is safe.
    #[error("the delivery queue stopped before sending this message; send it again")]
    Interrupted,

    /// The outbox says the message is already sent, or was ended: it was not sent again.
    #[error("the outbox holds this message as already sent or ended; it was not sent again")]
    Superseded,

    /// The outbox could not record that the message was leaving, so it was not sent (a
    /// message sent unrecorded could be sent twice after a crash).
    #[error("could not record the message as leaving ({reason}); it was not sent, send it again")]
    NotHandedOver {
        /// Why the record failed.
        reason: String,
    },

    /// The retry layer stopped trying; `last` is the final failure.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// How many sends were made.
        attempts: u32,
        /// The last error.
        last: Box<DeliveryError>,
    },
}

impl DeliveryError {
    /// Wraps a DingTalk client error that happened on `path`.
    #[must_use]
    pub fn dingtalk(path: DeliveryPath, error: dingtalk::Error) -> Self {
        Self::DingTalk { path, error }
    }

    /// Whether sending the same message again later may succeed.
    ///
    /// QPS limits, DingTalk trouble, timeouts, a throttled custom robot and flow control are
    /// retryable; configuration errors (credentials, permissions, robot code, ids), oversized or
    /// rejected content and routing bugs are not.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::DingTalk { error, .. } => error.is_retryable(),
            Self::FlowControlled { .. } | Self::Interrupted | Self::NotHandedOver { .. } => true,
            Self::UnknownRecipient { .. } | Self::WrongAccount { .. } | Self::Superseded => false,
            Self::GaveUp { last, .. } => last.is_retryable(),
        }
    }

    /// The opposite of [`DeliveryError::is_retryable`]: sending it unchanged will fail again.
    #[must_use]
    pub fn is_permanent(&self) -> bool {
        !self.is_retryable()
    }

    /// The minimum pause before sending again, when there is a meaningful one (e.g. 1 s after a
    /// QPS limit, 10 min for a throttled custom robot).
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::DingTalk { error, .. } => error.retry_after(),
            Self::FlowControlled { .. } => Some(FLOW_CONTROL_PAUSE),
            Self::UnknownRecipient { .. }
            | Self::WrongAccount { .. }
            | Self::Interrupted
            | Self::Superseded
            | Self::NotHandedOver { .. } => None,
            Self::GaveUp { last, .. } => last.retry_after(),
        }
    }

    /// The path the failure happened on, when one was tried.
    #[must_use]
    pub fn path(&self) -> Option<DeliveryPath> {
        match self {
            Self::DingTalk { path, .. } => Some(*path),
            Self::FlowControlled { .. } | Self::UnknownRecipient { .. } => Some(DeliveryPath::RobotApi),
            Self::WrongAccount { .. } | Self::Interrupted | Self::Superseded | Self::NotHandedOver { .. } => {
                None
            }
            Self::GaveUp { last, .. } => last.path(),
        }
    }

    /// Whether DingTalk may have the message although the send failed (no answer after the
    /// request left, or one that did not parse). False when it answered no, or when nothing
    /// was sent.
    #[must_use]
    pub fn may_have_arrived(&self) -> bool {
        match self {
            Self::DingTalk { error, .. } => error.may_have_arrived(),
            Self::GaveUp { last, .. } => last.may_have_arrived(),
            _ => false,
        }
    }

    /// The DingTalk client error underneath, if any.
    #[must_use]
    pub fn dingtalk_error(&self) -> Option<&dingtalk::Error> {
        match self {
            Self::DingTalk { error, .. } => Some(error),
            Self::GaveUp { last, .. } => last.dingtalk_error(),
            _ => None,
        }
    }

    /// A short machine-readable outcome for logs and metrics.
    #[must_use]
    pub fn outcome(&self) -> &'static str {
        if self.is_retryable() {
            "retryable_error"
        } else {
            "permanent_error"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dingtalk::{ApiError, ApiErrorKind};

    fn api(status: u16, body: &str) -> DeliveryError {
        let err = ApiError::from_response("robot.groupSend", status, body).expect("an error");
        DeliveryError::dingtalk(DeliveryPath::RobotApi, err.into())
    }

    #[test]
    fn classification_follows_dingtalk() {
        let busy = api(503, "");
        assert!(busy.is_retryable());
        assert_eq!(busy.retry_after(), Some(Duration::from_millis(500)));
        let qps = api(
            403,
            r#"{"code":"Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"}"#,
        );
        assert_eq!(qps.retry_after(), Some(Duration::from_secs(1)));
        let bad = api(400, r#"{"code":"invalidParameter.robotCode.auth","message":"m"}"#);
        assert!(bad.is_permanent());
        assert_eq!(
            bad.dingtalk_error().and_then(dingtalk::Error::kind),
            Some(ApiErrorKind::InvalidParam)
        );
        let gave_up = DeliveryError::GaveUp {
            attempts: 3,
            last: Box::new(busy),
        };
        assert!(gave_up.is_retryable());
        assert_eq!(gave_up.path(), Some(DeliveryPath::RobotApi));
        assert!(
            gave_up
                .to_string()
                .starts_with("gave up after 3 attempts: sending via robot_api")
        );
    }

    #[test]
    fn flow_control_and_unknown_users() {
        let flow = DeliveryError::FlowControlled {
            user: StaffId::new("031"),
        };
        assert!(flow.is_retryable() && flow.retry_after().is_some());
        let unknown = DeliveryError::UnknownRecipient {
            user: StaffId::new("031"),
        };
        assert!(unknown.is_permanent());
        assert!(unknown.to_string().contains("check the staff id"));
    }
}
