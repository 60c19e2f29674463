//! What a running turn reports while it works: answer text as it streams, reasoning, tools.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    text: Arc<AtomicBool>,
}

/// Stops an observer's text events once its listener has what it needs (an answer's
/// opening needs its first words, not every token).
#[derive(Debug, Clone)]
pub struct TextTap(Arc<AtomicBool>);

impl TextTap {
    /// No more text or reasoning events; rounds and tools still come.
    pub fn close(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
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
            text: Arc::new(AtomicBool::new(true)),
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
            text: Arc::new(AtomicBool::new(false)),
        };
        (observer, rx)
    }

    /// [`Observer::channel`] with text until the [`TextTap`] closes.
    #[must_use]
    pub fn channel_with_text_tap() -> (Self, mpsc::UnboundedReceiver<AgentEvent>, TextTap) {
        let (observer, rx) = Self::channel();
        let tap = TextTap(Arc::clone(&observer.text));
        (observer, rx, tap)
    }

    /// Whether text events reach a listener; checked before a delta is copied for one.
    #[must_use]
    pub fn wants_text(&self) -> bool {
        self.tx.is_some() && self.text.load(Ordering::Relaxed)
    }

    /// Reports `event`; a listener that went away is not the turn's problem.
    pub fn send(&self, event: AgentEvent) {
        if let Some(tx) = &self.tx {
            if matches!(event, AgentEvent::Text(_) | AgentEvent::Reasoning(_))
                && !self.text.load(Ordering::Relaxed)
            {
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
    fn a_closed_tap_stops_text_but_not_rounds_or_tools() {
        let (observer, mut rx, tap) = Observer::channel_with_text_tap();
        observer.send(AgentEvent::Text("first words".into()));
        tap.close();
        assert!(!observer.wants_text());
        observer.send(AgentEvent::Text("the rest".into()));
        observer.send(AgentEvent::RoundStart);
        assert_eq!(rx.try_recv(), Ok(AgentEvent::Text("first words".into())));
        assert_eq!(rx.try_recv(), Ok(AgentEvent::RoundStart));
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
