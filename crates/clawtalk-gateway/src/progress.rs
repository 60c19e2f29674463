//! Progress notes in markdown mode: a short message when the agent starts using tools, so a
//! long turn does not look dead (cards show the same in their status line); and, for an
//! answer beyond the card quota, its opening (`opening.rs`). Both go through the turn's
//! outbox, so a turn run again after a crash does not repeat them.

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use super::Shared;
use super::opening;
use super::reply::TurnOutbox;
use clawtalk_agent::{AgentEvent, TextTap};
use clawtalk_core::inbound::InboundMessage;

/// Notes per turn at most: each is a message against the conversation's 20/min budget.
const MAX_NOTES: usize = 2;

/// Sends tool-progress notes for one turn, or only drains the events when notes are off.
pub(crate) struct Notes {
    outbox: Option<Arc<TurnOutbox>>,
    /// Where the answer's opening goes, and the tap to close once it went.
    opening: Option<(Arc<TurnOutbox>, TextTap)>,
}

impl Notes {
    /// Notes for `inbound` when the account wants them and the turn has no card. Scheduled
    /// runs post their answer only: nobody is watching a turn that nobody started.
    pub(crate) fn new(
        shared: &Shared,
        inbound: &InboundMessage,
        outbox: &Arc<TurnOutbox>,
        enabled: bool,
    ) -> Self {
        let wanted = enabled
            && inbound.cron.is_none()
            && shared.outbound_for(inbound).is_ok()
            && shared
                .account_settings(inbound.account_id.as_str())
                .is_some_and(|a| a.progress_notes);
        Self {
            outbox: wanted.then(|| Arc::clone(outbox)),
            opening: None,
        }
    }

    /// Also sends the answer's opening through `outbox` (the events carry text until `tap`
    /// closes).
    pub(crate) fn with_opening(mut self, outbox: &Arc<TurnOutbox>, tap: TextTap) -> Self {
        self.opening = Some((Arc::clone(outbox), tap));
        self
    }

    /// Reads the turn's events until it ends, noting each tool round (up to [`MAX_NOTES`]),
    /// and sending the answer's opening when it has one. Each message is sent on its own
    /// task, one after the other, so the turn never waits for one (see
    /// [`TurnOutbox::answer_goes`]).
    pub(crate) async fn drive(&self, events: &mut UnboundedReceiver<AgentEvent>) {
        let mut sends = Sends::default();
        let mut notes = 0;
        let mut in_round = false;
        let mut opening = self.opening.as_ref().map(|(outbox, tap)| Opening {
            outbox: Arc::clone(outbox),
            tap: tap.clone(),
            round: String::new(),
            due: None,
        });
        loop {
            let due = opening.as_ref().and_then(|o| o.due);
            let event = match due {
                Some(at) if at > tokio::time::Instant::now() => tokio::select! {
                    event = events.recv() => event,
                    () = tokio::time::sleep_until(at) => {
                        if opening.as_mut().is_some_and(|o| o.try_send(&mut sends)) {
                            opening = None;
                        }
                        continue;
                    }
                },
                _ => events.recv().await,
            };
            let Some(event) = event else { break };
            match event {
                AgentEvent::RoundStart => {
                    in_round = false;
                    if let Some(o) = opening.as_mut() {
                        o.round.clear();
                        o.due = None;
                    }
                }
                AgentEvent::ToolStart(name) if !in_round && notes < MAX_NOTES => {
                    in_round = true;
                    notes += 1;
                    if let Some(outbox) = &self.outbox {
                        let outbox = Arc::clone(outbox);
                        let text = clawtalk_core::notices::using_tool_note(&name);
                        sends.then(async move { outbox.note(text).await });
                    }
                }
                AgentEvent::Text(text) => {
                    if let Some(o) = opening.as_mut() {
                        o.round.push_str(&text);
                        let now = tokio::time::Instant::now();
                        let due = *o.due.get_or_insert(now + opening::OPENING_AFTER);
                        if due <= now && o.try_send(&mut sends) {
                            opening = None;
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// The turn's interim messages, each sent after the one before.
#[derive(Default)]
struct Sends {
    last: Option<JoinHandle<()>>,
}

impl Sends {
    fn then(&mut self, send: impl Future<Output = ()> + Send + 'static) {
        let before = self.last.take();
        self.last = Some(tokio::spawn(async move {
            if let Some(before) = before {
                // Its outcome is its own; only the order matters here.
                let _ = before.await;
            }
            send.await;
        }));
    }
}

/// An answer's opening while it is not yet sent.
struct Opening {
    outbox: Arc<TurnOutbox>,
    tap: TextTap,
    /// The current round's text so far.
    round: String,
    /// When the opening is due: [`opening::OPENING_AFTER`] after the round's first text.
    due: Option<tokio::time::Instant>,
}

impl Opening {
    /// Sends the opening if the text has a break to cut at; whether it did.
    fn try_send(&mut self, sends: &mut Sends) -> bool {
        let Some(at) = opening::cut(&self.round) else {
            return false;
        };
        // Its text is no longer needed: no event per token for the rest of the answer.
        self.tap.close();
        let outbox = Arc::clone(&self.outbox);
        let text = self.round[..at].to_owned();
        sends.then(async move { outbox.opening(text).await });
        true
    }
}
