//! One turn's AI card: created when the turn starts, updated as the answer streams, and
//! handed over as a plan of final contents when the answer is complete. Its markdown is
//! shown as the model wrote it, except links and images to anything but http(s), which keep
//! only their text (`markdown::links`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use dingtalk::Error as ApiCallError;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use super::account::{AwaitingFirstText, CardAccount, CardSpace, Streamed};
use super::split::{capped, split};
use super::throttle::{Due, Throttle};
use crate::chunk::TRUNCATED_NOTE;
use crate::markdown::links::strip_unsafe;
use clawtalk_core::events::AgentEvent;
use clawtalk_core::notices;
pub use clawtalk_core::reply::CardPart;
use clawtalk_store::{CardStatus, NewCard, Store};

/// What a card shows before the first token.
pub const WAITING: &str = notices::THINKING;
/// Intermediate updates that fail (other than `QpsLimit`) before the card is left alone
/// until the final update.
const MAX_FAILURES: u32 = 3;
/// After an update failed (other than `QpsLimit`), the next one waits this long.
const FAILED_RETRY: Duration = Duration::from_secs(1);

/// A fresh card id: ours, unique, well under DingTalk's 64 characters.
#[must_use]
pub fn new_out_track_id() -> String {
    format!("ct_{}", uuid::Uuid::new_v4().simple())
}

/// An answer's text as its cards show it: only http(s) links, and at most `max_cards` cards
/// (the rest cut off with a note).
fn card_text(text: &str, max_bytes: usize, max_cards: usize) -> String {
    let safe = strip_unsafe(text);
    capped(&safe, max_bytes, max_cards, &format!("\n\n{TRUNCATED_NOTE}")).into_owned()
}

/// Final contents for cards that were never streamed (non-streaming card mode), in at most
/// `max_cards` cards.
#[must_use]
pub fn plan_fresh(text: &str, max_bytes: usize, max_cards: usize, failed: bool) -> Vec<CardPart> {
    split(&card_text(text, max_bytes, max_cards), max_bytes)
        .into_iter()
        .map(|piece| CardPart {
            out_track_id: new_out_track_id(),
            exists: false,
            text: piece.to_owned(),
            failed,
        })
        .collect()
}

/// The streaming card(s) of one turn.
pub struct CardTurn {
    account: Arc<CardAccount>,
    store: Arc<dyn Store>,
    space: CardSpace,
    meta: NewCard,
    cards: Vec<String>,
    /// At most this many cards for one answer (`limits.partsPerAnswer`).
    max_cards: usize,
    answer: String,
    status: Option<String>,
    throttle: Throttle,
    retry_at: Option<Instant>,
    failures: u32,
    calls: Arc<AtomicU32>,
    first_text_at: Option<Instant>,
    first_shown_at: Option<Instant>,
    /// Held until the card shows answer text: other turns read it to see the queue.
    awaiting: Option<AwaitingFirstText>,
}

impl std::fmt::Debug for CardTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardTurn")
            .field("cards", &self.cards)
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl CardTurn {
    /// Records and creates the turn's first card (showing [`WAITING`]), so the user sees the
    /// bot at work before the model answers.
    ///
    /// # Errors
    /// The card could not be created; the caller replies in markdown instead.
    pub async fn open(
        account: Arc<CardAccount>,
        store: Arc<dyn Store>,
        space: CardSpace,
        meta: NewCard,
    ) -> Result<Self, ApiCallError> {
        let mut turn = Self::without_cards(account, store, space, meta);
        turn.create_card().await?;
        Ok(turn)
    }

    /// Takes over a card an earlier run of the same turn left streaming (a replica killed,
    /// a process crashed), so the user keeps one card that completes instead of a dead one
    /// above a second. One update re-showing `shown` (what the card showed last) proves the
    /// card still takes updates.
    ///
    /// # Errors
    /// The card refused the update (gone, already final): the caller closes it and opens a
    /// new one.
    pub async fn adopt(
        account: Arc<CardAccount>,
        store: Arc<dyn Store>,
        space: CardSpace,
        meta: NewCard,
        out_track_id: &str,
        shown: &str,
    ) -> Result<Self, ApiCallError> {
        let mut turn = Self::without_cards(account, store, space, meta);
        if !shown.trim().is_empty() {
            // The user already sees answer text: this turn no longer queues for a first one.
            turn.awaiting = None;
        }
        let shown = if shown.trim().is_empty() { WAITING } else { shown };
        turn.account
            .try_stream(out_track_id, shown, true, &turn.calls)
            .await?;
        turn.cards.push(out_track_id.to_owned());
        Ok(turn)
    }

    fn without_cards(
        account: Arc<CardAccount>,
        store: Arc<dyn Store>,
        space: CardSpace,
        meta: NewCard,
    ) -> Self {
        let settings = &account.settings;
        let throttle = Throttle::new(settings.min_interval, settings.update_tokens);
        let awaiting = Some(account.await_first_text());
        Self {
            account,
            store,
            space,
            meta,
            cards: Vec::new(),
            max_cards: usize::MAX,
            answer: String::new(),
            status: None,
            throttle,
            retry_at: None,
            failures: 0,
            calls: Arc::new(AtomicU32::new(0)),
            first_text_at: None,
            first_shown_at: None,
            awaiting,
        }
    }

    /// Caps the answer at `max_cards` cards: what does not fit is cut off with a note, while
    /// streaming as in the final update.
    #[must_use]
    pub fn limit_cards(mut self, max_cards: usize) -> Self {
        self.max_cards = max_cards.max(1);
        self
    }

    /// The `outTrackId`s of the turn's cards, oldest first.
    #[must_use]
    pub fn card_ids(&self) -> &[String] {
        &self.cards
    }

    /// When the card first showed answer text, if it did.
    #[must_use]
    pub fn first_shown_at(&self) -> Option<Instant> {
        self.first_shown_at
    }

    /// Card API calls this turn made so far.
    #[must_use]
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The counter the final updates add to.
    #[must_use]
    pub fn call_counter(&self) -> Arc<AtomicU32> {
        Arc::clone(&self.calls)
    }

    /// Time from the model's first answer token to that text being shown in the card.
    #[must_use]
    pub fn first_text_latency(&self) -> Option<Duration> {
        Some(self.first_shown_at?.duration_since(self.first_text_at?))
    }

    /// Card variables set at creation are limited to 1 KB each, so a card starts with
    /// [`WAITING`] and gets its text by streaming.
    async fn create_card(&mut self) -> Result<(), ApiCallError> {
        let id = new_out_track_id();
        let record = NewCard {
            out_track_id: id.clone(),
            ..self.meta.clone()
        };
        let record = async {
            if let Err(error) = self.store.card_open(record, self.account.clock().now()).await {
                // The card still works; only crash recovery loses sight of it.
                tracing::warn!(%error, "could not record an AI card");
            }
        };
        self.account
            .create(&id, &self.space, WAITING, &self.calls, record)
            .await?;
        self.cards.push(id);
        Ok(())
    }

    /// Shows the turn's events until the turn ends (the sender side is dropped).
    pub async fn drive(&mut self, events: &mut UnboundedReceiver<AgentEvent>) {
        loop {
            let wake = match self.throttle.due(Instant::now()) {
                Due::At(at) => Some(self.retry_at.map_or(at, |r| r.max(at))),
                Due::Now => Some(self.retry_at.unwrap_or_else(Instant::now)),
                Due::Idle => None,
            };
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.apply(event),
                    None => return,
                },
                () = sleep_until(wake) => {}
            }
            if self.failures < MAX_FAILURES
                && self.retry_at.is_none_or(|r| Instant::now() >= r)
                && self.throttle.due(Instant::now()) == Due::Now
            {
                self.push().await;
            }
        }
    }

    fn apply(&mut self, event: AgentEvent) {
        match event {
            AgentEvent::RoundStart => {
                if !self.answer.is_empty() {
                    self.answer.clear();
                    self.throttle.on_status();
                }
            }
            AgentEvent::Text(text) => {
                self.first_text_at.get_or_insert_with(Instant::now);
                self.answer.push_str(&text);
                self.status = None;
                self.throttle.on_token();
            }
            AgentEvent::Reasoning(_) => {
                if self.answer.is_empty() && self.status.is_none() {
                    self.status = Some(notices::REASONING.to_owned());
                    self.throttle.on_status();
                }
            }
            AgentEvent::ToolStart(name) => {
                self.status = Some(notices::using_tool(&name));
                self.throttle.on_status();
            }
            AgentEvent::ToolDone(name) => {
                self.status = Some(notices::tool_done(&name));
                self.throttle.on_status();
            }
        }
    }

    /// What the card shows now: the status line (collapsed into a quote) above the answer.
    fn display(&self) -> String {
        match (&self.status, self.answer.is_empty()) {
            (Some(status), true) => status.clone(),
            (Some(status), false) => format!("> {status}\n\n{}", self.answer),
            (None, false) => self.answer.clone(),
            (None, true) => WAITING.to_owned(),
        }
    }

    async fn push(&mut self) {
        let max_bytes = self.account.settings.max_bytes;
        let display = card_text(&self.display(), max_bytes, self.max_cards);
        let pieces = split(&display, max_bytes);
        let now = Instant::now();
        // The answer outgrew the card: the next card takes the overflow.
        let grown = if pieces.len() > self.cards.len() {
            self.create_card().await
        } else {
            Ok(())
        };
        let result = match grown {
            Ok(()) => {
                let (Some(id), Some(piece)) = (
                    self.cards.last().cloned(),
                    pieces.get(self.cards.len().saturating_sub(1)),
                ) else {
                    return;
                };
                let first_text = self.first_shown_at.is_none() && !self.answer.is_empty();
                self.account.try_stream(&id, piece, first_text, &self.calls).await
            }
            Err(error) => Err(error),
        };
        match result {
            Ok(Streamed::Shown) => {
                self.retry_at = None;
                self.throttle.pushed(now);
                if let Some(first) = self.first_text_at
                    && self.first_shown_at.is_none()
                    && !self.answer.is_empty()
                {
                    let shown = Instant::now();
                    self.first_shown_at = Some(shown);
                    self.awaiting = None;
                    self.account.record_first_text(shown.duration_since(first));
                }
                if let (Some(id), Some(piece)) = (self.cards.last(), pieces.last()) {
                    let _ = self
                        .store
                        .card_progress(id, piece, self.account.clock().now())
                        .await;
                }
            }
            Ok(Streamed::Skipped(after)) => self.retry_at = Some(Instant::now() + after),
            Err(error) => {
                self.failures += 1;
                self.retry_at = Some(Instant::now() + FAILED_RETRY);
                tracing::warn!(%error, failures = self.failures, "AI card update failed; the final update will carry the whole answer");
            }
        }
    }

    /// Maps the final answer onto the turn's cards; cards the answer no longer needs (it
    /// shrank after a tool round) are closed now with a note, never left blank.
    pub async fn finish(self, text: &str, failed: bool) -> Vec<CardPart> {
        let max_bytes = self.account.settings.max_bytes;
        let text = card_text(text, max_bytes, self.max_cards);
        let pieces = split(&text, max_bytes);
        let mut parts: Vec<CardPart> = pieces
            .iter()
            .enumerate()
            .map(|(i, piece)| CardPart {
                out_track_id: self.cards.get(i).cloned().unwrap_or_else(new_out_track_id),
                exists: i < self.cards.len(),
                text: (*piece).to_owned(),
                failed,
            })
            .collect();
        for id in self.cards.iter().skip(pieces.len()) {
            let note = notices::CARD_MERGED_ABOVE;
            if let Err(error) = self.account.finalize(id, note, true, &self.calls).await {
                tracing::warn!(%error, "could not close a superseded AI card");
            }
            let _ = self
                .store
                .card_close(id, CardStatus::Failed, note, self.account.clock().now())
                .await;
        }
        parts.shrink_to_fit();
        parts
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::plan_fresh;
    use crate::chunk::TRUNCATED_NOTE;

    #[test]
    fn card_text_keeps_only_http_links() {
        let parts = plan_fresh(
            "Click [here](javascript:alert(1)) or ![x](data:image/png;base64,AA) — [docs](https://e.com/d)",
            4000,
            usize::MAX,
            false,
        );
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].text, "Click here or x — [docs](https://e.com/d)");
    }

    #[test]
    fn a_huge_answer_fills_at_most_the_capped_number_of_cards() {
        let answer = "lorem ipsum ".repeat(250_000);
        let parts = plan_fresh(&answer, 8_000, 10, false);
        assert_eq!(parts.len(), 10);
        assert!(parts.iter().all(|p| p.text.len() <= 8_000));
        assert!(parts[9].text.ends_with(TRUNCATED_NOTE), "{}", parts[9].text);
        assert!(parts[..9].iter().all(|p| !p.text.contains(TRUNCATED_NOTE)));
    }
}
