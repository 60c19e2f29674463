//! Action cards: a markdown card with one to five buttons (protocol §4.4 and §7).
//!
//! One button is the whole-card jump (`singleTitle`/`singleURL`, `sampleActionCard`); more are
//! own buttons (`btns`, `sampleActionCard2…5`), side by side (`btnOrientation` `"1"`,
//! `sampleActionCard6`) or stacked. A button either opens a URL or, for an *action*, sends a
//! reply into the conversation: its URL is DingTalk's client link
//! `dtmd://dingtalkclient/sendMessage?content=…`, which makes the user's client post that text
//! as the user, so the press comes back to the bot as an ordinary message of the same session.

use dingtalk::model::outbound::{BtnOrientation, WebhookActionCard, WebhookButton};
use url::Url;

pub use clawtalk_core::limits::{MAX_BUTTON_TITLE_CHARS, MAX_BUTTONS};

/// DingTalk's client link that posts `content` into the conversation as the pressing user.
const SEND_MESSAGE_LINK: &str = "dtmd://dingtalkclient/sendMessage";

/// A validated action card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionCard {
    /// Shown in the conversation list and as the card's title.
    pub title: String,
    /// The card's markdown (already in DingTalk's subset).
    pub text: String,
    /// One to [`MAX_BUTTONS`] buttons.
    pub buttons: Vec<CardButton>,
    /// Buttons side by side (`btnOrientation` `"1"`) instead of stacked.
    pub horizontal: bool,
}

/// One button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardButton {
    /// Label.
    pub title: String,
    /// What pressing it does.
    pub target: ButtonTarget,
}

/// What a button does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ButtonTarget {
    /// Opens this http(s) URL.
    Url(Url),
    /// Sends this text into the conversation as the user.
    Reply(String),
}

impl ButtonTarget {
    /// The `actionURL` / `singleURL` DingTalk gets.
    #[must_use]
    pub fn url(&self) -> String {
        match self {
            Self::Url(url) => url.to_string(),
            Self::Reply(text) => {
                let mut link = format!("{SEND_MESSAGE_LINK}?content=");
                link.extend(url::form_urlencoded::byte_serialize(text.as_bytes()));
                link
            }
        }
    }

    /// The reply text of a `sendMessage` link, or `None` for any other URL.
    #[must_use]
    pub fn reply_of(url: &str) -> Option<String> {
        let query = url.strip_prefix(SEND_MESSAGE_LINK)?.strip_prefix('?')?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "content")
            .map(|(_, v)| v.into_owned())
    }
}

/// Why an action card cannot be built; the text tells the model what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionCardError {
    /// Empty title or text.
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
    /// No buttons, or more than five.
    #[error("an action card needs 1 to {MAX_BUTTONS} buttons, got {0}")]
    ButtonCount(usize),
    /// A button without a label, or with a long one.
    #[error("button {index}: `title` must be 1 to {MAX_BUTTON_TITLE_CHARS} characters")]
    ButtonTitle {
        /// 1-based.
        index: usize,
    },
    /// Neither or both of `url` and `action`.
    #[error("button {index}: give exactly one of `url` (a link to open) or `action` (a reply to send)")]
    ButtonTarget {
        /// 1-based.
        index: usize,
    },
    /// A URL that is not http(s).
    #[error("button {index}: `url` must be an http:// or https:// URL, got {url:?}")]
    ButtonUrl {
        /// 1-based.
        index: usize,
        /// What was given.
        url: String,
    },
    /// Side by side is only possible for exactly two buttons.
    #[error("`horizontal` buttons need exactly 2 buttons, got {0}; leave it false to stack them")]
    Horizontal(usize),
}

impl ActionCard {
    /// Checks the card: non-empty title and text, 1–5 labelled buttons, horizontal only for 2.
    ///
    /// # Errors
    /// [`ActionCardError`] naming the first problem.
    pub fn new(
        title: impl Into<String>,
        text: impl Into<String>,
        buttons: Vec<CardButton>,
        horizontal: bool,
    ) -> Result<Self, ActionCardError> {
        let (title, text) = (title.into(), text.into());
        if title.trim().is_empty() {
            return Err(ActionCardError::Empty("title"));
        }
        if text.trim().is_empty() {
            return Err(ActionCardError::Empty("text"));
        }
        if buttons.is_empty() || buttons.len() > MAX_BUTTONS {
            return Err(ActionCardError::ButtonCount(buttons.len()));
        }
        if horizontal && buttons.len() != 2 {
            return Err(ActionCardError::Horizontal(buttons.len()));
        }
        for (i, button) in buttons.iter().enumerate() {
            let chars = button.title.trim().chars().count();
            if chars == 0 || chars > MAX_BUTTON_TITLE_CHARS {
                return Err(ActionCardError::ButtonTitle { index: i + 1 });
            }
        }
        Ok(Self {
            title,
            text,
            buttons,
            horizontal,
        })
    }

    fn orientation(&self) -> BtnOrientation {
        if self.horizontal {
            BtnOrientation::Horizontal
        } else {
            BtnOrientation::Vertical
        }
    }

    /// The card as DingTalk's `actionCard` payload; [`super::Body::ActionCard`] carries it to
    /// webhooks (`actionCard`) and the robot OpenAPI (`sampleActionCard`…`6`) alike.
    #[must_use]
    pub fn to_webhook(&self) -> WebhookActionCard {
        let (title, text) = (self.title.clone(), self.text.clone());
        match self.buttons.as_slice() {
            [only] => WebhookActionCard {
                title,
                text,
                single_title: Some(only.title.clone()),
                single_url: Some(only.target.url()),
                btn_orientation: None,
                btns: Vec::new(),
            },
            _ => WebhookActionCard {
                title,
                text,
                single_title: None,
                single_url: None,
                btn_orientation: Some(self.orientation()),
                btns: self
                    .buttons
                    .iter()
                    .map(|b| WebhookButton {
                        title: b.title.clone(),
                        action_url: b.target.url(),
                    })
                    .collect(),
            },
        }
    }
}

impl CardButton {
    /// A button from the model's `url` / `action` pair.
    ///
    /// # Errors
    /// Neither or both given, or a URL that is not http(s).
    pub fn from_parts(
        index: usize,
        title: impl Into<String>,
        url: Option<&str>,
        action: Option<&str>,
    ) -> Result<Self, ActionCardError> {
        let url = url.map(str::trim).filter(|u| !u.is_empty());
        let action = action.map(str::trim).filter(|a| !a.is_empty());
        let target = match (url, action) {
            (Some(url), None) => match Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => ButtonTarget::Url(parsed),
                _ => {
                    return Err(ActionCardError::ButtonUrl {
                        index,
                        url: url.to_owned(),
                    });
                }
            },
            (None, Some(action)) => ButtonTarget::Reply(action.to_owned()),
            _ => return Err(ActionCardError::ButtonTarget { index }),
        };
        Ok(Self {
            title: title.into(),
            target,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Body;
    use crate::dingtalk::{robot_message, webhook_message};
    use crate::mention::Mentions;

    impl ActionCard {
        fn webhook_message(&self) -> dingtalk::model::outbound::WebhookMessage {
            webhook_message(&Body::ActionCard(self.to_webhook()), &Mentions::default()).unwrap()
        }

        fn robot_message(&self) -> dingtalk::model::outbound::RobotMessage {
            robot_message(&Body::ActionCard(self.to_webhook())).unwrap()
        }
    }

    fn button(title: &str, url: Option<&str>, action: Option<&str>) -> CardButton {
        CardButton::from_parts(1, title, url, action).unwrap()
    }

    #[test]
    fn one_button_is_the_whole_card_jump() {
        let card = ActionCard::new(
            "T",
            "**md**",
            vec![button("Open", Some("https://e.com/a"), None)],
            false,
        )
        .unwrap();
        let json = serde_json::to_value(card.webhook_message()).unwrap();
        assert_eq!(json["msgtype"], "actionCard");
        assert_eq!(json["actionCard"]["singleTitle"], "Open");
        assert_eq!(json["actionCard"]["singleURL"], "https://e.com/a");
        assert_eq!(card.robot_message().msg_key().unwrap(), "sampleActionCard");
    }

    #[test]
    fn two_horizontal_buttons_use_orientation_one_and_card_six() {
        let buttons = vec![
            button("Yes", None, Some("yes please")),
            button("No", None, Some("no")),
        ];
        let card = ActionCard::new("Q", "Deploy?", buttons, true).unwrap();
        let json = serde_json::to_value(card.webhook_message()).unwrap();
        assert_eq!(json["actionCard"]["btnOrientation"], "1");
        assert_eq!(json["actionCard"]["text"], "Deploy?");
        let url = json["actionCard"]["btns"][0]["actionURL"].as_str().unwrap();
        assert_eq!(url, "dtmd://dingtalkclient/sendMessage?content=yes+please");
        assert_eq!(ButtonTarget::reply_of(url).as_deref(), Some("yes please"));
        assert_eq!(card.robot_message().msg_key().unwrap(), "sampleActionCard6");
        let stacked = ActionCard::new(
            "Q",
            "x",
            vec![
                button("a", None, Some("a")),
                button("b", None, Some("b")),
                button("c", None, Some("c")),
            ],
            false,
        )
        .unwrap();
        let json = serde_json::to_value(stacked.webhook_message()).unwrap();
        assert_eq!(json["actionCard"]["btnOrientation"], "0");
        assert_eq!(stacked.robot_message().msg_key().unwrap(), "sampleActionCard3");
    }

    #[test]
    fn replies_survive_any_text_in_the_link() {
        let text = "选 B & C = 100%?";
        let url = ButtonTarget::Reply(text.to_owned()).url();
        assert_eq!(ButtonTarget::reply_of(&url).as_deref(), Some(text));
        assert_eq!(ButtonTarget::reply_of("https://e.com/?content=x"), None);
    }

    #[test]
    fn bad_cards_say_what_to_fix() {
        let ok = || vec![button("a", Some("https://e.com"), None)];
        assert_eq!(
            ActionCard::new(" ", "x", ok(), false),
            Err(ActionCardError::Empty("title"))
        );
        assert_eq!(
            ActionCard::new("t", "", ok(), false),
            Err(ActionCardError::Empty("text"))
        );
        assert_eq!(
            ActionCard::new("t", "x", vec![], false),
            Err(ActionCardError::ButtonCount(0))
        );
        assert_eq!(
            ActionCard::new("t", "x", ok(), true),
            Err(ActionCardError::Horizontal(1))
        );
        assert_eq!(
            ActionCard::new("t", "x", vec![button("", Some("https://e.com"), None)], false),
            Err(ActionCardError::ButtonTitle { index: 1 })
        );
        assert_eq!(
            CardButton::from_parts(2, "a", Some("javascript:alert(1)"), None),
            Err(ActionCardError::ButtonUrl {
                index: 2,
                url: "javascript:alert(1)".into()
            })
        );
        assert_eq!(
            CardButton::from_parts(3, "a", Some("https://e.com"), Some("x")),
            Err(ActionCardError::ButtonTarget { index: 3 })
        );
        assert_eq!(
            CardButton::from_parts(3, "a", None, None),
            Err(ActionCardError::ButtonTarget { index: 3 })
        );
    }
}
