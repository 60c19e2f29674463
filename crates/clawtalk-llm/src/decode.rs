//! Turns SSE events of a chat completions stream into [`StreamEvent`]s.
//!
//! Pure (no I/O) so that every provider oddity can be unit-tested with literal chunks:
//! empty `choices`, a usage-only final chunk, usage inside the choice (Kimi), missing
//! `[DONE]`, tool-call fragments with or without `index`, and error objects mid-stream.

use std::collections::{BTreeMap, VecDeque};

use dingtalk::Secret;
use serde_json::Value;

use super::error::{ErrorBody, LlmError, is_content_filter, is_rate_limit_code, scrub};
use super::sse::SseEvent;
use super::types::{
    ChatResponse, StreamEvent, ToolCall, WireChunk, WireResponse, WireToolCallDelta, content_text,
    real_finish_reason,
};

/// Decoder state of one stream.
#[derive(Debug)]
pub struct Decoder {
    key: Secret,
    request_id: Option<String>,
    /// Tool calls being assembled, by index.
    calls: BTreeMap<u32, ToolCall>,
    /// Index of the last fragment, for providers that omit `index` on continuation fragments.
    last_index: Option<u32>,
    calls_emitted: bool,
    finish_reason: Option<String>,
    done: bool,
}

impl Decoder {
    pub fn new(request_id: Option<String>, key: Secret) -> Self {
        Self {
            key,
            request_id,
            calls: BTreeMap::new(),
            last_index: None,
            calls_emitted: false,
            finish_reason: None,
            done: false,
        }
    }

    /// The request id from the headers, or else from the first chunk (`request_id` or `id`).
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// True once [`StreamEvent::Done`] was produced; nothing after it matters.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Handles one SSE event.
    pub fn on_event(&mut self, ev: &SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<(), LlmError> {
        if self.done {
            return Ok(());
        }
        let data = ev.data.trim();
        if data.is_empty() {
            return Ok(()); // empty keep-alive `data:` lines
        }
        if data == "[DONE]" {
            self.finish(out);
            return Ok(());
        }
        // Straight into the chunk type: going through a `Value` first cost a fifth of the
        // model call's CPU. Anything else (an error event, an `error` field, a body that is
        // not a chunk) is rare and takes the thorough path.
        let chunk = match serde_json::from_str::<WireChunk>(data) {
            Ok(chunk)
                if ev.event.as_deref() != Some("error")
                    && chunk.error.as_ref().is_none_or(Value::is_null) =>
            {
                chunk
            }
            _ => return Err(self.not_a_chunk(ev, data)),
        };
        if self.request_id.is_none() {
            self.request_id = chunk.request_id.or(chunk.id);
        }
        // `n > 1` is never requested, so only the first choice is ours.
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            let d = choice.delta;
            if let Some(r) = d.reasoning_content.or(d.reasoning).filter(|r| !r.is_empty()) {
                out.push_back(StreamEvent::ReasoningDelta(r));
            }
            if let Some(c) = d.content.filter(|c| !c.is_empty()) {
                out.push_back(StreamEvent::ContentDelta(c));
            }
            for (pos, frag) in d.tool_calls.unwrap_or_default().into_iter().enumerate() {
                self.on_tool_fragment(pos, frag, out);
            }
            if let Some(u) = choice.usage {
                out.push_back(StreamEvent::Usage(u));
            }
            if let Some(reason) = real_finish_reason(choice.finish_reason) {
                self.finish_reason = Some(reason);
                self.flush_calls(out);
            }
        }
        if let Some(u) = chunk.usage {
            out.push_back(StreamEvent::Usage(u));
        }
        Ok(())
    }

    /// Why an event that is not a plain chunk fails the stream: a provider's error report
    /// (plain text or JSON), or else the reason it does not decode.
    fn not_a_chunk(&self, ev: &SseEvent, data: &str) -> LlmError {
        let is_error_event = ev.event.as_deref() == Some("error");
        let value: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(_) if is_error_event => {
                return LlmError::Provider {
                    code: None,
                    message: scrub(data, self.key.expose()),
                    request_id: self.request_id.clone(),
                };
            }
            Err(e) => return self.decode_error(&e, data),
        };
        if is_error_event || ErrorBody::is_error(&value) {
            return in_body_error(&value, self.request_id.clone(), &self.key);
        }
        match serde_json::from_value::<WireChunk>(value) {
            Err(e) => self.decode_error(&e, data),
            // Only if the two decoders ever disagreed; still an event we cannot use.
            Ok(_) => LlmError::Decode {
                message: "the event is not a chat completion chunk".to_owned(),
                snippet: scrub(data, self.key.expose()),
                request_id: self.request_id.clone(),
            },
        }
    }

    /// Handles the end of the body. `rest` is an event the parser was still building.
    pub fn on_eof(
        &mut self,
        rest: Option<SseEvent>,
        out: &mut VecDeque<StreamEvent>,
    ) -> Result<(), LlmError> {
        if let Some(ev) = rest.filter(|_| !self.done) {
            let data = ev.data.trim();
            // The server may simply have left out the final blank line; only a piece of JSON
            // that does not parse means the body was cut inside an event.
            if data == "[DONE]" || serde_json::from_str::<Value>(data).is_ok() {
                self.on_event(&ev, out)?;
            } else {
                return Err(self.truncated("the body ended in the middle of an event"));
            }
        }
        if self.done {
            return Ok(());
        }
        if self.finish_reason.is_some() {
            // Finished but no `[DONE]`: some providers never send it.
            self.finish(out);
            return Ok(());
        }
        Err(self.truncated("the body ended before the model finished (no finish_reason and no [DONE])"))
    }

    pub fn truncated(&self, reason: &str) -> LlmError {
        LlmError::Truncated {
            reason: reason.to_owned(),
            request_id: self.request_id.clone(),
            before_output: false,
        }
    }

    fn on_tool_fragment(&mut self, pos: usize, frag: WireToolCallDelta, out: &mut VecDeque<StreamEvent>) {
        let id = frag.id.filter(|s| !s.is_empty());
        let (name, arguments) = match frag.function {
            Some(f) => (f.name.filter(|n| !n.is_empty()), f.arguments.unwrap_or_default()),
            None => (None, String::new()),
        };
        let next_free = self.calls.keys().next_back().map_or(0, |i| i + 1);
        let index = match (frag.index, &id) {
            (Some(i), _) => i,
            // No index: a known id continues its call, a new id starts one.
            (None, Some(id)) => self
                .calls
                .iter()
                .find(|(_, c)| &c.id == id)
                .map_or(next_free, |(i, _)| *i),
            // Neither: continue the last call, unless this fragment names another function.
            (None, None) => match self.last_index {
                Some(last) => {
                    let last_name = self.calls.get(&last).map(|c| c.name.as_str());
                    match (&name, last_name) {
                        (Some(n), Some(l)) if !l.is_empty() && n != l => next_free,
                        _ => last,
                    }
                }
                None => pos as u32,
            },
        };
        self.last_index = Some(index);
        let call = self.calls.entry(index).or_default();
        let new_id = match id {
            Some(id) if call.id.is_empty() => {
                call.id.clone_from(&id);
                Some(id)
            }
            _ => None,
        };
        // Names arrive whole; some providers repeat them on every fragment.
        let new_name = match name {
            Some(n) if call.name.is_empty() => {
                call.name.clone_from(&n);
                Some(n)
            }
            _ => None,
        };
        call.arguments.push_str(&arguments);
        out.push_back(StreamEvent::ToolCallDelta {
            index,
            id: new_id,
            name: new_name,
            arguments,
        });
    }

    fn flush_calls(&mut self, out: &mut VecDeque<StreamEvent>) {
        if self.calls_emitted || self.calls.is_empty() {
            return;
        }
        self.calls_emitted = true;
        let calls = std::mem::take(&mut self.calls)
            .into_iter()
            .map(|(i, mut c)| {
                if c.id.is_empty() {
                    // Without an id the tool result could not be matched to its call.
                    c.id = format!("call_{i}");
                }
                c
            })
            .collect();
        out.push_back(StreamEvent::ToolCalls(calls));
    }

    fn finish(&mut self, out: &mut VecDeque<StreamEvent>) {
        self.flush_calls(out);
        out.push_back(StreamEvent::Done {
            finish_reason: self.finish_reason.clone(),
        });
        self.done = true;
    }

    fn decode_error(&self, e: &serde_json::Error, data: &str) -> LlmError {
        LlmError::Decode {
            message: e.to_string(),
            snippet: scrub(data, self.key.expose()),
            request_id: self.request_id.clone(),
        }
    }
}

/// An error object found in a 200 response body or stream event.
pub fn in_body_error(v: &Value, request_id: Option<String>, key: &Secret) -> LlmError {
    let b = ErrorBody::parse(v);
    let message = scrub(b.message.as_deref().unwrap_or("unspecified error"), key.expose());
    let request_id = request_id.or(b.request_id);
    if is_rate_limit_code(b.code.as_deref()) {
        LlmError::RateLimited {
            retry_after: None,
            message,
            request_id,
        }
    } else if is_content_filter(b.code.as_deref(), &message) {
        LlmError::ContentFiltered { message, request_id }
    } else {
        LlmError::Provider {
            code: b.code,
            message,
            request_id,
        }
    }
}

/// Converts a non-streamed response body.
pub fn response_from_wire(
    wire: WireResponse,
    header_request_id: Option<String>,
) -> Result<ChatResponse, String> {
    let request_id = header_request_id.or(wire.request_id).or_else(|| wire.id.clone());
    let choice = wire
        .choices
        .into_iter()
        .next()
        .ok_or("the response has no choices")?;
    let msg = choice.message;
    Ok(ChatResponse {
        id: wire.id,
        model: wire.model,
        content: msg.content.as_ref().map(content_text).unwrap_or_default(),
        reasoning: msg.reasoning_content.filter(|r| !r.is_empty()),
        tool_calls: msg
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                if c.id.is_empty() {
                    c.id = format!("call_{i}");
                }
                c
            })
            .collect(),
        finish_reason: real_finish_reason(choice.finish_reason),
        usage: wire.usage,
        request_id,
    })
}

/// The events a stream would have produced for a complete response (for providers that
/// answer a streaming request with plain JSON).
pub fn events_from_response(r: ChatResponse) -> Vec<StreamEvent> {
    let mut v = Vec::new();
    if let Some(reasoning) = r.reasoning {
        v.push(StreamEvent::ReasoningDelta(reasoning));
    }
    if !r.content.is_empty() {
        v.push(StreamEvent::ContentDelta(r.content));
    }
    if !r.tool_calls.is_empty() {
        v.push(StreamEvent::ToolCalls(r.tool_calls));
    }
    if let Some(u) = r.usage {
        v.push(StreamEvent::Usage(u));
    }
    v.push(StreamEvent::Done {
        finish_reason: r.finish_reason,
    });
    v
}

#[cfg(test)]
mod tests {
    use super::super::types::Usage;
    use super::*;

    fn run(datas: &[&str], eof_rest: Option<&str>) -> Result<Vec<StreamEvent>, LlmError> {
        let mut d = Decoder::new(None, Secret::new("sk-test-key"));
        let mut out = VecDeque::new();
        for data in datas {
            d.on_event(
                &SseEvent {
                    data: (*data).to_owned(),
                    ..SseEvent::default()
                },
                &mut out,
            )?;
        }
        d.on_eof(
            eof_rest.map(|r| SseEvent {
                data: r.to_owned(),
                ..SseEvent::default()
            }),
            &mut out,
        )?;
        Ok(out.into())
    }

    fn done(reason: &str) -> StreamEvent {
        StreamEvent::Done {
            finish_reason: Some(reason.to_owned()),
        }
    }

    #[test]
    fn text_reasoning_usage_and_done() {
        let ev = run(
            &[
                r#"{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning_content":"think"}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"content":"Hel","reasoning_content":null},"finish_reason":null}],"x_extra":1}"#,
                r#"{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}"#,
                r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
                "[DONE]",
            ],
            None,
        )
        .unwrap();
        assert_eq!(
            ev,
            vec![
                StreamEvent::ReasoningDelta("think".into()),
                StreamEvent::ContentDelta("Hel".into()),
                StreamEvent::ContentDelta("lo".into()),
                StreamEvent::Usage(Usage {
                    prompt_tokens: 3,
                    completion_tokens: 2
                }),
                done("stop"),
            ]
        );
    }

    #[test]
    fn missing_done_after_finish_is_fine_but_without_finish_is_truncated() {
        let ok = run(
            &[r#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop","usage":{"prompt_tokens":1,"completion_tokens":1}}]}"#],
            None,
        )
        .unwrap();
        assert_eq!(ok.last(), Some(&done("stop")));
        assert!(ok.contains(&StreamEvent::Usage(Usage {
            prompt_tokens: 1,
            completion_tokens: 1
        })));
        let cut = run(&[r#"{"choices":[{"index":0,"delta":{"content":"x"}}]}"#], None);
        assert!(matches!(cut, Err(LlmError::Truncated { .. })), "{cut:?}");
        let mid = run(
            &[r#"{"choices":[{"index":0,"delta":{"content":"x"}}]}"#],
            Some(r#"{"choices":[{"ind"#),
        );
        assert!(matches!(mid, Err(LlmError::Truncated { .. })), "{mid:?}");
        let unterminated_done = run(
            &[r#"{"choices":[{"index":0,"delta":{"content":"x"}}]}"#],
            Some("[DONE]"),
        )
        .unwrap();
        assert_eq!(
            unterminated_done.last(),
            Some(&StreamEvent::Done { finish_reason: None })
        );
    }

    #[test]
    fn tool_call_fragments_assemble_by_index() {
        let ev = run(
            &[
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","function":{"name":"now","arguments":"{}"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","function":{"name":"get_weather","arguments":"\"杭州\"}"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
                "[DONE]",
            ],
            None,
        )
        .unwrap();
        let calls = ev
            .iter()
            .find_map(|e| match e {
                StreamEvent::ToolCalls(c) => Some(c.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            calls,
            vec![
                ToolCall {
                    id: "call_a".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"杭州"}"#.into()
                },
                ToolCall {
                    id: "call_b".into(),
                    name: "now".into(),
                    arguments: "{}".into()
                },
            ]
        );
        assert_eq!(ev.last(), Some(&done("tool_calls")));
        assert_eq!(
            ev[0],
            StreamEvent::ToolCallDelta {
                index: 0,
                id: Some("call_a".into()),
                name: Some("get_weather".into()),
                arguments: String::new()
            }
        );
    }

    #[test]
    fn tool_calls_without_index_or_id() {
        let ev = run(
            &[
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"x1","function":{"name":"a","arguments":"{\"q\""}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":":1}"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"x2","function":{"name":"b","arguments":{"k":2}}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"name":"c","arguments":"{}"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            ],
            None,
        )
        .unwrap();
        let Some(StreamEvent::ToolCalls(calls)) = ev.iter().find(|e| matches!(e, StreamEvent::ToolCalls(_)))
        else {
            panic!("no tool calls in {ev:?}")
        };
        assert_eq!(calls.len(), 3, "{calls:?}");
        // The idless fragment without a name continued the first call.
        assert_eq!(calls[0].arguments, r#"{"q":1}"#);
        assert_eq!(calls[1].id, "x2");
        assert_eq!(calls[1].arguments, r#"{"k":2}"#);
        // A new function name without id or index starts a call and gets an id.
        assert_eq!((calls[2].name.as_str(), calls[2].id.as_str()), ("c", "call_2"));
    }

    #[test]
    fn error_objects_in_the_stream_are_typed() {
        let e = run(
            &[r#"{"error":{"message":"Internal error, key sk-test-key","code":"internal_error"},"request_id":"rq-9"}"#],
            None,
        )
        .unwrap_err();
        match &e {
            LlmError::Provider {
                code,
                message,
                request_id,
            } => {
                assert_eq!(code.as_deref(), Some("internal_error"));
                assert!(!message.contains("sk-test-key"));
                assert_eq!(request_id.as_deref(), Some("rq-9"));
            }
            other => panic!("{other:?}"),
        }
        let e = run(&[r#"{"error":{"code":"1302","message":"busy"}}"#], None).unwrap_err();
        assert!(matches!(e, LlmError::RateLimited { .. }));
        let mut d = Decoder::new(Some("h".into()), Secret::default());
        let e = d
            .on_event(
                &SseEvent {
                    event: Some("error".into()),
                    data: "upstream overloaded".into(),
                    id: None,
                },
                &mut VecDeque::new(),
            )
            .unwrap_err();
        assert!(matches!(e, LlmError::Provider { .. }));
        assert_eq!(e.request_id(), Some("h"));
        let bad = run(&["{not json"], None).unwrap_err();
        assert!(matches!(bad, LlmError::Decode { .. }));
    }

    #[test]
    fn request_id_falls_back_to_chunk_fields() {
        let mut d = Decoder::new(None, Secret::default());
        let mut out = VecDeque::new();
        d.on_event(
            &SseEvent {
                data: r#"{"id":"chatcmpl-1","request_id":"dash-1","choices":[]}"#.into(),
                ..SseEvent::default()
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(d.request_id(), Some("dash-1"));
    }

    #[test]
    fn non_streamed_response_conversion() {
        let wire: WireResponse = serde_json::from_str(
            r#"{"id":"c","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"r","tool_calls":[{"id":"","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#,
        )
        .unwrap();
        let r = response_from_wire(wire, None).unwrap();
        assert_eq!(r.content, "");
        assert_eq!(r.reasoning.as_deref(), Some("r"));
        assert_eq!(r.tool_calls[0].id, "call_0");
        assert_eq!(r.request_id.as_deref(), Some("c"));
        let ev = events_from_response(r);
        assert_eq!(ev.last(), Some(&done("tool_calls")));
        let empty: WireResponse = serde_json::from_str(r#"{"choices":[]}"#).unwrap();
        assert!(response_from_wire(empty, None).is_err());
    }
}
