//! A press on an approval card (see `approvals.rs`): recorded as the decision of the waiting
//! tool call, never admitted as a message, so it does not start a model turn.
//!
//! Only the requester, or an admin listed in the account's `allowFrom`, may decide; anyone
//! else's press is logged and changes nothing. DingTalk redelivers an unacknowledged
//! callback, and a repeated press finds the request already decided: both are harmless.
//!
//! The card then shows the decision: in the answer to an HTTP card callback, which DingTalk
//! applies (DOC:event-callback-card), or with a card update after a Stream ACK.

use std::sync::Arc;

use dingtalk::model::CardCallback;

use super::{Ack, Admitted};
use crate::Shared;
use crate::approvals::{ID_PREFIX, card_answer, decision_of, update_card};
use clawtalk_config::DingTalkAccount;
use clawtalk_store::{ApprovalDecision, DecideOutcome};

/// Handles `callback` when it is a press on an approval card and returns what was done;
/// gives the ack back untouched when the card is not one.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    account: &DingTalkAccount,
    callback: &CardCallback,
    ack: Ack,
) -> Result<Admitted, Ack> {
    let id = callback.out_track_id.as_str();
    if !id.starts_with(ID_PREFIX) {
        return Err(ack);
    }
    let row = match shared.store.approval(id).await {
        Ok(Some(row)) => row,
        Ok(None) => return Err(ack),
        Err(error) => {
            tracing::error!(account = %account.id, %error, "cannot read the approval request of a press; leaving it unacknowledged for redelivery");
            ack.send(Admitted::Failed);
            return Ok(Admitted::Failed);
        }
    };
    let done = |ack: Ack| {
        ack.send(Admitted::Ignored);
        Ok(Admitted::Ignored)
    };
    let Some(decision) = decision(callback) else {
        tracing::warn!(account = %account.id, approval = id, action = ?callback.action_id(), "press on an approval card with an unknown button; ignored");
        return done(ack);
    };
    let Some(presser) = callback.staff_id().map(|s| s.as_str().to_owned()) else {
        tracing::warn!(account = %account.id, approval = id, "press on an approval card without a staff id; ignored");
        return done(ack);
    };
    let is_admin = account.allow_from.iter().any(|a| a == &presser);
    if presser != row.requester && !is_admin {
        tracing::warn!(account = %account.id, approval = id, presser, requester = %row.requester, "approval press by someone other than the requester or an admin refused");
        return done(ack);
    }
    match shared
        .store
        .approval_decide(id, decision, Some(&presser), shared.clock.now())
        .await
    {
        Ok(DecideOutcome::Decided(row)) => {
            tracing::info!(account = %account.id, approval = id, tool = %row.tool, decided_by = presser, status = row.status.as_str(), "approval decided");
            if !ack.send_with_card_update(Admitted::Ignored, card_answer(&row)) {
                update_card(shared, &row).await;
            }
            Ok(Admitted::Ignored)
        }
        Ok(DecideOutcome::AlreadyDecided(row)) => {
            // Shows the standing decision again where the answer can carry it; over Stream
            // the card already shows it.
            ack.send_with_card_update(Admitted::Ignored, card_answer(&row));
            Ok(Admitted::Ignored)
        }
        Ok(DecideOutcome::Unknown) => done(ack),
        Err(error) => {
            tracing::error!(account = %account.id, %error, "cannot record an approval decision; leaving the press unacknowledged for redelivery");
            ack.send(Admitted::Failed);
            Ok(Admitted::Failed)
        }
    }
}

/// The decision a button stands for: its action id, or a `decision` parameter
/// (`allow_once`, `allow_always`, `deny`) for templates that pass one.
fn decision(callback: &CardCallback) -> Option<ApprovalDecision> {
    let param = callback
        .content
        .params
        .get("decision")
        .and_then(|v| v.as_str())
        .map(|d| format!("approval_{d}"));
    let action = callback.action_id().map(str::to_owned).or(param)?;
    decision_of(&action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(action: &str, params: &str) -> CardCallback {
        CardCallback::from_value(serde_json::json!({
            "type": "actionCallback",
            "outTrackId": "approval_1",
            "userId": "0312",
            "content": format!(r#"{{"cardPrivateData":{{"actionIds":[{action}],"params":{params}}}}}"#),
        }))
        .unwrap()
    }

    #[test]
    fn buttons_map_to_decisions() {
        assert_eq!(
            decision(&press(r#""approval_allow_once""#, "{}")),
            Some(ApprovalDecision::AllowOnce)
        );
        assert_eq!(
            decision(&press(r#""approval_allow_always""#, "{}")),
            Some(ApprovalDecision::AllowAlways)
        );
        assert_eq!(
            decision(&press(r#""approval_deny""#, "{}")),
            Some(ApprovalDecision::Deny)
        );
        assert_eq!(
            decision(&press("", r#"{"decision":"deny"}"#)),
            Some(ApprovalDecision::Deny)
        );
        assert_eq!(decision(&press(r#""feedback_up""#, "{}")), None);
    }
}
