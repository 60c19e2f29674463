//! AI card replies: whether a turn streams into a card, sending the planned final contents,
//! and closing cards an ended run left open.

use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use super::plan::title_of;
use crate::Shared;
use clawtalk_config::MessageType;
use clawtalk_core::inbound::InboundMessage;
use clawtalk_core::reply::{CardPart, ReplyPart};
use clawtalk_delivery::card::{CardAccount, CardSpace, CardTurn, WAITING, is_permission_error};
use clawtalk_delivery::{Body, OutboundMessage};
use clawtalk_store::{CardRecord, CardStatus, InboundId, InboundStatus, NewCard, OutboxPart, ReplyStatus};

/// Shown under what a crash cut off; the turn then answers again.
const INTERRUPTED: &str = clawtalk_core::notices::ANSWER_INTERRUPTED;

/// The account's card machinery, when this message should be answered with a card now.
pub(crate) fn card_account(
    shared: &Shared,
    inbound: &InboundMessage,
) -> Option<(Arc<CardAccount>, CardSpace)> {
    let account = shared.account_settings(inbound.account_id.as_str())?;
    // A custom robot webhook cannot show AI cards.
    let to_webhook = inbound.cron.as_ref().is_some_and(|c| c.webhook.is_some());
    if account.message_type != MessageType::Card || to_webhook {
        return None;
    }
    let cards = shared.cards_of(inbound.account_id.as_str())?;
    if !cards.usable() {
        return None;
    }
    Some((cards, space_for(inbound)?))
}

/// Cards go to a group's open space or the sender's robot DM; a DM sender without a staff id
/// (an external contact) cannot get one.
fn space_for(inbound: &InboundMessage) -> Option<CardSpace> {
    if inbound.is_group() {
        Some(CardSpace::Group(inbound.conversation_id.clone()))
    } else {
        inbound.sender.staff_id.clone().map(CardSpace::Dm)
    }
}

pub(super) fn record(inbound: &InboundMessage, id: InboundId, session_key: &str) -> NewCard {
    NewCard {
        out_track_id: String::new(),
        account_id: inbound.account_id.clone(),
        inbound_id: Some(id),
        session_key: session_key.to_owned(),
        conversation_id: inbound.conversation_id.as_str().to_owned(),
    }
}

/// Whether the account streams AI cards but the card quota is spent, so that an answer goes
/// as markdown (`cardOverflow: "markdown"`).
pub(crate) fn overflows_to_markdown(shared: &Shared, inbound: &InboundMessage) -> bool {
    shared
        .account_settings(inbound.account_id.as_str())
        .is_some_and(|a| a.streaming)
        && card_account(shared, inbound).is_some_and(|(cards, _)| cards.overflows())
}

/// Opens the turn's streaming card, or `None` to answer in markdown (not card mode, not
/// streaming, or the card could not be created — permission errors switch the account to
/// markdown for a while).
pub(crate) async fn open_streaming(
    shared: &Arc<Shared>,
    inbound: &InboundMessage,
    id: InboundId,
    session_key: &str,
) -> Option<CardTurn> {
    let streaming = shared
        .account_settings(inbound.account_id.as_str())
        .is_some_and(|a| a.streaming);
    if !streaming {
        return None;
    }
    let (cards, space) = card_account(shared, inbound)?;
    cards.refresh_shared_backlog().await;
    if cards.overflows() {
        tracing::info!(inbound = ?id, wait_ms = cards.card_wait().as_millis(), "card quota spent: answering in markdown (cardOverflow)");
        return None;
    }
    let meta = record(inbound, id, session_key);
    match CardTurn::open(Arc::clone(&cards), Arc::clone(&shared.store), space, meta).await {
        Ok(turn) => Some(turn),
        Err(error) => {
            if is_permission_error(&error) {
                cards.degrade(&error);
            } else {
                tracing::warn!(%error, "could not create the AI card; answering in markdown");
            }
            None
        }
    }
}

/// Delivers one planned card part: creates the card if streaming never did, then finalizes
/// it with the exact text. After a crash (`resumed`) the card may already be final, so its
/// variables are set instead of streamed. If cards fail for good, the text goes out as
/// markdown: never lost, never a blank card.
pub(crate) async fn send_part(
    shared: &Arc<Shared>,
    inbound: &InboundMessage,
    id: InboundId,
    part: &CardPart,
    resumed: bool,
    calls: &AtomicU32,
) -> anyhow::Result<()> {
    let Some((cards, space)) = card_account(shared, inbound).or_else(|| {
        // Degraded since planning: still finish cards that exist; new ones become markdown.
        let cards = shared.cards_of(inbound.account_id.as_str())?;
        Some((cards, space_for(inbound)?))
    }) else {
        return send_as_markdown(shared, inbound, part).await;
    };
    // Whether a card exists that the user can see, so a failure below still closes it.
    let mut shown = part.exists;
    let result = async {
        if part.exists {
            if resumed {
                cards
                    .settle(&part.out_track_id, &part.text, part.failed, calls)
                    .await
            } else {
                cards
                    .finalize(&part.out_track_id, &part.text, part.failed, calls)
                    .await
            }
        } else {
            let record = NewCard {
                out_track_id: part.out_track_id.clone(),
                ..record(inbound, id, "")
            };
            let record = async {
                let _ = shared.store.card_open(record, shared.clock.now()).await;
            };
            cards
                .create(&part.out_track_id, &space, WAITING, calls, record)
                .await?;
            shown = true;
            cards
                .finalize(&part.out_track_id, &part.text, part.failed, calls)
                .await
        }
    }
    .await;
    match result {
        Ok(()) => {
            let status = if part.failed {
                CardStatus::Failed
            } else {
                CardStatus::Finished
            };
            let _ = shared
                .store
                .card_close(&part.out_track_id, status, &part.text, shared.clock.now())
                .await;
            Ok(())
        }
        Err(error) => {
            if is_permission_error(&error) {
                cards.degrade(&error);
            }
            tracing::warn!(%error, out_track_id = %part.out_track_id, "AI card could not be finalized; sending the text as markdown");
            if shown {
                // The text follows as a message; the card must not stay "typing" above it.
                if let Err(error) = cards.mark_failed(&part.out_track_id, calls).await {
                    tracing::warn!(%error, out_track_id = %part.out_track_id, "could not mark the AI card failed");
                }
            }
            let _ = shared
                .store
                .card_close(
                    &part.out_track_id,
                    CardStatus::Failed,
                    &part.text,
                    shared.clock.now(),
                )
                .await;
            send_as_markdown(shared, inbound, part).await
        }
    }
}

/// Closes a stopped turn's cards in the failed state, directly: `/stop` already answered
/// the user and ended the turn in the store, so nothing goes through the outbox (it takes no
/// plan for a cancelled turn) and nothing falls back to a message.
pub(crate) async fn close_stopped(
    shared: &Arc<Shared>,
    inbound: &InboundMessage,
    parts: &[CardPart],
    calls: &AtomicU32,
) {
    let Some(cards) = shared.cards_of(inbound.account_id.as_str()) else {
        return;
    };
    for part in parts.iter().filter(|p| p.exists) {
        match cards.finalize(&part.out_track_id, &part.text, true, calls).await {
            Ok(()) => {
                let _ = shared
                    .store
                    .card_close(
                        &part.out_track_id,
                        CardStatus::Failed,
                        &part.text,
                        shared.clock.now(),
                    )
                    .await;
            }
            Err(error) => {
                tracing::warn!(%error, out_track_id = %part.out_track_id, "could not close the AI card of a stopped turn");
            }
        }
    }
}

async fn send_as_markdown(
    shared: &Arc<Shared>,
    inbound: &InboundMessage,
    part: &CardPart,
) -> anyhow::Result<()> {
    let outbound = shared.outbound_for(inbound)?;
    // The card's own renderer is gone: this is a message, so DingTalk's message markdown rules.
    let text = clawtalk_delivery::markdown::to_dingtalk(&part.text);
    let body = Body::markdown(title_of(&text), text);
    let message = OutboundMessage::reply_to(inbound, body, part.out_track_id.clone());
    outbound.send(&message).await?;
    Ok(())
}

/// Closes the cards a crash left streaming whose turn is over, unless a planned reply will
/// finalize them: users must not watch a card "typing" forever. A card whose turn is not over
/// is left to that turn: a live replica may be streaming into it right now (replicas share
/// the store), and otherwise the run that reclaims the turn adopts it.
pub(crate) async fn close_interrupted(shared: &Arc<Shared>) {
    let open = match shared.store.cards_open(None).await {
        Ok(open) => open,
        Err(error) => {
            tracing::warn!(%error, "cannot list open AI cards; they stay open");
            return;
        }
    };
    for card in open {
        if let Some(inbound_id) = card.inbound_id {
            match shared.store.inbound(inbound_id).await {
                Ok(Some(turn)) if !turn_over(turn.status) => continue,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, out_track_id = %card.out_track_id, "cannot read the turn of an open AI card; it stays open");
                    continue;
                }
            }
        }
        close_left_open(shared, &card).await;
    }
}

/// Whether no run of the turn will come any more.
fn turn_over(status: InboundStatus) -> bool {
    !matches!(
        status,
        InboundStatus::Received | InboundStatus::Queued | InboundStatus::Running
    )
}

/// Closes a card an ended run left open, unless a planned reply will finalize it (or already
/// did, and only the bookkeeping was missing).
pub(super) async fn close_left_open(shared: &Arc<Shared>, card: &CardRecord) {
    if let Some(inbound_id) = card.inbound_id {
        let parts = shared.store.reply_parts(inbound_id).await.unwrap_or_default();
        match card_part(&parts, &card.out_track_id).map(|p| p.status) {
            Some(ReplyStatus::Planned) => return,
            Some(_) => {
                let _ = shared
                    .store
                    .card_close(
                        &card.out_track_id,
                        CardStatus::Finished,
                        &card.content,
                        shared.clock.now(),
                    )
                    .await;
                return;
            }
            None => {}
        }
    }
    close_with_note(shared, card, INTERRUPTED, CardStatus::Interrupted).await;
}

/// Finalizes a card as failed with `note` under what it showed. Recorded closed even when
/// DingTalk refuses (the card is gone or already final), unless the refusal may pass: a card
/// that cannot be closed must not be adopted or closed again and again.
pub(super) async fn close_with_note(shared: &Arc<Shared>, card: &CardRecord, note: &str, status: CardStatus) {
    let Some(cards) = shared.cards_of(card.account_id.as_str()) else {
        return;
    };
    let content = format!("{}{note}", card.content.trim_end());
    let calls = AtomicU32::new(0);
    match cards.finalize(&card.out_track_id, &content, true, &calls).await {
        Ok(()) => {
            tracing::info!(out_track_id = %card.out_track_id, "closed an AI card left open by an ended run");
        }
        Err(error) => {
            tracing::warn!(%error, out_track_id = %card.out_track_id, "could not close an AI card left open by an ended run");
            if error.is_retryable() {
                return;
            }
        }
    }
    let _ = shared
        .store
        .card_close(&card.out_track_id, status, &content, shared.clock.now())
        .await;
}

/// The AI card part whose card is `out_track_id`, among a message's parts.
fn card_part<'a>(parts: &'a [OutboxPart], out_track_id: &str) -> Option<&'a OutboxPart> {
    parts
        .iter()
        .find(|p| matches!(&p.body, ReplyPart::AiCard(card) if card.out_track_id == out_track_id))
}
