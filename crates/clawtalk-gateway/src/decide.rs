//! What happens to a stored message: policy, pairing, chat commands, or the agent's queue.

use std::sync::Arc;

use super::scheduler::Wake;
use super::{Shared, reply};
use clawtalk_config::DingTalkAccount;
use clawtalk_config::policy::{self, Verdict};
use clawtalk_core::commands::{self, ChatCommand};
use clawtalk_core::ids::SessionKey;
use clawtalk_core::inbound::InboundMessage;
use clawtalk_core::notices;
use clawtalk_store::{CancelScope, Dispatch, InboundId, PairingOutcome, PairingPolicy};

/// Settles a freshly stored (`received`) message. Errors are logged; the row stays
/// `received` and the scheduler's sweep decides it again a lease later.
pub(crate) async fn decide(
    shared: &Arc<Shared>,
    account: &DingTalkAccount,
    id: InboundId,
    inbound: &InboundMessage,
    route: &SessionKey,
) {
    if let Err(error) = try_decide(shared, account, id, inbound, route).await {
        tracing::error!(inbound = ?id, account = %account.id, error = %format!("{error:#}"), "could not settle a message; it will be retried in a lease period");
    }
}

async fn try_decide(
    shared: &Arc<Shared>,
    account: &DingTalkAccount,
    id: InboundId,
    inbound: &InboundMessage,
    route: &SessionKey,
) -> anyhow::Result<()> {
    // Approval events come from DingTalk itself, not from a user, scheduled runs were
    // allowed when their task was created, and WebChat's operator holds the gateway token
    // (as do the console answers the operator sends on): no policy, no commands.
    if inbound.cron.as_ref().is_some_and(|c| c.notice) || inbound.console_post.is_some() {
        return answer(shared, id, inbound, route, inbound.text.clone()).await;
    }
    if inbound.workflow.is_some() || inbound.cron.is_some() || inbound.webchat.is_some() {
        return queue(shared, id, route).await;
    }
    let store = &shared.store;
    let sender = inbound.sender.key().unwrap_or_default().to_owned();
    let approved = account.dm_policy == clawtalk_config::DmPolicy::Pairing
        && !sender.is_empty()
        && store.is_approved(&account.id, &sender).await?;
    match policy::evaluate(account, inbound, approved) {
        Verdict::Allow => {}
        Verdict::Ignore(reason) => {
            tracing::info!(inbound = ?id, account = %account.id, reason, "message ignored");
            store
                .dispatch_inbound(id, Dispatch::Ignore, shared.clock.now())
                .await?;
            settled(shared, route);
            return Ok(());
        }
        Verdict::Refuse(text) => return answer(shared, id, inbound, route, text).await,
        Verdict::NeedsPairing => {
            let outcome = store
                .pairing_request(
                    &account.id,
                    &sender,
                    &inbound.sender.nick,
                    PairingPolicy::default(),
                    shared.clock.now(),
                )
                .await?;
            if let PairingOutcome::Created(_) = &outcome {
                // Who asked, so the operator can tell whom `clawtalk pairing approve` admits.
                tracing::info!(account = %account.id, %sender, nick = %inbound.sender.nick, "pairing requested");
            }
            let text = match outcome {
                PairingOutcome::Created(request) | PairingOutcome::Existing(request) => {
                    let minutes = request.expires_at_ms.since(shared.clock.now()).as_secs() / 60;
                    policy::pairing_reply(&request.code, minutes.max(1))
                }
                PairingOutcome::AlreadyApproved => {
                    // Approved between the check and the request: handle it as allowed.
                    return queue(shared, id, route).await;
                }
                PairingOutcome::TooManyPending { .. } => notices::TOO_MANY_PAIRING_REQUESTS.to_owned(),
            };
            return answer(shared, id, inbound, route, text).await;
        }
    }
    match commands::parse(&inbound.text) {
        Some(ChatCommand::Stop) => {
            let stopped = stop_running(shared, &route.to_string()).await?;
            let text = if !stopped {
                notices::NOTHING_RUNNING
            } else {
                notices::STOPPED
            };
            answer(shared, id, inbound, route, text.to_owned()).await
        }
        Some(ChatCommand::Reset) => {
            store
                .session_reset(&route.to_string(), shared.clock.now())
                .await?;
            answer(shared, id, inbound, route, notices::NEW_CONVERSATION.to_owned()).await
        }
        None => {
            reply::note_if_queued(shared, id, inbound).await;
            queue(shared, id, route).await
        }
    }
}

/// What `/stop` does to session `route`: its running turn is cancelled in the store and, when
/// this process runs it, stopped. Whether there was one.
pub(crate) async fn stop_running(shared: &Shared, route: &str) -> anyhow::Result<bool> {
    let cancelled = shared
        .store
        .cancel_running(route, CancelScope::Running, shared.clock.now())
        .await?;
    if let Some(token) = shared
        .running
        .lock()
        .map_err(|_| anyhow::anyhow!("lock poisoned"))?
        .get(route)
    {
        token.cancel();
    }
    Ok(!cancelled.is_empty())
}

async fn queue(shared: &Arc<Shared>, id: InboundId, route: &SessionKey) -> anyhow::Result<()> {
    shared
        .store
        .dispatch_inbound(id, Dispatch::Queue, shared.clock.now())
        .await?;
    let _ = shared.wake.send(Wake::Queued(route.to_string()));
    Ok(())
}

fn settled(shared: &Arc<Shared>, route: &SessionKey) {
    let _ = shared.wake.send(Wake::Settled(route.to_string()));
}

/// Replies directly (no agent) and settles the message.
async fn answer(
    shared: &Arc<Shared>,
    id: InboundId,
    inbound: &InboundMessage,
    route: &SessionKey,
    text: String,
) -> anyhow::Result<()> {
    let outcome = reply::send(shared, id, inbound, &text).await;
    let dispatch = if outcome.is_ok() {
        Dispatch::Replied
    } else {
        Dispatch::Failed
    };
    shared
        .store
        .dispatch_inbound(id, dispatch, shared.clock.now())
        .await?;
    settled(shared, route);
    outcome
}
