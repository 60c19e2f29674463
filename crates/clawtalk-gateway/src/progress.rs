//! Progress notes in markdown mode: a short message when the agent starts using tools, so a
//! long turn does not look dead. (Cards show the same in their status line.) Notes go
//! through the turn's outbox, so a turn run again after a crash does not repeat them.

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use super::Shared;
use super::reply::TurnOutbox;
use clawtalk_agent::AgentEvent;
use clawtalk_core::inbound::InboundMessage;

/// Notes per turn at most: each is a message against the conversation's 20/min budget.
const MAX_NOTES: usize = 2;

/// Sends tool-progress notes for one turn, or only drains the events when notes are off.
pub(crate) struct Notes {
    outbox: Option<Arc<TurnOutbox>>,
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
        }
    }

    /// Reads the turn's events until it ends, noting each tool round (up to [`MAX_NOTES`]).
    /// Notes are sent on their own tasks, one after the other, so the turn never waits for
    /// one (see [`TurnOutbox::answer_goes`]).
    pub(crate) async fn drive(&self, events: &mut UnboundedReceiver<AgentEvent>) {
        let mut sent = 0;
        let mut in_round = false;
        let mut previous: Option<JoinHandle<()>> = None;
        while let Some(event) = events.recv().await {
            match event {
                AgentEvent::RoundStart => in_round = false,
                AgentEvent::ToolStart(name) if !in_round && sent < MAX_NOTES => {
                    in_round = true;
                    sent += 1;
                    if let Some(outbox) = &self.outbox {
                        let outbox = Arc::clone(outbox);
                        let text = clawtalk_core::notices::using_tool_note(&name);
                        let before = previous.take();
                        previous = Some(tokio::spawn(async move {
                            if let Some(before) = before {
                                // Its outcome is its own; only the order matters here.
                                let _ = before.await;
                            }
                            outbox.note(text).await;
                        }));
                    }
                }
                _ => {}
            }
        }
    }
}
