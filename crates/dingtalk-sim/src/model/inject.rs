//! Requests that make simulated users and the platform act (a message to a bot, an event, a
//! card click, an action-card button press) and what each one produced.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Topic of bot messages.
pub const TOPIC_BOT_MESSAGE: &str = "/v1.0/im/bot/messages/get";
/// Topic of card callbacks.
pub const TOPIC_CARD_CALLBACK: &str = "/v1.0/card/instances/callback";

/// Media attached to an injected message; served back by `messageFiles/download`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MediaSpec {
    /// File content, base64. A small placeholder is used when absent.
    #[serde(default)]
    pub content_base64: Option<String>,
    /// MIME type.
    #[serde(default)]
    pub content_type: Option<String>,
}

impl MediaSpec {
    /// Media with these bytes.
    pub fn bytes(content: &[u8], content_type: impl Into<String>) -> Self {
        Self {
            content_base64: Some(STANDARD.encode(content)),
            content_type: Some(content_type.into()),
        }
    }
}

/// One rich-text segment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RichSegment {
    /// `{"text": …}`.
    Text {
        /// Text.
        text: String,
    },
    /// `{"type":"picture","downloadCode","pictureDownloadCode"}`.
    Picture {
        /// Image content.
        #[serde(default)]
        media: Option<MediaSpec>,
    },
}

/// What the user sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageSpec {
    /// `msgtype: text`.
    Text {
        /// What the user typed (without the bot mention).
        text: String,
    },
    /// `msgtype: richText` (in groups the `@Bot` segment is added when `at_bot`).
    RichText {
        /// Segments.
        segments: Vec<RichSegment>,
    },
    /// `msgtype: picture` (sent as `richText` in groups, like DingTalk).
    Picture {
        /// Image content.
        #[serde(default)]
        media: Option<MediaSpec>,
    },
    /// `msgtype: audio` (DM only).
    Audio {
        /// Server speech-to-text.
        recognition: String,
        /// Duration in ms.
        #[serde(default)]
        duration_ms: Option<u64>,
        /// Audio content.
        #[serde(default)]
        media: Option<MediaSpec>,
    },
    /// `msgtype: video` (DM only).
    Video {
        /// Duration in seconds (sent as a string, as in DingTalk's examples).
        #[serde(default)]
        duration_secs: Option<u64>,
        /// Video content.
        #[serde(default)]
        media: Option<MediaSpec>,
    },
    /// `msgtype: file` (DM only).
    File {
        /// File name.
        file_name: String,
        /// File content.
        #[serde(default)]
        media: Option<MediaSpec>,
    },
    /// `msgtype: unknownMsgType`.
    Unknown {
        /// Placeholder text.
        #[serde(default)]
        text: Option<String>,
    },
    /// Escape hatch: these top-level fields are merged over the generated payload
    /// (a `null` value removes a field), e.g. `{"msgtype":"markdown","content":{…}}`.
    Raw {
        /// Fields to merge.
        fields: Map<String, Value>,
    },
}

/// A message from a simulated user to a bot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InjectMessage {
    /// Client id of the bot's app.
    pub app: String,
    /// Sender staff id.
    pub sender: String,
    /// Group openConversationId; `None` = the DM between sender and bot.
    #[serde(default)]
    pub group: Option<String>,
    /// Content.
    pub message: MessageSpec,
    /// Whether the group message @-mentions the bot (only those are delivered).
    #[serde(default)]
    pub at_bot: bool,
    /// Other users @-mentioned (staff ids).
    #[serde(default)]
    pub at_users: Vec<String>,
    /// Quote an earlier message: a user message's `msgId` or a bot message's processQueryKey.
    #[serde(default)]
    pub quote: Option<String>,
    /// `senderPlatform` (default `Mac`).
    #[serde(default)]
    pub sender_platform: Option<String>,
}

impl InjectMessage {
    /// A DM text.
    pub fn dm_text(app: impl Into<String>, sender: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            app: app.into(),
            sender: sender.into(),
            group: None,
            message: MessageSpec::Text { text: text.into() },
            at_bot: false,
            at_users: Vec::new(),
            quote: None,
            sender_platform: None,
        }
    }

    /// A group text, @-ing the bot or not.
    pub fn group_text(
        app: impl Into<String>,
        sender: impl Into<String>,
        group: impl Into<String>,
        text: impl Into<String>,
        at_bot: bool,
    ) -> Self {
        Self {
            group: Some(group.into()),
            at_bot,
            ..Self::dm_text(app, sender, text)
        }
    }

    /// A DM (or, with [`InjectMessage::in_group`], group) message of any kind.
    pub fn new(app: impl Into<String>, sender: impl Into<String>, message: MessageSpec) -> Self {
        Self {
            message,
            ..Self::dm_text(app, sender, "")
        }
    }

    /// Moves the message into a group, @-ing the bot or not.
    #[must_use]
    pub fn in_group(mut self, group: impl Into<String>, at_bot: bool) -> Self {
        self.group = Some(group.into());
        self.at_bot = at_bot;
        self
    }

    /// Also @-mentions these users.
    #[must_use]
    pub fn at_users<I, S>(mut self, staff_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.at_users = staff_ids.into_iter().map(Into::into).collect();
        self
    }

    /// Quotes an earlier message.
    #[must_use]
    pub fn quoting(mut self, msg_id_or_process_query_key: impl Into<String>) -> Self {
        self.quote = Some(msg_id_or_process_query_key.into());
        self
    }
}

/// Result of an injection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Injected {
    /// `msgId`.
    pub msg_id: String,
    /// `conversationId`.
    pub conversation_id: String,
    /// Whether the message goes to the bot over Stream (DMs always; groups only when @-ing).
    pub delivered: bool,
    /// Why it was not delivered.
    pub not_delivered_reason: Option<String>,
    /// The sessionWebhook URL (served by the sim).
    pub session_webhook: String,
    /// `sessionWebhookExpiredTime` (epoch ms).
    pub session_webhook_expired_time: u64,
    /// Download codes of attached media, in order.
    pub download_codes: Vec<String>,
    /// The complete bot payload (the `data` of the Stream frame).
    pub payload: Value,
}

/// An organisation event to push over Stream (and HTTP push when configured).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InjectEvent {
    /// Client id of the receiving app.
    pub app: String,
    /// `eventType`, e.g. `bpms_instance_change`.
    pub event_type: String,
    /// Business data (the frame's `data`).
    #[serde(default)]
    pub data: Value,
    /// `eventId`; generated when absent.
    #[serde(default)]
    pub event_id: Option<String>,
    /// `eventCorpId`; the app's corp when absent.
    #[serde(default)]
    pub corp_id: Option<String>,
}

impl InjectEvent {
    /// An event with generated id.
    pub fn new(app: impl Into<String>, event_type: impl Into<String>, data: Value) -> Self {
        Self {
            app: app.into(),
            event_type: event_type.into(),
            data,
            event_id: None,
            corp_id: None,
        }
    }
}

/// A click on a card button / form submit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InjectCardCallback {
    /// Card outTrackId.
    pub out_track_id: String,
    /// Clicking user's staff id.
    pub user: String,
    /// App; taken from the card when the sim created it, required otherwise.
    #[serde(default)]
    pub app: Option<String>,
    /// `cardPrivateData.actionIds`.
    #[serde(default)]
    pub action_ids: Vec<String>,
    /// `cardPrivateData.params`.
    #[serde(default)]
    pub params: Value,
}

impl InjectCardCallback {
    /// A click by `user` on `action_id` with these params.
    pub fn new(
        out_track_id: impl Into<String>,
        user: impl Into<String>,
        action_id: &str,
        params: Value,
    ) -> Self {
        Self {
            out_track_id: out_track_id.into(),
            user: user.into(),
            app: None,
            action_ids: vec![action_id.to_owned()],
            params,
        }
    }
}

/// `POST /_sim/action_cards/press`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PressButton {
    /// `seq` of the sent message (see `/_sim/sent`).
    pub seq: u64,
    /// 1-based button number, in display order.
    pub button: usize,
    /// Staff id of the user pressing it.
    pub user: String,
}

/// What a press did.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Pressed {
    /// The link opened in the browser; the bot hears nothing.
    Opened {
        /// The URL.
        url: String,
    },
    /// The client posted the button's text as the user.
    Replied {
        /// The text posted.
        text: String,
        /// The resulting message (delivered to the bot or not).
        message: Injected,
    },
}
