//! What a running turn reports while it works: answer text as it streams, reasoning, tools.

use tokio::sync::mpsc;

use clawtalk_llm::{ChatResponse, ChatStream, LlmError, StreamEvent};

pub use clawtalk_core::events::AgentEvent;

/// Where a turn reports its [`AgentEvent`]s; a no-op when nobody listens.
#[derive(Debug, Clone, Default)]
pub struct Observer {
    tx: Option<mpsc::UnboundedSender<AgentEvent>>,
    /// Whether the listener draws the answer as it streams. One that only shows tool
    /// progress is not sent a message per token: at a burst's thousands of streaming answers
    /// those sends and wake-ups were a large share of the gateway's CPU.
    text: bool,
}

impl Observer {
    /// Reports nothing.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// Reports everything into `tx`.
    #[must_use]
    pub fn new(tx: mpsc::UnboundedSender<AgentEvent>) -> Self {
        Self {
            tx: Some(tx),
            text: true,
        }
    }

    /// A pair of observer and the receiving end.
    #[must_use]
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<AgentEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self::new(tx), rx)
    }

    /// [`Observer::channel`] for a listener of rounds and tools only: no answer or
    /// reasoning text is sent.
    #[must_use]
    pub fn channel_without_text() -> (Self, mpsc::UnboundedReceiver<AgentEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let observer = Self {
            tx: Some(tx),
            text: false,
        };
        (observer, rx)
    }

    /// Whether text events reach a listener; checked before a delta is copied for one.
    #[must_use]
    pub fn wants_text(&self) -> bool {
        self.text && self.tx.is_some()
    }

    /// Reports `event`; a listener that went away is not the turn's problem.
    pub fn send(&self, event: AgentEvent) {
        if let Some(tx) = &self.tx {
            if !self.text && matches!(event, AgentEvent::Text(_) | AgentEvent::Reasoning(_)) {
                return;
            }
            let _ = tx.send(event);
        }
    }
}

/// Collects a streamed answer, reporting its text and reasoning on the way.
pub(super) async fn collect_observed(
    stream: ChatStream,
    observer: &Observer,
) -> Result<ChatResponse, LlmError> {
    if !observer.wants_text() {
        return stream.collect_response().await;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_without_text_gets_rounds_and_tools_only() {
        let (observer, mut rx) = Observer::channel_without_text();
        assert!(!observer.wants_text());
        observer.send(AgentEvent::RoundStart);
        observer.send(AgentEvent::Text("token".into()));
        observer.send(AgentEvent::Reasoning("thought".into()));
        observer.send(AgentEvent::ToolStart("get_time".into()));
        assert_eq!(rx.try_recv(), Ok(AgentEvent::RoundStart));
        assert_eq!(rx.try_recv(), Ok(AgentEvent::ToolStart("get_time".into())));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_full_listener_gets_text() {
        let (observer, mut rx) = Observer::channel();
        assert!(observer.wants_text());
        observer.send(AgentEvent::Text("token".into()));
        assert_eq!(rx.try_recv(), Ok(AgentEvent::Text("token".into())));
        assert!(!Observer::none().wants_text());
    }
}
