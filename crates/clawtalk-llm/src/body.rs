//! A request body in two parts: the request's own JSON and its tool list, serialized once per
//! list and shared.
//!
//! Why: a turn keeps its body until the model's first event (a retry sends it again), and
//! with thousands of turns waiting on a slow model at once, the tool schemas (the same in
//! every request of an agent) were most of every waiting turn's body. The shared part ends
//! the object, so the whole is still one JSON object; key order means nothing in JSON.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::types::{ChatRequest, ToolSpec};

/// Tool lists kept serialized: one per agent and tool policy in practice. A list that changes
/// with every request (MCP servers changing their tools) only evicts the oldest entry.
const CACHED_TOOL_LISTS: usize = 16;

/// A serialized request, cheap to clone: both parts are reference-counted.
#[derive(Debug, Clone)]
pub(crate) struct RequestBody {
    /// The request without its tools, and without its closing brace.
    own: Bytes,
    /// `,"tools":[…]}` (shared between requests), or the closing brace alone.
    tail: Bytes,
}

impl RequestBody {
    pub(crate) fn len(&self) -> usize {
        self.own.len() + self.tail.len()
    }

    /// Both parts, to be sent one after the other.
    pub(crate) fn parts(&self) -> [&Bytes; 2] {
        [&self.own, &self.tail]
    }

    /// The body for one attempt: both parts sent as they are, with their exact length.
    pub(crate) fn to_reqwest(&self) -> reqwest::Body {
        reqwest::Body::wrap(Parts {
            parts: [Some(self.own.clone()), Some(self.tail.clone())],
        })
    }

    /// Both parts joined (what the server receives).
    #[cfg(test)]
    pub(crate) fn joined(&self) -> Vec<u8> {
        [self.own.as_ref(), self.tail.as_ref()].concat()
    }
}

/// Serialized tool lists, found by identity: an agent's requests share one `Arc` of tools.
#[derive(Debug, Default)]
pub(crate) struct ToolLists {
    /// Most recently used last.
    entries: Mutex<Vec<(Arc<[ToolSpec]>, Bytes)>>,
}

impl ToolLists {
    /// `,"tools":[…]}` for `tools`, serialized on first use.
    fn tail(&self, tools: &Arc<[ToolSpec]>) -> Result<Bytes, serde_json::Error> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(at) = entries.iter().position(|(t, _)| Arc::ptr_eq(t, tools)) {
            let entry = entries.remove(at);
            let tail = entry.1.clone();
            entries.push(entry);
            return Ok(tail);
        }
        let mut tail = br#","tools":"#.to_vec();
        serde_json::to_writer(&mut tail, &**tools)?;
        tail.push(b'}');
        let tail = Bytes::from(tail);
        if entries.len() == CACHED_TOOL_LISTS {
            entries.remove(0);
        }
        entries.push((Arc::clone(tools), tail.clone()));
        Ok(tail)
    }
}

/// Serializes `req`, its tools through `lists`.
pub(crate) fn serialize(mut req: ChatRequest, lists: &ToolLists) -> Result<RequestBody, serde_json::Error> {
    // An empty list is left out of the JSON, so the request writes only its own fields.
    let tools = std::mem::replace(&mut req.tools, Arc::from([]));
    let mut own = serde_json::to_vec(&req)?;
    // A struct always serializes to an object; its brace moves to the tail.
    debug_assert_eq!(own.last(), Some(&b'}'));
    own.pop();
    let tail = if tools.is_empty() {
        Bytes::from_static(b"}")
    } else {
        lists.tail(&tools)?
    };
    Ok(RequestBody {
        own: Bytes::from(own),
        tail,
    })
}

/// An HTTP body of a few chunks whose total length is known, so it goes with a
/// `Content-Length` (as a single buffer would) rather than chunked.
struct Parts {
    parts: [Option<Bytes>; 2],
}

impl http_body::Body for Parts {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self.parts.iter_mut().find_map(Option::take);
        Poll::Ready(next.map(|part| Ok(Frame::data(part))))
    }

    fn is_end_stream(&self) -> bool {
        self.parts.iter().all(Option::is_none)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.parts.iter().flatten().map(|p| p.len() as u64).sum())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::types::ChatMessage;

    fn spec(name: &str) -> ToolSpec {
        ToolSpec {
            name: name.to_owned(),
            description: format!("does {name}"),
            parameters: json!({"type": "object", "properties": {}}),
        }
    }

    #[test]
    fn the_parts_join_into_the_whole_request() {
        let tools: Arc<[ToolSpec]> = Arc::from([spec("a"), spec("b")]);
        let req = ChatRequest::new("m", vec![ChatMessage::user("hi")])
            .with_tools(Arc::clone(&tools))
            .with_extra("enable_thinking", json!(false));
        let whole: Value = serde_json::to_value(&req).unwrap();
        let body = serialize(req, &ToolLists::default()).unwrap();
        let joined: Value = serde_json::from_slice(&body.joined()).unwrap();
        assert_eq!(joined, whole);
        assert_eq!(body.len(), body.joined().len());
    }

    #[test]
    fn a_request_without_tools_has_no_tools_key() {
        let body = serialize(ChatRequest::new("m", vec![]), &ToolLists::default()).unwrap();
        let v: Value = serde_json::from_slice(&body.joined()).unwrap();
        assert!(v.get("tools").is_none(), "{v}");
        assert_eq!(v["model"], "m");
    }

    #[test]
    fn requests_with_one_tool_list_share_its_bytes() {
        let lists = ToolLists::default();
        let tools: Arc<[ToolSpec]> = Arc::from([spec("a")]);
        let req = || ChatRequest::new("m", vec![]).with_tools(Arc::clone(&tools));
        let one = serialize(req(), &lists).unwrap();
        let two = serialize(req(), &lists).unwrap();
        assert_eq!(one.tail.as_ptr(), two.tail.as_ptr(), "serialized once");
        // Another list with the same content is another entry, not a wrong hit.
        let other: Arc<[ToolSpec]> = Arc::from([spec("b")]);
        let three = serialize(ChatRequest::new("m", vec![]).with_tools(other), &lists).unwrap();
        assert!(String::from_utf8_lossy(&three.joined()).contains("does b"));
    }

    #[test]
    fn the_cache_keeps_a_bounded_number_of_lists() {
        let lists = ToolLists::default();
        for i in 0..CACHED_TOOL_LISTS * 3 {
            let tools: Arc<[ToolSpec]> = Arc::from([spec(&format!("t{i}"))]);
            serialize(ChatRequest::new("m", vec![]).with_tools(tools), &lists).unwrap();
        }
        assert_eq!(lists.entries.lock().unwrap().len(), CACHED_TOOL_LISTS);
    }

    #[tokio::test]
    async fn the_http_body_has_an_exact_length() {
        use http_body::Body as _;
        let tools: Arc<[ToolSpec]> = Arc::from([spec("a")]);
        let body = serialize(
            ChatRequest::new("m", vec![]).with_tools(tools),
            &ToolLists::default(),
        )
        .unwrap();
        let http = body.to_reqwest();
        assert_eq!(http.size_hint().exact(), Some(body.len() as u64));
        let bytes = http_body_util_collect(http).await;
        assert_eq!(bytes, body.joined());
    }

    async fn http_body_util_collect(mut body: reqwest::Body) -> Vec<u8> {
        use http_body::Body as _;
        let mut out = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            if let Ok(data) = frame.unwrap().into_data() {
                out.extend_from_slice(&data);
            }
        }
        out
    }
}
