//! Public data types of the simulator: directory entries (apps, users, groups) and the
//! records it keeps (connections, deliveries, pings, violations, sent messages).
//!
//! All of them serialize to the snake_case JSON the control API speaks.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Permission scope for robot send APIs and media download.
pub const SCOPE_ROBOT_SEND: &str = "qyapi_robot_sendmsg";
/// Permission scope for card create/deliver/update.
pub const SCOPE_CARD_INSTANCE: &str = "Card.Instance.Write";
/// Permission scope for card streaming.
pub const SCOPE_CARD_STREAMING: &str = "Card.Streaming.Write";
/// Permission scope for reading contacts (a user's details and departments).
pub const SCOPE_CONTACT_READ: &str = "qyapi_get_member";
/// Every scope the simulator checks; new apps get all of them unless told otherwise.
pub const ALL_SCOPES: &[&str] = &[
    SCOPE_ROBOT_SEND,
    SCOPE_CARD_INSTANCE,
    SCOPE_CARD_STREAMING,
    SCOPE_CONTACT_READ,
];

fn yes() -> bool {
    true
}

/// What to create an app (with its bot) from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppSpec {
    /// AppKey.
    pub client_id: String,
    /// AppSecret.
    pub client_secret: String,
    /// Bot code; defaults to `client_id` (internal apps).
    #[serde(default)]
    pub robot_code: Option<String>,
    /// Bot display name (used for the `@Name` segment of group rich text).
    #[serde(default)]
    pub name: Option<String>,
    /// Whether the bot's receive mode is Stream (`connections/open` fails otherwise).
    #[serde(default = "yes")]
    pub stream_enabled: bool,
    /// Whether the app is published.
    #[serde(default = "yes")]
    pub published: bool,
    /// Granted scopes; `None` grants [`ALL_SCOPES`].
    #[serde(default)]
    pub permissions: Option<BTreeSet<String>>,
}

impl AppSpec {
    /// A published Stream-mode app with every permission.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            robot_code: None,
            name: None,
            stream_enabled: true,
            published: true,
            permissions: None,
        }
    }

    /// Overrides the robot code.
    #[must_use]
    pub fn robot_code(mut self, code: impl Into<String>) -> Self {
        self.robot_code = Some(code.into());
        self
    }

    /// Sets the bot name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets whether the bot is in Stream mode.
    #[must_use]
    pub fn stream_enabled(mut self, on: bool) -> Self {
        self.stream_enabled = on;
        self
    }

    /// Sets whether the app is published.
    #[must_use]
    pub fn published(mut self, on: bool) -> Self {
        self.published = on;
        self
    }

    /// Grants exactly these scopes.
    #[must_use]
    pub fn permissions<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.permissions = Some(scopes.into_iter().map(Into::into).collect());
        self
    }
}

/// An app (and its bot) as the simulator knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    /// AppKey.
    pub client_id: String,
    /// AppSecret.
    pub client_secret: String,
    /// Bot code.
    pub robot_code: String,
    /// Bot display name.
    pub name: String,
    /// Stream receive mode on.
    pub stream_enabled: bool,
    /// Published.
    pub published: bool,
    /// Granted scopes.
    pub permissions: BTreeSet<String>,
    /// App uuid (the `appId` frame header).
    pub app_id: String,
    /// Unified app id (`eventUnifiedAppId`).
    pub unified_app_id: String,
    /// Encrypted bot user id (`chatbotUserId`, the bot's `dingtalkId` in `atUsers`).
    pub chatbot_user_id: String,
    /// Corp the bot belongs to.
    pub corp_id: String,
}

/// What to create a user from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserSpec {
    /// userId / staffId.
    pub staff_id: String,
    /// Display name.
    pub nick: String,
    /// unionId; generated when absent.
    #[serde(default)]
    pub union_id: Option<String>,
    /// Corp; the sim's corp when absent.
    #[serde(default)]
    pub corp_id: Option<String>,
    /// Department ids.
    #[serde(default)]
    pub departments: Vec<i64>,
    /// Org admin flag (`isAdmin`).
    #[serde(default)]
    pub is_admin: bool,
}

impl UserSpec {
    /// A user with generated unionId, in the sim's corp.
    pub fn new(staff_id: impl Into<String>, nick: impl Into<String>) -> Self {
        Self {
            staff_id: staff_id.into(),
            nick: nick.into(),
            union_id: None,
            corp_id: None,
            departments: vec![1],
            is_admin: false,
        }
    }

    /// Marks the user as an org admin.
    #[must_use]
    pub fn admin(mut self, on: bool) -> Self {
        self.is_admin = on;
        self
    }
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// userId / staffId.
    pub staff_id: String,
    /// unionId.
    pub union_id: String,
    /// Display name.
    pub nick: String,
    /// Encrypted id (`senderId`, `atUsers[].dingtalkId`).
    pub dingtalk_id: String,
    /// Corp.
    pub corp_id: String,
    /// Department ids.
    pub departments: Vec<i64>,
    /// Org admin.
    pub is_admin: bool,
}

/// What to create a group from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupSpec {
    /// Title.
    pub title: String,
    /// openConversationId; generated (`cid…==`) when absent.
    #[serde(default)]
    pub open_conversation_id: Option<String>,
    /// Member staff ids.
    #[serde(default)]
    pub members: Vec<String>,
    /// Apps (client ids) whose bot is in the group.
    #[serde(default)]
    pub bots: Vec<String>,
}

impl GroupSpec {
    /// A group with these members and no bot.
    pub fn new<I, S>(title: impl Into<String>, members: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            title: title.into(),
            open_conversation_id: None,
            members: members.into_iter().map(Into::into).collect(),
            bots: Vec::new(),
        }
    }

    /// Adds a bot (by client id).
    #[must_use]
    pub fn with_bot(mut self, client_id: impl Into<String>) -> Self {
        self.bots.push(client_id.into());
        self
    }

    /// Fixes the openConversationId.
    #[must_use]
    pub fn id(mut self, open_conversation_id: impl Into<String>) -> Self {
        self.open_conversation_id = Some(open_conversation_id.into());
        self
    }
}

/// A group chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// openConversationId (`cid…==`).
    pub open_conversation_id: String,
    /// Title (`conversationTitle`).
    pub title: String,
    /// Member staff ids.
    pub members: Vec<String>,
    /// Client ids of the bots in the group.
    pub bots: Vec<String>,
}

/// A Stream subscription as sent to `connections/open`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// `EVENT` or `CALLBACK`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Topic.
    pub topic: String,
}

/// One `connections/open` call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenRecord {
    /// Monotonic ms since sim start.
    pub at_ms: u64,
    /// `clientId` of the request, if readable.
    pub client_id: Option<String>,
    /// The `Accept` header as sent.
    pub accept: Option<String>,
    /// Whether `Accept` asked for JSON.
    pub accept_json: bool,
    /// HTTP status answered.
    pub status: u16,
    /// Error code answered, if any.
    pub error_code: Option<String>,
    /// `ua` of the request.
    pub ua: Option<String>,
    /// `localIp` of the request.
    pub local_ip: Option<String>,
    /// Subscriptions requested.
    pub subscriptions: Vec<Subscription>,
    /// Ticket issued.
    pub ticket: Option<String>,
}

/// One Stream WebSocket connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionInfo {
    /// Server-side connection id (`connectionId` header).
    pub connection_id: String,
    /// Client id of the app.
    pub app: String,
    /// Ticket used.
    pub ticket: String,
    /// Subscriptions of the ticket.
    pub subscriptions: Vec<Subscription>,
    /// `ua` sent to `connections/open`.
    pub ua: Option<String>,
    /// Monotonic ms since sim start.
    pub opened_at_ms: u64,
    /// When the connection ended.
    pub closed_at_ms: Option<u64>,
    /// Why it ended.
    pub close_reason: Option<String>,
    /// The zombie fault is active.
    pub zombie: bool,
    /// A SYSTEM disconnect was sent; the socket closes after the grace period.
    pub draining: bool,
    /// When the disconnect frame was sent.
    pub disconnect_sent_at_ms: Option<u64>,
    /// Whether the client acknowledged the disconnect frame.
    pub disconnect_acked: bool,
    /// Frames written (pings included).
    pub frames_sent: u64,
    /// Frames swallowed because the connection was a zombie.
    pub frames_swallowed: u64,
    /// SYSTEM pings sent.
    pub pings_sent: u64,
    /// Pings answered with the `data` echoed.
    pub pings_echoed: u64,
    /// Text frames received from the client.
    pub acks_received: u64,
    /// WebSocket ping frames received from the client (each answered with a pong, as RFC 6455
    /// §5.5.2 requires; every official SDK pings this way and expects the pong).
    #[serde(default)]
    pub ws_pings_received: u64,
}

impl ConnectionInfo {
    /// True while the socket is open.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.closed_at_ms.is_none()
    }
}

/// What an injected delivery carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryKind {
    /// CALLBACK `/v1.0/im/bot/messages/get`.
    BotMessage,
    /// CALLBACK `/v1.0/card/instances/callback`.
    CardCallback,
    /// EVENT.
    Event,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for a connection.
    Pending,
    /// Pushed, waiting for the ACK.
    InFlight,
    /// Acknowledged with code 200 (and `SUCCESS` for events).
    Acked,
    /// Attempts exhausted.
    GaveUp,
}

/// Where fault `cut_next_frame` cuts a connection: at the next pushed CALLBACK/EVENT frame,
/// before the client's ACK can come back, so the push is redelivered on a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameCut {
    /// The whole frame is written, then the TCP stream is dropped (no close frame): the
    /// client may have acted on the message, but its ACK cannot arrive.
    AfterFrame,
    /// Only the first half of the frame's JSON text is written, then the stream is dropped:
    /// what a reader gets of a message whose connection died while it was being written.
    MidFrame,
}

/// Result of one push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushOutcome {
    /// Written, no answer yet.
    Sent,
    /// Swallowed by a zombie connection.
    Swallowed,
    /// ACKed successfully.
    Acked,
    /// ACKed with a non-200 code or event status `LATER`; will be redelivered.
    Rejected,
    /// No ACK within the redelivery timeout.
    TimedOut,
    /// The connection closed before the ACK.
    ConnectionClosed,
}

/// One push of a delivery over one connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Push {
    /// `headers.messageId` of this push (fresh per push).
    pub message_id: String,
    /// Connection it went to.
    pub connection_id: String,
    /// Monotonic ms since sim start.
    pub at_ms: u64,
    /// Outcome so far.
    pub outcome: PushOutcome,
    /// When the ACK arrived.
    pub acked_at_ms: Option<u64>,
    /// ACK `code`.
    pub ack_code: Option<i64>,
    /// ACK `data` (JSON text).
    pub ack_data: Option<String>,
}

/// A message/event/card callback the sim delivers over Stream, with its pushes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// Stable id: `msgId` for bot messages, `eventId` for events, a uuid for card callbacks.
    pub key: String,
    /// Kind.
    pub kind: DeliveryKind,
    /// Client id of the receiving app.
    pub app: String,
    /// Frame type: `CALLBACK` or `EVENT`.
    pub frame_type: String,
    /// Frame topic.
    pub topic: String,
    /// Headers added to every push besides the standard ones (event envelope).
    pub extra_headers: std::collections::BTreeMap<String, String>,
    /// Frame `data` (JSON text, identical on every push).
    pub data: String,
    /// Created (monotonic ms).
    pub created_at_ms: u64,
    /// Status.
    pub status: DeliveryStatus,
    /// Every push so far.
    pub pushes: Vec<Push>,
    /// When it was acked.
    pub acked_at_ms: Option<u64>,
}

impl Delivery {
    /// `headers.messageId` of every push, in order.
    #[must_use]
    pub fn message_ids(&self) -> Vec<String> {
        self.pushes.iter().map(|p| p.message_id.clone()).collect()
    }
}

/// One SYSTEM ping.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PingRecord {
    /// Connection.
    pub connection_id: String,
    /// `headers.messageId`.
    pub message_id: String,
    /// The `opaque` value sent.
    pub opaque: String,
    /// Monotonic ms since sim start.
    pub sent_at_ms: u64,
    /// When the ACK arrived.
    pub acked_at_ms: Option<u64>,
    /// Whether the ACK's `data` echoed the ping's `data`.
    pub echoed: Option<bool>,
}

/// A protocol violation by a client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Violation {
    /// Monotonic ms since sim start.
    pub at_ms: u64,
    /// Connection, for Stream violations.
    pub connection_id: Option<String>,
    /// App, when known.
    pub app: Option<String>,
    /// Short machine-readable kind, e.g. `ack_not_json`, `ack_missing_message_id`.
    pub kind: String,
    /// Human explanation.
    pub detail: String,
    /// The offending frame or request excerpt.
    pub excerpt: Option<String>,
}

/// Whom a bot message went to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SentTarget {
    /// A DM with a user (robot batchSend, card IM_ROBOT).
    User {
        /// staffId.
        staff_id: String,
    },
    /// A group (robot group send, card IM_GROUP).
    Group {
        /// openConversationId.
        open_conversation_id: String,
    },
    /// A sessionWebhook.
    SessionWebhook {
        /// The session token.
        session: String,
    },
    /// A custom (webhook) robot.
    CustomRobot {
        /// The robot's access token.
        access_token: String,
    },
}

/// One message the bot sent, through any send API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SentMessage {
    /// Sequence number (1-based, in order of arrival).
    pub seq: u64,
    /// Monotonic ms since sim start.
    pub at_ms: u64,
    /// Wall clock, epoch ms.
    pub epoch_ms: u64,
    /// Sending app's client id (none for custom robots).
    pub app: Option<String>,
    /// Which API: `robot.batchSend`, `robot.groupSend`, `sessionWebhook`, `customRobot`, `card`.
    pub api: String,
    /// HTTP method and path used.
    pub path: String,
    /// Target.
    pub target: SentTarget,
    /// Conversation the message shows up in (`cid…`), when known.
    pub conversation_id: Option<String>,
    /// msgKey (robot APIs), msgtype (webhooks) or `card`.
    pub msg_type: String,
    /// The request body (robot APIs: with `msgParam` parsed into `msgParamParsed`).
    pub body: Value,
    /// Human-readable text extracted from the body.
    pub text: String,
    /// processQueryKey (robot APIs) or card carrierId.
    pub process_query_key: Option<String>,
    /// Card outTrackId for card deliveries.
    pub out_track_id: Option<String>,
    /// Recalled through a recall API.
    pub recalled: bool,
}

/// A message a simulated user posted (delivered to the bot or not).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserMessage {
    /// Monotonic ms since sim start.
    pub at_ms: u64,
    /// `msgId`.
    pub msg_id: String,
    /// App whose bot the message concerns.
    pub app: String,
    /// Conversation (`cid…`).
    pub conversation_id: String,
    /// Group or DM.
    pub is_group: bool,
    /// Sender staffId.
    pub sender: String,
    /// Sender nick.
    pub sender_nick: String,
    /// msgtype.
    pub msg_type: String,
    /// Human-readable text.
    pub text: String,
    /// Whether it was handed to Stream delivery.
    pub delivered: bool,
    /// Why not.
    pub not_delivered_reason: Option<String>,
    /// The full bot payload.
    pub payload: Value,
}
