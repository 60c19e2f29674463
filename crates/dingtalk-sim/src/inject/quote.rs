//! Quoting an earlier message in a text reply: `text.isReplyMsg`/`text.repliedMsg` plus the
//! top-level `originalMsgId` (a user's message) or `originalProcessQueryKey` (a bot's).

use serde_json::{Map, Value, json};

use crate::error::{Result, SimError};
use crate::ids;
use crate::state::State;

impl State {
    /// `(repliedMsg, top-level fields)` for a quote of `quote` (a msgId or processQueryKey).
    pub(super) fn quote_fields(&self, quote: &str, app: &str) -> Result<(Value, Map<String, Value>)> {
        let mut top = Map::new();
        if let Some(m) = self.user_messages.iter().rev().find(|m| m.msg_id == quote) {
            let sender_id = self
                .users
                .get(&m.sender)
                .map(|u| u.dingtalk_id.clone())
                .unwrap_or_default();
            let replied = json!({
                "msgType": m.msg_type,
                "msgId": m.msg_id,
                "senderId": sender_id,
                "createdAt": m.payload.get("createAt").cloned().unwrap_or(Value::Null),
                "content": {"text": m.text},
            });
            top.insert("originalMsgId".into(), json!(m.msg_id));
            return Ok((replied, top));
        }
        if let Some(s) = self
            .sent
            .iter()
            .rev()
            .find(|s| s.process_query_key.as_deref() == Some(quote))
        {
            let bot = self
                .apps
                .get(app)
                .map(|a| a.chatbot_user_id.clone())
                .unwrap_or_default();
            let replied = json!({
                "msgType": if s.api == "card" { "interactiveCard" } else { "text" },
                "msgId": ids::msg_id(),
                "senderId": bot,
                "createdAt": s.epoch_ms,
                "content": {"text": s.text},
            });
            top.insert("originalProcessQueryKey".into(), json!(quote));
            return Ok((replied, top));
        }
        Err(SimError::Invalid(format!(
            "quote {quote:?} is neither a known msgId nor a processQueryKey"
        )))
    }
}
