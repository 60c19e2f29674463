//! MCP servers' tools as agent tools: each one a [`Tool`] that calls through the hub
//! (`clawtalk-mcp`), offered by a [`ToolSource`] that follows the hub's tool list.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use clawtalk_config::McpConfig;
use clawtalk_llm::ToolSpec;
use clawtalk_mcp::{McpHub, McpTool};

use super::{Tool, ToolContext, ToolSource};

/// The hub's tools, rebuilt when its tool list changes.
pub struct McpToolSource {
    hub: McpHub,
    snapshot: Mutex<Snapshot>,
}

#[derive(Default)]
struct Snapshot {
    /// The hub's generation this was built at (`None`: never built).
    generation: Option<u64>,
    specs: Arc<[ToolSpec]>,
    tools: BTreeMap<String, Arc<dyn Tool>>,
}

impl McpToolSource {
    /// Starts the enabled servers of `config` in the background; `None` when there are none
    /// (or when called outside a Tokio runtime, which a gateway never is).
    #[must_use]
    pub fn start(config: &McpConfig) -> Option<Arc<Self>> {
        if !config.servers.iter().any(|s| s.enabled) {
            return None;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            tracing::warn!("MCP servers not started: no async runtime");
            return None;
        }
        Some(Arc::new(Self::new(McpHub::start(config))))
    }

    /// Offers the tools of a running hub.
    #[must_use]
    pub fn new(hub: McpHub) -> Self {
        Self {
            hub,
            snapshot: Mutex::new(Snapshot::default()),
        }
    }

    /// The hub (servers' state for status pages and doctor).
    #[must_use]
    pub fn hub(&self) -> &McpHub {
        &self.hub
    }

    fn current<T>(&self, read: impl FnOnce(&Snapshot) -> T) -> T {
        let mut snapshot = self
            .snapshot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let generation = self.hub.generation();
        if snapshot.generation != Some(generation) {
            let tools = self.hub.tools();
            snapshot.specs = tools.iter().map(spec_of).collect();
            snapshot.tools = tools
                .into_iter()
                .map(|tool| {
                    let adapter: Arc<dyn Tool> = Arc::new(McpToolAdapter {
                        hub: self.hub.clone(),
                        tool,
                    });
                    (adapter.spec().name, adapter)
                })
                .collect();
            snapshot.generation = Some(generation);
        }
        read(&snapshot)
    }
}

impl ToolSource for McpToolSource {
    fn specs(&self) -> Arc<[ToolSpec]> {
        self.current(|s| Arc::clone(&s.specs))
    }

    fn tool(&self, name: &str) -> Option<Arc<dyn Tool>> {
        self.current(|s| s.tools.get(name).cloned())
    }
}

/// One MCP tool.
struct McpToolAdapter {
    hub: McpHub,
    tool: McpTool,
}

fn spec_of(tool: &McpTool) -> ToolSpec {
    let description = if tool.description.trim().is_empty() {
        format!("Tool {} of MCP server {}.", tool.tool, tool.server)
    } else {
        tool.description.clone()
    };
    ToolSpec {
        name: tool.name.clone(),
        description,
        parameters: tool.input_schema.clone(),
    }
}

#[async_trait]
impl Tool for McpToolAdapter {
    fn spec(&self) -> ToolSpec {
        spec_of(&self.tool)
    }

    async fn call(&self, arguments: &str, _context: &ToolContext) -> Result<String, String> {
        self.hub.call(&self.tool.name, arguments).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ToolRegistry;
    use clawtalk_core::ids::AccountId;

    #[tokio::test]
    async fn no_enabled_server_starts_nothing() {
        assert!(McpToolSource::start(&McpConfig::default()).is_none());
    }

    #[tokio::test]
    async fn a_server_that_never_started_offers_no_tools_and_builtins_stay() {
        let mut config = clawtalk_config::test_support::config(
            r#"{ agents: { defaults: { model: "deepseek/deepseek-chat" } },
                 channels: { dingtalk: { clientId: "id", clientSecret: "s" } },
                 mcp: { servers: { gone: { command: "clawtalk-no-such-command" } } } }"#,
        )
        .mcp;
        config.servers[0].connect_timeout = std::time::Duration::from_secs(2);
        let source = McpToolSource::start(&config).unwrap();
        let hub = source.hub().clone();
        let mut registry = ToolRegistry::builtin();
        registry.add_source(source);
        assert!(hub.settle(std::time::Duration::from_secs(5)).await);
        // It never listed tools, so there is nothing to offer and the call is refused.
        assert!(!registry.specs().iter().any(|s| s.name.starts_with("gone__")));
        let out = registry
            .call(
                "gone__x",
                "{}",
                &ToolContext::new(AccountId::new("default"), None),
            )
            .await;
        assert!(out.contains("no tool named"), "{out}");
        assert!(registry.specs().iter().any(|s| s.name == "get_time"));
    }
}
