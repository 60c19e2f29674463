//! `send_action_card`: the agent attaches an action card (markdown plus buttons) to its answer.
//!
//! The card is not sent by the tool: it is handed to the turn ([`ToolContext::action_cards`])
//! and planned in the outbox with the answer, so it is sent exactly once, after the text.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};

use super::tool::{Tool, ToolContext};
use clawtalk_delivery::action_card::{MAX_BUTTON_TITLE_CHARS, MAX_BUTTONS};
use clawtalk_delivery::{ActionCard, CardButton, markdown};
use clawtalk_llm::ToolSpec;

/// Cards one turn may attach: each is a message against the conversation's rate limit.
pub const MAX_CARDS_PER_TURN: usize = 3;

/// The action cards a turn's tools asked for, in order.
#[derive(Debug, Clone, Default)]
pub struct ActionCards(Arc<Mutex<Vec<ActionCard>>>);

impl ActionCards {
    /// Adds a card; fails when the turn already has [`MAX_CARDS_PER_TURN`].
    fn push(&self, card: ActionCard) -> Result<usize, String> {
        let mut cards = self
            .0
            .lock()
            .map_err(|_| "internal error: the card list is unusable".to_owned())?;
        if cards.len() >= MAX_CARDS_PER_TURN {
            return Err(format!(
                "this answer already has {MAX_CARDS_PER_TURN} action cards; put the remaining choices into one card"
            ));
        }
        cards.push(card);
        Ok(cards.len())
    }

    /// Takes the cards collected so far.
    #[must_use]
    pub fn take(&self) -> Vec<ActionCard> {
        self.0
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

/// The `send_action_card` tool.
pub(super) struct SendActionCard;

#[async_trait]
impl Tool for SendActionCard {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "send_action_card".into(),
            description: format!(
                "Attach a DingTalk action card (a markdown card with 1 to {MAX_BUTTONS} buttons) to your answer; \
                 it is sent right after your text. A button either opens a `url` or, with `action`, sends that text \
                 back to you as the user's next message when pressed (use it for choices and confirmations)."
            ),
            parameters: json!({
                "type": "object",
                "properties": {
                    "title": {"type": "string", "description": "Card title, shown in the chat list."},
                    "text": {"type": "string", "description": "Card body in Markdown."},
                    "buttons": {
                        "type": "array", "minItems": 1, "maxItems": MAX_BUTTONS,
                        "items": {
                            "type": "object",
                            "properties": {
                                "title": {"type": "string", "description": format!("Label, at most {MAX_BUTTON_TITLE_CHARS} characters.")},
                                "url": {"type": "string", "description": "http(s) link to open."},
                                "action": {"type": "string", "description": "Text sent back as the user's reply when pressed."}
                            },
                            "required": ["title"]
                        }
                    },
                    "horizontal": {"type": "boolean", "description": "Two buttons side by side (exactly 2 buttons)."}
                },
                "required": ["title", "text", "buttons"]
            }),
        }
    }

    async fn call(&self, arguments: &str, context: &ToolContext) -> Result<String, String> {
        let card = parse(arguments)?;
        let n = context.action_cards.push(card)?;
        Ok(json!({
            "status": "queued",
            "card": n,
            "note": "The card is sent after your answer. Do not repeat its buttons in your text; \
                     a pressed action button arrives as the user's next message."
        })
        .to_string())
    }
}

/// The model's arguments as a card, or an error saying what to fix.
fn parse(arguments: &str) -> Result<ActionCard, String> {
    let args: Value = serde_json::from_str(arguments).map_err(|e| {
        format!("arguments are not valid JSON ({e}); send an object with title, text and buttons")
    })?;
    let Some(obj) = args.as_object() else {
        return Err("arguments must be a JSON object with title, text and buttons".to_owned());
    };
    let string = |key: &str| -> Result<&str, String> {
        match obj.get(key) {
            Some(Value::String(s)) => Ok(s),
            None | Some(Value::Null) => Err(format!("`{key}` is missing")),
            Some(_) => Err(format!("`{key}` must be a string")),
        }
    };
    let (title, text) = (string("title")?, string("text")?);
    let horizontal = match obj.get("horizontal") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("`horizontal` must be true or false".to_owned()),
    };
    let Some(Value::Array(raw)) = obj.get("buttons") else {
        return Err(format!(
            "`buttons` must be an array of 1 to {MAX_BUTTONS} objects"
        ));
    };
    let buttons = raw
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let index = i + 1;
            let field = |key: &str| -> Result<Option<&str>, String> {
                match b.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.as_str())),
                    Some(_) => Err(format!("button {index}: `{key}` must be a string")),
                }
            };
            let title = field("title")?.unwrap_or_default();
            CardButton::from_parts(index, title, field("url")?, field("action")?).map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    ActionCard::new(title, markdown::to_dingtalk(text), buttons, horizontal).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_core::ids::AccountId;
    use clawtalk_delivery::ButtonTarget;

    #[tokio::test]
    async fn a_valid_card_is_queued_for_the_turn() {
        let context = ToolContext::new(AccountId::new("default"), None);
        let args = r#"{"title":"Deploy","text":"| env | ok |\n|--|--|\n| prod | yes |",
                       "buttons":[{"title":"Go","action":"deploy now"},{"title":"Docs","url":"https://e.com/d"}],
                       "horizontal":true}"#;
        let out = SendActionCard.call(args, &context).await.unwrap();
        assert!(out.contains("queued"), "{out}");
        let cards = context.action_cards.take();
        assert_eq!(cards.len(), 1);
        assert_eq!(
            cards[0].text, "- **env**: prod · **ok**: yes",
            "markdown converted"
        );
        assert_eq!(
            cards[0].buttons[0].target,
            ButtonTarget::Reply("deploy now".into())
        );
        assert!(cards[0].horizontal);
        assert!(context.action_cards.take().is_empty(), "taken once");
    }

    #[tokio::test]
    async fn bad_arguments_tell_the_model_what_to_fix() {
        let context = ToolContext::new(AccountId::new("default"), None);
        let cases = [
            ("not json", "not valid JSON"),
            ("[]", "must be a JSON object"),
            (r#"{"text":"x","buttons":[]}"#, "`title` is missing"),
            (
                r#"{"title":1,"text":"x","buttons":[]}"#,
                "`title` must be a string",
            ),
            (r#"{"title":"t","text":"x"}"#, "`buttons` must be an array"),
            (
                r#"{"title":"t","text":"x","buttons":[]}"#,
                "1 to 5 buttons, got 0",
            ),
            (
                r#"{"title":"t","text":"x","buttons":[{"title":"a"}]}"#,
                "button 1: give exactly one of `url`",
            ),
            (
                r#"{"title":"t","text":"x","buttons":[{"title":"a","url":"ftp://x"}]}"#,
                "http:// or https://",
            ),
            (
                r#"{"title":"t","text":"x","buttons":[{"title":"a","url":7}]}"#,
                "button 1: `url` must be a string",
            ),
            (
                r#"{"title":"t","text":"x","horizontal":"yes","buttons":[{"title":"a","action":"b"}]}"#,
                "`horizontal` must be true or false",
            ),
        ];
        for (args, expected) in cases {
            let err = SendActionCard.call(args, &context).await.unwrap_err();
            assert!(err.contains(expected), "{args}: {err}");
        }
        assert!(context.action_cards.take().is_empty());
    }

    #[tokio::test]
    async fn a_turn_attaches_at_most_three_cards() {
        let context = ToolContext::new(AccountId::new("default"), None);
        let args = r#"{"title":"t","text":"x","buttons":[{"title":"a","action":"b"}]}"#;
        for _ in 0..MAX_CARDS_PER_TURN {
            SendActionCard.call(args, &context).await.unwrap();
        }
        let err = SendActionCard.call(args, &context).await.unwrap_err();
        assert!(err.contains("already has 3"), "{err}");
    }
}
