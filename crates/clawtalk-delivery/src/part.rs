//! Reply parts as messages: the one place a stored [`ReplyPart`] becomes the wire [`Body`]
//! delivery sends, and a validated [`ActionCard`] becomes a part.

use ::dingtalk::ids::MediaId;
use clawtalk_core::reply::{ActionCardPart, LinkButton, ReplyPart};

use super::{ActionCard, Body, ButtonTarget, CardButton};

/// Conversation-list title of a progress note.
const PROGRESS_TITLE: &str = "🔧";

/// Why a part is not (yet) a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAMessage {
    /// AI cards go through the card API, not as a message.
    #[error("an AI card part is delivered through the card API")]
    AiCard,
    /// The image or file has not been uploaded yet.
    #[error("{file_name} is not uploaded yet")]
    NotUploaded {
        /// The file.
        file_name: String,
    },
    /// A stored action card no longer passes the card rules.
    #[error("invalid action card in the outbox: {0}")]
    ActionCard(String),
}

impl TryFrom<&ReplyPart> for Body {
    type Error = NotAMessage;

    fn try_from(part: &ReplyPart) -> Result<Self, NotAMessage> {
        Ok(match part {
            ReplyPart::Text { text } => Self::Text(text.clone()),
            ReplyPart::Markdown { title, text } | ReplyPart::Opening { title, text, .. } => {
                Self::markdown(title.clone(), text.clone())
            }
            ReplyPart::ProgressNote { text } => Self::markdown(PROGRESS_TITLE, text.clone()),
            ReplyPart::ActionCard(card) => Self::ActionCard(ActionCard::from_part(card)?.to_webhook()),
            ReplyPart::AiCard(_) => return Err(NotAMessage::AiCard),
            ReplyPart::Image(media) | ReplyPart::File(media) => {
                let media_id =
                    media
                        .media_id
                        .as_deref()
                        .map(MediaId::new)
                        .ok_or_else(|| NotAMessage::NotUploaded {
                            file_name: media.file_name.clone(),
                        })?;
                if matches!(part, ReplyPart::Image(_)) {
                    Self::Image { media_id }
                } else {
                    Self::File {
                        media_id,
                        file_name: media.file_name.clone(),
                        file_type: media.file_type.clone(),
                    }
                }
            }
        })
    }
}

impl ActionCard {
    /// The card as a reply part; a reply button is kept as its `sendMessage` link.
    #[must_use]
    pub fn to_part(&self) -> ReplyPart {
        ReplyPart::ActionCard(ActionCardPart {
            title: self.title.clone(),
            text: self.text.clone(),
            horizontal: self.horizontal,
            buttons: self
                .buttons
                .iter()
                .map(|b| LinkButton {
                    title: b.title.clone(),
                    url: b.target.url(),
                })
                .collect(),
        })
    }

    fn from_part(part: &ActionCardPart) -> Result<Self, NotAMessage> {
        let invalid = |e: String| NotAMessage::ActionCard(e);
        let buttons = part
            .buttons
            .iter()
            .map(|b| {
                let target = match ButtonTarget::reply_of(&b.url) {
                    Some(reply) => ButtonTarget::Reply(reply),
                    None => ButtonTarget::Url(b.url.parse().map_err(|e| invalid(format!("{e}")))?),
                };
                Ok(CardButton {
                    title: b.title.clone(),
                    target,
                })
            })
            .collect::<Result<Vec<_>, NotAMessage>>()?;
        Self::new(part.title.clone(), part.text.clone(), buttons, part.horizontal)
            .map_err(|e| invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_core::reply::{CardPart, MediaPart};

    #[test]
    fn an_action_card_keeps_its_reply_and_client_links_through_the_outbox() {
        let card = ActionCard::new(
            "Leave request",
            "**3 days** from Monday",
            vec![
                CardButton {
                    title: "Approve".into(),
                    target: ButtonTarget::Url("dingtalk://dingtalkclient/action/approve".parse().unwrap()),
                },
                CardButton {
                    title: "Later".into(),
                    target: ButtonTarget::Reply("remind me tomorrow".into()),
                },
            ],
            false,
        )
        .unwrap();
        let stored = card.to_part().encode();
        let back = ReplyPart::decode("action_card", &stored).unwrap();
        let Body::ActionCard(payload) = Body::try_from(&back).unwrap() else {
            panic!("an action card body");
        };
        assert_eq!(payload, card.to_webhook());
    }

    #[test]
    fn media_are_messages_only_once_uploaded_and_cards_never() {
        let file = ReplyPart::File(MediaPart {
            path: "/ws/q3.pdf".into(),
            sha256: "00".into(),
            file_name: "q3.pdf".into(),
            file_type: "pdf".into(),
            media_id: None,
        });
        assert!(matches!(
            Body::try_from(&file),
            Err(NotAMessage::NotUploaded { .. })
        ));
        let Body::File {
            media_id, file_type, ..
        } = Body::try_from(&file.with_media_id("@f")).unwrap()
        else {
            panic!("a file body");
        };
        assert_eq!((media_id.as_str(), file_type.as_str()), ("@f", "pdf"));
        let card = ReplyPart::AiCard(CardPart {
            out_track_id: "ct".into(),
            exists: false,
            text: "x".into(),
            failed: false,
        });
        assert_eq!(Body::try_from(&card), Err(NotAMessage::AiCard));
        let note = Body::try_from(&ReplyPart::ProgressNote {
            text: "> 🔧".into()
        })
        .unwrap();
        assert_eq!(note, Body::markdown("🔧", "> 🔧"));
    }
}
