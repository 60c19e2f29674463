//! Outbound delivery: one [`Outbound`] trait for every way a message leaves the gateway, the real
//! DingTalk sender behind it, and layers around it for rate limits, retries and tracing.
//!
//! # Shape
//!
//! The gateway plans a reply as one or more parts ([`chunk::split`], code-fence aware, with
//! `(k/n)` markers), stores each part in its outbox, and hands every part to an
//! `Arc<dyn Outbound>` as one [`OutboundMessage`]. The stack behind that trait is usually
//!
//! ```text
//! Trace → Retry → RateLimit → DingTalkOutbound
//! ```
//!
//! built with [`DeliveryStack`]: the rate limiter sits under the retry layer so that every
//! attempt waits for a permit, and tracing sits on top so one span covers all attempts.
//!
//! # Paths
//!
//! - Replies (with a [`ReplyContext`]) go through the message's sessionWebhook while it is valid
//!   (it supports @-mentions), and fall back to the robot OpenAPI when it expired or DingTalk
//!   refused it.
//! - Proactive messages go through the robot OpenAPI (`batchSend` for a user, `groupMessages/send`
//!   for a group).
//! - [`Target::CustomRobot`] messages go to a group custom robot's webhook.
//!
//! [`RecordingOutbound`] stands in for all of it in other modules' tests.

pub mod action_card;
mod batch;
pub mod card;
pub mod chunk;
mod dingtalk;
mod error;
mod handover;
mod keyword;
mod lane;
pub mod markdown;
mod mention;
mod part;
mod prune;
mod rate_limit;
mod recording;
mod reply;
mod retry;
mod robot_account;
mod stack;
mod trace;
mod window;

use std::fmt;
use std::sync::Arc;

use ::dingtalk::ids::{MediaId, ProcessQueryKey, StaffId};
use ::dingtalk::model::outbound::{WebhookActionCard, WebhookFeedLink, WebhookLink};
use async_trait::async_trait;
use clawtalk_core::clock::{Clock, EpochMs, SystemClock};
use clawtalk_core::mask::redact_url;
use url::Url;

pub use self::dingtalk::{DEFAULT_WEBHOOK_MARGIN, DingTalkOutbound};
pub use action_card::{ActionCard, ActionCardError, ButtonTarget, CardButton};
pub use clawtalk_core::keywords::{KeywordError, validate_keywords};
pub use clawtalk_core::target::Target;
pub use error::DeliveryError;
pub use handover::{Handover, HandoverLog};
pub use keyword::ensure_keyword;
pub use mention::{MAX_MENTIONS, Mentions};
pub use part::NotAMessage;
pub use rate_limit::{RateLimit, RateLimitConfig, RateQuota, SharedBudget};
pub use recording::{Failure, RecordingOutbound};
pub use retry::{Retry, RetryPolicy};
pub use robot_account::CustomRobotAccount;
pub use stack::DeliveryStack;
pub use trace::Trace;

/// One already-chunked message to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// The gateway account (DingTalk app) that sends it.
    pub account_id: String,
    /// Where it goes when no usable sessionWebhook is at hand.
    pub target: Target,
    /// What it says.
    pub body: Body,
    /// Set for replies to an inbound message: the sessionWebhook to answer through.
    pub reply: Option<ReplyContext>,
    /// Stable key of this part in the gateway's outbox (logged; used as the custom robot's
    /// `msgUuid`).
    pub idempotency_key: String,
    /// Whom it @-mentions (webhook paths only; the robot OpenAPI cannot @).
    pub mentions: Mentions,
    /// Told just before each request that carries it leaves, and when DingTalk refused one.
    pub handover: Option<Handover>,
}

impl OutboundMessage {
    /// A proactive message (no reply context).
    pub fn new(
        account_id: impl Into<String>,
        target: Target,
        body: Body,
        idempotency_key: impl Into<String>,
    ) -> Self {
        Self {
            account_id: account_id.into(),
            target,
            body,
            reply: None,
            idempotency_key: idempotency_key.into(),
            mentions: Mentions::default(),
            handover: None,
        }
    }

    /// Adds the log told about each request that carries the message.
    #[must_use]
    pub fn with_handover(mut self, handover: Handover) -> Self {
        self.handover = Some(handover);
        self
    }

    /// Adds `mentions` (the text should name them too, see [`Mentions`]).
    #[must_use]
    pub fn with_mentions(mut self, mentions: Mentions) -> Self {
        self.mentions = mentions;
        self
    }

    /// Makes this a reply through `reply`'s sessionWebhook.
    #[must_use]
    pub fn in_reply(mut self, reply: ReplyContext) -> Self {
        self.reply = Some(reply);
        self
    }
}

/// What a message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Plain text (`sampleText` / webhook `text`).
    Text(String),
    /// DingTalk markdown (`sampleMarkdown` / webhook `markdown`); the default for replies.
    Markdown {
        /// Shown in the conversation list and notifications.
        title: String,
        /// The markdown.
        text: String,
    },
    /// A link preview (webhook `link` / `sampleLink`).
    Link(WebhookLink),
    /// An action card with one whole-card button or its own buttons (webhook `actionCard` /
    /// `sampleActionCard…`).
    ActionCard(WebhookActionCard),
    /// A list of links with pictures (webhook `feedCard`; custom robots and sessionWebhooks only).
    FeedCard(Vec<WebhookFeedLink>),
    /// An uploaded image (`sampleImageMsg`; robot OpenAPI only, the sessionWebhook has no
    /// image message).
    Image {
        /// From `media/upload` with type `image`.
        media_id: MediaId,
    },
    /// An uploaded file (`sampleFile`; robot OpenAPI only).
    File {
        /// From `media/upload` with type `file`.
        media_id: MediaId,
        /// Name shown in the chat.
        file_name: String,
        /// Extension, e.g. `pdf`.
        file_type: String,
    },
}

impl Body {
    /// Plain text.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }

    /// Markdown with a conversation-list title.
    pub fn markdown(title: impl Into<String>, text: impl Into<String>) -> Self {
        Self::Markdown {
            title: title.into(),
            text: text.into(),
        }
    }

    /// The text of the message (the markdown source for markdown, a card's body; the first
    /// entry's title for a feed card; the file name or media id for media).
    #[must_use]
    pub fn content(&self) -> &str {
        match self {
            Self::Text(text) | Self::Markdown { text, .. } => text,
            Self::Link(link) => &link.text,
            Self::ActionCard(card) => &card.text,
            Self::FeedCard(links) => links.first().map_or("", |l| l.title.as_str()),
            Self::Image { media_id } => media_id.as_str(),
            Self::File { file_name, .. } => file_name,
        }
    }

    /// A short name of the kind of body, for logs.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text(_) => "text",
            Self::Markdown { .. } => "markdown",
            Self::Link(_) => "link",
            Self::ActionCard(_) => "actionCard",
            Self::FeedCard(_) => "feedCard",
            Self::Image { .. } => "image",
            Self::File { .. } => "file",
        }
    }

    /// Uploaded media, which only the robot OpenAPI can send.
    #[must_use]
    pub fn is_media(&self) -> bool {
        matches!(self, Self::Image { .. } | Self::File { .. })
    }
}

/// How to answer an inbound bot message directly.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplyContext {
    /// The message's `sessionWebhook` (carries a session token: never logged).
    pub session_webhook: Url,
    /// `sessionWebhookExpiredTime`, epoch ms.
    pub expires_at_ms: EpochMs,
    /// The sender's staff id, to @ them in groups (absent for external users).
    pub sender_staff_id: Option<StaffId>,
    /// Whether the message came from a group (only then is the sender @-ed).
    pub is_group: bool,
    /// The conversation the sessionWebhook answers into: its sends are paced per
    /// conversation, whoever the recipient is.
    pub conversation_id: String,
}

impl fmt::Debug for ReplyContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplyContext")
            .field("session_webhook", &redact_url(&self.session_webhook))
            .field("expires_at_ms", &self.expires_at_ms)
            .field("sender_staff_id", &self.sender_staff_id)
            .field("is_group", &self.is_group)
            .field("conversation_id", &self.conversation_id)
            .finish()
    }
}

/// Which DingTalk API carried a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryPath {
    /// The inbound message's sessionWebhook.
    SessionWebhook,
    /// The robot OpenAPI (`oToMessages/batchSend` or `groupMessages/send`).
    RobotApi,
    /// A group custom robot's webhook.
    CustomRobot,
    /// The web console's chat page: nothing leaves the gateway.
    WebChat,
}

impl DeliveryPath {
    /// Stable name for logs and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SessionWebhook => "session_webhook",
            Self::RobotApi => "robot_api",
            Self::CustomRobot => "custom_robot",
            Self::WebChat => "webchat",
        }
    }
}

impl fmt::Display for DeliveryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a successful send did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    /// The API that carried the message.
    pub path: DeliveryPath,
    /// Key for recall and read status (robot OpenAPI only; webhooks return none).
    pub process_query_key: Option<ProcessQueryKey>,
    /// DingTalk messages this send produced (1 for text and markdown).
    pub parts: usize,
}

/// Sends one already-chunked message.
///
/// Implemented by [`DingTalkOutbound`], by the layers ([`RateLimit`], [`Retry`], [`Trace`]) that
/// wrap another `Arc<dyn Outbound>`, and by [`RecordingOutbound`] for tests.
#[async_trait]
pub trait Outbound: Send + Sync {
    /// Delivers `msg` or says why not (see [`DeliveryError::is_retryable`]).
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, DeliveryError>;

    /// The path [`Outbound::send`] would try first for `msg` right now.
    ///
    /// Layers that key on the path (rate limits) ask the innermost sender, which knows its clock
    /// and which webhooks already failed; the default decides from the message alone.
    fn planned_path(&self, msg: &OutboundMessage) -> DeliveryPath {
        plan(msg, SystemClock.now(), dingtalk::DEFAULT_WEBHOOK_MARGIN)
    }
}

#[async_trait]
impl<T: Outbound + ?Sized> Outbound for Arc<T> {
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, DeliveryError> {
        (**self).send(msg).await
    }

    fn planned_path(&self, msg: &OutboundMessage) -> DeliveryPath {
        (**self).planned_path(msg)
    }
}

/// The path chosen for `msg` at `now`: custom robots are fixed, replies use the sessionWebhook
/// while it has more than `margin` left, everything else uses the robot OpenAPI.
pub fn plan(msg: &OutboundMessage, now: EpochMs, margin: std::time::Duration) -> DeliveryPath {
    if matches!(msg.target, Target::CustomRobot { .. }) {
        return DeliveryPath::CustomRobot;
    }
    match &msg.reply {
        // The sessionWebhook takes text, markdown, links and cards only (protocol §4.1).
        Some(_) if msg.body.is_media() => DeliveryPath::RobotApi,
        Some(reply) if webhook_usable(reply, now, margin) => DeliveryPath::SessionWebhook,
        _ => DeliveryPath::RobotApi,
    }
}

/// Whether the webhook still has more than `margin` to live: a reply posted right at the expiry
/// would race DingTalk's clock, and the fallback is cheap.
pub fn webhook_usable(reply: &ReplyContext, now: EpochMs, margin: std::time::Duration) -> bool {
    reply.expires_at_ms.minus(margin) > now
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::dingtalk::Secret;
    use ::dingtalk::ids::ConversationId;
    use std::time::Duration;

    fn reply(expires_at_ms: i64) -> ReplyContext {
        ReplyContext {
            session_webhook: Url::parse("https://oapi.dingtalk.com/robot/sendBySession?session=s3cr3t")
                .unwrap(),
            expires_at_ms: EpochMs::from_millis(expires_at_ms),
            sender_staff_id: Some(StaffId::new("0312")),
            is_group: true,
            conversation_id: "cid".to_owned(),
        }
    }

    fn group_msg() -> OutboundMessage {
        OutboundMessage::new(
            "acct",
            Target::Group(ConversationId::new("cid1")),
            Body::markdown("t", "x"),
            "k1",
        )
    }

    #[test]
    fn plan_uses_the_webhook_only_with_margin_left() {
        let margin = Duration::from_secs(60);
        let msg = group_msg().in_reply(reply(1_000_000));
        assert_eq!(
            plan(&msg, EpochMs::from_millis(0), margin),
            DeliveryPath::SessionWebhook
        );
        assert_eq!(
            plan(&msg, EpochMs::from_millis(1_000_000 - 60_001), margin),
            DeliveryPath::SessionWebhook
        );
        assert_eq!(
            plan(&msg, EpochMs::from_millis(1_000_000 - 60_000), margin),
            DeliveryPath::RobotApi
        );
        assert_eq!(
            plan(&group_msg(), EpochMs::from_millis(0), margin),
            DeliveryPath::RobotApi
        );
        let robot = OutboundMessage::new(
            "acct",
            Target::CustomRobot {
                webhook: Url::parse("https://oapi.dingtalk.com/robot/send?access_token=t").unwrap(),
                secret: None,
                keywords: Vec::new(),
            },
            Body::text("x"),
            "k",
        )
        .in_reply(reply(i64::MAX));
        assert_eq!(
            plan(&robot, EpochMs::from_millis(0), margin),
            DeliveryPath::CustomRobot
        );
        let mut image = group_msg().in_reply(reply(1_000_000));
        image.body = Body::Image {
            media_id: MediaId::new("@lADPmedia"),
        };
        assert_eq!(
            plan(&image, EpochMs::from_millis(0), margin),
            DeliveryPath::RobotApi,
            "the sessionWebhook cannot carry images"
        );
    }

    #[test]
    fn debug_output_hides_tokens_and_secrets() {
        let msg = OutboundMessage::new(
            "acct",
            Target::CustomRobot {
                webhook: Url::parse("https://oapi.dingtalk.com/robot/send?access_token=tok123").unwrap(),
                secret: Some(Secret::new("SECabc")),
                keywords: vec!["alert".into()],
            },
            Body::text("x"),
            "k",
        )
        .in_reply(reply(1));
        let shown = format!("{msg:?}");
        for secret in ["tok123", "SECabc", "s3cr3t"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("oapi.dingtalk.com/robot/send"), "{shown}");
    }
}
