//! The one inbound message type shared by every transport.
//!
//! Stream callbacks, HTTP-mode callbacks and outgoing-robot callbacks all carry the same bot
//! payload; each is turned into an [`InboundMessage`] here, so policy, routing and sessions
//! never know how a message arrived.

use dingtalk::ids::{ConversationId, DingtalkId, DownloadCode, MsgId, RobotCode, StaffId, UnionId};
use dingtalk::model::{BotMessage, MessageBody, RichTextItem};
use serde::{Deserialize, Serialize};

use crate::clock::EpochMs;
use crate::ids::AccountId;

/// How the message reached the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Stream mode (outbound WebSocket).
    Stream,
    /// HTTP-mode bot callback to `/webhooks/dingtalk`.
    HttpCallback,
    /// Encrypted event push (HTTP 推送) to `/webhooks/dingtalk`.
    HttpPush,
    /// Outgoing (custom) robot callback.
    OutgoingRobot,
    /// Started by the gateway itself: a scheduled task's run.
    Scheduler,
    /// The web console's chat.
    #[serde(rename = "webchat")]
    WebChat,
}

/// DM or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    /// One-to-one chat with the bot.
    Direct,
    /// Group chat (the bot only sees messages that @ it).
    Group,
}

/// Who wrote the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    /// Org user id; `None` for external members.
    pub staff_id: Option<StaffId>,
    /// Cross-org id.
    pub union_id: Option<UnionId>,
    /// Encrypted per-app id; always present in practice, used when there is no staff id.
    pub dingtalk_id: Option<DingtalkId>,
    /// Display name.
    pub nick: String,
}

impl Sender {
    /// A stable key for policy and sessions: the staff id, else the encrypted id.
    #[must_use]
    pub fn key(&self) -> Option<&str> {
        self.staff_id
            .as_ref()
            .map(StaffId::as_str)
            .or_else(|| self.dingtalk_id.as_ref().map(DingtalkId::as_str))
            .filter(|k| !k.is_empty())
    }
}

/// Kind of attached media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// A picture (or a picture inside rich text).
    Picture,
    /// A voice message (its recognition text is in [`InboundMessage::text`]).
    Audio,
    /// A video.
    Video,
    /// A file.
    File,
}

/// Media that can be fetched with `messageFiles/download`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    /// What it is.
    pub kind: MediaKind,
    /// The download code.
    pub download_code: DownloadCode,
    /// File name, for files.
    pub file_name: Option<String>,
    /// It belongs to the message the user quoted, not to the new one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quoted: bool,
}

/// Where a reply to this message can go without an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyTarget {
    /// The per-message sessionWebhook URL.
    pub session_webhook: String,
    /// When it stops working, epoch ms.
    pub expires_at_ms: EpochMs,
}

/// One user message to the bot, transport-independent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// Configured account (bot) that received it.
    pub account_id: AccountId,
    /// How it arrived.
    pub transport: Transport,
    /// The receiving bot's code (the payload's, else the account's).
    pub robot_code: RobotCode,
    /// Platform message id: with `robot_code`, the dedup key.
    pub msg_id: MsgId,
    /// Conversation (case kept exactly as sent).
    pub conversation_id: ConversationId,
    /// DM or group.
    pub chat: ChatKind,
    /// Group name.
    pub conversation_title: Option<String>,
    /// Author.
    pub sender: Sender,
    /// What the user said, bot mention stripped, trimmed (audio: the recognition text).
    pub text: String,
    /// The bot was @-mentioned.
    pub mentions_bot: bool,
    /// Attached media.
    pub media: Vec<MediaRef>,
    /// Text of a quoted message, when the user replied to one.
    pub quoted_text: Option<String>,
    /// Token-free reply path.
    pub reply: Option<ReplyTarget>,
    /// When DingTalk says it was sent, epoch ms (else when it was received).
    pub created_at_ms: EpochMs,
    /// `msgtype` as sent (for approval events: the event type).
    pub msgtype: String,
    /// Set when this is an approval event for a workflow agent rather than a user's message:
    /// policy and chat commands do not apply, and the rule's agent answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowTurn>,
    /// Set when this is a run of a scheduled task: policy and chat commands do not apply,
    /// the task's agent answers in the task's own session, and the answer goes to the
    /// task's target (the webhook, when it has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<CronTurn>,
    /// Set when this is an operator's message in the web console's chat: policy and chat
    /// commands do not apply, the agent the operator picked answers, and the answer is
    /// shown on the page rather than sent to DingTalk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webchat: Option<WebChatTurn>,
    /// Set when this is an answer the operator chose, in the web console, to send into the
    /// DingTalk conversation it was given in: posted as is, no agent turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_post: Option<ConsolePost>,
}

/// A console answer sent on to DingTalk, stored with the message that delivers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsolePost {
    /// The session the answer is in.
    pub session_key: String,
    /// Its transcript entry (the post's idempotency key).
    pub entry_id: i64,
}

/// An operator's WebChat message, stored with the turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebChatTurn {
    /// The agent the operator chats with.
    pub agent_id: String,
    /// Who chats (the console has one operator).
    pub operator: String,
}

/// A scheduled task's run, stored with the turn so a restart delivers it the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CronTurn {
    /// The task.
    pub task_id: i64,
    /// Its agent.
    pub agent_id: String,
    /// Its name, for failure notices.
    pub name: String,
    /// The custom robot the answer goes to, when the target is a webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<CronWebhook>,
    /// The text is a notice to post as is (a missed run), not a prompt for the agent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notice: bool,
}

/// A custom robot webhook and its signing secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CronWebhook {
    /// `…/robot/send?access_token=…` (a credential).
    pub url: String,
    /// `SEC…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl std::fmt::Debug for CronWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::mask::describe_custom_robot(
            &self.url,
            self.secret.is_some(),
        ))
    }
}

/// The workflow rule's decision, stored with the event so a restart routes it the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowTurn {
    /// The agent that writes the notification.
    pub agent_id: String,
    /// The approval instance: one session per instance, so its events share a history.
    pub process_instance_id: String,
}

/// What a gateway-originated turn is made of ([`InboundMessage::gateway_originated`]).
#[derive(Debug, Clone)]
pub struct GatewayOrigin {
    /// Configured account that speaks.
    pub account_id: AccountId,
    /// How the turn arose.
    pub transport: Transport,
    /// The account's robot code.
    pub robot_code: RobotCode,
    /// A stable id: with `robot_code`, the dedup key (a redelivery maps to the same row).
    pub msg_id: MsgId,
    /// The group, or empty for a DM.
    pub conversation_id: ConversationId,
    /// DM or group.
    pub chat: ChatKind,
    /// The DM's user.
    pub staff_id: Option<StaffId>,
    /// The prompt (or notice).
    pub text: String,
    /// When it was due or happened, epoch ms.
    pub created_at_ms: EpochMs,
    /// `msgtype` to record.
    pub msgtype: String,
}

impl InboundMessage {
    /// Maps a decoded bot payload. `default_robot_code` is the account's robot code, used
    /// when the payload has none.
    #[must_use]
    pub fn from_bot_message(
        account_id: &AccountId,
        default_robot_code: &RobotCode,
        transport: Transport,
        message: &BotMessage,
        now: EpochMs,
    ) -> Self {
        let robot_code = message
            .robot_code
            .clone()
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| default_robot_code.clone());
        let reply = match (&message.session_webhook, message.session_webhook_expired_time) {
            (Some(url), Some(expires)) if !url.is_empty() => Some(ReplyTarget {
                session_webhook: url.clone(),
                expires_at_ms: EpochMs::from_millis(expires),
            }),
            _ => None,
        };
        Self {
            account_id: account_id.clone(),
            transport,
            robot_code,
            msg_id: message.msg_id.clone(),
            conversation_id: message.conversation_id.clone(),
            chat: if message.is_group() {
                ChatKind::Group
            } else {
                ChatKind::Direct
            },
            conversation_title: message.conversation_title.clone(),
            sender: Sender {
                staff_id: message.sender_staff_id.clone(),
                union_id: message.sender_union_id.clone(),
                dingtalk_id: message.sender_id.clone(),
                nick: message.sender_nick.clone().unwrap_or_default(),
            },
            text: message.plain_text(),
            mentions_bot: message.mentions_bot(),
            media: media_of(&message.body)
                .into_iter()
                .chain(quoted_media(&message.body))
                .collect(),
            quoted_text: quoted_text(&message.body),
            reply,
            created_at_ms: message.create_at.map_or(now, EpochMs::from_millis),
            msgtype: message.msgtype.clone(),
            workflow: None,
            cron: None,
            webchat: None,
            console_post: None,
        }
    }

    /// A turn the gateway starts itself (a scheduled run, an approval event) rather than a
    /// user's message: no sender beyond `staff_id`, no mention, media or reply webhook.
    /// Callers then set `workflow` or `cron`.
    #[must_use]
    pub fn gateway_originated(origin: GatewayOrigin) -> Self {
        Self {
            account_id: origin.account_id,
            transport: origin.transport,
            robot_code: origin.robot_code,
            msg_id: origin.msg_id,
            conversation_id: origin.conversation_id,
            chat: origin.chat,
            conversation_title: None,
            sender: Sender {
                staff_id: origin.staff_id,
                union_id: None,
                dingtalk_id: None,
                nick: String::new(),
            },
            text: origin.text,
            mentions_bot: false,
            media: Vec::new(),
            quoted_text: None,
            reply: None,
            created_at_ms: origin.created_at_ms,
            msgtype: origin.msgtype,
            workflow: None,
            cron: None,
            webchat: None,
            console_post: None,
        }
    }

    /// True for group chats.
    #[must_use]
    pub fn is_group(&self) -> bool {
        self.chat == ChatKind::Group
    }
}

fn media_of(body: &MessageBody) -> Vec<MediaRef> {
    let one = |kind, code: &Option<DownloadCode>, file_name: Option<String>| {
        code.clone().map(|download_code| MediaRef {
            kind,
            download_code,
            file_name,
            quoted: false,
        })
    };
    match body {
        MessageBody::Picture {
            download_code,
            picture_download_code,
        } => one(
            MediaKind::Picture,
            &download_code.clone().or_else(|| picture_download_code.clone()),
            None,
        )
        .into_iter()
        .collect(),
        MessageBody::RichText(items) => items
            .iter()
            .filter(|item| matches!(item, RichTextItem::Picture { .. }))
            .filter_map(|item| item.download_code().cloned())
            .map(|download_code| MediaRef {
                kind: MediaKind::Picture,
                download_code,
                file_name: None,
                quoted: false,
            })
            .collect(),
        MessageBody::Audio { download_code, .. } => {
            one(MediaKind::Audio, download_code, None).into_iter().collect()
        }
        MessageBody::Video { download_code, .. } => {
            one(MediaKind::Video, download_code, None).into_iter().collect()
        }
        MessageBody::File {
            download_code,
            file_name,
            ..
        } => one(MediaKind::File, download_code, file_name.clone())
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

fn quoted_text(body: &MessageBody) -> Option<String> {
    let MessageBody::Text(text) = body else {
        return None;
    };
    let quoted = text.replied_msg.as_ref()?;
    if let Some(text) = quoted.text.clone().filter(|t| !t.trim().is_empty()) {
        return Some(text);
    }
    // A quoted picture or file has no text; say what it was so the reply makes sense.
    match quoted.msg_type.as_deref() {
        Some("picture") => Some("[a picture]".to_owned()),
        Some("file") => Some(format!(
            "[a file: {}]",
            quoted.file_name.as_deref().unwrap_or("unnamed")
        )),
        Some("video") => Some("[a video]".to_owned()),
        Some("audio") => Some("[a voice message]".to_owned()),
        _ => None,
    }
}

/// Media of the quoted message, when DingTalk included its download code (reported, not
/// documented: codes of old messages may have expired, which the download then reports).
fn quoted_media(body: &MessageBody) -> Option<MediaRef> {
    let MessageBody::Text(text) = body else {
        return None;
    };
    let quoted = text.replied_msg.as_ref()?;
    let kind = match quoted.msg_type.as_deref()? {
        "picture" => MediaKind::Picture,
        "file" => MediaKind::File,
        "video" => MediaKind::Video,
        _ => return None,
    };
    Some(MediaRef {
        kind,
        download_code: quoted.download_code.clone()?,
        file_name: quoted.file_name.clone(),
        quoted: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> BotMessage {
        let path = format!("{}/../dingtalk/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        BotMessage::from_json(&text).unwrap()
    }

    fn map(name: &str) -> InboundMessage {
        InboundMessage::from_bot_message(
            &AccountId::new("default"),
            &RobotCode::new("fallback"),
            Transport::Stream,
            &fixture(name),
            EpochMs::from_millis(1),
        )
    }

    #[test]
    fn group_text_keeps_ids_and_strips_the_mention() {
        let m = map("bot-text-group-at.json");
        assert!(m.is_group());
        assert!(m.mentions_bot);
        assert_eq!(m.robot_code.as_str(), "dingq7vxkt3mwz2hb8ns");
        assert_eq!(m.conversation_id.as_str(), "cidGk2Zz9Lw0pQxRtY7uVb3nM1Q==");
        assert!(!m.text.starts_with(' '));
        assert_eq!(m.sender.key(), Some("0312454236781234"));
        assert!(
            m.reply
                .as_ref()
                .is_some_and(|r| r.expires_at_ms > EpochMs::from_millis(0))
        );
    }

    #[test]
    fn media_and_quotes_are_carried() {
        assert_eq!(map("bot-richtext.json").media.len(), 2);
        let file = map("bot-file.json");
        assert_eq!(file.media[0].kind, MediaKind::File);
        assert_eq!(file.media[0].file_name.as_deref(), Some("q3-incident-report.pdf"));
        let audio = map("bot-audio.json");
        assert_eq!(
            audio.text,
            "Please remind me about the release meeting tomorrow at ten"
        );
        assert_eq!(audio.media[0].kind, MediaKind::Audio);
        assert_eq!(
            map("bot-text-quote-reply.json").quoted_text.as_deref(),
            Some("Summarize yesterday's deploy log, please")
        );
        let quoted_file = InboundMessage::from_bot_message(
            &AccountId::new("default"),
            &RobotCode::new("fallback"),
            Transport::Stream,
            &BotMessage::from_json(
                r#"{"msgId":"m1","msgtype":"text","conversationType":"1","conversationId":"cid1",
                    "text":{"content":"what does it say?","isReplyMsg":true,
                            "repliedMsg":{"msgType":"file","content":{"downloadCode":"dc1","fileName":"plan.docx"}}}}"#,
            )
            .unwrap(),
            EpochMs::from_millis(1),
        );
        assert_eq!(quoted_file.quoted_text.as_deref(), Some("[a file: plan.docx]"));
        assert_eq!(quoted_file.media.len(), 1);
        assert!(quoted_file.media[0].quoted);
        assert_eq!(quoted_file.media[0].file_name.as_deref(), Some("plan.docx"));
        let dm = map("bot-text-dm.json");
        assert_eq!(dm.chat, ChatKind::Direct);
        assert!(!dm.mentions_bot);
    }
}
