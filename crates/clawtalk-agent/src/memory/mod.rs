//! Durable memory as the agent uses it: who may see what ([`scope`]), the workspace's memory
//! files kept indexed in the store ([`files`]), shared by the `memory_*` tools and recall.

pub mod files;
pub mod scope;
mod tools;

use std::sync::Arc;

use clawtalk_config::Config;
use clawtalk_core::clock::Clock;
use clawtalk_store::MemoryStore;

use crate::tools::ToolContext;
use scope::Visibility;

/// Memory of every agent: the store, the configuration (workspaces), the clock.
#[derive(Clone)]
pub struct Memory {
    pub(crate) config: Arc<Config>,
    pub(crate) store: Arc<dyn MemoryStore>,
    pub(crate) clock: Arc<dyn Clock>,
    files: Arc<files::FileIndex>,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory").finish_non_exhaustive()
    }
}

impl Memory {
    /// `memory_search`, `memory_get`, `memory_save` and `memory_forget` on these memories, to
    /// register with the agent's tools.
    #[must_use]
    pub fn tools(&self) -> Vec<Arc<dyn crate::Tool>> {
        tools::tools(self)
    }

    /// Memories kept in `store`; workspaces come from `config`, times from `clock`.
    #[must_use]
    pub fn new(config: Arc<Config>, store: Arc<dyn MemoryStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            config,
            store,
            clock,
            files: Arc::new(files::FileIndex::default()),
        }
    }

    /// What the turn of `context` may see, with the agent's memory files brought up to date
    /// first. `Err` is a sentence for the model (or the log).
    pub(crate) async fn prepare(&self, context: &ToolContext) -> Result<Visibility, String> {
        let visibility = Visibility::of(context).ok_or_else(|| {
            "memory is not available in this conversation (its session is not one this version reads)"
                .to_owned()
        })?;
        if let Some(agent) = self.config.agent(&visibility.agent_id) {
            let synced = self
                .files
                .sync(
                    self.store.as_ref(),
                    &visibility.agent_id,
                    &agent.workspace,
                    self.clock.now(),
                )
                .await;
            if let Err(error) = synced {
                // Saved memories still work; the files are tried again next turn.
                tracing::warn!(agent = %visibility.agent_id, %error, "indexing the workspace's memory files failed");
            }
        }
        Ok(visibility)
    }
}
