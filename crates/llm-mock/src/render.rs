//! Turns a [`Script`] into an HTTP response in the OpenAI chat completions format.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};

use crate::script::{Kind, Reply, Script, split_chars};

/// What the response needs to know about the request.
pub(crate) struct Ctx<'a> {
    pub request_id: &'a str,
    pub model: &'a str,
    pub stream: bool,
    /// A rough prompt size, for the default usage numbers.
    pub prompt_chars: usize,
    /// Ignore every delay (benchmarks).
    pub zero_delay: bool,
}

pub(crate) async fn render(script: Script, ctx: &Ctx<'_>) -> Response {
    let (first_byte, per_chunk) = if ctx.zero_delay {
        (Duration::ZERO, Duration::ZERO)
    } else {
        (script.first_byte, script.per_chunk)
    };
    match script.kind {
        Kind::Error {
            status,
            body,
            retry_after,
        } => {
            sleep(first_byte).await;
            let mut r = plain(status, body, ctx.request_id);
            if let Some(wait) = retry_after {
                let h = r.headers_mut();
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
                h.insert("retry-after-ms", HeaderValue::from(wait.as_millis() as u64));
            }
            r
        }
        Kind::Raw { content_type, chunks } => {
            let chunks = chunks.into_iter().map(Bytes::from).collect();
            streaming(
                chunks,
                &content_type,
                Pace {
                    first_byte,
                    per_chunk,
                    truncate_after: script.truncate_after,
                },
                ctx.request_id,
            )
        }
        Kind::Reply(reply) if ctx.stream => {
            let chunks = sse_chunks(&reply, ctx, script.send_done);
            streaming(
                chunks,
                "text/event-stream",
                Pace {
                    first_byte,
                    per_chunk,
                    truncate_after: script.truncate_after,
                },
                ctx.request_id,
            )
        }
        Kind::Reply(reply) => {
            sleep(first_byte).await;
            let body = match &reply.error {
                Some(err) => err.to_string(),
                None => full_body(&reply, ctx).to_string(),
            };
            match script.truncate_after {
                // Half a JSON body, then the connection drops.
                Some(_) => {
                    let half = Bytes::from(body.into_bytes());
                    let half = half.slice(..half.len() / 2);
                    streaming(
                        vec![half],
                        "application/json",
                        Pace {
                            truncate_after: Some(1),
                            ..Pace::default()
                        },
                        ctx.request_id,
                    )
                }
                None => plain(200, body, ctx.request_id),
            }
        }
    }
}

async fn sleep(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

fn finish_reason(r: &Reply) -> String {
    r.finish_reason.clone().unwrap_or_else(|| {
        if r.tool_calls.is_empty() {
            "stop".to_owned()
        } else {
            "tool_calls".to_owned()
        }
    })
}

fn usage(r: &Reply, ctx: &Ctx<'_>) -> Value {
    let (p, c) = r.usage.unwrap_or_else(|| {
        let answer: usize = r
            .content
            .iter()
            .chain(&r.reasoning)
            .map(|s| s.chars().count())
            .sum();
        ((ctx.prompt_chars / 2).max(1) as u64, (answer / 2).max(1) as u64)
    });
    json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c})
}

/// One `chat.completion.chunk` event, written straight from borrowed fields: answers stream
/// tens of them, and building a `Value` tree for each cost the mock more CPU per answer than
/// the gateway under test spends on the whole message.
#[derive(Serialize)]
struct ChunkEvent<'a, D> {
    id: &'a str,
    object: &'static str,
    created: u8,
    model: &'a str,
    choices: [ChunkChoice<'a, D>; 1],
}

#[derive(Serialize)]
struct ChunkChoice<'a, D> {
    index: u8,
    delta: D,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize)]
struct ContentDelta<'a> {
    content: &'a str,
}

#[derive(Serialize)]
struct ReasoningDelta<'a> {
    reasoning_content: &'a str,
}

fn chunk(ctx: &Ctx<'_>, id: &str, delta: impl Serialize, finish: Option<&str>) -> Bytes {
    sse(&ChunkEvent {
        id,
        object: "chat.completion.chunk",
        created: 0,
        model: ctx.model,
        choices: [ChunkChoice {
            index: 0,
            delta,
            finish_reason: finish,
        }],
    })
}

fn sse(v: &impl Serialize) -> Bytes {
    let mut out = b"data: ".to_vec();
    // Cannot fail: every type written here has string keys and no fallible Serialize.
    let _ = serde_json::to_writer(&mut out, v);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The SSE events of a streamed reply, one body chunk each.
fn sse_chunks(r: &Reply, ctx: &Ctx<'_>, send_done: bool) -> Vec<Bytes> {
    let id = format!("chatcmpl-{}", ctx.request_id);
    let id = id.as_str();
    let mut out = vec![chunk(ctx, id, json!({"role": "assistant", "content": ""}), None)];
    for piece in &r.reasoning {
        out.push(chunk(
            ctx,
            id,
            ReasoningDelta {
                reasoning_content: piece,
            },
            None,
        ));
    }
    for piece in &r.content {
        out.push(chunk(ctx, id, ContentDelta { content: piece }, None));
    }
    for (i, call) in r.tool_calls.iter().enumerate() {
        // Name and id first, then the arguments in fragments (the OpenAI pattern).
        out.push(chunk(
            ctx,
            id,
            json!({"tool_calls": [{"index": i, "id": call.id, "type": "function",
                   "function": {"name": call.name, "arguments": ""}}]}),
            None,
        ));
        for frag in split_chars(&call.arguments, 5) {
            out.push(chunk(
                ctx,
                id,
                json!({"tool_calls": [{"index": i, "function": {"arguments": frag}}]}),
                None,
            ));
        }
    }
    if let Some(err) = &r.error {
        out.push(sse(err));
        return out;
    }
    out.push(chunk(ctx, id, json!({}), Some(&finish_reason(r))));
    out.push(sse(&json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": 0,
        "model": ctx.model,
        "choices": [],
        "usage": usage(r, ctx),
    })));
    if send_done {
        out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    }
    out
}

fn full_body(r: &Reply, ctx: &Ctx<'_>) -> Value {
    let mut message = json!({"role": "assistant", "content": r.content.concat()});
    if !r.reasoning.is_empty() {
        message["reasoning_content"] = Value::String(r.reasoning.concat());
    }
    if !r.tool_calls.is_empty() {
        message["tool_calls"] = r
            .tool_calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
            .collect();
        if r.content.is_empty() {
            message["content"] = Value::Null;
        }
    }
    json!({
        "id": format!("chatcmpl-{}", ctx.request_id),
        "object": "chat.completion",
        "created": 0,
        "model": ctx.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(r)}],
        "usage": usage(r, ctx),
    })
}

/// A complete response; JSON bodies get a JSON content type.
pub(crate) fn plain(status: u16, body: String, request_id: &str) -> Response {
    let content_type = if serde_json::from_str::<Value>(&body).is_ok() {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    set_common(&mut r, content_type, request_id);
    r
}

fn set_common(r: &mut Response, content_type: &str, request_id: &str) {
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-request-id", v);
    }
}

#[derive(Default, Clone, Copy)]
struct Pace {
    first_byte: Duration,
    per_chunk: Duration,
    truncate_after: Option<usize>,
}

/// A 200 response whose body is sent chunk by chunk, paced, and maybe cut off.
///
/// Chunk k is due at `first_byte + k × per_chunk` from the request, on a fixed schedule: a
/// model generates at its own rate whatever the client's machine is doing, so a loaded
/// benchmark must not stretch its answers by adding each sleep's lateness to the next.
/// Chunks that are already due when the body is polled go out as one write, as a TCP stack
/// sends what queued behind a slow reader.
fn streaming(chunks: Vec<Bytes>, content_type: &str, pace: Pace, request_id: &str) -> Response {
    struct State {
        chunks: std::iter::Peekable<std::vec::IntoIter<Bytes>>,
        sent: usize,
        pace: Pace,
        start: tokio::time::Instant,
        stopped: bool,
    }
    impl State {
        fn due(&self, k: usize) -> tokio::time::Instant {
            let later = self.pace.per_chunk * u32::try_from(k).unwrap_or(u32::MAX);
            self.start + self.pace.first_byte + later
        }
    }
    let state = State {
        chunks: chunks.into_iter().peekable(),
        sent: 0,
        pace,
        start: tokio::time::Instant::now(),
        stopped: false,
    };
    let body = futures_util::stream::unfold(state, |mut s| async move {
        if s.stopped {
            return None;
        }
        if s.pace.truncate_after == Some(s.sent) {
            // An error from the body stream makes hyper drop the connection without the
            // final chunk, which is what a provider crash or network cut looks like. Pause
            // first: hyper flushes what it buffered only when the body is pending, and a
            // cut that loses the chunks already "sent" would test nothing.
            tokio::time::sleep(Duration::from_millis(5)).await;
            s.stopped = true;
            return Some((Err(std::io::Error::other("llm-mock: truncated on purpose")), s));
        }
        let first = s.chunks.next()?;
        let due = s.due(s.sent);
        if due > tokio::time::Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        s.sent += 1;
        let now = tokio::time::Instant::now();
        let mut merged: Option<Vec<u8>> = None;
        // Without a pace every chunk is due at once; they stay separate chunks, as the
        // pipeline benchmark's figures have always been measured.
        while !s.pace.per_chunk.is_zero()
            && s.chunks.peek().is_some()
            && s.pace.truncate_after != Some(s.sent)
            && s.due(s.sent) <= now
        {
            let Some(next) = s.chunks.next() else { break };
            merged
                .get_or_insert_with(|| first.to_vec())
                .extend_from_slice(&next);
            s.sent += 1;
        }
        let out = merged.map_or(first, Bytes::from);
        Some((Ok::<_, std::io::Error>(out), s))
    });
    let mut r = Response::new(Body::from_stream(body));
    set_common(&mut r, content_type, request_id);
    if content_type == "text/event-stream" {
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use tokio::time::Instant;

    fn body_of(chunks: &[&str], pace: Pace) -> axum::body::BodyDataStream {
        let chunks = chunks.iter().map(|c| Bytes::from(c.to_string())).collect();
        streaming(chunks, "text/event-stream", pace, "req-1")
            .into_body()
            .into_data_stream()
    }

    async fn next(body: &mut axum::body::BodyDataStream) -> String {
        let bytes = body.next().await.expect("a chunk").expect("no error");
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_reader_gets_what_is_due_at_once_and_the_schedule_does_not_stretch() {
        let start = Instant::now();
        let pace = Pace {
            first_byte: Duration::from_millis(100),
            per_chunk: Duration::from_millis(10),
            truncate_after: None,
        };
        let mut body = body_of(&["c0;", "c1;", "c2;", "c3;", "c4;", "c5;"], pace);
        // Back only once c0..c3 are due (at 100, 110, 120 and 130 ms).
        tokio::time::advance(Duration::from_millis(135)).await;
        assert_eq!(next(&mut body).await, "c0;c1;c2;c3;");
        // The rest keeps the model's schedule from the request, not from the late read.
        assert_eq!(next(&mut body).await, "c4;");
        assert_eq!(start.elapsed(), Duration::from_millis(140));
        assert_eq!(next(&mut body).await, "c5;");
        assert_eq!(start.elapsed(), Duration::from_millis(150));
        assert!(body.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_pace_chunks_stay_apart() {
        let mut body = body_of(&["a", "b", "c"], Pace::default());
        for expected in ["a", "b", "c"] {
            assert_eq!(next(&mut body).await, expected);
        }
        assert!(body.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_cut_comes_after_the_chunks_before_it_even_when_all_are_due() {
        let pace = Pace {
            first_byte: Duration::ZERO,
            per_chunk: Duration::from_millis(10),
            truncate_after: Some(2),
        };
        let mut body = body_of(&["a", "b", "c", "d"], pace);
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(next(&mut body).await, "ab");
        assert!(body.next().await.expect("the cut").is_err());
        assert!(body.next().await.is_none());
    }
}
