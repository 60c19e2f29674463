//! The cards of a turn taken over: a run of a reclaimed turn (its replica was killed, its
//! process crashed, its lease lapsed) streams into the card the earlier run left open, so
//! the user sees one card that completes, never a dead "typing" card above a second answer.
//! A card that cannot be adopted is closed with a note and the answer goes on in a new one.

use std::sync::Arc;

use super::card::{card_account, close_left_open, close_with_note, record};
use crate::Shared;
use clawtalk_core::inbound::InboundMessage;
use clawtalk_core::notices;
use clawtalk_delivery::card::CardTurn;
use clawtalk_store::{CardRecord, CardStatus, InboundId, StoredInbound};

/// Cards an earlier run of `turn` left open, oldest first. A first attempt has none (one
/// read less per message).
pub(crate) async fn left_open(shared: &Shared, turn: &StoredInbound) -> Vec<CardRecord> {
    if turn.attempts <= 1 {
        return Vec::new();
    }
    match shared.store.cards_open_for(turn.id).await {
        Ok(cards) => cards,
        Err(error) => {
            tracing::warn!(inbound = ?turn.id, %error, "cannot look for cards an earlier run left open; the answer may come in a second card");
            Vec::new()
        }
    }
}

/// The card of `left` (an earlier run's open cards, oldest first) this run streams into:
/// the first that still takes updates, when the turn is answered in a streaming card. Every
/// card not adopted is closed: those before the adopted one (or all, when none is) with the
/// interrupted note, as the answer follows in another card; those after it (an answer that
/// had outgrown one card) as merged into the card above.
pub(crate) async fn adopt(
    shared: &Arc<Shared>,
    inbound: &InboundMessage,
    id: InboundId,
    session_key: &str,
    left: Vec<CardRecord>,
) -> Option<CardTurn> {
    if left.is_empty() {
        return None;
    }
    let streaming = shared
        .account_settings(inbound.account_id.as_str())
        .is_some_and(|a| a.streaming);
    let usable = streaming.then(|| card_account(shared, inbound)).flatten();
    let merged = format!("\n\n> {}", notices::CARD_MERGED_ABOVE);
    let mut adopted: Option<CardTurn> = None;
    for card in left {
        if adopted.is_some() {
            close_with_note(shared, &card, &merged, CardStatus::Failed).await;
            continue;
        }
        let Some((cards, space)) = usable.clone() else {
            close_left_open(shared, &card).await;
            continue;
        };
        let meta = record(inbound, id, session_key);
        let store = Arc::clone(&shared.store);
        match CardTurn::adopt(cards, store, space, meta, &card.out_track_id, &card.content).await {
            Ok(turn) => {
                tracing::info!(inbound = ?id, out_track_id = %card.out_track_id, "took over the AI card an earlier run left open");
                adopted = Some(turn);
            }
            Err(error) => {
                tracing::warn!(inbound = ?id, %error, out_track_id = %card.out_track_id, "the AI card an earlier run left open takes no updates; closing it, the answer follows in another card");
                close_left_open(shared, &card).await;
            }
        }
    }
    adopted
}

/// Closes what earlier runs left open, for a turn that streams no more (its answer was
/// planned before, or it is given up).
pub(crate) async fn close_left(shared: &Arc<Shared>, turn: &StoredInbound) {
    for card in left_open(shared, turn).await {
        close_left_open(shared, &card).await;
    }
}

/// The cards of a run that lost its turn's lease. The new owner adopts them, unless it
/// looked before this run's card was created and recorded it interrupted: such a card exists
/// now and nobody else will close it, so it is closed here.
pub(crate) async fn release(shared: &Arc<Shared>, card: &CardTurn) {
    for id in card.card_ids() {
        match shared.store.card(id).await {
            // Its content already ends with the interrupted note.
            Ok(Some(record)) if record.status == CardStatus::Interrupted => {
                close_with_note(shared, &record, "", CardStatus::Interrupted).await;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, out_track_id = %id, "cannot read the record of a card whose turn was taken over");
            }
        }
    }
}
