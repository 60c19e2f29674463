//! What the hub knows of one server at this moment: its phase, its session's peer and the
//! tools it offers. Written by the server's supervisor, read by every call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rmcp::Peer;
use rmcp::RoleClient;
use tokio::sync::mpsc;

use clawtalk_config::McpServerConfig;

use crate::McpTool;

/// Where a server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `enabled: false`: never started.
    Disabled,
    /// Being started (the first time or after a failure).
    Starting,
    /// Connected; its tools can be called.
    Ready,
    /// Crashed, hung or failed to start; waiting to be restarted.
    Down,
}

impl Phase {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Starting => "starting",
            Self::Ready => "ready",
            Self::Down => "down",
        }
    }
}

pub struct SlotState {
    pub phase: Phase,
    /// The live session's peer while `Ready`.
    pub peer: Option<Peer<RoleClient>>,
    /// Which connection of this server `peer` belongs to (a restart request names it, so a
    /// late request cannot restart the next one).
    pub epoch: u64,
    /// Its tools as last listed (kept while it is down: calls then answer "unavailable").
    pub tools: Arc<[McpTool]>,
    pub last_error: Option<String>,
    /// Times the server was (re)started after the first.
    pub restarts: u32,
    /// Times its tools were listed (start, restarts and `list_changed`).
    pub listings: u32,
}

pub struct Slot {
    pub config: McpServerConfig,
    pub state: RwLock<SlotState>,
    /// Asks the supervisor to restart the connection of the given epoch.
    pub restart: mpsc::Sender<u64>,
    /// Bumped on every change of this server's state; a hub's generation is the sum over
    /// its servers, so readers rebuild their view of the tools.
    pub generation: AtomicU64,
}

impl Slot {
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, SlotState> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn update(&self, f: impl FnOnce(&mut SlotState)) {
        let mut state = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut state);
        drop(state);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Asks for a restart of connection `epoch` (ignored when the supervisor is busy with
    /// another request already).
    pub fn request_restart(&self, epoch: u64) {
        let _ = self.restart.try_send(epoch);
    }
}
