//! What an account keeps across rebuilds of its runtime by reloads: whether it is being
//! removed, its Stream connection, and the turns it has running.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// An account's state that a rebuild of its runtime keeps.
#[derive(Default)]
pub(crate) struct AccountControl {
    /// Cancelled when a reload removes or disables the account: its Stream connection and
    /// HTTP callbacks take no new messages; what they took is still admitted and answered.
    pub stop: CancellationToken,
    /// Cancelled by the intake lanes once they have admitted everything they took.
    pub lanes_done: CancellationToken,
    /// The current Stream connection, when the account has one.
    pub stream: Mutex<Option<StreamControl>>,
    /// Turns of the account running now.
    turns: AtomicUsize,
}

/// Ends one Stream connection task and tells when it has ended.
#[derive(Clone, Default)]
pub(crate) struct StreamControl {
    /// Cancelled to close the connection.
    pub close: CancellationToken,
    /// Cancelled by the task once the connection is closed.
    pub closed: CancellationToken,
}

impl AccountControl {
    /// Counts a running turn of the account until the guard is dropped.
    pub(crate) fn turn_running(self: &Arc<Self>) -> TurnRunning {
        self.turns.fetch_add(1, Ordering::SeqCst);
        TurnRunning(Arc::clone(self))
    }

    /// Turns of the account running now.
    pub(crate) fn turns_running(&self) -> usize {
        self.turns.load(Ordering::SeqCst)
    }

    /// Replaces the current Stream connection's control, returning the previous one.
    pub(crate) fn swap_stream(&self, next: Option<StreamControl>) -> Option<StreamControl> {
        std::mem::replace(
            &mut *self
                .stream
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            next,
        )
    }
}

/// See [`AccountControl::turn_running`].
pub(crate) struct TurnRunning(Arc<AccountControl>);

impl Drop for TurnRunning {
    fn drop(&mut self) {
        self.0.turns.fetch_sub(1, Ordering::SeqCst);
    }
}
