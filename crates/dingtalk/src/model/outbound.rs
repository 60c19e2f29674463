//! Bodies the gateway sends to DingTalk, and the answers it reads back.
//!
//! Grouped by API: robot OpenAPI sends and recalls, media, cards, and the webhook body shared
//! by custom robots and sessionWebhooks. Field names follow the wire exactly (including
//! DingTalk's inconsistent capitalisation such as `photoURL`, `singleURL`, `buttonUrl1`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::ids::{ConversationId, MediaId, OutTrackId, ProcessQueryKey, RobotCode, StaffId};

// ---------------------------------------------------------------------------------------------
// Robot OpenAPI messages (msgKey / msgParam)
// ---------------------------------------------------------------------------------------------

/// Most users per `oToMessages/batchSend` call (an error text says 100; 20 is documented).
pub const MAX_BATCH_SEND_USERS: usize = 20;

/// Most `processQueryKeys` per recall call.
pub const MAX_RECALL_KEYS: usize = 20;

/// Largest `msgParam` accepted by `groupMessages/send`, in bytes.
pub const MAX_GROUP_MSG_PARAM_BYTES: usize = 15_000;

/// A message for the robot OpenAPI, i.e. one `msgKey` template and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RobotMessage {
    /// `sampleText`.
    Text {
        /// Plain text.
        content: String,
    },
    /// `sampleMarkdown`.
    Markdown {
        /// Shown in the conversation list.
        title: String,
        /// DingTalk-flavoured markdown.
        text: String,
    },
    /// `sampleImageMsg`.
    Image {
        /// A full image URL or a `media_id` from upload.
        photo_url: String,
    },
    /// `sampleLink`.
    Link {
        /// Title.
        title: String,
        /// Summary text.
        text: String,
        /// Where a click goes.
        message_url: String,
        /// Thumbnail URL.
        pic_url: String,
    },
    /// `sampleActionCard`: one button for the whole card.
    ActionCard {
        /// Title.
        title: String,
        /// Markdown body.
        text: String,
        /// Button label.
        single_title: String,
        /// Button target.
        single_url: String,
    },
    /// `sampleActionCard2`…`5` (2–5 vertical buttons) or `sampleActionCard6` (2 horizontal).
    ActionCardButtons {
        /// Title.
        title: String,
        /// Markdown body.
        text: String,
        /// `(label, url)` per button.
        buttons: Vec<(String, String)>,
        /// Side by side; DingTalk only has this layout for exactly 2 buttons.
        horizontal: bool,
    },
    /// `sampleAudio` (ogg/amr media).
    Audio {
        /// Uploaded voice media.
        media_id: MediaId,
        /// Duration in milliseconds.
        duration_ms: u64,
    },
    /// `sampleFile`.
    File {
        /// Uploaded file media.
        media_id: MediaId,
        /// Name shown in the chat.
        file_name: String,
        /// Extension such as `pdf`, `xlsx`, `zip`.
        file_type: String,
    },
    /// `sampleVideo`.
    Video {
        /// Uploaded video media.
        video_media_id: MediaId,
        /// Container, e.g. `mp4`.
        video_type: String,
        /// Uploaded cover image media.
        pic_media_id: MediaId,
        /// Duration in seconds (as the doc says).
        duration_secs: u64,
        /// Width in pixels.
        width: Option<u32>,
        /// Height in pixels.
        height: Option<u32>,
    },
}

impl RobotMessage {
    /// Plain text message.
    pub fn text(content: impl Into<String>) -> Self {
        Self::Text {
            content: content.into(),
        }
    }

    /// Markdown message.
    pub fn markdown(title: impl Into<String>, text: impl Into<String>) -> Self {
        Self::Markdown {
            title: title.into(),
            text: text.into(),
        }
    }

    /// The `msgKey` template name. Fails for button layouts DingTalk has no template for.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for [`RobotMessage::ActionCardButtons`] with a button count that has
    /// no template: horizontal with other than 2 buttons, vertical with fewer than 2 or more than 5.
    pub fn msg_key(&self) -> Result<&'static str, Error> {
        Ok(match self {
            Self::Text { .. } => "sampleText",
            Self::Markdown { .. } => "sampleMarkdown",
            Self::Image { .. } => "sampleImageMsg",
            Self::Link { .. } => "sampleLink",
            Self::ActionCard { .. } => "sampleActionCard",
            Self::ActionCardButtons {
                buttons, horizontal, ..
            } => match (buttons.len(), horizontal) {
                (2, true) => "sampleActionCard6",
                (2, false) => "sampleActionCard2",
                (3, false) => "sampleActionCard3",
                (4, false) => "sampleActionCard4",
                (5, false) => "sampleActionCard5",
                (n, true) => {
                    return Err(Error::InvalidRequest(format!(
                        "horizontal action cards take exactly 2 buttons, got {n}"
                    )));
                }
                (n, false) => {
                    return Err(Error::InvalidRequest(format!(
                        "action cards take 2 to 5 buttons, got {n} (use ActionCard for one)"
                    )));
                }
            },
            Self::Audio { .. } => "sampleAudio",
            Self::File { .. } => "sampleFile",
            Self::Video { .. } => "sampleVideo",
        })
    }

    /// The `msgParam` value: a JSON object encoded as a JSON *string*, as DingTalk requires.
    ///
    /// # Errors
    /// As [`RobotMessage::msg_key`].
    pub fn msg_param_json(&self) -> Result<String, Error> {
        // Validates the layout first so a bad card never reaches the wire.
        self.msg_key()?;
        Ok(Value::Object(self.msg_param()).to_string())
    }

    /// Parses a `msgKey` / `msgParam` pair back into a message (the simulator and tests use
    /// this to check what was sent). Numbers may come as strings or numbers.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when `msg_param` is not a JSON object, `msg_key` is no known template,
    /// or a field the template needs is missing or not a number where one is expected.
    pub fn from_wire(msg_key: &str, msg_param: &str) -> Result<Self, Error> {
        let bad = |why: String| Error::InvalidRequest(format!("{msg_key}: {why}"));
        let value: Value =
            serde_json::from_str(msg_param).map_err(|e| bad(format!("msgParam is not JSON: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| bad("msgParam is not a JSON object".into()))?;
        let text = |k: &str| -> Result<String, Error> {
            match obj.get(k) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(Value::Number(n)) => Ok(n.to_string()),
                _ => Err(bad(format!("missing `{k}`"))),
            }
        };
        let number = |k: &str| -> Result<u64, Error> {
            text(k)?
                .trim()
                .parse()
                .map_err(|_| bad(format!("`{k}` is not a number")))
        };
        let optional_number = |k: &str| -> Result<Option<u32>, Error> {
            if obj.contains_key(k) {
                let n = number(k)?;
                u32::try_from(n)
                    .map(Some)
                    .map_err(|_| bad(format!("`{k}` out of range")))
            } else {
                Ok(None)
            }
        };
        let buttons = |n: usize, title: &str, url: &str| -> Result<Vec<(String, String)>, Error> {
            (1..=n)
                .map(|i| Ok((text(&format!("{title}{i}"))?, text(&format!("{url}{i}"))?)))
                .collect()
        };
        Ok(match msg_key {
            "sampleText" => Self::Text {
                content: text("content")?,
            },
            "sampleMarkdown" => Self::Markdown {
                title: text("title")?,
                text: text("text")?,
            },
            "sampleImageMsg" => Self::Image {
                photo_url: text("photoURL")?,
            },
            "sampleLink" => Self::Link {
                title: text("title")?,
                text: text("text")?,
                message_url: text("messageUrl")?,
                pic_url: text("picUrl")?,
            },
            "sampleActionCard" => Self::ActionCard {
                title: text("title")?,
                text: text("text")?,
                single_title: text("singleTitle")?,
                single_url: text("singleURL")?,
            },
            "sampleActionCard2" | "sampleActionCard3" | "sampleActionCard4" | "sampleActionCard5" => {
                let n = usize::from(msg_key.as_bytes()[msg_key.len() - 1] - b'0');
                Self::ActionCardButtons {
                    title: text("title")?,
                    text: text("text")?,
                    buttons: buttons(n, "actionTitle", "actionURL")?,
                    horizontal: false,
                }
            }
            "sampleActionCard6" => Self::ActionCardButtons {
                title: text("title")?,
                text: text("text")?,
                buttons: buttons(2, "buttonTitle", "buttonUrl")?,
                horizontal: true,
            },
            "sampleAudio" => Self::Audio {
                media_id: MediaId::new(text("mediaId")?),
                duration_ms: number("duration")?,
            },
            "sampleFile" => Self::File {
                media_id: MediaId::new(text("mediaId")?),
                file_name: text("fileName")?,
                file_type: text("fileType")?,
            },
            "sampleVideo" => Self::Video {
                video_media_id: MediaId::new(text("videoMediaId")?),
                video_type: text("videoType")?,
                pic_media_id: MediaId::new(text("picMediaId")?),
                duration_secs: number("duration")?,
                width: optional_number("width")?,
                height: optional_number("height")?,
            },
            other => return Err(bad(format!("unknown msgKey `{other}`"))),
        })
    }

    fn msg_param(&self) -> Map<String, Value> {
        let mut p = Map::new();
        let mut put = |k: &str, v: &str| {
            p.insert(k.to_owned(), Value::String(v.to_owned()));
        };
        match self {
            Self::Text { content } => put("content", content),
            Self::Markdown { title, text } => {
                put("title", title);
                put("text", text);
            }
            Self::Image { photo_url } => put("photoURL", photo_url),
            Self::Link {
                title,
                text,
                message_url,
                pic_url,
            } => {
                put("title", title);
                put("text", text);
                put("messageUrl", message_url);
                put("picUrl", pic_url);
            }
            Self::ActionCard {
                title,
                text,
                single_title,
                single_url,
            } => {
                put("title", title);
                put("text", text);
                put("singleTitle", single_title);
                put("singleURL", single_url);
            }
            Self::ActionCardButtons {
                title,
                text,
                buttons,
                horizontal,
            } => {
                put("title", title);
                put("text", text);
                for (i, (label, url)) in buttons.iter().enumerate() {
                    let n = i + 1;
                    if *horizontal {
                        put(&format!("buttonTitle{n}"), label);
                        put(&format!("buttonUrl{n}"), url);
                    } else {
                        put(&format!("actionTitle{n}"), label);
                        put(&format!("actionURL{n}"), url);
                    }
                }
            }
            Self::Audio {
                media_id,
                duration_ms,
            } => {
                put("mediaId", media_id.as_str());
                put("duration", &duration_ms.to_string());
            }
            Self::File {
                media_id,
                file_name,
                file_type,
            } => {
                put("mediaId", media_id.as_str());
                put("fileName", file_name);
                put("fileType", file_type);
            }
            Self::Video {
                video_media_id,
                video_type,
                pic_media_id,
                duration_secs,
                width,
                height,
            } => {
                put("videoMediaId", video_media_id.as_str());
                put("videoType", video_type);
                put("picMediaId", pic_media_id.as_str());
                put("duration", &duration_secs.to_string());
                if let Some(w) = width {
                    put("width", &w.to_string());
                }
                if let Some(h) = height {
                    put("height", &h.to_string());
                }
            }
        }
        p
    }
}

/// Body of `POST /v1.0/robot/oToMessages/batchSend` (bot DMs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchSendRequest {
    /// The sending bot.
    pub robot_code: RobotCode,
    /// Recipients (≤ [`MAX_BATCH_SEND_USERS`]).
    pub user_ids: Vec<StaffId>,
    /// Template, see [`RobotMessage::msg_key`].
    pub msg_key: String,
    /// JSON string, see [`RobotMessage::msg_param_json`].
    pub msg_param: String,
}

impl BatchSendRequest {
    /// Builds the body, checking the recipient count and the message layout.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for no or more than [`MAX_BATCH_SEND_USERS`] users, or as
    /// [`RobotMessage::msg_key`].
    pub fn new(robot_code: RobotCode, user_ids: Vec<StaffId>, message: &RobotMessage) -> Result<Self, Error> {
        if user_ids.is_empty() || user_ids.len() > MAX_BATCH_SEND_USERS {
            return Err(Error::InvalidRequest(format!(
                "batchSend takes 1 to {MAX_BATCH_SEND_USERS} user ids, got {}",
                user_ids.len()
            )));
        }
        Ok(Self {
            robot_code,
            user_ids,
            msg_key: message.msg_key()?.to_owned(),
            msg_param: message.msg_param_json()?,
        })
    }
}

/// Answer of `oToMessages/batchSend`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchSendResponse {
    /// Id for recall and read status.
    pub process_query_key: ProcessQueryKey,
    /// Recipients DingTalk did not recognise.
    #[serde(default)]
    pub invalid_staff_id_list: Vec<StaffId>,
    /// Recipients that were rate-limited and did **not** get the message; resend later.
    #[serde(default)]
    pub flow_controlled_staff_id_list: Vec<StaffId>,
}

/// Body of `POST /v1.0/robot/groupMessages/send`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupSendRequest {
    /// The sending bot (must be a member of the group).
    pub robot_code: RobotCode,
    /// The group.
    pub open_conversation_id: ConversationId,
    /// Template, see [`RobotMessage::msg_key`].
    pub msg_key: String,
    /// JSON string (≤ [`MAX_GROUP_MSG_PARAM_BYTES`]).
    pub msg_param: String,
    /// Only when the bot was installed as a group cool-app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cool_app_code: Option<String>,
}

impl GroupSendRequest {
    /// Builds the body, checking the layout and the documented `msgParam` size limit.
    ///
    /// # Errors
    /// [`Error::TooLarge`] when `msgParam` exceeds [`MAX_GROUP_MSG_PARAM_BYTES`]; otherwise as
    /// [`RobotMessage::msg_key`].
    pub fn new(
        robot_code: RobotCode,
        open_conversation_id: ConversationId,
        message: &RobotMessage,
        cool_app_code: Option<String>,
    ) -> Result<Self, Error> {
        let msg_param = message.msg_param_json()?;
        if msg_param.len() > MAX_GROUP_MSG_PARAM_BYTES {
            return Err(Error::TooLarge {
                what: "group message msgParam",
                limit: MAX_GROUP_MSG_PARAM_BYTES as u64,
                actual: Some(msg_param.len() as u64),
            });
        }
        Ok(Self {
            robot_code,
            open_conversation_id,
            msg_key: message.msg_key()?.to_owned(),
            msg_param,
            cool_app_code,
        })
    }
}

/// Answer of `groupMessages/send`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupSendResponse {
    /// Id for recall and read status.
    pub process_query_key: ProcessQueryKey,
}

/// Body of `POST /v1.0/robot/otoMessages/batchRecall` (lower-case `oto`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DmRecallRequest {
    /// The bot that sent the messages.
    pub robot_code: RobotCode,
    /// Keys from batchSend (≤ [`MAX_RECALL_KEYS`], sent within the last 24 h).
    pub process_query_keys: Vec<ProcessQueryKey>,
}

/// Body of `POST /v1.0/robot/groupMessages/recall`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRecallRequest {
    /// The group.
    pub open_conversation_id: ConversationId,
    /// The bot that sent the messages.
    pub robot_code: RobotCode,
    /// Keys from groupMessages/send or card delivery (`carrierId`).
    pub process_query_keys: Vec<ProcessQueryKey>,
}

/// Answer of both recall calls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecallResponse {
    /// Keys that were recalled.
    #[serde(default)]
    pub success_result: Vec<ProcessQueryKey>,
    /// Keys that were not, with DingTalk's reason.
    #[serde(default)]
    pub failed_result: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------------
// Media
// ---------------------------------------------------------------------------------------------

/// Body of `POST /v1.0/robot/messageFiles/download`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadRequest {
    /// From the inbound message.
    pub download_code: crate::ids::DownloadCode,
    /// The receiving bot.
    pub robot_code: RobotCode,
}

/// Answer of `messageFiles/download`: a temporary URL to GET without auth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadResponse {
    /// Temporary, pre-signed URL. Treat it as a secret: do not log it.
    pub download_url: String,
}

/// Answer of legacy `POST /media/upload`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaUploadResponse {
    /// 0 on success.
    #[serde(default)]
    pub errcode: i64,
    /// `ok` on success.
    #[serde(default)]
    pub errmsg: String,
    /// The new media id.
    #[serde(default)]
    pub media_id: Option<MediaId>,
    /// `image`, `voice`, `video` or `file`.
    #[serde(default, rename = "type")]
    pub media_type: Option<String>,
    /// Upload time (epoch).
    #[serde(default)]
    pub created_at: Option<i64>,
}

// ---------------------------------------------------------------------------------------------
// Cards
// ---------------------------------------------------------------------------------------------

/// Card variables. Values are always strings on the wire (JSON-encode objects yourself).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardData {
    /// Variable name → string value.
    #[serde(default)]
    pub card_param_map: BTreeMap<String, String>,
}

impl CardData {
    /// Card data from `(name, value)` pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self {
            card_param_map: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        }
    }
}

/// How button clicks come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CallbackType {
    /// Over the Stream connection (topic `/v1.0/card/instances/callback`).
    Stream,
    /// To a registered HTTP callback (needs `callbackRouteKey`).
    Http,
}

/// Whose id `userId`s in card requests are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum UserIdType {
    /// Staff ids (default).
    StaffId,
    /// Union ids.
    UnionId,
}

impl From<UserIdType> for u8 {
    fn from(t: UserIdType) -> u8 {
        match t {
            UserIdType::StaffId => 1,
            UserIdType::UnionId => 2,
        }
    }
}

impl TryFrom<u8> for UserIdType {
    type Error = String;
    fn try_from(n: u8) -> Result<Self, String> {
        match n {
            1 => Ok(Self::StaffId),
            2 => Ok(Self::UnionId),
            other => Err(format!("unknown userIdType {other}")),
        }
    }
}

/// `openSpaceId`: `dtv1.card//<SPACE_TYPE>.<spaceId>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OpenSpaceId(String);

impl OpenSpaceId {
    /// A group chat: `dtv1.card//IM_GROUP.<openConversationId>`.
    #[must_use]
    pub fn group(conversation: &ConversationId) -> Self {
        Self(format!("dtv1.card//IM_GROUP.{conversation}"))
    }

    /// A DM with the bot: `dtv1.card//IM_ROBOT.<staffId>`.
    #[must_use]
    pub fn robot_dm(user: &StaffId) -> Self {
        Self(format!("dtv1.card//IM_ROBOT.{user}"))
    }

    /// The wire text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Display options of a space (`imGroupOpenSpaceModel`, `imRobotOpenSpaceModel`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenSpaceModel {
    /// Whether the card can be forwarded (required when the object is present).
    pub support_forward: bool,
    /// Conversation-list preview per language (`ZH_CN`, `EN_US`, …).
    #[serde(
        default,
        rename = "lastMessageI18n",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub last_message_i18n: BTreeMap<String, String>,
    /// Notification settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<CardNotification>,
}

/// `notification` of an open-space model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardNotification {
    /// Push text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_content: Option<String>,
    /// Suppress the push.
    #[serde(default)]
    pub notification_off: bool,
}

/// `imGroupOpenDeliverModel`: delivery into a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImGroupOpenDeliverModel {
    /// The delivering bot.
    pub robot_code: RobotCode,
    /// userId → display name to @ (`{"@ALL":"@ALL"}` for everyone).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub at_user_ids: BTreeMap<String, String>,
    /// Only these users see the card.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<StaffId>,
    /// Free-form extension map.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extension: BTreeMap<String, String>,
}

/// `imRobotOpenDeliverModel`: delivery into a DM with the bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImRobotOpenDeliverModel {
    /// Always `IM_ROBOT`.
    pub space_type: String,
    /// The delivering bot.
    pub robot_code: RobotCode,
    /// Free-form extension map.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extension: BTreeMap<String, String>,
}

/// Body of `POST /v1.0/card/instances/createAndDeliver`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateAndDeliverRequest {
    /// Template id (`….schema`).
    pub card_template_id: String,
    /// Our id for this card; new per card.
    pub out_track_id: OutTrackId,
    /// Initial variables.
    pub card_data: CardData,
    /// How button clicks come back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_type: Option<CallbackType>,
    /// Route key of a registered HTTP callback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_route_key: Option<String>,
    /// Where to deliver.
    pub open_space_id: OpenSpaceId,
    /// Group display options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub im_group_open_space_model: Option<OpenSpaceModel>,
    /// Bot-DM display options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub im_robot_open_space_model: Option<OpenSpaceModel>,
    /// Group delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub im_group_open_deliver_model: Option<ImGroupOpenDeliverModel>,
    /// Bot-DM delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub im_robot_open_deliver_model: Option<ImRobotOpenDeliverModel>,
    /// Whose ids the user ids are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id_type: Option<UserIdType>,
    /// Per-user variables: userId → data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_data: Option<BTreeMap<String, CardData>>,
}

impl CreateAndDeliverRequest {
    /// A card for a group chat, delivered by `robot_code`, with Stream callbacks.
    pub fn group(
        card_template_id: impl Into<String>,
        out_track_id: OutTrackId,
        robot_code: RobotCode,
        conversation: &ConversationId,
    ) -> Self {
        Self {
            im_group_open_space_model: Some(OpenSpaceModel {
                support_forward: true,
                ..OpenSpaceModel::default()
            }),
            im_group_open_deliver_model: Some(ImGroupOpenDeliverModel {
                robot_code,
                at_user_ids: BTreeMap::new(),
                recipients: Vec::new(),
                extension: BTreeMap::new(),
            }),
            ..Self::base(card_template_id, out_track_id, OpenSpaceId::group(conversation))
        }
    }

    /// A card for the bot's DM with `user`, with Stream callbacks.
    pub fn robot_dm(
        card_template_id: impl Into<String>,
        out_track_id: OutTrackId,
        robot_code: RobotCode,
        user: &StaffId,
    ) -> Self {
        Self {
            im_robot_open_space_model: Some(OpenSpaceModel {
                support_forward: true,
                ..OpenSpaceModel::default()
            }),
            im_robot_open_deliver_model: Some(ImRobotOpenDeliverModel {
                space_type: "IM_ROBOT".to_owned(),
                robot_code,
                extension: BTreeMap::new(),
            }),
            ..Self::base(card_template_id, out_track_id, OpenSpaceId::robot_dm(user))
        }
    }

    fn base(template: impl Into<String>, out_track_id: OutTrackId, space: OpenSpaceId) -> Self {
        Self {
            card_template_id: template.into(),
            out_track_id,
            card_data: CardData::default(),
            callback_type: Some(CallbackType::Stream),
            callback_route_key: None,
            open_space_id: space,
            im_group_open_space_model: None,
            im_robot_open_space_model: None,
            im_group_open_deliver_model: None,
            im_robot_open_deliver_model: None,
            user_id_type: Some(UserIdType::StaffId),
            private_data: None,
        }
    }

    /// Sends the card's button presses to the HTTP callback registered under `route_key`
    /// (`callbackType: "HTTP"` + `callbackRouteKey`, DOC:event-callback-card) instead of
    /// over Stream.
    #[must_use]
    pub fn http_callback(mut self, route_key: impl Into<String>) -> Self {
        self.callback_type = Some(CallbackType::Http);
        self.callback_route_key = Some(route_key.into());
        self
    }

    /// Sets one initial variable.
    #[must_use]
    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.card_data.card_param_map.insert(key.into(), value.into());
        self
    }
}

/// Answer of `createAndDeliver`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateAndDeliverResponse {
    /// Overall flag; per-space results can still fail when this is true.
    #[serde(default)]
    pub success: Option<bool>,
    /// Details.
    #[serde(default)]
    pub result: Option<CreateAndDeliverResult>,
}

impl CreateAndDeliverResponse {
    /// Per-space results (empty when DingTalk sent none).
    #[must_use]
    pub fn deliver_results(&self) -> &[DeliverResult] {
        self.result.as_ref().map_or(&[], |r| r.deliver_results.as_slice())
    }

    /// The spaces where delivery failed.
    pub fn failed_deliveries(&self) -> impl Iterator<Item = &DeliverResult> {
        self.deliver_results().iter().filter(|d| !d.success)
    }

    /// The first `carrierId` (processQueryKey usable for recall).
    #[must_use]
    pub fn carrier_id(&self) -> Option<&ProcessQueryKey> {
        self.deliver_results().iter().find_map(|d| d.carrier_id.as_ref())
    }
}

/// `result` of `createAndDeliver`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateAndDeliverResult {
    /// Echo of our id.
    #[serde(default)]
    pub out_track_id: Option<OutTrackId>,
    /// One per target space.
    #[serde(default)]
    pub deliver_results: Vec<DeliverResult>,
}

/// Delivery outcome for one space.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliverResult {
    /// `IM_GROUP`, `IM_ROBOT`, …
    #[serde(default)]
    pub space_type: String,
    /// The conversation or user id.
    #[serde(default)]
    pub space_id: String,
    /// Whether this delivery worked.
    #[serde(default)]
    pub success: bool,
    /// processQueryKey of the delivered message.
    #[serde(default)]
    pub carrier_id: Option<ProcessQueryKey>,
    /// Why delivery failed.
    #[serde(default)]
    pub error_msg: Option<String>,
}

/// Body of `PUT /v1.0/card/streaming`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamingUpdateRequest {
    /// The card.
    pub out_track_id: OutTrackId,
    /// Idempotency key, fresh per call.
    pub guid: String,
    /// Template variable being streamed.
    pub key: String,
    /// Content (the full text when `is_full`).
    pub content: String,
    /// Replace instead of append; must be true for markdown variables.
    pub is_full: bool,
    /// Moves the card to "finished".
    pub is_finalize: bool,
    /// Moves the card to "failed".
    pub is_error: bool,
}

impl StreamingUpdateRequest {
    /// Replaces `key` with the full `content` (the only safe mode for markdown), with a fresh guid.
    pub fn full(out_track_id: OutTrackId, key: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            out_track_id,
            guid: uuid::Uuid::new_v4().to_string(),
            key: key.into(),
            content: content.into(),
            is_full: true,
            is_finalize: false,
            is_error: false,
        }
    }

    /// Marks this as the final frame.
    #[must_use]
    pub fn finalize(mut self) -> Self {
        self.is_finalize = true;
        self
    }

    /// Marks the card as failed.
    #[must_use]
    pub fn error(mut self) -> Self {
        self.is_error = true;
        self
    }
}

/// `cardUpdateOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardUpdateOptions {
    /// Merge `cardParamMap` by key instead of replacing all card data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_card_data_by_key: Option<bool>,
    /// Merge private data by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_private_data_by_key: Option<bool>,
}

/// Body of `PUT /v1.0/card/instances`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateCardRequest {
    /// The card.
    pub out_track_id: OutTrackId,
    /// Variables to set.
    pub card_data: CardData,
    /// Per-user variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_data: Option<BTreeMap<String, CardData>>,
    /// Merge or replace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_update_options: Option<CardUpdateOptions>,
    /// Whose ids the private-data keys are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id_type: Option<UserIdType>,
}

impl UpdateCardRequest {
    /// Sets the given variables and leaves the others alone (`updateCardDataByKey: true`).
    /// Without that flag DingTalk replaces all card data.
    pub fn merge(out_track_id: OutTrackId, card_data: CardData) -> Self {
        Self {
            out_track_id,
            card_data,
            private_data: None,
            card_update_options: Some(CardUpdateOptions {
                update_card_data_by_key: Some(true),
                update_private_data_by_key: None,
            }),
            user_id_type: None,
        }
    }
}

/// Answer of `card/streaming` and `card/instances` updates: `{"success":true,"result":true}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardOkResponse {
    /// False means the update was not applied even though HTTP said 200.
    #[serde(default)]
    pub success: Option<bool>,
    /// Usually `true`.
    #[serde(default)]
    pub result: Option<Value>,
}

// ---------------------------------------------------------------------------------------------
// Webhook bodies (custom robot and sessionWebhook)
// ---------------------------------------------------------------------------------------------

/// Largest accepted webhook body, in bytes (custom robot `460101` above it).
pub const MAX_WEBHOOK_BODY_BYTES: usize = 20_000;

/// A custom-robot / sessionWebhook message: `{"msgtype": …, "<msgtype>": {…}, "at": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookMessage {
    /// The typed payload; serialises `msgtype` and its sibling object.
    #[serde(flatten)]
    pub body: WebhookBody,
    /// Mentions (text and markdown only). The text must also contain `@<userId>`/`@<mobile>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<At>,
    /// Idempotency key for retries (custom robots; support unverified).
    #[serde(default, rename = "msgUuid", skip_serializing_if = "Option::is_none")]
    pub msg_uuid: Option<String>,
}

/// The typed part of a [`WebhookMessage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "msgtype")]
#[non_exhaustive]
pub enum WebhookBody {
    /// `text`.
    #[serde(rename = "text")]
    Text {
        /// The payload.
        text: WebhookText,
    },
    /// `markdown`.
    #[serde(rename = "markdown")]
    Markdown {
        /// The payload.
        markdown: WebhookMarkdown,
    },
    /// `link`.
    #[serde(rename = "link")]
    Link {
        /// The payload.
        link: WebhookLink,
    },
    /// `actionCard` (single button or own buttons).
    #[serde(rename = "actionCard")]
    ActionCard {
        /// The payload.
        #[serde(rename = "actionCard")]
        action_card: WebhookActionCard,
    },
    /// `feedCard`.
    #[serde(rename = "feedCard")]
    FeedCard {
        /// The payload.
        #[serde(rename = "feedCard")]
        feed_card: WebhookFeedCard,
    },
}

/// `text` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookText {
    /// Plain text.
    pub content: String,
}

/// `markdown` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookMarkdown {
    /// Shown in the conversation list.
    pub title: String,
    /// Markdown body.
    pub text: String,
}

/// `link` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookLink {
    /// Title.
    pub title: String,
    /// Summary.
    pub text: String,
    /// Click target.
    pub message_url: String,
    /// Thumbnail.
    #[serde(default)]
    pub pic_url: String,
}

/// Button layout of an action card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BtnOrientation {
    /// Stacked (`"0"`).
    #[serde(rename = "0")]
    Vertical,
    /// Side by side (`"1"`).
    #[serde(rename = "1")]
    Horizontal,
}

/// `actionCard` payload: either `single_title`/`single_url` or `btns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookActionCard {
    /// Title.
    pub title: String,
    /// Markdown body.
    pub text: String,
    /// Whole-card button label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_title: Option<String>,
    /// Whole-card button target.
    #[serde(default, rename = "singleURL", skip_serializing_if = "Option::is_none")]
    pub single_url: Option<String>,
    /// Button layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub btn_orientation: Option<BtnOrientation>,
    /// Own buttons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub btns: Vec<WebhookButton>,
}

/// One action-card button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookButton {
    /// Label.
    pub title: String,
    /// Target.
    #[serde(rename = "actionURL")]
    pub action_url: String,
}

/// `feedCard` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookFeedCard {
    /// The entries.
    pub links: Vec<WebhookFeedLink>,
}

/// One `feedCard` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookFeedLink {
    /// Title.
    pub title: String,
    /// Click target.
    #[serde(rename = "messageURL")]
    pub message_url: String,
    /// Picture.
    #[serde(rename = "picURL")]
    pub pic_url: String,
}

/// Mentions of a webhook message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct At {
    /// Phone numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at_mobiles: Vec<String>,
    /// Staff ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at_user_ids: Vec<StaffId>,
    /// Mention everyone.
    #[serde(default)]
    pub is_at_all: bool,
}

impl At {
    /// Mentions the given staff ids.
    pub fn users(ids: impl IntoIterator<Item = StaffId>) -> Self {
        Self {
            at_user_ids: ids.into_iter().collect(),
            ..Self::default()
        }
    }
}

impl WebhookMessage {
    fn of(body: WebhookBody) -> Self {
        Self {
            body,
            at: None,
            msg_uuid: None,
        }
    }

    /// Text message.
    pub fn text(content: impl Into<String>) -> Self {
        Self::of(WebhookBody::Text {
            text: WebhookText {
                content: content.into(),
            },
        })
    }

    /// Markdown message.
    pub fn markdown(title: impl Into<String>, text: impl Into<String>) -> Self {
        Self::of(WebhookBody::Markdown {
            markdown: WebhookMarkdown {
                title: title.into(),
                text: text.into(),
            },
        })
    }

    /// Link message.
    pub fn link(
        title: impl Into<String>,
        text: impl Into<String>,
        message_url: impl Into<String>,
        pic_url: impl Into<String>,
    ) -> Self {
        Self::of(WebhookBody::Link {
            link: WebhookLink {
                title: title.into(),
                text: text.into(),
                message_url: message_url.into(),
                pic_url: pic_url.into(),
            },
        })
    }

    /// Action card whose single button opens `single_url`.
    pub fn action_card_single(
        title: impl Into<String>,
        text: impl Into<String>,
        single_title: impl Into<String>,
        single_url: impl Into<String>,
    ) -> Self {
        Self::of(WebhookBody::ActionCard {
            action_card: WebhookActionCard {
                title: title.into(),
                text: text.into(),
                single_title: Some(single_title.into()),
                single_url: Some(single_url.into()),
                btn_orientation: None,
                btns: Vec::new(),
            },
        })
    }

    /// Action card with its own `(label, url)` buttons.
    pub fn action_card_buttons(
        title: impl Into<String>,
        text: impl Into<String>,
        buttons: impl IntoIterator<Item = (String, String)>,
        orientation: BtnOrientation,
    ) -> Self {
        Self::of(WebhookBody::ActionCard {
            action_card: WebhookActionCard {
                title: title.into(),
                text: text.into(),
                single_title: None,
                single_url: None,
                btn_orientation: Some(orientation),
                btns: buttons
                    .into_iter()
                    .map(|(title, action_url)| WebhookButton { title, action_url })
                    .collect(),
            },
        })
    }

    /// Feed card.
    pub fn feed_card(links: Vec<WebhookFeedLink>) -> Self {
        Self::of(WebhookBody::FeedCard {
            feed_card: WebhookFeedCard { links },
        })
    }

    /// Adds mentions (only rendered for text and markdown).
    #[must_use]
    pub fn with_at(mut self, at: At) -> Self {
        self.at = Some(at);
        self
    }

    /// The serialised body, refusing bodies over [`MAX_WEBHOOK_BODY_BYTES`].
    ///
    /// # Errors
    /// [`Error::TooLarge`] for a body over [`MAX_WEBHOOK_BODY_BYTES`]; [`Error::InvalidRequest`] if
    /// serialising fails.
    pub fn to_body(&self) -> Result<Vec<u8>, Error> {
        let body = serde_json::to_vec(self)
            .map_err(|e| Error::InvalidRequest(format!("webhook message does not serialise: {e}")))?;
        if body.len() > MAX_WEBHOOK_BODY_BYTES {
            return Err(Error::TooLarge {
                what: "webhook message body",
                limit: MAX_WEBHOOK_BODY_BYTES as u64,
                actual: Some(body.len() as u64),
            });
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests;
