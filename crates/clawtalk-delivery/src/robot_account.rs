//! [`CustomRobotAccount`]: everything a custom-robot account sends goes to its one webhook.

use std::sync::Arc;

use async_trait::async_trait;

use super::{DeliveryError, DeliveryPath, Mentions, Outbound, OutboundMessage, SendReceipt, Target};

/// Sends every message through `robot` (a [`Target::CustomRobot`]), whatever target it names.
///
/// A custom robot lives in one group and has no app credentials, so replies and proactive
/// messages alike go to its webhook; the sender of a group reply is @-ed through `atUserIds`
/// as the sessionWebhook would. Sits under the rate limiter so the robot's 20/min lane applies.
pub struct CustomRobotAccount {
    inner: Arc<dyn Outbound>,
    robot: Target,
}

impl CustomRobotAccount {
    /// Wraps `inner`, redirecting to `robot`.
    pub fn new(inner: Arc<dyn Outbound>, robot: Target) -> Self {
        Self { inner, robot }
    }

    fn redirect(&self, msg: &OutboundMessage) -> OutboundMessage {
        let mut out = msg.clone();
        out.target = self.robot.clone();
        if let Some(reply) = out.reply.take()
            && reply.is_group
            && let Some(sender) = reply.sender_staff_id.filter(|s| !s.is_empty())
        {
            out.mentions.extend(&Mentions {
                user_ids: vec![sender],
                ..Mentions::default()
            });
        }
        out
    }
}

#[async_trait]
impl Outbound for CustomRobotAccount {
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, DeliveryError> {
        self.inner.send(&self.redirect(msg)).await
    }

    fn planned_path(&self, _msg: &OutboundMessage) -> DeliveryPath {
        DeliveryPath::CustomRobot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Body, RecordingOutbound, ReplyContext};
    use clawtalk_core::clock::EpochMs;
    use dingtalk::ids::{ConversationId, StaffId};

    #[tokio::test]
    async fn replies_go_to_the_robot_and_mention_the_sender() {
        let rec = Arc::new(RecordingOutbound::new());
        let robot = Target::CustomRobot {
            webhook: url::Url::parse("http://127.0.0.1:1/robot/send?access_token=t").unwrap(),
            secret: None,
            keywords: Vec::new(),
        };
        let account = CustomRobotAccount::new(Arc::clone(&rec) as Arc<dyn Outbound>, robot.clone());
        let reply = ReplyContext {
            session_webhook: url::Url::parse("http://127.0.0.1:1/robot/sendBySession?session=s").unwrap(),
            expires_at_ms: EpochMs::from_millis(i64::MAX),
            sender_staff_id: Some(StaffId::new("0312")),
            is_group: true,
            conversation_id: "cid".to_owned(),
        };
        let msg = OutboundMessage::new(
            "r",
            Target::Group(ConversationId::new("cid")),
            Body::text("hi"),
            "k",
        )
        .in_reply(reply);
        assert_eq!(account.planned_path(&msg), DeliveryPath::CustomRobot);
        account.send(&msg).await.unwrap();
        let sent = rec.sent();
        assert_eq!(sent[0].target, robot);
        assert!(sent[0].reply.is_none());
        assert_eq!(sent[0].mentions.user_ids, vec![StaffId::new("0312")]);
    }
}
