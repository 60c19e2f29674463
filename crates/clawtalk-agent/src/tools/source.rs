//! Tools that come and go while the gateway runs (an MCP server's tools change when it says
//! so, and vanish when it is removed): the registry asks its sources on every request.

use std::sync::Arc;

use clawtalk_llm::ToolSpec;

use super::Tool;

/// A changing set of tools.
pub trait ToolSource: Send + Sync {
    /// Specs of the tools it offers now, in name order.
    fn specs(&self) -> Arc<[ToolSpec]>;

    /// The tool of that name, if it offers one now.
    fn tool(&self, name: &str) -> Option<Arc<dyn Tool>>;
}
