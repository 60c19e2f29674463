//! Replies out: planned in the outbox as typed parts ([`ReplyPart`]), then sent part by part.
//!
//! Planning before sending is what makes replies exactly-once: a part is written first,
//! marked sent right after DingTalk accepts it, and after a crash only the parts still
//! `planned` are sent again. [`plan`] turns an answer into parts, [`send`] sends planned
//! parts (uploading an image or file first, as a step whose result is stored), [`card`]
//! delivers AI card parts, [`interim`] plans what a turn sends while it runs, and
//! [`queue_note`] tells a user whose message waits behind many others.

mod adopt;
mod card;
mod handover;
mod interim;
mod plan;
mod queue_note;
mod send;

pub(crate) use adopt::{
    adopt as adopt_card, close_left as close_cards_left, left_open as cards_left_open,
    release as release_cards,
};
pub(crate) use card::{
    card_account, close_interrupted, close_stopped, open_streaming, overflows_to_markdown,
};
pub(crate) use interim::TurnOutbox;
pub(crate) use plan::answer_planned;
pub(crate) use queue_note::note_if_queued;

use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use crate::Shared;
use clawtalk_config::{MessageType, ResponseFormat};
use clawtalk_core::inbound::InboundMessage;
use clawtalk_core::reply::CardPart;
use clawtalk_delivery::ActionCard;
use clawtalk_store::{InboundId, NewReplyPart, OutboxPart};

/// Converts `text` to DingTalk markdown (in markdown mode), splits it, plans the parts for
/// `id`, and sends them.
pub(crate) async fn send(
    shared: &Arc<Shared>,
    id: InboundId,
    inbound: &InboundMessage,
    text: &str,
) -> anyhow::Result<()> {
    let max_parts = clawtalk_config::AgentLimits::default().parts_per_answer;
    send_with_cards(shared, id, inbound, text, &[], max_parts, None).await
}

/// [`send`], in at most `max_parts` parts (the rest cut off with a note), followed by
/// `action_cards` (planned together, so each is sent exactly once).
/// With a `format` (the account's `responseFormat`), the answer's last part goes out as an
/// action card carrying its buttons.
pub(crate) async fn send_with_cards(
    shared: &Arc<Shared>,
    id: InboundId,
    inbound: &InboundMessage,
    text: &str,
    action_cards: &[ActionCard],
    max_parts: u32,
    format: Option<&ResponseFormat>,
) -> anyhow::Result<()> {
    // An action card's text is always markdown.
    let markdown = format.is_some()
        || shared
            .account_settings(inbound.account_id.as_str())
            .is_none_or(|a| a.message_type != MessageType::Text);
    let answer = plan::TextAnswer {
        text,
        markdown,
        max_parts,
        format,
    };
    let (parts, truncated) = plan::text_parts(&answer);
    if truncated {
        tracing::warn!(inbound = ?id, max_parts, "answer truncated to limits.partsPerAnswer parts");
    }
    let planned = plan_parts(shared, id, plan::numbered(parts, action_cards)).await?;
    send::send_planned(shared, inbound, &planned, false, &AtomicU32::new(0)).await
}

/// Plans the final contents of a turn's AI cards, then finalizes them; `calls` counts the
/// card API calls.
pub(crate) async fn send_cards(
    shared: &Arc<Shared>,
    id: InboundId,
    inbound: &InboundMessage,
    cards: Vec<CardPart>,
    action_cards: &[ActionCard],
    calls: &AtomicU32,
) -> anyhow::Result<()> {
    let parts = plan::numbered(plan::card_parts(cards), action_cards);
    let planned = plan_parts(shared, id, parts).await?;
    send::send_planned(shared, inbound, &planned, false, calls).await
}

/// Sends what is left of a reply a previous run of the turn planned (all of it, when the
/// answer was planned; else the images and files it left unsent), but none of its progress
/// notes or its opening (`plan::sent_by_its_run_only`).
pub(crate) async fn resume(
    shared: &Arc<Shared>,
    id: InboundId,
    inbound: &InboundMessage,
) -> anyhow::Result<()> {
    let parts = plan_parts(shared, id, Vec::new()).await?;
    send_planned(shared, inbound, &parts, true).await
}

/// Sends every part that is still planned and leased to this worker. `resumed`: a previous
/// incarnation may have sent some of them before it died.
pub(crate) async fn send_planned(
    shared: &Arc<Shared>,
    inbound: &InboundMessage,
    parts: &[OutboxPart],
    resumed: bool,
) -> anyhow::Result<()> {
    send::send_planned(shared, inbound, parts, resumed, &AtomicU32::new(0)).await
}

/// Writes `parts` (those not planned yet) and leases every planned part of `id` to us.
async fn plan_parts(
    shared: &Arc<Shared>,
    id: InboundId,
    parts: Vec<NewReplyPart>,
) -> anyhow::Result<Vec<OutboxPart>> {
    let asked: Vec<NewReplyPart> = parts.iter().filter(|p| !p.body.is_interim()).cloned().collect();
    let planned = shared
        .store
        .plan_reply(id, parts, &shared.me, shared.lease_ms(), shared.clock.now())
        .await?;
    if plan::second_answer_refused(&asked, &planned) {
        tracing::warn!(inbound = ?id, "a second answer for a message that has one was refused by the outbox");
        shared.metrics.answers.inc("duplicate");
    }
    Ok(planned)
}

#[cfg(test)]
#[path = "resume_tests.rs"]
mod resume_tests;
