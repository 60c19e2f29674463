//! What a running turn reports while it works: answer text as it streams, reasoning, tools.

use tokio::sync::mpsc;

use crate::llm::{ChatResponse, ChatStream, LlmError, StreamEvent};

/// One thing that happened in a running turn.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentEvent {
    /// A model round starts: answer text streamed so far belonged to a round that ended in
    /// tool calls, so a display should start the answer afresh.
    RoundStart,
    /// A piece of the answer.
    Text(String),
    /// A piece of the model's reasoning (not part of the answer).
    Reasoning(String),
    /// A tool is being called.
    ToolStart(String),
    /// The tool finished.
    ToolDone(String),
}

/// Where a turn reports its [`AgentEvent`]s; a no-op when nobody listens.
#[derive(Debug, Clone, Default)]
pub struct Observer(Option<mpsc::UnboundedSender<AgentEvent>>);

impl Observer {
    /// Reports nothing.
    #[must_use]
    pub fn none() -> Self {
        Self(None)
    }

    /// Reports into `tx`.
    #[must_use]
    pub fn new(tx: mpsc::UnboundedSender<AgentEvent>) -> Self {
        Self(Some(tx))
    }

    /// A pair of observer and the receiving end.
    #[must_use]
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<AgentEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self::new(tx), rx)
    }

    /// Reports `event`; a listener that went away is not the turn's problem.
    pub fn send(&self, event: AgentEvent) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(event);
        }
    }
}

/// Collects a streamed answer, reporting its text and reasoning on the way.
pub(super) async fn collect_observed(
    stream: ChatStream,
    observer: &Observer,
) -> Result<ChatResponse, LlmError> {
    stream
        .collect_response_with(|event| match event {
            StreamEvent::ContentDelta(text) if !text.is_empty() => {
                observer.send(AgentEvent::Text(text.clone()))
            }
            StreamEvent::ReasoningDelta(text) if !text.is_empty() => {
                observer.send(AgentEvent::Reasoning(text.clone()));
            }
            _ => {}
        })
        .await
}
