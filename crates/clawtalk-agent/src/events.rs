//! What a running turn reports while it works: answer text as it streams, reasoning, tools.

use tokio::sync::mpsc;

use clawtalk_llm::{ChatResponse, ChatStream, LlmError, StreamEvent};

pub use clawtalk_core::events::AgentEvent;

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
