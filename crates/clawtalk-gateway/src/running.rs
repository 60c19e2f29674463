//! The running configuration: the `Config` every part of the gateway reads and the agent
//! runtime built from it, replaced whole by a reload.
//!
//! Readers take the current pair when they start a piece of work (a turn, an admission, a
//! sweep) and keep it to the end of that piece, so one turn never mixes two configurations.
//! Parts that hold state built from the config (tool hubs, policies) follow changes
//! through [`Running::subscribe`].

use std::sync::{Arc, RwLock};

use anyhow::Context;
use tokio::sync::{Notify, watch};

use clawtalk_agent::{AgentRuntime, McpToolSource, ToolRegistry};
use clawtalk_config::{Config, McpConfig};
use clawtalk_core::clock::Clock;
use clawtalk_mcp::{HubChanges, McpHub};
use clawtalk_store::Store;

/// One configuration and the agents that run under it.
pub(crate) struct Live {
    pub config: Arc<Config>,
    pub agent: Arc<AgentRuntime>,
    /// The MCP servers its agents call (`None`: none configured), handed to the next
    /// configuration's agents so a reload keeps the servers it did not change.
    pub mcp: Option<McpHub>,
}

/// What [`build_agent`] makes of a configuration.
pub(crate) struct Built {
    pub agent: AgentRuntime,
    pub mcp: Option<McpHub>,
    /// What happened to the MCP servers of the configuration it replaces.
    pub mcp_changes: HubChanges,
}

/// The current [`Live`] and the channel that announces each new configuration.
pub(crate) struct Running {
    live: RwLock<Arc<Live>>,
    announce: watch::Sender<Arc<Config>>,
}

impl Running {
    pub(crate) fn new(config: Arc<Config>, built: Built) -> Self {
        let (announce, _) = watch::channel(Arc::clone(&config));
        Self {
            live: RwLock::new(Arc::new(Live {
                config,
                agent: Arc::new(built.agent),
                mcp: built.mcp,
            })),
            announce,
        }
    }

    /// The current configuration and agents.
    pub(crate) fn live(&self) -> Arc<Live> {
        // A writer never panics while holding the lock (it only swaps an Arc), so a
        // poisoned lock still holds a whole value.
        Arc::clone(
            &self
                .live
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Makes `config` and its agents the current ones and tells the subscribers.
    pub(crate) fn replace(&self, config: Arc<Config>, built: Built) {
        let live = Arc::new(Live {
            config: Arc::clone(&config),
            agent: Arc::new(built.agent),
            mcp: built.mcp,
        });
        *self
            .live
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = live;
        self.announce.send_replace(config);
    }

    /// Sees every configuration from now on, the current one first.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<Config>> {
        self.announce.subscribe()
    }
}

/// The agent runtime of `config`: its providers, and its tools (media, scheduled tasks, web,
/// memory, and the MCP servers'). `previous_mcp` is the hub of the configuration this one
/// replaces: its servers whose settings are unchanged keep running.
///
/// # Errors
/// A model provider the runtime cannot use, or a web search backend it cannot build.
pub(crate) fn build_agent(
    config: &Arc<Config>,
    store: &Arc<dyn Store>,
    cron_wake: &Arc<Notify>,
    clock: &Arc<dyn Clock>,
    previous_mcp: Option<&McpHub>,
) -> anyhow::Result<Built> {
    let mut tools = ToolRegistry::with_media();
    tools.register_cron(clawtalk_agent::CronTools::new(
        Arc::clone(config),
        Arc::clone(store) as Arc<dyn clawtalk_store::CronStore>,
        Arc::clone(cron_wake),
        Arc::clone(clock),
    ));
    tools
        .register_web(&config.tools_web)
        .map_err(anyhow::Error::msg)
        .context("setting up the web tools")?;
    // MCP servers start in the background: a slow one delays neither this nor a turn.
    let (mcp, mcp_changes) = mcp_hub(&config.mcp, previous_mcp);
    if let Some(hub) = &mcp {
        tools.add_source(Arc::new(McpToolSource::new(hub.clone())));
    }
    let memory = clawtalk_agent::Memory::new(
        Arc::clone(config),
        Arc::clone(store) as Arc<dyn clawtalk_store::MemoryStore>,
        Arc::clone(clock),
    );
    for tool in memory.tools() {
        tools.register(tool);
    }
    let mut agent = AgentRuntime::new(Arc::clone(config), tools)
        .context("setting up the model providers")?
        .with_memory(memory);
    if let Some(hub) = &mcp {
        agent = agent.with_mcp(hub.clone());
    }
    Ok(Built {
        agent,
        mcp,
        mcp_changes,
    })
}

/// The hub of `config`'s MCP servers, following `previous` when there is one; `None` when no
/// server is enabled (the previous hub's servers then stop with it).
fn mcp_hub(config: &McpConfig, previous: Option<&McpHub>) -> (Option<McpHub>, HubChanges) {
    let (hub, changes) = match previous {
        Some(previous) => previous.follow(config),
        None => {
            let enabled: Vec<String> = config
                .servers
                .iter()
                .filter(|s| s.enabled)
                .map(|s| s.name.clone())
                .collect();
            if enabled.is_empty() {
                return (None, HubChanges::default());
            }
            let started = HubChanges {
                started: enabled,
                ..HubChanges::default()
            };
            (McpHub::start(config), started)
        }
    };
    let any_enabled = config.servers.iter().any(|s| s.enabled);
    (any_enabled.then_some(hub), changes)
}
