//! [`Script`]: what the mock answers to one request.

use std::time::Duration;

use serde_json::Value;

/// One scripted answer. Queue it with [`crate::MockModel::push`]; each script answers one
/// request (the first queued script whose matcher accepts it) and is then used up.
///
/// The same script answers streamed and non-streamed requests: streamed, the text goes out
/// in the given chunks; non-streamed, joined in one JSON body.
#[derive(Debug, Clone)]
pub struct Script {
    pub(crate) kind: Kind,
    pub(crate) first_byte: Duration,
    pub(crate) per_chunk: Duration,
    pub(crate) truncate_after: Option<usize>,
    pub(crate) send_done: bool,
    pub(crate) matcher: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Reply(Reply),
    /// A non-2xx answer.
    Error {
        status: u16,
        body: String,
        retry_after: Option<Duration>,
    },
    /// Exact body chunks, for parser edge cases (CRLF, comments, odd splits).
    Raw {
        content_type: String,
        chunks: Vec<Vec<u8>>,
    },
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Reply {
    pub reasoning: Vec<String>,
    pub content: Vec<String>,
    pub tool_calls: Vec<ScriptedCall>,
    pub finish_reason: Option<String>,
    pub usage: Option<(u64, u64)>,
    /// Sent instead of the finish chunk: an error object inside the 200 stream.
    pub error: Option<Value>,
}

#[derive(Debug, Clone)]
pub(crate) struct ScriptedCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// Splits text into pieces of at most `max` characters (never inside a character), so that
/// streamed answers arrive in several chunks, as from a real model.
pub(crate) fn split_chars(text: &str, max: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(max.max(1)).map(|c| c.iter().collect()).collect()
}

impl Script {
    fn reply(reply: Reply) -> Self {
        Self {
            kind: Kind::Reply(reply),
            first_byte: Duration::ZERO,
            per_chunk: Duration::ZERO,
            truncate_after: None,
            send_done: true,
            matcher: None,
        }
    }

    /// A text answer, streamed in chunks of a few characters.
    pub fn text(text: impl AsRef<str>) -> Self {
        Self::chunks(split_chars(text.as_ref(), 8))
    }

    /// A text answer streamed in exactly these content chunks.
    pub fn chunks<I, S>(chunks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::reply(Reply {
            content: chunks.into_iter().map(Into::into).collect(),
            ..Reply::default()
        })
    }

    /// Reasoning (`reasoning_content` deltas, as DeepSeek and Qwen send) followed by the answer.
    pub fn reasoning_then_text(reasoning: impl AsRef<str>, text: impl AsRef<str>) -> Self {
        Self::reply(Reply {
            reasoning: split_chars(reasoning.as_ref(), 8),
            content: split_chars(text.as_ref(), 8),
            ..Reply::default()
        })
    }

    /// A tool call with id `call_0`; the arguments are streamed in fragments of a few
    /// characters, the way real models produce them.
    pub fn tool_call(name: impl Into<String>, arguments_json: impl Into<String>) -> Self {
        Self::reply(Reply::default()).and_tool_call(name, arguments_json)
    }

    /// Adds another tool call (id `call_<n>`, n counting from 0) to this answer.
    #[must_use]
    pub fn and_tool_call(mut self, name: impl Into<String>, arguments_json: impl Into<String>) -> Self {
        if let Kind::Reply(r) = &mut self.kind {
            r.tool_calls.push(ScriptedCall {
                id: format!("call_{}", r.tool_calls.len()),
                name: name.into(),
                arguments: arguments_json.into(),
            });
        }
        self
    }

    /// An HTTP error with this status and body (JSON or plain text).
    pub fn error(status: u16, body: impl Into<String>) -> Self {
        Self {
            kind: Kind::Error {
                status,
                body: body.into(),
                retry_after: None,
            },
            ..Self::reply(Reply::default())
        }
    }

    /// An HTTP 200 stream whose first event is this error object, e.g.
    /// `{"error":{"message":"…","code":"…"}}`.
    pub fn stream_error(error: Value) -> Self {
        Self::reply(Reply::default()).then_stream_error(error)
    }

    /// Exact body chunks with this content type, sent as they are.
    pub fn raw<I, B>(content_type: impl Into<String>, chunks: I) -> Self
    where
        I: IntoIterator<Item = B>,
        B: Into<Vec<u8>>,
    {
        Self {
            kind: Kind::Raw {
                content_type: content_type.into(),
                chunks: chunks.into_iter().map(Into::into).collect(),
            },
            ..Self::reply(Reply::default())
        }
    }

    /// For an error script: the `Retry-After` (and `retry-after-ms`) the mock sends.
    #[must_use]
    pub fn retry_after(mut self, wait: Duration) -> Self {
        if let Kind::Error { retry_after, .. } = &mut self.kind {
            *retry_after = Some(wait);
        }
        self
    }

    /// After the content chunks, send this error object instead of finishing.
    #[must_use]
    pub fn then_stream_error(mut self, error: Value) -> Self {
        if let Kind::Reply(r) = &mut self.kind {
            r.error = Some(error);
        }
        self
    }

    /// Waits `first_byte` before the first chunk (before the whole answer when not
    /// streamed) and `per_chunk` before each later chunk.
    #[must_use]
    pub fn delay(mut self, first_byte: Duration, per_chunk: Duration) -> Self {
        self.first_byte = first_byte;
        self.per_chunk = per_chunk;
        self
    }

    /// Cuts the connection after `n` body chunks (SSE events, counting the initial role
    /// chunk), without a finish reason or `[DONE]`.
    #[must_use]
    pub fn truncate_after(mut self, n: usize) -> Self {
        self.truncate_after = Some(n);
        self
    }

    /// Ends the stream cleanly after the finish chunk but leaves out `data: [DONE]`, as some
    /// providers do.
    #[must_use]
    pub fn without_done(mut self) -> Self {
        self.send_done = false;
        self
    }

    /// The finish reason (default `stop`, or `tool_calls` when the answer has tool calls).
    #[must_use]
    pub fn finish_reason(mut self, reason: impl Into<String>) -> Self {
        if let Kind::Reply(r) = &mut self.kind {
            r.finish_reason = Some(reason.into());
        }
        self
    }

    /// The token usage reported (default: derived from the sizes of prompt and answer).
    #[must_use]
    pub fn usage(mut self, prompt_tokens: u64, completion_tokens: u64) -> Self {
        if let Kind::Reply(r) = &mut self.kind {
            r.usage = Some((prompt_tokens, completion_tokens));
        }
        self
    }

    /// Only answers a request whose last user message contains `needle`; other requests
    /// skip this script and leave it queued.
    #[must_use]
    pub fn when_last_user_contains(mut self, needle: impl Into<String>) -> Self {
        self.matcher = Some(needle.into());
        self
    }

    pub(crate) fn matches(&self, last_user: Option<&str>) -> bool {
        match &self.matcher {
            None => true,
            Some(needle) => last_user.is_some_and(|t| t.contains(needle.as_str())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_characters_whole_and_reassembles() {
        let s = "你好，世界! hello there";
        let parts = split_chars(s, 4);
        assert!(parts.len() > 3);
        assert_eq!(parts.concat(), s);
        assert!(split_chars("", 4).is_empty());
    }

    #[test]
    fn matcher() {
        let s = Script::text("x").when_last_user_contains("weather");
        assert!(s.matches(Some("what's the weather")));
        assert!(!s.matches(Some("hi")));
        assert!(!s.matches(None));
        assert!(Script::text("x").matches(None));
    }
}
