//! Approvals of tool calls in DingTalk: the turn's [`ApprovalGate`] sends the requester an
//! interactive card (the call in plain words, buttons Allow once / Always allow / Deny) and
//! waits for the press, which `intake/approval_press.rs` records in the store.
//!
//! The card is a DingTalk interactive card created with `createAndDeliver` and
//! `callbackType: STREAM`, so a press arrives as a `/v1.0/card/instances/callback` frame
//! (an HTTP-mode account's cards use `callbackType: HTTP` and its registered route instead,
//! `card_route.rs`, and the press is POSTed to the gateway with the same payload)
//! carrying the card's `outTrackId`, the presser's `userId` and the button's `actionIds`
//! (open.dingtalk.com/document/orgapp/flow-type-interactive-card; the frame shape as
//! open-dingtalk/dingtalk-stream-sdk-python reads it in `dingtalk_stream/card_callback.py`).
//! The template (`tools.approval.cardTemplateId`) shows the variables `title`, `content`
//! (markdown), `status` and `statusText`, and has three buttons whose action ids are
//! [`ACTION_ALLOW_ONCE`], [`ACTION_ALLOW_ALWAYS`] and [`ACTION_DENY`].
//!
//! A WebChat turn has no DingTalk card to press: its pending call is shown in the console's
//! streamed answer (`intake/webchat_live.rs`) as the same three buttons, and the operator's
//! press (`intake/webchat_approval.rs`) decides it in the same store.
//!
//! Durability: the request's id (also the card's `outTrackId`) is derived from the turn's
//! inbox row, the tool, its arguments and how many identical calls the turn made before, so
//! a turn re-run after a restart finds the same row, pending or decided, and neither asks
//! nor sends the card twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dingtalk::ids::{OutTrackId, RobotCode};
use dingtalk::model::CardCallbackResponse;
use dingtalk::model::outbound::{CardData, CreateAndDeliverRequest, UpdateCardRequest};
use sha2::{Digest, Sha256};

use crate::Shared;
use clawtalk_agent::{Approval, ApprovalCall, ApprovalGate};
use clawtalk_core::inbound::InboundMessage;
use clawtalk_store::{ApprovalDecision, ApprovalRecord, ApprovalStatus, InboundId, NewApproval};

/// Action id of the "Allow once" button.
pub(crate) const ACTION_ALLOW_ONCE: &str = "approval_allow_once";
/// Action id of the "Always allow" button.
pub(crate) const ACTION_ALLOW_ALWAYS: &str = "approval_allow_always";
/// Action id of the "Deny" button.
pub(crate) const ACTION_DENY: &str = "approval_deny";

/// Prefix of approval card ids, so a press is told apart from other cards without a lookup.
pub(crate) const ID_PREFIX: &str = "approval_";

/// How often a waiting call looks for a decision made by another process on the store.
const POLL: Duration = Duration::from_millis(250);

/// Arguments longer than this are cut in the card (the model's JSON can be long).
const MAX_ARGUMENT_CHARS: usize = 400;

/// A tool call of a WebChat turn waiting for the operator's decision, as the console's live
/// answer shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveApproval {
    /// The request's id in the store, which the console's press names.
    pub id: String,
    /// The tool.
    pub tool: String,
    /// The call in plain words (markdown).
    pub summary: String,
}

/// The gate of one turn.
pub(crate) struct TurnApprovals {
    shared: Arc<Shared>,
    inbound: InboundMessage,
    inbound_id: InboundId,
    session_key: String,
    /// How many times this turn has asked about each (tool, arguments), for the call ids.
    seen: Mutex<HashMap<(String, String), u32>>,
}

impl TurnApprovals {
    pub(crate) fn new(
        shared: &Arc<Shared>,
        inbound: &InboundMessage,
        inbound_id: InboundId,
        session_key: &str,
    ) -> Self {
        Self {
            shared: Arc::clone(shared),
            inbound: inbound.clone(),
            inbound_id,
            session_key: session_key.to_owned(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn call_id(&self, tool: &str, arguments: &str) -> String {
        let nth = {
            let mut seen = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let n = seen.entry((tool.to_owned(), arguments.to_owned())).or_insert(0);
            *n += 1;
            *n
        };
        let mut hash = Sha256::new();
        for part in [
            self.inbound.account_id.as_str(),
            &self.inbound_id.to_string(),
            tool,
            arguments,
            &nth.to_string(),
        ] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let digest: String = hash.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("{ID_PREFIX}{digest}")
    }

    async fn ask(&self, call: ApprovalCall<'_>, requester: &str) -> Result<Approval, String> {
        let store = &self.shared.store;
        let account = self.inbound.account_id.as_str();
        if store
            .approval_granted(account, requester, call.tool)
            .await
            .map_err(|e| format!("cannot read the approvals: {e}"))?
        {
            return Ok(Approval::Allowed);
        }
        let now = self.shared.clock.now();
        let timeout_ms = i64::try_from(call.timeout.as_millis()).unwrap_or(i64::MAX);
        let request = NewApproval {
            id: self.call_id(call.tool, call.arguments),
            account_id: self.inbound.account_id.clone(),
            session_key: self.session_key.clone(),
            agent_id: call.agent_id.to_owned(),
            requester: requester.to_owned(),
            tool: call.tool.to_owned(),
            summary: summary(call.tool, call.arguments),
            expires_at: clawtalk_core::clock::EpochMs::from_millis(
                now.as_millis().saturating_add(timeout_ms),
            ),
        };
        let row = store
            .approval_request(request, now)
            .await
            .map_err(|e| format!("cannot store the approval request: {e}"))?;
        if self.inbound.webchat.is_some() {
            return Ok(self.wait_in_console(row).await);
        }
        // Only the run that wrote the row sends the card: a re-run finds it already asked.
        if row.status == ApprovalStatus::Pending && row.created_at_ms == now {
            self.send_card(&row).await?;
            tracing::info!(approval = %row.id, tool = %row.tool, requester, "asked for approval");
        } else {
            tracing::info!(approval = %row.id, status = %row.status.as_str(), "found the earlier approval request of this call");
        }
        Ok(self.wait(row).await)
    }

    /// Shows the pending call in the console's live answer while it waits; a re-run after a
    /// restart shows it again, since nothing of the page outlives the turn.
    async fn wait_in_console(&self, row: ApprovalRecord) -> Approval {
        let live = &self.shared.webchat_live;
        if row.status == ApprovalStatus::Pending {
            tracing::info!(approval = %row.id, tool = %row.tool, "asked the console operator for approval");
            live.show_approval(
                self.inbound_id,
                Some(LiveApproval {
                    id: row.id.clone(),
                    tool: row.tool.clone(),
                    summary: row.summary.clone(),
                }),
            );
        }
        let decision = self.wait(row).await;
        live.show_approval(self.inbound_id, None);
        decision
    }

    async fn wait(&self, mut row: ApprovalRecord) -> Approval {
        loop {
            if let Some(decision) = outcome(&row) {
                return decision;
            }
            let now = self.shared.clock.now();
            if now >= row.expires_at_ms {
                match self
                    .shared
                    .store
                    .approval_decide(&row.id, ApprovalDecision::Expire, None, now)
                    .await
                {
                    Ok(clawtalk_store::DecideOutcome::Decided(expired)) => {
                        if self.inbound.webchat.is_none() {
                            update_card(&self.shared, &expired).await;
                        }
                        return outcome(&expired).unwrap_or_else(|| denied("expired"));
                    }
                    Ok(clawtalk_store::DecideOutcome::AlreadyDecided(decided)) => row = decided,
                    Ok(clawtalk_store::DecideOutcome::Unknown) => return denied("the request is gone"),
                    Err(error) => {
                        tracing::warn!(approval = %row.id, %error, "cannot expire an approval request; retrying");
                    }
                }
                continue;
            }
            let left = u64::try_from(row.expires_at_ms.as_millis() - now.as_millis()).unwrap_or(0);
            tokio::time::sleep(POLL.min(Duration::from_millis(left.max(1)))).await;
            match self.shared.store.approval(&row.id).await {
                Ok(Some(fresh)) => row = fresh,
                Ok(None) => return denied("the request is gone"),
                Err(error) => {
                    tracing::warn!(approval = %row.id, %error, "cannot read an approval request; retrying")
                }
            }
        }
    }

    async fn send_card(&self, row: &ApprovalRecord) -> Result<(), String> {
        let template = self
            .shared
            .config()
            .tools
            .approval_card_template
            .clone()
            .ok_or("no approval card template is configured (tools.approval.cardTemplateId)")?;
        let account = self
            .shared
            .account(self.inbound.account_id.as_str())
            .ok_or("the conversation's DingTalk account is not running")?;
        let settings = self
            .shared
            .config()
            .account(self.inbound.account_id.as_str())
            .cloned()
            .ok_or("the conversation's DingTalk account is not configured")?;
        let robot = RobotCode::new(settings.robot_code.clone());
        let track = OutTrackId::new(row.id.clone());
        let request = if self.inbound.is_group() {
            CreateAndDeliverRequest::group(template, track, robot, &self.inbound.conversation_id)
        } else {
            let staff = self
                .inbound
                .sender
                .staff_id
                .as_ref()
                .ok_or("the requester has no staff id to send the card to")?;
            CreateAndDeliverRequest::robot_dm(template, track, robot, staff)
        };
        let mut request = match crate::card_route::of(&settings) {
            Some(route) => request.http_callback(route.route_key),
            None => request,
        };
        for (key, value) in card_fields(row) {
            request = request.param(key, value);
        }
        account
            .api
            .create_and_deliver_card(&request)
            .await
            .map(|_| ())
            .map_err(|e| format!("the approval card could not be sent: {e}"))
    }
}

impl std::fmt::Debug for TurnApprovals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnApprovals")
            .field("inbound_id", &self.inbound_id)
            .field("session_key", &self.session_key)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ApprovalGate for TurnApprovals {
    async fn decide(&self, call: ApprovalCall<'_>) -> Approval {
        let requester = match &self.inbound.webchat {
            Some(webchat) => Some(console_user(&webchat.operator)),
            None => self
                .inbound
                .sender
                .staff_id
                .as_ref()
                .map(|s| s.as_str().to_owned()),
        };
        let Some(requester) = requester else {
            return denied("the requester has no DingTalk staff id to ask");
        };
        match self.ask(call, &requester).await {
            Ok(decision) => decision,
            Err(reason) => {
                tracing::warn!(tool = call.tool, %reason, "approval could not be asked; the call is refused");
                denied(&reason)
            }
        }
    }
}

/// Who a console operator is as a requester and a decider: apart from every DingTalk staff
/// id, so an "always allow" given in the console holds only there.
pub(crate) fn console_user(operator: &str) -> String {
    format!("console:{operator}")
}

/// The decision a button's action id stands for.
pub(crate) fn decision_of(action: &str) -> Option<ApprovalDecision> {
    match action {
        ACTION_ALLOW_ONCE => Some(ApprovalDecision::AllowOnce),
        ACTION_ALLOW_ALWAYS => Some(ApprovalDecision::AllowAlways),
        ACTION_DENY => Some(ApprovalDecision::Deny),
        _ => None,
    }
}

fn denied(reason: &str) -> Approval {
    Approval::Denied(reason.to_owned())
}

/// The decision a decided row stands for; `None` while pending.
fn outcome(row: &ApprovalRecord) -> Option<Approval> {
    let by = row.decided_by.as_deref().unwrap_or("?");
    match row.status {
        ApprovalStatus::Pending => None,
        ApprovalStatus::Allowed => Some(Approval::Allowed),
        ApprovalStatus::Denied => Some(denied(&format!("denied by {by}"))),
        ApprovalStatus::Expired => Some(denied("nobody approved it in time")),
    }
}

/// The call in plain words: the tool and its arguments, cut to a readable length.
fn summary(tool: &str, arguments: &str) -> String {
    let arguments = arguments.trim();
    let arguments = if arguments.is_empty() || arguments == "{}" {
        "（无 / none）".to_owned()
    } else if arguments.chars().count() > MAX_ARGUMENT_CHARS {
        let cut: String = arguments.chars().take(MAX_ARGUMENT_CHARS).collect();
        format!("{cut}…")
    } else {
        arguments.to_owned()
    };
    format!("**工具 / Tool**: `{tool}`\n\n**参数 / Arguments**: `{arguments}`")
}

/// The card's variables for the row as it stands.
pub(crate) fn card_fields(row: &ApprovalRecord) -> Vec<(&'static str, String)> {
    vec![
        ("title", "需要你的批准 / Approval needed".to_owned()),
        ("content", row.summary.clone()),
        ("status", row.status.as_str().to_owned()),
        ("statusText", status_text(row)),
    ]
}

fn status_text(row: &ApprovalRecord) -> String {
    let by = row.decided_by.as_deref().unwrap_or("");
    match row.status {
        ApprovalStatus::Pending => "等待批准 / Waiting for approval".to_owned(),
        ApprovalStatus::Allowed if row.always => format!("已始终允许（{by}）/ Always allowed by {by}"),
        ApprovalStatus::Allowed => format!("已允许一次（{by}）/ Allowed once by {by}"),
        ApprovalStatus::Denied => format!("已拒绝（{by}）/ Denied by {by}"),
        ApprovalStatus::Expired => "已超时，视为拒绝 / Expired: denied".to_owned(),
    }
}

/// The answer to a press that shows the row as it stands on the card.
pub(crate) fn card_answer(row: &ApprovalRecord) -> CardCallbackResponse {
    card_fields(row)
        .into_iter()
        .fold(CardCallbackResponse::by_key(), |answer, (key, value)| {
            answer.card_param(key, value)
        })
}

/// Shows the row's decision (and who made it) on its card; a failure is logged only, since
/// the decision itself is already stored.
pub(crate) async fn update_card(shared: &Shared, row: &ApprovalRecord) {
    let Some(account) = shared.account(row.account_id.as_str()) else {
        return;
    };
    let request = UpdateCardRequest::merge(
        OutTrackId::new(row.id.clone()),
        CardData::from_pairs(card_fields(row)),
    );
    if let Err(error) = account.api.update_card(&request).await {
        tracing::warn!(approval = %row.id, %error, "could not show the decision on the approval card");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_core::clock::EpochMs;
    use clawtalk_core::ids::AccountId;

    fn row(status: ApprovalStatus, always: bool, by: Option<&str>) -> ApprovalRecord {
        ApprovalRecord {
            id: "approval_x".into(),
            account_id: AccountId::new("default"),
            session_key: "s".into(),
            agent_id: "main".into(),
            requester: "0312".into(),
            tool: "get_time".into(),
            summary: summary("get_time", "{}"),
            status,
            always,
            decided_by: by.map(str::to_owned),
            created_at_ms: EpochMs::from_millis(0),
            expires_at_ms: EpochMs::from_millis(1),
            decided_at_ms: None,
        }
    }

    #[test]
    fn the_card_says_what_was_decided_and_by_whom_in_both_languages() {
        assert_eq!(outcome(&row(ApprovalStatus::Pending, false, None)), None);
        assert_eq!(
            outcome(&row(ApprovalStatus::Allowed, false, Some("0312"))),
            Some(Approval::Allowed)
        );
        assert_eq!(
            outcome(&row(ApprovalStatus::Denied, false, Some("0999"))),
            Some(Approval::Denied("denied by 0999".into()))
        );
        let always = status_text(&row(ApprovalStatus::Allowed, true, Some("0312")));
        assert!(
            always.contains("始终允许") && always.contains("Always allowed by 0312"),
            "{always}"
        );
        let expired = status_text(&row(ApprovalStatus::Expired, false, None));
        assert!(
            expired.contains("超时") && expired.contains("Expired"),
            "{expired}"
        );
    }

    #[test]
    fn long_arguments_are_cut_and_empty_ones_named() {
        let long = format!(r#"{{"q":"{}"}}"#, "x".repeat(1000));
        let text = summary("web_fetch", &long);
        assert!(text.contains("`web_fetch`") && text.ends_with("…`"), "{text}");
        assert!(text.chars().count() < 600);
        assert!(summary("get_time", "{}").contains("none"));
    }
}
