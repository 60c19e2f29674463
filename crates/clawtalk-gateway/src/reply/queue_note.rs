//! Admission: a message that will wait behind many others gets an immediate "queued, N ahead
//! of you" note (`gateway.queueNoticeFrom`) instead of silence.
//!
//! The note is a reply part like any other, planned in the outbox before the message is
//! queued (while it is still `received`, which the outbox allows), so it goes out at most
//! once. It is an interim part: it never counts as the answer, which follows. One a crash left
//! planned is ended, not sent late (`plan::sent_by_its_run_only`): the crash may have come
//! while DingTalk took it, and the answer follows either way.

use std::sync::Arc;

use super::plan::INTERIM_PARTS_FROM;
use super::send::send_message;
use crate::Shared;
use clawtalk_core::inbound::InboundMessage;
use clawtalk_core::notices;
use clawtalk_core::reply::ReplyPart;
use clawtalk_delivery::card::{CardApi, Class};
use clawtalk_store::{InboundId, NewReplyPart, ReplyStatus};

/// The note's number: apart from the answer's (from 1) and from what the turn sends while it
/// runs (from [`INTERIM_PARTS_FROM`]), so it competes with neither.
const QUEUE_NOTE_PART: u32 = INTERIM_PARTS_FROM - 1;

/// Turns that will be served before a message of `inbound`'s account queued now: those
/// waiting for a turn slot, and the cards of the account waiting for the quota to show their
/// first text — unless the card budget is so far behind that this answer will go as
/// markdown (`cardOverflow`), which waits for no card.
pub(crate) fn turns_ahead(shared: &Shared, inbound: &InboundMessage) -> usize {
    let for_slot = shared.metrics.waiting_for_slot();
    let for_cards = shared
        .cards_of(inbound.account_id.as_str())
        .filter(|_| super::card_account(shared, inbound).is_some())
        .filter(|cards| !cards.overflows())
        .map_or(0, |cards| {
            cards.budget.waiting(CardApi::Create, Class::FirstText)
                + cards.budget.waiting(CardApi::Stream, Class::FirstText)
        });
    for_slot + for_cards
}

/// Plans the note when at least `gateway.queueNoticeFrom` turns are ahead, and sends it in
/// the background. Call before the message is queued.
pub(crate) async fn note_if_queued(shared: &Arc<Shared>, id: InboundId, inbound: &InboundMessage) {
    let from = shared.config().gateway.queue_notice_from;
    if from == 0 {
        return;
    }
    let ahead = turns_ahead(shared, inbound);
    if ahead < from {
        return;
    }
    let part = NewReplyPart {
        part: QUEUE_NOTE_PART,
        body: ReplyPart::ProgressNote {
            text: notices::queued(ahead),
        },
    };
    let planned = match shared
        .store
        .plan_reply(id, vec![part], &shared.me, shared.lease_ms(), shared.clock.now())
        .await
    {
        Ok(planned) => planned,
        Err(error) => {
            tracing::debug!(inbound = ?id, %error, "queue note not planned");
            return;
        }
    };
    let Some(note) = planned
        .into_iter()
        .find(|p| p.part == QUEUE_NOTE_PART && p.status == ReplyStatus::Planned)
    else {
        return;
    };
    shared.metrics.queue_notes.inc(inbound.account_id.as_str());
    let (shared, inbound) = (Arc::clone(shared), inbound.clone());
    shared.tasks.clone().spawn(async move {
        if let Err(failure) = send_message(&shared, &inbound, &note, None).await {
            // A note that did not go out is not sent later, after the answer it announced.
            tracing::debug!(error = %format!("{:#}", failure.error), "queue note not sent");
            let _ = shared
                .store
                .mark_reply_failed(note.id, &format!("{:#}", failure.error), true, shared.clock.now())
                .await;
        }
    });
}
