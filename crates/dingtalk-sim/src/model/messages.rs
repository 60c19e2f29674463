//! Messages in conversations: what bots sent (through any send API) and what simulated users
//! posted.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
