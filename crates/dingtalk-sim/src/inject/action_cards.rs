//! Pressing a button of an action card a bot sent (`actionCard` webhook bodies and the robot
//! API's `sampleActionCard…` templates).
//!
//! What the DingTalk client does on a press depends on the button's URL: an http(s) link opens
//! in the browser (nothing reaches the bot), and the client link
//! `dtmd://dingtalkclient/sendMessage?content=…` posts `content` into the conversation as the
//! pressing user. In a group such a message does not @ the bot, so, as in DingTalk, it is only
//! delivered to bots that receive every group message.

use std::sync::Arc;

use serde_json::Value;

use crate::error::{Result, SimError};
use crate::model::{InjectMessage, PressButton, Pressed, SentMessage};
use crate::state::Shared;

const SEND_MESSAGE_LINK: &str = "dtmd://dingtalkclient/sendMessage?";

/// `(label, URL)` of every button of an action card message, or `None` for other messages.
#[must_use]
pub fn buttons_of(sent: &SentMessage) -> Option<Vec<(String, String)>> {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    if sent.msg_type == "actionCard" {
        let card = sent.body.get("actionCard")?;
        if let (Some(title), Some(url)) = (s(card, "singleTitle"), s(card, "singleURL")) {
            return Some(vec![(title, url)]);
        }
        let btns = card.get("btns")?.as_array()?;
        return Some(
            btns.iter()
                .filter_map(|b| Some((s(b, "title")?, s(b, "actionURL")?)))
                .collect(),
        );
    }
    let params = sent.body.get("msgParamParsed")?;
    match sent.msg_type.as_str() {
        "sampleActionCard" => Some(vec![(s(params, "singleTitle")?, s(params, "singleURL")?)]),
        "sampleActionCard6" => Some(
            (1..=2)
                .filter_map(|i| {
                    Some((
                        s(params, &format!("buttonTitle{i}"))?,
                        s(params, &format!("buttonUrl{i}"))?,
                    ))
                })
                .collect(),
        ),
        key if key.starts_with("sampleActionCard") => Some(
            (1..=5)
                .filter_map(|i| {
                    Some((
                        s(params, &format!("actionTitle{i}"))?,
                        s(params, &format!("actionURL{i}"))?,
                    ))
                })
                .collect(),
        ),
        _ => None,
    }
}

/// Presses a button as the client would.
pub(crate) fn press_button(shared: &Arc<Shared>, req: &PressButton) -> Result<Pressed> {
    let (sent, group) = shared.read(|st| {
        let sent = st.sent.iter().find(|m| m.seq == req.seq).cloned();
        let group = sent
            .as_ref()
            .and_then(|m| m.conversation_id.clone())
            .filter(|cid| st.group(cid).is_ok());
        (sent, group)
    });
    let sent = sent.ok_or_else(|| SimError::Invalid(format!("no sent message with seq {}", req.seq)))?;
    let buttons = buttons_of(&sent)
        .ok_or_else(|| SimError::Invalid(format!("message {} is not an action card", req.seq)))?;
    let (_, url) = req
        .button
        .checked_sub(1)
        .and_then(|i| buttons.get(i))
        .ok_or_else(|| {
            SimError::Invalid(format!(
                "button {} of {} does not exist",
                req.button,
                buttons.len()
            ))
        })?;
    let Some(query) = url.strip_prefix(SEND_MESSAGE_LINK) else {
        return Ok(Pressed::Opened { url: url.clone() });
    };
    let text = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "content")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| SimError::Invalid(format!("sendMessage link without content: {url}")))?;
    let app = sent
        .app
        .clone()
        .ok_or_else(|| SimError::Invalid("custom robot cards cannot be answered by a bot".into()))?;
    let inject = match group {
        Some(cid) => InjectMessage::group_text(app, &req.user, cid, &text, false),
        None => InjectMessage::dm_text(app, &req.user, &text),
    };
    let message = super::user_message(shared, &inject)?;
    Ok(Pressed::Replied { text, message })
}
