//! The one way in. Every source turns what arrived into an [`InboundMessage`] and hands it
//! to [`admit`], which routes it once, writes it to the inbox, acknowledges it to whoever
//! sent it, and only then decides it. A message that could not be written is never
//! acknowledged, so its sender delivers it again.
//!
//! Sources, one file each:
//!
//! - [`stream`]: Stream frames (bot messages, and the card callbacks and events they carry);
//! - [`http_callback`]: HTTP-mode bot callbacks to `/webhooks/dingtalk`;
//! - [`outgoing_robot`]: a custom robot's Outgoing callbacks, to the same URL;
//! - [`event_push`]: encrypted event pushes (HTTP 推送) to the same URL;
//! - [`card_callback`]: AI card button presses and form submits, over Stream or, for an
//!   HTTP-mode account, POSTed to its card path ([`http_card_callback`]);
//! - [`approval_event`]: approval events, over Stream or pushed, for the workflow agents;
//! - [`scheduled_run`]: the runs of scheduled tasks;
//! - [`webchat`]: the web console's chat ([`webchat_approval`]: its presses on approvals).
//!
//! Bot messages of one account, from Stream and HTTP alike, pass through the account's
//! [`lanes`]: one per conversation scope, so a conversation's messages are stored and
//! decided in arrival order while conversations proceed in parallel.

pub(crate) mod approval_event;
mod approval_press;
mod callback_replay;
pub(crate) mod card_callback;
pub(crate) mod console_post;
pub(crate) mod event_push;
pub(crate) mod http_callback;
pub(crate) mod http_card_callback;
pub(crate) mod lanes;
pub(crate) mod outgoing_robot;
pub(crate) mod scheduled_run;
pub(crate) mod stream;
pub(crate) mod webchat;
pub(crate) mod webchat_approval;
pub(crate) mod webchat_live;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dingtalk::model::CardCallbackResponse;
use dingtalk::stream::Acker;
use tokio::sync::oneshot;

use crate::{Shared, decide};
use clawtalk_config::DingTalkAccount;
use clawtalk_config::routing;
use clawtalk_core::ids::{AccountId, SessionKey, SessionScope};
use clawtalk_core::inbound::InboundMessage;
use clawtalk_store::{InboundId, InboundRecord, RecordOutcome};

/// What [`admit`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admitted {
    /// Written to the inbox (then decided).
    New(InboundId),
    /// Seen before (same `robotCode + msgId`): acknowledged and forgotten.
    Duplicate,
    /// Nothing to store (not for this gateway): acknowledged and forgotten.
    Ignored,
    /// Not written (logged): not acknowledged, so that the sender delivers it again.
    Failed,
}

impl Admitted {
    /// Whether the sender may be told the message is handled.
    pub(crate) fn acknowledged(self) -> bool {
        self != Self::Failed
    }
}

/// How a source acknowledges a message once it is safe in the inbox.
pub(crate) enum Ack {
    /// A Stream frame: the ACK on its connection.
    Frame(Acker),
    /// An HTTP request waiting to be answered (or a test watching).
    Reply(oneshot::Sender<Admitted>),
    /// A card callback POSTed over HTTP, whose answer may carry the card's update.
    Card(oneshot::Sender<CardAnswer>),
    /// The caller reads [`admit`]'s result itself (scheduled runs, WebChat).
    Caller,
}

/// What an HTTP card callback is answered with.
#[derive(Debug)]
pub(crate) struct CardAnswer {
    pub admitted: Admitted,
    /// The card's new variables, sent in the answer (DingTalk applies them); `None` = the
    /// card stays as it is.
    pub update: Option<CardCallbackResponse>,
}

impl Ack {
    /// Acknowledges unless the message could not be stored.
    pub(crate) fn send(self, admitted: Admitted) {
        match self {
            Self::Frame(acker) => {
                if admitted.acknowledged() {
                    let _ = acker.ok();
                }
            }
            Self::Reply(waiting) => {
                let _ = waiting.send(admitted);
            }
            Self::Card(waiting) => {
                let _ = waiting.send(CardAnswer {
                    admitted,
                    update: None,
                });
            }
            Self::Caller => {}
        }
    }

    /// Acknowledges a card callback with `update` in the answer where the answer can carry
    /// it (an HTTP card callback) and returns whether it did; otherwise acknowledges as
    /// [`Ack::send`] does and returns false, and the caller updates the card itself.
    pub(crate) fn send_with_card_update(self, admitted: Admitted, update: CardCallbackResponse) -> bool {
        match self {
            Self::Card(waiting) => {
                let _ = waiting.send(CardAnswer {
                    admitted,
                    update: Some(update),
                });
                true
            }
            other => {
                other.send(admitted);
                false
            }
        }
    }
}

/// Where a message goes.
#[derive(Debug, Clone)]
pub(crate) enum Destination {
    /// The conversation, computed once by the source; the agent is chosen at admission (the
    /// sender's departments may take a lookup).
    Scope(SessionScope),
    /// A session the source already knows (a card press belongs to its card's session).
    Session(SessionKey),
}

/// A message on its way into the inbox.
pub(crate) struct Admission {
    pub inbound: InboundMessage,
    pub to: Destination,
}

impl Admission {
    /// `inbound` of `account`, routed by the account's settings and the bindings.
    pub(crate) fn routed(account: &DingTalkAccount, inbound: InboundMessage) -> Self {
        let scope = routing::scope(account, &inbound);
        Self {
            inbound,
            to: Destination::Scope(scope),
        }
    }

    /// The conversation scope: the lane the message waits in.
    pub(crate) fn scope(&self) -> &SessionScope {
        match &self.to {
            Destination::Scope(scope) => scope,
            Destination::Session(key) => &key.scope,
        }
    }
}

/// Routes, persists, acknowledges, then decides one message.
pub(crate) async fn admit(
    shared: &Arc<Shared>,
    account: &DingTalkAccount,
    admission: Admission,
    ack: Ack,
) -> Admitted {
    let Admission { inbound, to } = admission;
    let route = match to {
        Destination::Session(key) => key,
        Destination::Scope(scope) => {
            let departments = if routing::uses_bindings(&inbound) {
                shared.departments_of(&account.id, &inbound).await
            } else {
                Vec::new()
            };
            SessionKey::new(
                routing::agent(&shared.config(), account, &inbound, &departments),
                AccountId::new(account.id.as_str()),
                scope,
            )
        }
    };
    let admitted = persist(shared, account, &inbound, &route).await;
    ack.send(admitted);
    if let Admitted::New(id) = admitted {
        decide::decide(shared, account, id, &inbound, &route).await;
    }
    admitted
}

/// Hands a bot message to its account's lanes, which admit it in its conversation's order.
/// Without lanes (shutting down) the acknowledgement is dropped unsent.
pub(crate) fn enqueue(shared: &Shared, admission: Admission, ack: Ack) {
    let account_id = admission.inbound.account_id.clone();
    let Some(account) = shared.account(account_id.as_str()) else {
        tracing::warn!(account = %account_id, "message for an account that is not running; not acknowledged");
        return;
    };
    if account.control.stop.is_cancelled() {
        tracing::warn!(account = %account_id, "message for an account removed from the config; not acknowledged");
        return;
    }
    if account.lanes.send(lanes::Laned { admission, ack }).is_err() {
        tracing::debug!(account = %account_id, "intake stopped; message not acknowledged");
    }
}

/// Writes an inbound message to the inbox under its session.
async fn persist(
    shared: &Arc<Shared>,
    account: &DingTalkAccount,
    inbound: &InboundMessage,
    route: &SessionKey,
) -> Admitted {
    let record = InboundRecord {
        account_id: AccountId::new(account.id.clone()),
        robot_code: inbound.robot_code.clone(),
        msg_id: inbound.msg_id.clone(),
        conversation_id: inbound.conversation_id.clone(),
        sender_staff_id: inbound.sender.staff_id.clone(),
        session_key: route.to_string(),
        received_at_ms: shared.clock.now(),
        raw_payload_json: match serde_json::to_string(inbound) {
            Ok(json) => json,
            Err(error) => {
                tracing::error!(%error, "cannot serialise an inbound message; not acknowledged");
                return Admitted::Failed;
            }
        },
        text: inbound.text.clone(),
    };
    match shared.store.record_inbound(record).await {
        Ok(RecordOutcome::New(id)) => Admitted::New(id),
        Ok(RecordOutcome::Duplicate { id, status }) => {
            tracing::debug!(inbound = ?id, ?status, transport = ?inbound.transport, "duplicate delivery acknowledged");
            Admitted::Duplicate
        }
        Err(error) => {
            tracing::error!(account = %account.id, %error, "cannot store an inbound message; leaving it unacknowledged for redelivery");
            Admitted::Failed
        }
    }
}

/// A refusal of an HTTP request: the reason is logged by the caller and also sent back (it
/// names no secret).
pub(crate) fn refuse(status: StatusCode, reason: String) -> Response {
    (status, reason).into_response()
}
