//! One configured server as hubs hold it: its slot and the life of its supervisor. Hubs share
//! it by `Arc`, so a reload that keeps the server's settings hands the running process to the
//! next hub; the supervisor stops (and with it the process) when the last hub holding it goes.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use clawtalk_config::McpServerConfig;

use crate::slot::{Phase, Slot, SlotState};
use crate::supervisor::{Backoff, supervise};

pub struct Server {
    pub slot: Arc<Slot>,
    stop: CancellationToken,
}

impl Server {
    /// The server of `config`, its supervisor started in the background when it is enabled.
    /// Needs a Tokio runtime.
    pub fn start(config: &McpServerConfig, backoff: Backoff) -> Arc<Self> {
        let (restart, requests) = mpsc::channel(1);
        let slot = Arc::new(Slot {
            config: config.clone(),
            state: std::sync::RwLock::new(SlotState {
                phase: if config.enabled {
                    Phase::Starting
                } else {
                    Phase::Disabled
                },
                peer: None,
                epoch: 0,
                tools: Arc::from([]),
                last_error: None,
                restarts: 0,
                listings: 0,
            }),
            restart,
            generation: std::sync::atomic::AtomicU64::new(0),
        });
        let stop = CancellationToken::new();
        if config.enabled {
            tokio::spawn(supervise(Arc::clone(&slot), requests, backoff, stop.clone()));
        }
        Arc::new(Self { slot, stop })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
