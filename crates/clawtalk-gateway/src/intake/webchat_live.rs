//! WebChat answers as they are generated: the turn of a WebChat message publishes the text
//! the model has streamed so far (and the tool it is using), and the console follows it.
//!
//! An entry lives while its turn runs the agent: created when the turn starts, removed when
//! it ends (which closes every follower's channel). A follower that comes too early or too
//! late finds none and reads the inbox instead (see the console's chat stream).
//!
//! A tool call waiting for approval is published here too (see `approvals.rs`), so the page
//! shows the choice as buttons inline in the answer.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;

use crate::approvals::LiveApproval;
use clawtalk_agent::AgentEvent;
use clawtalk_store::InboundId;

/// A WebChat answer so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveAnswer {
    /// The answer text streamed so far (of the model's last round).
    pub text: String,
    /// The tool the agent is running, if any.
    pub tool: Option<String>,
    /// The tool call waiting for the operator's approval, if any.
    pub approval: Option<LiveApproval>,
}

/// The WebChat turns running now, by inbound message.
#[derive(Default)]
pub(crate) struct LiveAnswers {
    running: Mutex<HashMap<InboundId, watch::Sender<LiveAnswer>>>,
}

impl LiveAnswers {
    /// Follows the answer to `id` while its turn runs.
    pub(crate) fn follow(&self, id: InboundId) -> Option<watch::Receiver<LiveAnswer>> {
        self.running.lock().ok()?.get(&id).map(watch::Sender::subscribe)
    }

    /// Shows (or with `None` clears) the call of `id`'s turn that waits for approval.
    pub(crate) fn show_approval(&self, id: InboundId, approval: Option<LiveApproval>) {
        self.entry(id).send_modify(|live| live.approval = approval);
    }

    /// The turn's channel, created by whichever comes first: the turn's display or its gate.
    fn entry(&self, id: InboundId) -> watch::Sender<LiveAnswer> {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        running
            .entry(id)
            .or_insert_with(|| watch::channel(LiveAnswer::default()).0)
            .clone()
    }

    /// Publishes the turn's events for `id` until the turn ends.
    pub(crate) async fn drive(&self, id: InboundId, events: &mut UnboundedReceiver<AgentEvent>) {
        let tx = self.entry(id);
        let mut round_started = false;
        while let Some(event) = events.recv().await {
            match event {
                // A new round answers anew: what the model wrote before calling tools is
                // not part of the final answer.
                AgentEvent::RoundStart => round_started = true,
                AgentEvent::Text(delta) => tx.send_modify(|live| {
                    if round_started {
                        live.text.clear();
                        round_started = false;
                    }
                    live.tool = None;
                    live.text.push_str(&delta);
                }),
                AgentEvent::ToolStart(name) => tx.send_modify(|live| live.tool = Some(name)),
                AgentEvent::ToolDone(_) => tx.send_modify(|live| live.tool = None),
                _ => {}
            }
        }
        if let Ok(mut running) = self.running.lock() {
            running.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn followers_see_the_text_grow_and_the_end() {
        let live = std::sync::Arc::new(LiveAnswers::default());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        assert!(live.follow(7).is_none(), "nothing before the turn starts");
        let driving = {
            let live = std::sync::Arc::clone(&live);
            tokio::spawn(async move { live.drive(7, &mut rx).await })
        };
        let mut follower = loop {
            if let Some(f) = live.follow(7) {
                break f;
            }
            tokio::task::yield_now().await;
        };
        tx.send(AgentEvent::RoundStart).unwrap();
        tx.send(AgentEvent::Text("thinking aloud".into())).unwrap();
        tx.send(AgentEvent::ToolStart("web_fetch".into())).unwrap();
        follower
            .wait_for(|l| l.tool.as_deref() == Some("web_fetch"))
            .await
            .unwrap();
        tx.send(AgentEvent::ToolDone("web_fetch".into())).unwrap();
        tx.send(AgentEvent::RoundStart).unwrap();
        tx.send(AgentEvent::Text("The ".into())).unwrap();
        tx.send(AgentEvent::Text("answer".into())).unwrap();
        let seen = follower
            .wait_for(|l| l.text == "The answer")
            .await
            .unwrap()
            .clone();
        assert_eq!(seen.tool, None);
        drop(tx);
        driving.await.unwrap();
        assert!(follower.changed().await.is_err(), "the end closes the channel");
        assert!(live.follow(7).is_none(), "the entry is gone");
    }
}
