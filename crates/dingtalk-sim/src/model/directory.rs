//! Apps (with their bots and permission scopes), users and groups: what the simulated
//! organisation is made of.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

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

/// Changes to an existing app.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AppPatch {
    /// Stream receive mode.
    #[serde(default)]
    pub stream_enabled: Option<bool>,
    /// Published.
    #[serde(default)]
    pub published: Option<bool>,
    /// Replace the granted scopes.
    #[serde(default)]
    pub permissions: Option<Vec<String>>,
    /// Rotate the secret.
    #[serde(default)]
    pub client_secret: Option<String>,
}
