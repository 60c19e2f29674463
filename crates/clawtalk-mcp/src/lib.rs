//! MCP client: connects the servers configured under `mcp.servers` (stdio child processes or
//! Streamable HTTP endpoints) with the official Rust SDK (`rmcp`) and offers their tools to
//! agents as `<server>__<tool>`.
//!
//! [`McpHub::start`] returns at once; each enabled server is started by its own task, its
//! tools listed at start and again on `notifications/tools/list_changed`. A server whose
//! process exits, whose connection breaks or that ignores a ping after a call timed out is
//! restarted after a doubling delay (1 s up to 60 s); meanwhile calls to its tools answer at
//! once that it is unavailable. Every call is bounded by the server's `timeout`. On a reload,
//! [`McpHub::follow`] keeps the servers whose settings did not change.

mod connect;
mod content;
mod hub;
mod names;
mod probe;
mod server;
mod slot;
mod supervisor;

pub use content::MAX_RESULT_CHARS;
pub use hub::{HubChanges, McpHub, ServerStatus};
pub use names::{MAX_TOOL_NAME, exposed_name};
pub use probe::{ProbeReport, probe};
pub use slot::Phase;
pub use supervisor::Backoff;

/// One tool of one server, as offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct McpTool {
    /// `<server>__<tool>`, within the OpenAI tool-name rules.
    pub name: String,
    /// The server's name under `mcp.servers`.
    pub server: String,
    /// The tool's own name on its server.
    pub tool: String,
    pub description: String,
    /// JSON schema of its arguments.
    pub input_schema: serde_json::Value,
}
