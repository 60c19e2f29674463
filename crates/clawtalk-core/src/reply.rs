//! One reply model: what the agent produces, what the outbox stores and what delivery sends.
//!
//! A [`ReplyPart`] is one message (or one AI card) of a reply. It is stored versioned, as
//! `{"v":1,"type":"markdown",...}`, so a gateway can tell the shapes it knows from those a
//! newer one wrote; rows written before the version existed (a `kind` column plus a body
//! without `v`) still decode ([`ReplyPart::decode`]).
//!
//! Images and files are planned before they are uploaded: the upload is a dependent step
//! whose result (the `media_id`) is stored in the part before it is sent, so a part resumed
//! after a crash is sent without uploading again.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::inbound::InboundMessage;

/// The version [`ReplyPart::encode`] writes.
pub const VERSION: u64 = 1;

/// One part of a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReplyPart {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// DingTalk markdown.
    Markdown {
        /// Shown in the conversation list and notifications.
        title: String,
        /// The markdown.
        text: String,
    },
    /// The final content of one AI card.
    #[serde(rename = "card")]
    AiCard(CardPart),
    /// An action card with buttons.
    ActionCard(ActionCardPart),
    /// An image from the agent's workspace.
    Image(MediaPart),
    /// A file from the agent's workspace.
    File(MediaPart),
    /// A short note that the agent is working (using a tool).
    ProgressNote {
        /// The note's markdown.
        text: String,
    },
    /// The opening of an answer that goes as markdown, sent while the model still writes the
    /// rest (an answer beyond the card quota): the answer then carries only the rest.
    Opening {
        /// Shown in the conversation list and notifications.
        title: String,
        /// The markdown.
        text: String,
        /// The model's words it carries, as the model wrote them: the answer leaves them out,
        /// also when a later run of the turn (after a crash or a lost lease) writes it.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        said: String,
    },
}

/// One AI card's final content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardPart {
    /// The card instance.
    pub out_track_id: String,
    /// Whether the card was already created while streaming.
    pub exists: bool,
    /// Its final content (a piece of the answer).
    pub text: String,
    /// Finalize in the error state (the turn failed; `text` says why).
    #[serde(default)]
    pub failed: bool,
}

/// An action card: markdown with buttons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionCardPart {
    /// The card's title.
    pub title: String,
    /// The card's markdown.
    pub text: String,
    /// Buttons side by side rather than stacked.
    pub horizontal: bool,
    /// The buttons; a button that answers in the chat is stored as its `sendMessage` link.
    pub buttons: Vec<LinkButton>,
}

/// One action card button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkButton {
    /// The label.
    pub title: String,
    /// Where it leads.
    pub url: String,
}

/// An image or file to upload and send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaPart {
    /// The checked file in the agent workspace, read again when the upload must be redone.
    pub path: String,
    /// SHA-256 of the content (hex): what was checked is what is uploaded.
    pub sha256: String,
    /// The name shown in the chat.
    pub file_name: String,
    /// Lower-case extension.
    pub file_type: String,
    /// DingTalk's id of the upload, once the upload step is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
}

/// A stored part this version cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable reply part ({kind}): {reason}")]
pub struct UnreadablePart {
    /// The stored kind.
    pub kind: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ReplyPart {
    /// The stored kind, for queries and metrics.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Markdown { .. } => "markdown",
            Self::AiCard(_) => "card",
            Self::ActionCard(_) => "action_card",
            Self::Image(_) => "image",
            Self::File(_) => "file",
            Self::ProgressNote { .. } => "progress_note",
            Self::Opening { .. } => "opening",
        }
    }

    /// Sent while the turn runs (an image or file a tool sent, a progress note, an answer's
    /// opening) rather than as its answer: a turn whose reply holds only these has not
    /// answered yet.
    #[must_use]
    pub fn is_interim(&self) -> bool {
        matches!(
            self,
            Self::Image(_) | Self::File(_) | Self::ProgressNote { .. } | Self::Opening { .. }
        )
    }

    /// The media of an image or file part.
    #[must_use]
    pub fn media(&self) -> Option<&MediaPart> {
        match self {
            Self::Image(media) | Self::File(media) => Some(media),
            _ => None,
        }
    }

    /// Whether `other` asks for the same send, dependent steps aside: a turn run again after
    /// a crash asks for it again, and must find the part its first run planned.
    #[must_use]
    pub fn same_request(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Image(a), Self::Image(b)) | (Self::File(a), Self::File(b)) => {
                a.sha256 == b.sha256 && a.file_name == b.file_name && a.file_type == b.file_type
            }
            _ => self == other,
        }
    }

    /// This part with the media id its upload returned.
    #[must_use]
    pub fn with_media_id(mut self, media_id: impl Into<String>) -> Self {
        if let Self::Image(media) | Self::File(media) = &mut self {
            media.media_id = Some(media_id.into());
        }
        self
    }

    /// The stored form: `{"v":1,"type":...}`.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(fields) = &mut value {
            fields.insert("v".to_owned(), Value::from(VERSION));
        }
        value.to_string()
    }

    /// Reads a stored part: the versioned form, or the form rows had before it (`kind`
    /// `text`, `markdown`, `card` or `action_card` with an unversioned body).
    ///
    /// # Errors
    /// A body that is not JSON, of a newer version, or of a shape no version wrote.
    pub fn decode(kind: &str, body_json: &str) -> Result<Self, UnreadablePart> {
        let unreadable = |reason: String| UnreadablePart {
            kind: kind.to_owned(),
            reason,
        };
        let value: Value = serde_json::from_str(body_json).map_err(|e| unreadable(e.to_string()))?;
        match value.get("v").map(Value::as_u64) {
            Some(Some(VERSION)) => serde_json::from_value(value).map_err(|e| unreadable(e.to_string())),
            Some(version) => Err(unreadable(format!(
                "version {version:?} is not one this gateway reads (it reads {VERSION})"
            ))),
            None => serde_json::from_value::<Unversioned>(value)
                .map(Unversioned::into_part)
                .map_err(|e| unreadable(e.to_string())),
        }
    }
}

/// How a failed turn tells its chat why: a scheduled run names its task first, since nobody
/// there asked for it.
#[must_use]
pub fn failure_notice(inbound: &InboundMessage, reason: &str) -> String {
    match &inbound.cron {
        Some(cron) => crate::notices::scheduled_task_failed(&cron.name, reason),
        None => reason.to_owned(),
    }
}

/// A part as rows stored it before [`VERSION`] 1: one shape for every kind.
#[derive(Deserialize)]
struct Unversioned {
    markdown: bool,
    title: String,
    text: String,
    #[serde(default)]
    card: Option<CardPart>,
    #[serde(default)]
    action_card: Option<UnversionedActionCard>,
}

#[derive(Deserialize)]
struct UnversionedActionCard {
    horizontal: bool,
    /// `(label, URL)`.
    buttons: Vec<(String, String)>,
}

impl Unversioned {
    fn into_part(self) -> ReplyPart {
        if let Some(card) = self.card {
            return ReplyPart::AiCard(card);
        }
        if let Some(card) = self.action_card {
            return ReplyPart::ActionCard(ActionCardPart {
                title: self.title,
                text: self.text,
                horizontal: card.horizontal,
                buttons: card
                    .buttons
                    .into_iter()
                    .map(|(title, url)| LinkButton { title, url })
                    .collect(),
            });
        }
        if self.markdown {
            ReplyPart::Markdown {
                title: self.title,
                text: self.text,
            }
        } else {
            ReplyPart::Text { text: self.text }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(media_id: Option<&str>) -> ReplyPart {
        ReplyPart::Image(MediaPart {
            path: "/ws/chart.png".into(),
            sha256: "ab12".into(),
            file_name: "chart.png".into(),
            file_type: "png".into(),
            media_id: media_id.map(str::to_owned),
        })
    }

    #[test]
    fn every_part_round_trips_through_its_versioned_form() {
        let parts = [
            ReplyPart::Text { text: "hi".into() },
            ReplyPart::Markdown {
                title: "T".into(),
                text: "**hi**".into(),
            },
            ReplyPart::AiCard(CardPart {
                out_track_id: "ct_1".into(),
                exists: true,
                text: "answer".into(),
                failed: false,
            }),
            ReplyPart::ActionCard(ActionCardPart {
                title: "Leave".into(),
                text: "3 days".into(),
                horizontal: true,
                buttons: vec![LinkButton {
                    title: "Approve".into(),
                    url: "dingtalk://dingtalkclient/action/approve".into(),
                }],
            }),
            image(None),
            image(Some("@lAD")),
            ReplyPart::File(MediaPart {
                path: "/ws/q3.pdf".into(),
                sha256: "cd34".into(),
                file_name: "Q3 报告.pdf".into(),
                file_type: "pdf".into(),
                media_id: Some("@file".into()),
            }),
            ReplyPart::ProgressNote {
                text: "> 🔧 Using `get_time`…".into(),
            },
            ReplyPart::Opening {
                title: "re: burst".into(),
                text: "The first paragraph of the answer.".into(),
                said: "The first paragraph of the answer.\n\n".into(),
            },
        ];
        for part in parts {
            let stored = part.encode();
            let value: Value = serde_json::from_str(&stored).unwrap();
            assert_eq!(value["v"], 1, "{stored}");
            assert_eq!(value["type"], part.kind(), "{stored}");
            assert_eq!(ReplyPart::decode(part.kind(), &stored), Ok(part));
        }
    }

    #[test]
    fn rows_from_before_the_version_still_decode() {
        let markdown = r#"{"markdown":true,"title":"Reply","text":"hello"}"#;
        assert_eq!(
            ReplyPart::decode("markdown", markdown),
            Ok(ReplyPart::Markdown {
                title: "Reply".into(),
                text: "hello".into()
            })
        );
        let text = r#"{"markdown":false,"title":"Reply","text":"plain"}"#;
        assert_eq!(
            ReplyPart::decode("text", text),
            Ok(ReplyPart::Text { text: "plain".into() })
        );
        let card = r#"{"markdown":true,"title":"a","text":"a","card":{"out_track_id":"ct_9","exists":false,"text":"a"}}"#;
        assert_eq!(
            ReplyPart::decode("card", card),
            Ok(ReplyPart::AiCard(CardPart {
                out_track_id: "ct_9".into(),
                exists: false,
                text: "a".into(),
                failed: false
            }))
        );
        let action = r#"{"markdown":true,"title":"Leave","text":"3 days","action_card":{"horizontal":false,"buttons":[["Approve","https://x.example/a"]]}}"#;
        let ReplyPart::ActionCard(card) = ReplyPart::decode("action_card", action).unwrap() else {
            panic!("an action card");
        };
        assert_eq!(card.title, "Leave");
        assert_eq!(card.buttons[0].url, "https://x.example/a");
    }

    #[test]
    fn an_opening_stored_without_the_models_words_still_decodes() {
        let stored = r#"{"v":1,"type":"opening","title":"re: q","text":"The start"}"#;
        assert_eq!(
            ReplyPart::decode("opening", stored),
            Ok(ReplyPart::Opening {
                title: "re: q".into(),
                text: "The start".into(),
                said: String::new(),
            })
        );
    }

    #[test]
    fn unknown_versions_and_shapes_are_refused_not_guessed() {
        let newer = r#"{"v":2,"type":"markdown","title":"t","text":"x"}"#;
        assert!(ReplyPart::decode("markdown", newer).is_err());
        assert!(ReplyPart::decode("markdown", r#"{"v":1,"type":"hologram"}"#).is_err());
        assert!(ReplyPart::decode("x", "not json").is_err());
        assert!(ReplyPart::decode("sampleMarkdown", r#"{"text":"no shape"}"#).is_err());
    }

    #[test]
    fn a_rerun_finds_its_media_part_whatever_the_upload_step_did() {
        assert!(image(None).same_request(&image(Some("@lAD"))));
        assert!(image(Some("@a")).same_request(&image(Some("@b"))));
        let mut other = image(None);
        if let ReplyPart::Image(media) = &mut other {
            media.sha256 = "ffff".into();
        }
        assert!(!image(None).same_request(&other));
        assert_eq!(
            image(None)
                .with_media_id("@m")
                .media()
                .unwrap()
                .media_id
                .as_deref(),
            Some("@m")
        );
        assert!(image(None).is_interim() && !ReplyPart::Text { text: "a".into() }.is_interim());
    }
}
