//! Whom a message is for.

use std::fmt;

use dingtalk::Secret;
use dingtalk::ids::{ConversationId, StaffId};
use url::Url;

use crate::inbound::InboundMessage;
use crate::mask::redact_url;

/// Whom a message is for.
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    /// A DM from the bot to one user.
    User(StaffId),
    /// A group the bot is a member of (`openConversationId`).
    Group(ConversationId),
    /// A group custom robot: its webhook URL (carries the robot's `access_token`), the optional
    /// `SEC…` signing secret and its security keywords.
    CustomRobot {
        /// Webhook URL from the group settings.
        webhook: Url,
        /// Signing secret, when the robot has signing enabled.
        secret: Option<Secret>,
        /// Security keywords; a message lacking all of them gets the first one added.
        keywords: Vec<String>,
    },
}

impl Target {
    /// A short name of the kind of target, for logs and metrics.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::Group(_) => "group",
            Self::CustomRobot { .. } => "custom_robot",
        }
    }
}

impl Target {
    /// Where a proactive message about `inbound` goes: its group, or for DMs its sender.
    /// `None` for a DM from someone without a staff id (external users cannot be messaged
    /// through the robot OpenAPI).
    #[must_use]
    pub fn for_inbound(inbound: &InboundMessage) -> Option<Self> {
        if let Some(robot) = Self::cron_webhook(inbound) {
            return Some(robot);
        }
        if inbound.is_group() {
            return Some(Self::Group(inbound.conversation_id.clone()));
        }
        inbound
            .sender
            .staff_id
            .clone()
            .filter(|id| !id.is_empty())
            .map(Self::User)
    }
}

impl Target {
    /// The custom robot a scheduled task's run answers to, when its target is a webhook.
    pub fn cron_webhook(inbound: &InboundMessage) -> Option<Self> {
        let webhook = inbound.cron.as_ref()?.webhook.as_ref()?;
        Some(Self::CustomRobot {
            // Checked when the task was created; a stored URL that no longer parses sends
            // nowhere rather than to the group fallback.
            webhook: Url::parse(&webhook.url).ok()?,
            secret: webhook.secret.clone().map(dingtalk::Secret::new),
            keywords: Vec::new(),
        })
    }
}

impl fmt::Debug for Target {
    // The webhook URL's query is a credential: only scheme, host and path are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(id) => f.debug_tuple("User").field(id).finish(),
            Self::Group(id) => f.debug_tuple("Group").field(id).finish(),
            Self::CustomRobot {
                webhook,
                secret,
                keywords,
            } => f
                .debug_struct("CustomRobot")
                .field("webhook", &redact_url(webhook))
                .field("secret", secret)
                .field("keywords", keywords)
                .finish(),
        }
    }
}
