//! Building replies from an [`InboundMessage`].

use url::Url;

use super::{Body, OutboundMessage, ReplyContext, Target};
use clawtalk_core::inbound::InboundMessage;

impl ReplyContext {
    /// The reply context of `inbound`: its sessionWebhook, expiry, and whom to @ in groups.
    /// `None` when the message came without a (parseable) sessionWebhook.
    #[must_use]
    pub fn from_inbound(inbound: &InboundMessage) -> Option<Self> {
        let reply = inbound.reply.as_ref()?;
        Some(Self {
            session_webhook: Url::parse(&reply.session_webhook).ok()?,
            expires_at_ms: reply.expires_at_ms,
            sender_staff_id: inbound.sender.staff_id.clone().filter(|id| !id.is_empty()),
            is_group: inbound.is_group(),
            conversation_id: inbound.conversation_id.as_str().to_owned(),
        })
    }
}

impl OutboundMessage {
    /// A reply to `inbound`: through its sessionWebhook while valid, else to the same group or,
    /// for DMs, to the sender through the robot OpenAPI. A scheduled task's run with a webhook
    /// target goes to that custom robot.
    ///
    /// A DM from someone without a staff id (an external user) can only be answered through the
    /// sessionWebhook; the fallback then fails with [`super::DeliveryError::UnknownRecipient`].
    pub fn reply_to(inbound: &InboundMessage, body: Body, idempotency_key: impl Into<String>) -> Self {
        if let Some(robot) = Target::cron_webhook(inbound) {
            return Self::new(inbound.account_id.as_str(), robot, body, idempotency_key);
        }
        let target = if inbound.is_group() {
            Target::Group(inbound.conversation_id.clone())
        } else {
            Target::User(
                inbound
                    .sender
                    .staff_id
                    .clone()
                    .unwrap_or_else(|| dingtalk::ids::StaffId::new("")),
            )
        };
        let message = Self::new(inbound.account_id.as_str(), target, body, idempotency_key);
        match ReplyContext::from_inbound(inbound) {
            Some(reply) => message.in_reply(reply),
            None => message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_config::test_support;
    use clawtalk_core::clock::EpochMs;
    use clawtalk_core::inbound::ReplyTarget;
    use dingtalk::ids::{ConversationId, StaffId};

    fn with_webhook(mut inbound: InboundMessage) -> InboundMessage {
        inbound.reply = Some(ReplyTarget {
            session_webhook: "https://oapi.dingtalk.com/robot/sendBySession?session=abc".into(),
            expires_at_ms: EpochMs::from_millis(1_700_000_000_000),
        });
        inbound
    }

    #[test]
    fn group_reply_targets_the_group_and_mentions_the_sender() {
        let inbound = with_webhook(test_support::group("main", "cidG1", "0312", "hi", true));
        let msg = OutboundMessage::reply_to(&inbound, Body::markdown("Re", "hello"), "k1");
        assert_eq!(msg.account_id, "main");
        assert_eq!(msg.target, Target::Group(ConversationId::new("cidG1")));
        let reply = msg.reply.expect("has a webhook");
        assert!(reply.is_group);
        assert_eq!(reply.sender_staff_id, Some(StaffId::new("0312")));
        assert_eq!(reply.expires_at_ms, EpochMs::from_millis(1_700_000_000_000));
    }

    #[test]
    fn dm_reply_targets_the_sender_and_works_without_webhook() {
        let inbound = test_support::dm("main", "0312", "hi");
        let msg = OutboundMessage::reply_to(&inbound, Body::text("hello"), "k1");
        assert_eq!(msg.target, Target::User(StaffId::new("0312")));
        assert!(msg.reply.is_none());
        let mut broken = with_webhook(inbound);
        if let Some(reply) = broken.reply.as_mut() {
            reply.session_webhook = "not a url".into();
        }
        assert!(ReplyContext::from_inbound(&broken).is_none());
    }
}
