//! The console operator's press on a WebChat approval (the buttons the live answer shows, see
//! `approvals.rs`): recorded as the decision of the waiting tool call in the same store a
//! card press uses, so the waiting turn (in this process or another on the store) goes on.
//!
//! Only calls the console itself asked about can be decided here: a DingTalk requester's
//! call waits for that requester (or an `allowFrom` admin) pressing the card.

use crate::Shared;
use crate::approvals::{ID_PREFIX, console_user, decision_of};
use clawtalk_store::{ApprovalRecord, DecideOutcome};

/// What a press did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebChatApproval {
    /// This press decided the call.
    Decided(ApprovalRecord),
    /// Someone (or the timeout) decided it first; the row says how.
    AlreadyDecided(ApprovalRecord),
    /// No such request, or not one the console asked about.
    Unknown,
}

/// Decides request `id` with `decision` (`allow_once`, `allow_always` or `deny`) as the
/// console's operator.
///
/// # Errors
/// An unknown decision, or the store could not be read or written.
pub(crate) async fn decide(shared: &Shared, id: &str, decision: &str) -> anyhow::Result<WebChatApproval> {
    let Some(decision) = decision_of(&format!("{ID_PREFIX}{decision}")) else {
        anyhow::bail!("unknown decision {decision:?}: use allow_once, allow_always or deny");
    };
    let me = console_user(super::webchat::OPERATOR);
    let Some(row) = shared.store.approval(id).await? else {
        return Ok(WebChatApproval::Unknown);
    };
    if row.requester != me {
        tracing::warn!(approval = id, requester = %row.requester, "console press on an approval it did not ask for refused");
        return Ok(WebChatApproval::Unknown);
    }
    Ok(
        match shared
            .store
            .approval_decide(id, decision, Some(&me), shared.clock.now())
            .await?
        {
            DecideOutcome::Decided(row) => {
                tracing::info!(approval = id, tool = %row.tool, decided_by = %me, status = row.status.as_str(), "approval decided in the console");
                WebChatApproval::Decided(row)
            }
            DecideOutcome::AlreadyDecided(row) => WebChatApproval::AlreadyDecided(row),
            DecideOutcome::Unknown => WebChatApproval::Unknown,
        },
    )
}
