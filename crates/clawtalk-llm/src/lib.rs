//! The model side of the agent runtime: an OpenAI-compatible chat completions client.
//!
//! One client speaks to DashScope (Qwen), DeepSeek, Moonshot (Kimi), Zhipu GLM and any other
//! OpenAI-compatible `baseUrl`, streamed or not, with tool calls and reasoning deltas.
//!
//! ```no_run
//! # async fn demo() -> Result<(), clawtalk_llm::LlmError> {
//! use clawtalk_llm::{ChatMessage, ChatRequest, LlmClient, LlmConfig, ProviderPreset, StreamEvent};
//! use futures_util::StreamExt;
//!
//! let key = ProviderPreset::DeepSeek.api_key_from_env().unwrap_or_default();
//! let client = LlmClient::new(LlmConfig::new(ProviderPreset::DeepSeek, key))?;
//! let mut stream = client
//!     .stream(ChatRequest::new("", vec![ChatMessage::user("你好")]))
//!     .await?;
//! while let Some(event) = stream.next().await {
//!     match event {
//!         Ok(StreamEvent::ContentDelta(text)) => print!("{text}"),
//!         Ok(_) => {}
//!         // Tell the chat user what happened, in plain words.
//!         Err(e) => println!("{}", e.user_message()),
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - [`types`]: requests, messages, tool specs and calls, stream events, responses.
//! - `body`: the request body, its tool list serialized once and shared.
//! - `transport`: which HTTP client a request goes through; `http1`: the small HTTP/1 client
//!   for plain-http endpoints, whose waiting connections hold no buffers.
//! - `client`: [`LlmClient`], [`LlmConfig`], [`Timeouts`].
//! - `stream`: [`ChatStream`], the body reader with first-byte and idle timeouts.
//! - `decode`: SSE events to [`StreamEvent`]s, tool-call assembly, provider oddities.
//! - [`sse`]: the incremental SSE parser.
//! - [`presets`]: provider base URLs, default models, key variables, quirks.
//! - `retry`: [`RetryPolicy`], backoff with jitter honouring `Retry-After`.
//! - `error`: [`LlmError`] with request ids and bilingual user messages.

mod body;
mod client;
mod decode;
mod error;
mod http1;
pub mod presets;
mod retry;
pub mod sse;
mod stream;
mod transport;
pub mod types;

pub use client::{LlmClient, LlmConfig, Timeouts};
pub use error::{LlmError, TimeoutPhase};
pub use presets::{ProviderPreset, Quirks, ThinkingSwitch};
pub use retry::RetryPolicy;
pub use stream::ChatStream;
pub use types::{
    ChatMessage, ChatRequest, ChatResponse, ContentPart, ImageUrl, MessageContent, Role, StreamEvent,
    ToolCall, ToolSpec, Usage,
};
