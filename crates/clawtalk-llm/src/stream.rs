//! [`ChatStream`]: the events of one streamed answer, read from the HTTP body with
//! first-byte and idle timeouts.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{BoxStream, Stream, StreamExt};
use tokio::time::Instant;

use super::decode::Decoder;
use super::error::{LlmError, TimeoutPhase};
use super::sse::SseParser;
use super::transport::BodyStream;
use super::types::{ChatResponse, StreamEvent, Usage};

/// The events of one streamed answer.
///
/// Ends with [`StreamEvent::Done`], or with one `Err` (after which it yields nothing).
/// Dropping it closes the connection, which is how a caller cancels a generation.
pub struct ChatStream {
    inner: BoxStream<'static, Result<StreamEvent, LlmError>>,
    request_id: Option<String>,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl ChatStream {
    /// Wraps any stream of events, e.g. a scripted one in tests of code that consumes streams.
    pub fn from_stream<S>(request_id: Option<String>, events: S) -> Self
    where
        S: Stream<Item = Result<StreamEvent, LlmError>> + Send + 'static,
    {
        Self {
            inner: events.boxed(),
            request_id,
        }
    }

    /// The provider's request id, when known at the start of the stream.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// Reads the stream to its end and assembles the complete answer.
    pub async fn collect_response(self) -> Result<ChatResponse, LlmError> {
        self.collect_response_with(|_| {}).await
    }

    /// [`ChatStream::collect_response`], showing each event to `on_event` as it arrives (to
    /// display the answer while it streams).
    pub async fn collect_response_with(
        mut self,
        mut on_event: impl FnMut(&StreamEvent) + Send,
    ) -> Result<ChatResponse, LlmError> {
        let mut r = ChatResponse {
            request_id: self.request_id.clone(),
            ..ChatResponse::default()
        };
        while let Some(ev) = self.inner.next().await {
            let ev = ev?;
            on_event(&ev);
            match ev {
                StreamEvent::ContentDelta(t) => r.content.push_str(&t),
                StreamEvent::ReasoningDelta(t) => {
                    r.reasoning.get_or_insert_with(String::new).push_str(&t);
                }
                StreamEvent::ToolCalls(c) => r.tool_calls = c,
                StreamEvent::Usage(u) => r.usage = Some(u),
                StreamEvent::Done { finish_reason } => {
                    r.finish_reason = finish_reason;
                    return Ok(r);
                }
                StreamEvent::ToolCallDelta { .. } => {}
            }
        }
        Err(LlmError::Truncated {
            reason: "the event stream ended without Done".to_owned(),
            request_id: r.request_id,
            before_output: false,
        })
    }
}

impl Stream for ChatStream {
    type Item = Result<StreamEvent, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// Reads an SSE body chunk by chunk and decodes it, one event at a time.
pub struct Reader {
    body: BodyStream,
    parser: Option<SseParser>,
    decoder: Decoder,
    queue: VecDeque<StreamEvent>,
    /// No more reading: the answer is complete or failed.
    ended: bool,
    /// Until the first event is decoded, the first-byte budget applies (keep-alive comments
    /// and the empty role chunk do not count as output).
    first_byte_deadline: Option<Instant>,
    idle: Duration,
    first_byte: Duration,
    // For the closing log line.
    model: String,
    attempt: u32,
    started: Instant,
    usage: Option<Usage>,
}

impl Reader {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        body: BodyStream,
        decoder: Decoder,
        first_byte_deadline: Instant,
        first_byte: Duration,
        idle: Duration,
        model: String,
        attempt: u32,
        started: Instant,
    ) -> Self {
        Self {
            body,
            parser: Some(SseParser::new()),
            decoder,
            queue: VecDeque::new(),
            ended: false,
            first_byte_deadline: Some(first_byte_deadline),
            idle,
            first_byte,
            model,
            attempt,
            started,
            usage: None,
        }
    }

    pub fn request_id(&self) -> Option<String> {
        self.decoder.request_id().map(str::to_owned)
    }

    /// Puts back an event taken by [`Reader::next`] (the prefetched first event).
    pub fn unread(&mut self, ev: StreamEvent) {
        self.queue.push_front(ev);
    }

    /// The next event; `None` after `Done` or after an error was returned.
    pub async fn next(&mut self) -> Option<Result<StreamEvent, LlmError>> {
        loop {
            if let Some(ev) = self.queue.pop_front() {
                self.observe(&ev);
                return Some(Ok(ev));
            }
            if self.ended {
                return None;
            }
            if let Err(e) = self.read_more().await {
                self.ended = true;
                self.queue.clear();
                tracing::warn!(
                    model = %self.model,
                    request_id = e.request_id(),
                    attempt = self.attempt,
                    elapsed_ms = self.started.elapsed().as_millis() as u64,
                    error = %e,
                    "llm stream failed"
                );
                return Some(Err(e));
            }
        }
    }

    fn observe(&mut self, ev: &StreamEvent) {
        match ev {
            StreamEvent::Usage(u) => self.usage = Some(*u),
            StreamEvent::Done { finish_reason } => tracing::info!(
                model = %self.model,
                request_id = self.decoder.request_id(),
                attempt = self.attempt,
                latency_ms = self.started.elapsed().as_millis() as u64,
                finish_reason = finish_reason.as_deref(),
                prompt_tokens = self.usage.map(|u| u.prompt_tokens),
                completion_tokens = self.usage.map(|u| u.completion_tokens),
                "llm stream finished"
            ),
            _ => {}
        }
    }

    /// Reads one body chunk (or the end of the body) into the queue.
    async fn read_more(&mut self) -> Result<(), LlmError> {
        let (wait, phase) = match self.first_byte_deadline {
            Some(deadline) => (
                deadline.saturating_duration_since(Instant::now()),
                TimeoutPhase::FirstByte,
            ),
            None => (self.idle, TimeoutPhase::Idle),
        };
        let next = tokio::time::timeout(wait, self.body.next())
            .await
            .map_err(|_| LlmError::Timeout {
                phase,
                after: if phase == TimeoutPhase::FirstByte {
                    self.first_byte
                } else {
                    self.idle
                },
                request_id: self.request_id(),
            })?;
        let mut events = Vec::new();
        match next {
            Some(Ok(bytes)) => {
                if let Some(p) = self.parser.as_mut() {
                    p.push(&bytes, &mut events);
                }
            }
            Some(Err(e)) => {
                // A reset or a chunked body cut short: the answer is incomplete.
                return Err(self
                    .decoder
                    .truncated(&format!("reading the body failed: {}", error_chain(&*e))));
            }
            None => {
                self.ended = true;
                let rest = self.parser.take().and_then(SseParser::finish);
                return self.decoder.on_eof(rest, &mut self.queue);
            }
        }
        for ev in &events {
            self.decoder.on_event(ev, &mut self.queue)?;
            if self.decoder.is_done() {
                // Anything after `[DONE]` is ignored; dropping the body frees the connection.
                self.ended = true;
                break;
            }
        }
        if !self.queue.is_empty() {
            // The first real event: from now on only silence between chunks counts.
            self.first_byte_deadline = None;
        }
        Ok(())
    }
}

/// An error with its sources, which is where reqwest keeps the useful part.
pub use dingtalk::error::error_chain;

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    #[tokio::test]
    async fn collect_response_assembles_and_requires_done() {
        let events = vec![
            Ok(StreamEvent::ReasoningDelta("a".into())),
            Ok(StreamEvent::ReasoningDelta("b".into())),
            Ok(StreamEvent::ContentDelta("Hi".into())),
            Ok(StreamEvent::Done {
                finish_reason: Some("stop".into()),
            }),
        ];
        let r = ChatStream::from_stream(Some("r".into()), stream::iter(events))
            .collect_response()
            .await
            .unwrap();
        assert_eq!(r.content, "Hi");
        assert_eq!(r.reasoning.as_deref(), Some("ab"));
        assert_eq!(r.request_id.as_deref(), Some("r"));
        let cut = ChatStream::from_stream(
            None,
            stream::iter(vec![Ok(StreamEvent::ContentDelta("x".into()))]),
        )
        .collect_response()
        .await;
        assert!(matches!(cut, Err(LlmError::Truncated { .. })));
    }
}
