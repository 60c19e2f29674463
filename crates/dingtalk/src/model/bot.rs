//! Inbound bot messages: the `data` of Stream topic `/v1.0/im/bot/messages/get`, and the
//! body of HTTP-mode bot callbacks (same JSON; protocol §3).
//!
//! Decoding policy:
//! - Required (else [`ModelError::MissingField`]): `msgId` (the dedup key), `conversationId`
//!   (where to reply) and `conversationType` (DM or group).
//! - Documented fields are type-checked: present with the wrong JSON type is an error naming
//!   the field. Absent or `null` is `None`/default.
//! - Id fields where DingTalk sends `""` for "unknown" (`senderStaffId` of external members,
//!   `robotCode`, …) decode to `None`.
//! - Fields only third parties report (quote replies, `hostingContext`,
//!   `conversationMsgContext`, quota error fields) are read leniently: an unexpected shape
//!   leaves them `None`/empty instead of rejecting the message.
//! - Unknown fields are ignored; the whole payload stays available in [`BotMessage::raw`].

use serde_json::Value;

use super::bot_body;
pub use super::bot_body::{MessageBody, RepliedMessage, RichTextItem, TextContent};
use super::decode::{ModelError, Obj, loose, parse_json};
use crate::ids::{
    ConversationId, CorpId, DingtalkId, DownloadCode, MsgId, ProcessQueryKey, RobotCode, StaffId, UnionId,
};

/// Name used for this payload in errors.
const WHAT: &str = "bot message";

/// Error code DingTalk puts on messages delivered without content because the
/// organisation's message quota is exhausted.
pub const QUOTA_EXCEEDED_CODE: &str = "20001";

/// One message sent to the bot.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BotMessage {
    /// `msgtype` as sent (`text`, `richText`, …); empty if absent. [`BotMessage::body`] is its typed form.
    pub msgtype: String,
    /// Platform message id, stable across redeliveries.
    pub msg_id: MsgId,
    /// `createAt`, epoch ms (sent as a number or a string).
    pub create_at: Option<i64>,
    /// DM or group.
    pub conversation_type: ConversationType,
    /// `cid…`; for groups also the `openConversationId`.
    pub conversation_id: ConversationId,
    /// Group name (groups only).
    pub conversation_title: Option<String>,
    /// Encrypted sender id (not a staff id).
    pub sender_id: Option<DingtalkId>,
    /// Sender display name.
    pub sender_nick: Option<String>,
    /// Sender's org user id; `None` for external members and before the bot is published.
    pub sender_staff_id: Option<StaffId>,
    /// Sender's union id.
    pub sender_union_id: Option<UnionId>,
    /// Sender's organisation.
    pub sender_corp_id: Option<CorpId>,
    /// Sender's client platform, e.g. `Mac`.
    pub sender_platform: Option<String>,
    /// Whether the sender is an org admin (only after publish).
    pub is_admin: Option<bool>,
    /// Encrypted id of the bot itself; equals an `atUsers[].dingtalkId` when the bot is @-ed.
    pub chatbot_user_id: Option<DingtalkId>,
    /// The bot's organisation.
    pub chatbot_corp_id: Option<CorpId>,
    /// Bot code; `None` for custom (webhook) robots.
    pub robot_code: Option<RobotCode>,
    /// `isInAtList`: the bot was @-ed (groups; absent, hence `false`, in DMs).
    pub is_in_at_list: bool,
    /// Everyone @-ed, the bot included (groups).
    pub at_users: Vec<AtUser>,
    /// Temporary reply URL.
    pub session_webhook: Option<String>,
    /// When `session_webhook` expires, epoch ms (sent as a number or a string).
    pub session_webhook_expired_time: Option<i64>,
    /// Set when a "digital assistant" answers on someone's behalf.
    pub hosting_context: Option<HostingContext>,
    /// History read-status list (when DingTalk sends it is not documented).
    pub conversation_msg_context: Vec<MsgContextEntry>,
    /// Id of the message this one replies to (reported).
    pub original_msg_id: Option<MsgId>,
    /// Process query key of a quoted bot card (reported).
    pub original_process_query_key: Option<ProcessQueryKey>,
    /// Legacy `quoteMessage` object, kept raw (reported).
    pub quote_message: Option<Value>,
    /// Error carried instead of content, e.g. code 20001 when the quota is exhausted.
    pub error: Option<PayloadError>,
    /// What the user sent.
    pub body: MessageBody,
    /// The entire payload as received, for storage and for fields not modelled here.
    pub raw: Value,
}

/// `conversationType`: `"1"` DM, `"2"` group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConversationType {
    /// `"1"`: one-to-one chat with the bot.
    Direct,
    /// `"2"`: group chat.
    Group,
    /// Anything else, kept verbatim.
    Other(String),
}

impl ConversationType {
    /// Maps the wire spelling.
    #[must_use]
    pub fn from_wire(raw: &str) -> Self {
        match raw {
            "1" => Self::Direct,
            "2" => Self::Group,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The wire spelling.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Direct => "1",
            Self::Group => "2",
            Self::Other(other) => other,
        }
    }
}

/// One entry of `atUsers`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AtUser {
    /// Encrypted id; compare with [`BotMessage::chatbot_user_id`] to spot the bot. Empty if absent.
    pub dingtalk_id: DingtalkId,
    /// Org user id; `None` for external members.
    pub staff_id: Option<StaffId>,
    /// Union id, when sent.
    pub union_id: Option<UnionId>,
}

/// `hostingContext`: the person a digital assistant answers for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostingContext {
    /// That person's user id.
    pub user_id: Option<StaffId>,
    /// That person's display name.
    pub nick: Option<String>,
}

/// One entry of `conversationMsgContext`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MsgContextEntry {
    /// Read status as sent (string or number, normalised to a string).
    pub read_status: Option<String>,
    /// The sender's user id.
    pub sender_user_id: Option<String>,
    /// Send time, epoch ms.
    pub send_time: Option<i64>,
    /// The entry as sent.
    pub raw: Value,
}

/// An error DingTalk attached to the message instead of content (quota exhaustion).
///
/// The field names are not documented; we read `errorCode`/`errorMsg`, `errcode`/`errmsg`,
/// `code`/`message`/`msg`, and the same inside an `error` object.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PayloadError {
    /// The code as a string, e.g. `"20001"`.
    pub code: Option<String>,
    /// The human-readable message.
    pub message: Option<String>,
}

impl PayloadError {
    fn find(v: &Value) -> Option<Self> {
        const CODES: [&str; 4] = ["errorCode", "errcode", "errCode", "code"];
        const MESSAGES: [&str; 6] = ["errorMsg", "errmsg", "errMsg", "errorMessage", "message", "msg"];
        let read = |obj: &Value| {
            let code = CODES.iter().find_map(|k| loose::stringish(obj, k));
            let message = MESSAGES
                .iter()
                .find_map(|k| loose::str(obj, k).map(str::to_owned));
            (code.is_some() || message.is_some()).then_some(Self { code, message })
        };
        match v.get("error") {
            Some(inner @ Value::Object(_)) => read(inner).or_else(|| read(v)),
            Some(Value::String(text)) if !text.is_empty() => Some(read(v).unwrap_or(Self {
                code: None,
                message: Some(text.clone()),
            })),
            _ => read(v),
        }
    }
}

impl BotMessage {
    /// Decodes a bot message from JSON text.
    ///
    /// # Errors
    /// [`ModelError::Json`] when `text` is not JSON; otherwise as [`BotMessage::from_value`].
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        Self::from_value(parse_json(WHAT, text)?)
    }

    /// Decodes a bot message from an already-parsed JSON value, keeping it as [`BotMessage::raw`].
    ///
    /// # Errors
    /// [`ModelError::NotAnObject`] when `raw` (or an `atUsers` item or `content`) is not an object;
    /// [`ModelError::MissingField`] when `msgId`, `conversationId` or `conversationType` is absent,
    /// `null` or empty; [`ModelError::InvalidField`] when a known field has the wrong JSON type.
    pub fn from_value(raw: Value) -> Result<Self, ModelError> {
        let o = Obj::root(WHAT, &raw)?;
        let msgtype = o.string("msgtype")?.unwrap_or_default();
        let body = bot_body::parse_body(&o, &msgtype)?;
        let message = Self {
            msg_id: MsgId::new(o.required("msgId")?),
            conversation_id: ConversationId::new(o.required("conversationId")?),
            conversation_type: conversation_type(&o)?,
            create_at: o.int("createAt")?,
            conversation_title: o.string("conversationTitle")?,
            sender_id: o.id("senderId", DingtalkId::new)?,
            sender_nick: o.string("senderNick")?,
            sender_staff_id: o.id("senderStaffId", StaffId::new)?,
            sender_union_id: o.id("senderUnionId", UnionId::new)?,
            sender_corp_id: o.id("senderCorpId", CorpId::new)?,
            sender_platform: o.string("senderPlatform")?,
            is_admin: o.bool("isAdmin")?,
            chatbot_user_id: o.id("chatbotUserId", DingtalkId::new)?,
            chatbot_corp_id: o.id("chatbotCorpId", CorpId::new)?,
            robot_code: o.id("robotCode", RobotCode::new)?,
            is_in_at_list: o.bool("isInAtList")?.unwrap_or(false),
            at_users: at_users(&o)?,
            session_webhook: o.string("sessionWebhook")?,
            session_webhook_expired_time: o.int("sessionWebhookExpiredTime")?,
            hosting_context: o.get("hostingContext").and_then(hosting_context),
            conversation_msg_context: o
                .get("conversationMsgContext")
                .and_then(Value::as_array)
                .map(|entries| entries.iter().filter_map(msg_context_entry).collect())
                .unwrap_or_default(),
            original_msg_id: loose::str(&raw, "originalMsgId").map(MsgId::new),
            original_process_query_key: loose::stringish(&raw, "originalProcessQueryKey")
                .map(ProcessQueryKey::new),
            quote_message: o.get("quoteMessage").cloned(),
            error: PayloadError::find(&raw),
            msgtype,
            body,
            raw: Value::Null,
        };
        Ok(Self { raw, ..message })
    }

    /// True for group chats.
    #[must_use]
    pub fn is_group(&self) -> bool {
        self.conversation_type == ConversationType::Group
    }

    /// True for one-to-one chats.
    #[must_use]
    pub fn is_direct(&self) -> bool {
        self.conversation_type == ConversationType::Direct
    }

    /// The user's text, trimmed, with the bot's own @mention removed.
    ///
    /// - text: `text.content` trimmed (DingTalk already removed the bot's `@Name`; other
    ///   users' @names stay).
    /// - richText: text items joined (`at` items as `@name`); when the bot was @-ed, the first
    ///   and/or last non-blank text item is dropped if it starts with `@`, because that is
    ///   where DingTalk leaves the bot's mention.
    /// - audio: the speech recognition.
    /// - unknown types: `text.content` if the payload has one (some unmodelled types do).
    /// - everything else, including [`MessageBody::Missing`]: empty.
    #[must_use]
    pub fn plain_text(&self) -> String {
        match &self.body {
            MessageBody::Text(text) => text.content.trim().to_owned(),
            MessageBody::RichText(items) => self.rich_text_without_bot_mention(items),
            MessageBody::Audio { recognition, .. } => {
                recognition.as_deref().unwrap_or_default().trim().to_owned()
            }
            MessageBody::Unknown { .. } => self
                .raw
                .get("text")
                .and_then(|t| t.get("content"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim()
                .to_owned(),
            _ => String::new(),
        }
    }

    fn rich_text_without_bot_mention(&self, items: &[RichTextItem]) -> String {
        let meaningful: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, item)| matches!(item, RichTextItem::Text(t) if !t.trim().is_empty()))
            .map(|(i, _)| i)
            .collect();
        let is_mention = |i: &usize| {
            self.is_in_at_list
                && matches!(items.get(*i), Some(RichTextItem::Text(t)) if t.trim_start().starts_with('@'))
        };
        let first = meaningful.first().filter(|i| is_mention(i)).copied();
        let last = meaningful.last().filter(|i| is_mention(i)).copied();
        let kept = items
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != first && Some(*i) != last)
            .map(|(_, item)| item);
        bot_body::join_rich_text(kept).trim().to_owned()
    }

    /// Codes of all downloadable media in the message, in order: the picture, rich-text
    /// pictures, audio, video or file. Uses `downloadCode`, falling back to `pictureDownloadCode`.
    #[must_use]
    pub fn download_codes(&self) -> Vec<&DownloadCode> {
        match &self.body {
            MessageBody::Picture {
                download_code,
                picture_download_code,
            } => download_code
                .as_ref()
                .or(picture_download_code.as_ref())
                .into_iter()
                .collect(),
            MessageBody::RichText(items) => items.iter().filter_map(RichTextItem::download_code).collect(),
            MessageBody::Audio { download_code, .. }
            | MessageBody::Video { download_code, .. }
            | MessageBody::File { download_code, .. } => download_code.iter().collect(),
            _ => Vec::new(),
        }
    }

    /// True when the bot was @-ed: `isInAtList`, or `atUsers` contains `chatbotUserId`.
    #[must_use]
    pub fn mentions_bot(&self) -> bool {
        self.is_in_at_list
            || self
                .chatbot_user_id
                .as_ref()
                .is_some_and(|bot| self.at_users.iter().any(|u| &u.dingtalk_id == bot))
    }

    /// Dedup key: `(robotCode, msgId)`. Scoped per bot because one group message that @s two
    /// bots reaches both with the same `msgId`. The robot code is empty when absent.
    #[must_use]
    pub fn dedup_key(&self) -> (RobotCode, MsgId) {
        (
            self.robot_code.clone().unwrap_or_else(|| RobotCode::new("")),
            self.msg_id.clone(),
        )
    }

    /// True when the message carries DingTalk's quota-exhausted error (code 20001).
    #[must_use]
    pub fn is_quota_exceeded(&self) -> bool {
        self.error
            .as_ref()
            .and_then(|e| e.code.as_deref())
            .is_some_and(|c| c == QUOTA_EXCEEDED_CODE)
    }
}

fn conversation_type(o: &Obj<'_>) -> Result<ConversationType, ModelError> {
    match o.get("conversationType") {
        None => Err(ModelError::MissingField {
            what: WHAT,
            field: "conversationType".into(),
        }),
        // Documented as a string; a number is accepted in case a sender is loose about it.
        Some(Value::Number(n)) => Ok(ConversationType::from_wire(&n.to_string())),
        Some(_) => Ok(ConversationType::from_wire(o.required("conversationType")?)),
    }
}

fn at_users(o: &Obj<'_>) -> Result<Vec<AtUser>, ModelError> {
    let Some(items) = o.array("atUsers")? else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let u = Obj::nested(WHAT, format!("atUsers[{i}]"), item)?;
            Ok(AtUser {
                dingtalk_id: u
                    .id("dingtalkId", DingtalkId::new)?
                    .unwrap_or_else(|| DingtalkId::new("")),
                staff_id: u.id("staffId", StaffId::new)?,
                union_id: u.id("unionId", UnionId::new)?,
            })
        })
        .collect()
}

fn hosting_context(v: &Value) -> Option<HostingContext> {
    v.is_object().then(|| HostingContext {
        user_id: loose::str(v, "userId").map(StaffId::new),
        nick: loose::str(v, "nick").map(str::to_owned),
    })
}

fn msg_context_entry(v: &Value) -> Option<MsgContextEntry> {
    v.is_object().then(|| MsgContextEntry {
        read_status: loose::stringish(v, "readStatus"),
        sender_user_id: loose::stringish(v, "senderUserId"),
        send_time: loose::int(v, "sendTime"),
        raw: v.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"msgId": "m1", "conversationId": "cid1", "conversationType": "2", "msgtype": "text",
               "text": {"content": " hi "}, "robotCode": "rc"})
    }

    fn with(patch: Value) -> Value {
        let mut v = base();
        if let (Some(obj), Value::Object(p)) = (v.as_object_mut(), patch) {
            obj.extend(p);
        }
        v
    }

    #[test]
    fn empty_staff_id_is_none_and_key_is_scoped_by_robot() {
        let m = BotMessage::from_value(with(json!({"senderStaffId": ""}))).unwrap();
        assert_eq!(m.sender_staff_id, None);
        assert_eq!(m.dedup_key(), (RobotCode::new("rc"), MsgId::new("m1")));
        assert_eq!(m.plain_text(), "hi");
    }

    #[test]
    fn quota_message_without_text_keeps_error_code() {
        let mut v = with(json!({"errorCode": 20001, "errorMsg": "paused"}));
        v.as_object_mut().unwrap().remove("text");
        let m = BotMessage::from_value(v).unwrap();
        assert_eq!(m.body, MessageBody::Missing);
        assert!(m.is_quota_exceeded());
        assert_eq!(m.error.unwrap().message.as_deref(), Some("paused"));
    }

    #[test]
    fn nested_error_object_is_found() {
        let m = BotMessage::from_value(with(json!({"error": {"code": "20001", "msg": "x"}}))).unwrap();
        assert!(m.is_quota_exceeded());
    }

    #[test]
    fn rich_text_mention_at_the_end_is_stripped_only_when_at_listed() {
        let rich = json!({"msgtype": "richText", "isInAtList": true,
            "content": {"richText": [{"text": "look"}, {"type": "picture", "downloadCode": "p"}, {"text": "@Bot"}, {"text": "\n"}]}});
        let m = BotMessage::from_value(with(rich.clone())).unwrap();
        assert_eq!(m.plain_text(), "look");
        let mut dm = rich;
        dm["isInAtList"] = json!(false);
        let m = BotMessage::from_value(with(dm)).unwrap();
        assert_eq!(m.plain_text(), "look@Bot");
    }

    #[test]
    fn mentions_bot_via_at_users() {
        let m = BotMessage::from_value(with(
            json!({"chatbotUserId": "$bot", "atUsers": [{"dingtalkId": "$x"}, {"dingtalkId": "$bot"}]}),
        ))
        .unwrap();
        assert!(!m.is_in_at_list);
        assert!(m.mentions_bot());
        let m = BotMessage::from_value(with(
            json!({"chatbotUserId": "$bot", "atUsers": [{"dingtalkId": "$x"}]}),
        ))
        .unwrap();
        assert!(!m.mentions_bot());
    }

    #[test]
    fn numeric_conversation_type_and_string_times_are_accepted() {
        let m = BotMessage::from_value(with(
            json!({"conversationType": 1, "createAt": "1767225600123", "sessionWebhookExpiredTime": 5}),
        ))
        .unwrap();
        assert!(m.is_direct());
        assert_eq!(m.create_at, Some(1_767_225_600_123));
        assert_eq!(m.session_webhook_expired_time, Some(5));
    }
}
