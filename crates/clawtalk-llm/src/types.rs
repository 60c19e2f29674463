//! Request, response and stream types of the OpenAI-compatible chat completions API.
//!
//! These are our own types rather than a generated SDK because every Chinese provider adds
//! fields of its own (`reasoning_content`, `enable_thinking`, `request_id`, usage inside the
//! choice…). Requests carry an `extra` map that is flattened into the JSON body, so a
//! provider-specific parameter never needs a code change; responses ignore what they do not know.

use std::sync::Arc;

use serde::de::Deserializer;
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The chat user.
    User,
    /// The model (possibly asking for tool calls).
    Assistant,
    /// The result of a tool call, answering one `tool_call_id`.
    Tool,
}

/// One message of the conversation sent to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// The text or multimodal parts; `None` for an assistant turn that only calls tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    /// Tool calls requested by the assistant in this turn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For [`Role::Tool`]: which call this message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Optional participant name (OpenAI `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Provider-specific fields, sent as they are.
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl ChatMessage {
    fn new(role: Role, content: Option<MessageContent>) -> Self {
        Self {
            role,
            content,
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
            extra: Map::new(),
        }
    }

    /// A system prompt.
    pub fn system(text: impl Into<String>) -> Self {
        Self::new(Role::System, Some(MessageContent::Text(text.into())))
    }

    /// A user message.
    pub fn user(text: impl Into<String>) -> Self {
        Self::new(Role::User, Some(MessageContent::Text(text.into())))
    }

    /// A user message made of parts (text and images).
    pub fn user_parts(parts: Vec<ContentPart>) -> Self {
        Self::new(Role::User, Some(MessageContent::Parts(parts)))
    }

    /// A plain assistant reply (for conversation history).
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::new(Role::Assistant, Some(MessageContent::Text(text.into())))
    }

    /// An assistant turn that asked for tool calls, with the text it wrote alongside (if any).
    pub fn assistant_tool_calls(text: Option<String>, calls: Vec<ToolCall>) -> Self {
        let mut m = Self::new(Role::Assistant, text.map(MessageContent::Text));
        m.tool_calls = calls;
        m
    }

    /// The result of the tool call `call_id`.
    pub fn tool(call_id: impl Into<String>, result: impl Into<String>) -> Self {
        let mut m = Self::new(Role::Tool, Some(MessageContent::Text(result.into())));
        m.tool_call_id = Some(call_id.into());
        m
    }

    /// The message's text: the plain content, or its text parts joined by newlines.
    #[must_use]
    pub fn text(&self) -> Option<String> {
        match self.content.as_ref()? {
            MessageContent::Text(t) => Some(t.clone()),
            MessageContent::Parts(parts) => {
                let texts: Vec<&str> = parts
                    .iter()
                    .filter_map(|p| match p {
                        ContentPart::Text { text } => Some(text.as_str()),
                        ContentPart::ImageUrl { .. } => None,
                    })
                    .collect();
                Some(texts.join("\n"))
            }
        }
    }
}

/// Message content: plain text, or a list of parts for multimodal models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    /// Plain text.
    Text(String),
    /// Text and image parts, in order.
    Parts(Vec<ContentPart>),
}

/// One part of a multimodal message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// A piece of text.
    Text {
        /// The text.
        text: String,
    },
    /// An image given by URL or `data:` URI.
    ImageUrl {
        /// Where the image is.
        image_url: ImageUrl,
    },
}

/// The image of a [`ContentPart::ImageUrl`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// `https://…` or `data:image/png;base64,…`.
    pub url: String,
    /// `low`, `high` or `auto`, where the provider supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A tool the model may call, described by a JSON schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Function name, e.g. `get_weather`.
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON schema of the arguments object.
    pub parameters: Value,
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToolCall {
    /// Call id, echoed back in the [`Role::Tool`] message that answers it.
    pub id: String,
    /// Function name.
    pub name: String,
    /// Arguments as a JSON string, exactly as the model produced it (it may not be valid JSON).
    pub arguments: String,
}

/// Wire shape `{"type":"function","function":{…}}` shared by tool specs and tool calls, as
/// read; [`FunctionRef`] writes it.
#[derive(Deserialize)]
struct WireFunctionWrapper<F> {
    function: F,
}

#[derive(Deserialize)]
struct WireToolSpecFunction {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    parameters: Value,
}

/// The wire shapes as written: borrowed, because every model call serializes the whole
/// request, tool schemas included, and cloning them cost more than writing them.
#[derive(Serialize)]
struct FunctionRef<F> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: F,
}

#[derive(Serialize)]
struct ToolSpecFunctionRef<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    parameters: &'a Value,
}

#[derive(Serialize)]
struct ToolCallRef<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: CallFunctionRef<'a>,
}

#[derive(Serialize)]
struct CallFunctionRef<'a> {
    name: &'a str,
    arguments: &'a str,
}

impl Serialize for ToolSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        FunctionRef {
            kind: "function",
            function: ToolSpecFunctionRef {
                name: &self.name,
                description: &self.description,
                parameters: &self.parameters,
            },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ToolSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = WireFunctionWrapper::<WireToolSpecFunction>::deserialize(d)?;
        Ok(Self {
            name: w.function.name,
            description: w.function.description,
            parameters: w.function.parameters,
        })
    }
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: String,
    function: WireCallFunction,
}

#[derive(Deserialize)]
struct WireCallFunction {
    #[serde(default)]
    name: String,
    #[serde(default, deserialize_with = "arguments_as_string")]
    arguments: String,
}

/// Arguments are a JSON *string* in the spec, but some providers send the object itself.
fn arguments_as_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

impl Serialize for ToolCall {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ToolCallRef {
            id: &self.id,
            kind: "function",
            function: CallFunctionRef {
                name: &self.name,
                arguments: &self.arguments,
            },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ToolCall {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = WireToolCall::deserialize(d)?;
        Ok(Self {
            id: w.id,
            name: w.function.name,
            arguments: w.function.arguments,
        })
    }
}

/// A chat completions request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatRequest {
    /// Model id, e.g. `qwen-plus` or `deepseek-chat`.
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Tools the model may call; omitted from the body when empty. Shared: an agent's tool
    /// list is the same in every request, and building it anew per request was a large part
    /// of a turn's allocations.
    #[serde(skip_serializing_if = "no_tools", serialize_with = "serialize_tools")]
    pub tools: Arc<[ToolSpec]>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Upper bound on generated tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Whether the answer is streamed; [`crate::LlmClient`] sets this itself.
    pub stream: bool,
    /// Extra body fields passed through as they are (`enable_thinking`, `tool_choice`,
    /// `stream_options`, `response_format`…). The client drops keys that would duplicate a
    /// field set above (JSON with two `model` keys means different things to different servers).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn no_tools(tools: &Arc<[ToolSpec]>) -> bool {
    tools.is_empty()
}

fn serialize_tools<S: Serializer>(tools: &Arc<[ToolSpec]>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(tools.iter())
}

impl ChatRequest {
    /// A request for `model` with these messages and defaults for everything else.
    pub fn new(model: impl Into<String>, messages: Vec<ChatMessage>) -> Self {
        Self {
            model: model.into(),
            messages,
            tools: Arc::from([]),
            temperature: None,
            max_tokens: None,
            stream: false,
            extra: Map::new(),
        }
    }

    /// Adds tools the model may call.
    #[must_use]
    pub fn with_tools(mut self, tools: impl Into<Arc<[ToolSpec]>>) -> Self {
        self.tools = tools.into();
        self
    }

    /// Sets a provider-specific body field.
    #[must_use]
    pub fn with_extra(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }
}

/// Token counts reported by the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens generated.
    #[serde(default)]
    pub completion_tokens: u64,
}

/// One streamed event, in the order the model produced them.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// A piece of the answer text.
    ContentDelta(String),
    /// A piece of the model's reasoning (DeepSeek and Qwen `reasoning_content`); not part of
    /// the answer and never to be sent back to the provider as content.
    ReasoningDelta(String),
    /// A fragment of a tool call, for progress display. The complete calls follow in
    /// [`StreamEvent::ToolCalls`], so most callers can ignore this.
    ToolCallDelta {
        /// Position of the call in this turn.
        index: u32,
        /// The call id, on the fragment that first carries it.
        id: Option<String>,
        /// The function name, on the fragment that first carries it.
        name: Option<String>,
        /// The next piece of the arguments string.
        arguments: String,
    },
    /// All tool calls of the turn, assembled from their fragments, ordered by index.
    ToolCalls(Vec<ToolCall>),
    /// Token usage (usually right before [`StreamEvent::Done`]).
    Usage(Usage),
    /// The answer is complete. Always the last event of a successful stream.
    Done {
        /// `stop`, `length`, `tool_calls`, `content_filter`…, when the provider said.
        finish_reason: Option<String>,
    },
}

/// A complete (non-streamed, or collected) answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatResponse {
    /// The provider's completion id (`chatcmpl-…`), when given.
    pub id: Option<String>,
    /// The model that answered, as the provider names it.
    pub model: Option<String>,
    /// The answer text.
    pub content: String,
    /// The reasoning text, for models that expose it.
    pub reasoning: Option<String>,
    /// Tool calls requested by the model.
    pub tool_calls: Vec<ToolCall>,
    /// Why the model stopped.
    pub finish_reason: Option<String>,
    /// Token usage, when reported.
    pub usage: Option<Usage>,
    /// The provider's request id (header or body), for support tickets and logs.
    pub request_id: Option<String>,
}

impl ChatResponse {
    /// The assistant message to append to the history for the next turn.
    ///
    /// Reasoning is left out on purpose: DeepSeek rejects `reasoning_content` in input messages.
    #[must_use]
    pub fn to_message(&self) -> ChatMessage {
        let text = (!self.content.is_empty()).then(|| self.content.clone());
        if self.tool_calls.is_empty() {
            ChatMessage::assistant(text.unwrap_or_default())
        } else {
            ChatMessage::assistant_tool_calls(text, self.tool_calls.clone())
        }
    }
}

// ---- Wire shapes of responses (private: only the decoder sees them) ----

/// A non-streamed response body.
#[derive(Debug, Deserialize)]
pub struct WireResponse {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub choices: Vec<WireChoice>,
    #[serde(default)]
    pub usage: Option<Usage>,
    /// DashScope and GLM put their request id in the body.
    #[serde(default)]
    pub request_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct WireChoice {
    #[serde(default)]
    pub message: WireMessage,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WireMessage {
    #[serde(default)]
    pub content: Option<Value>,
    #[serde(default)]
    pub reasoning_content: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCall>>,
}

/// One streamed `data:` chunk.
#[derive(Debug, Deserialize)]
pub struct WireChunk {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub choices: Vec<WireChunkChoice>,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default)]
    pub request_id: Option<String>,
    /// Present (and not null) when the "chunk" is a provider's error report.
    #[serde(default)]
    pub error: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct WireChunkChoice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub delta: WireDelta,
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Moonshot (Kimi) reports usage inside the final choice rather than at the top level.
    #[serde(default)]
    pub usage: Option<Usage>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WireDelta {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub reasoning_content: Option<String>,
    /// Some gateways (OpenRouter style) name the reasoning field `reasoning`.
    #[serde(default)]
    pub reasoning: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<WireToolCallDelta>>,
}

#[derive(Debug, Deserialize)]
pub struct WireToolCallDelta {
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<WireFunctionDelta>,
}

#[derive(Debug, Deserialize)]
pub struct WireFunctionDelta {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "opt_arguments_as_string")]
    pub arguments: Option<String>,
}

fn opt_arguments_as_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    })
}

/// Text of a response `content` that may be a string, null, or a list of text parts.
pub fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// Providers send `null`, `""` or even the string `"null"` while a stream is still running.
pub fn real_finish_reason(r: Option<String>) -> Option<String> {
    r.filter(|s| !s.is_empty() && s != "null")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_serializes_openai_shape_with_extra() {
        let req = ChatRequest::new(
            "qwen-plus",
            vec![
                ChatMessage::system("be brief"),
                ChatMessage::user("hi"),
                ChatMessage::assistant_tool_calls(
                    None,
                    vec![ToolCall {
                        id: "c1".into(),
                        name: "now".into(),
                        arguments: "{}".into(),
                    }],
                ),
                ChatMessage::tool("c1", "12:00"),
            ],
        )
        .with_tools(vec![ToolSpec {
            name: "now".into(),
            description: "current time".into(),
            parameters: json!({"type":"object","properties":{}}),
        }])
        .with_extra("enable_thinking", json!(false));
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["model"], "qwen-plus");
        assert_eq!(v["enable_thinking"], false);
        assert_eq!(v["tools"][0]["type"], "function");
        assert_eq!(v["tools"][0]["function"]["name"], "now");
        assert_eq!(v["messages"][2]["tool_calls"][0]["function"]["arguments"], "{}");
        assert!(v["messages"][2].get("content").is_none());
        assert_eq!(v["messages"][3]["role"], "tool");
        assert_eq!(v["messages"][3]["tool_call_id"], "c1");
        assert!(v.get("temperature").is_none());
    }

    #[test]
    fn multimodal_parts_round_trip() {
        let m = ChatMessage::user_parts(vec![
            ContentPart::Text {
                text: "what is this?".into(),
            },
            ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: "data:image/png;base64,AAAA".into(),
                    detail: None,
                },
            },
        ]);
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["content"][1]["type"], "image_url");
        assert_eq!(v["content"][1]["image_url"]["url"], "data:image/png;base64,AAAA");
        let back: ChatMessage = serde_json::from_value(v).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.text().as_deref(), Some("what is this?"));
    }

    #[test]
    fn tool_call_arguments_accept_an_object() {
        let c: ToolCall = serde_json::from_value(
            json!({"id":"x","type":"function","function":{"name":"f","arguments":{"a":1}}}),
        )
        .unwrap();
        assert_eq!(c.arguments, r#"{"a":1}"#);
    }

    #[test]
    fn finish_reason_placeholders_are_none() {
        assert_eq!(real_finish_reason(Some("null".into())), None);
        assert_eq!(real_finish_reason(Some(String::new())), None);
        assert_eq!(real_finish_reason(Some("stop".into())).as_deref(), Some("stop"));
    }
}
