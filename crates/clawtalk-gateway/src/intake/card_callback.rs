//! Card button presses and form submits (Stream topic `/v1.0/card/instances/callback`, or
//! POSTed to an HTTP-mode account's card path: `http_card_callback.rs`): routed
//! to the session whose answer the card carries, stored and deduplicated like messages, then
//! answered by that session's agent as its next turn.
//!
//! DingTalk redelivers an unacknowledged callback with a new `messageId` and the same payload,
//! so the dedup key is a digest of the payload: the same user pressing the same button of the
//! same card twice counts once.

use clawtalk_core::clock::EpochMs;
use std::sync::Arc;

use dingtalk::ids::MsgId;
use dingtalk::model::CardCallback;
use sha2::{Digest, Sha256};

use super::{Ack, Admission, Admitted, Destination, admit};
use crate::{Shared, decode_inbound};
use clawtalk_config::DingTalkAccount;
use clawtalk_core::ids::SessionKey;
use clawtalk_core::inbound::{InboundMessage, Sender, Transport};

/// Admits one callback; it is acknowledged unless it could not be stored, so that DingTalk
/// delivers it again.
pub(crate) async fn receive(
    shared: &Arc<Shared>,
    account: &DingTalkAccount,
    callback: &CardCallback,
    transport: Transport,
    ack: Ack,
) -> Admitted {
    // A press on an approval card decides a waiting tool call; it is not a message.
    let ack = match super::approval_press::handle(shared, account, callback, ack).await {
        Ok(done) => return done,
        Err(ack) => ack,
    };
    match admission(shared, account, callback, transport).await {
        Ok(Some(admission)) => admit(shared, account, admission, ack).await,
        Ok(None) => {
            ack.send(Admitted::Ignored);
            Admitted::Ignored
        }
        Err(()) => {
            ack.send(Admitted::Failed);
            Admitted::Failed
        }
    }
}

/// The press as a message of its card's session; `None` when there is nothing to answer,
/// `Err` when the store could not say (logged).
async fn admission(
    shared: &Arc<Shared>,
    account: &DingTalkAccount,
    callback: &CardCallback,
    transport: Transport,
) -> Result<Option<Admission>, ()> {
    let out_track_id = callback.out_track_id.as_str();
    let card = match shared.store.card(out_track_id).await {
        Ok(Some(card)) => card,
        Ok(None) => {
            tracing::info!(account = %account.id, out_track_id, "callback for a card this gateway did not send; acknowledged and ignored");
            return Ok(None);
        }
        Err(error) => {
            tracing::error!(account = %account.id, %error, "cannot look up the card of a callback; leaving it unacknowledged for redelivery");
            return Err(());
        }
    };
    let original = match card.inbound_id {
        Some(id) => match shared.store.inbound(id).await {
            Ok(Some(row)) => decode_inbound(&row.record.raw_payload_json).ok(),
            Ok(None) => None,
            Err(error) => {
                tracing::error!(account = %account.id, %error, "cannot read the message a card answered; leaving the callback unacknowledged");
                return Err(());
            }
        },
        None => None,
    };
    let Some(original) = original else {
        tracing::warn!(account = %account.id, out_track_id, "the card's conversation is no longer known; callback acknowledged and ignored");
        return Ok(None);
    };
    let inbound = pressed(&original, callback, transport, shared.clock.now());
    // The press belongs to the session whose answer the card carries; the turn falls back
    // to the bindings' agent when that session's agent is gone.
    Ok(Some(match SessionKey::parse(&card.session_key) {
        Ok(key) => Admission {
            inbound,
            to: Destination::Session(key),
        },
        Err(_) => Admission::routed(account, inbound),
    }))
}

/// The press as a message in the card's conversation, from the user who pressed.
fn pressed(
    original: &InboundMessage,
    callback: &CardCallback,
    transport: Transport,
    now: EpochMs,
) -> InboundMessage {
    let same_user = callback
        .staff_id()
        .is_some_and(|id| original.sender.staff_id.as_ref() == Some(&id));
    let sender = if same_user {
        original.sender.clone()
    } else {
        Sender {
            staff_id: callback.staff_id(),
            union_id: callback.union_id(),
            dingtalk_id: None,
            nick: String::new(),
        }
    };
    InboundMessage {
        transport,
        msg_id: MsgId::new(format!("card:{}", digest(callback))),
        sender,
        text: describe(callback),
        // A press is addressed to the bot, like an @-mention.
        mentions_bot: true,
        media: Vec::new(),
        quoted_text: None,
        created_at_ms: now,
        msgtype: "cardCallback".to_owned(),
        workflow: None,
        ..original.clone()
    }
}

/// What the agent reads: which control was used and with what values.
fn describe(callback: &CardCallback) -> String {
    let action = callback.action_id().unwrap_or("(unnamed)");
    let mut text = format!("[卡片按钮 / card button] {action}");
    if !callback.content.params.is_empty() {
        let params = serde_json::Value::Object(callback.content.params.clone());
        text.push_str(&format!(" {params}"));
    }
    text
}

/// The press's identity: the same user on the same control of the same card with the same
/// values (also what a card callback's signature pair is claimed for).
pub(super) fn digest(callback: &CardCallback) -> String {
    let mut hash = Sha256::new();
    for part in [
        callback.out_track_id.as_str(),
        callback.user_id.as_deref().unwrap_or(""),
        &serde_json::to_string(&callback.content.action_ids).unwrap_or_default(),
        &serde_json::Value::Object(callback.content.params.clone()).to_string(),
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn callback(user: &str, action: &str) -> CardCallback {
        CardCallback::from_value(serde_json::json!({
            "type": "actionCallback",
            "outTrackId": "card_1",
            "userId": user,
            "content": format!(r#"{{"cardPrivateData":{{"actionIds":["{action}"],"params":{{"value":"up"}}}}}}"#),
        }))
        .unwrap()
    }

    #[test]
    fn a_press_reads_as_a_message_naming_the_control_and_its_values() {
        let cb = callback("0312", "feedback_up");
        let text = describe(&cb);
        assert!(
            text.contains("feedback_up") && text.contains(r#""value":"up""#),
            "{text}"
        );
    }

    #[test]
    fn the_same_press_has_one_key_and_another_press_another() {
        assert_eq!(digest(&callback("0312", "up")), digest(&callback("0312", "up")));
        assert_ne!(digest(&callback("0312", "up")), digest(&callback("0312", "down")));
        assert_ne!(digest(&callback("0312", "up")), digest(&callback("0444", "up")));
    }
}
