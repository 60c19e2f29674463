//! Counters a gateway shows on its status page and exports as metrics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Monotonic counters of one Stream client; cheap to read at any time.
#[derive(Debug, Default)]
pub struct StreamStats {
    connects: AtomicU64,
    open_failures: AtomicU64,
    frames: AtomicU64,
    pings: AtomicU64,
    acks: AtomicU64,
    disconnect_notices: AtomicU64,
    zombies: AtomicU64,
}

/// A point-in-time copy of [`StreamStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Successful WebSocket connections, the first one included.
    pub connects: u64,
    /// Failed `connections/open` calls or handshakes.
    pub open_failures: u64,
    /// Text frames received (all families).
    pub frames: u64,
    /// `SYSTEM/ping` frames answered.
    pub pings: u64,
    /// Frames written back (ACKs and pong echoes).
    pub acks: u64,
    /// `SYSTEM/disconnect` notices received.
    pub disconnect_notices: u64,
    /// Connections abandoned because they went silent.
    pub zombies: u64,
}

impl StreamStats {
    pub(crate) fn add_connect(&self) {
        self.connects.fetch_add(1, Relaxed);
    }
    pub(crate) fn add_open_failure(&self) {
        self.open_failures.fetch_add(1, Relaxed);
    }
    pub(crate) fn add_frame(&self) {
        self.frames.fetch_add(1, Relaxed);
    }
    pub(crate) fn add_ping(&self) {
        self.pings.fetch_add(1, Relaxed);
    }
    pub(crate) fn add_ack(&self) {
        self.acks.fetch_add(1, Relaxed);
    }
    pub(crate) fn add_disconnect_notice(&self) {
        self.disconnect_notices.fetch_add(1, Relaxed);
    }
    pub(crate) fn add_zombie(&self) {
        self.zombies.fetch_add(1, Relaxed);
    }

    /// Reads every counter.
    #[must_use]
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            connects: self.connects.load(Relaxed),
            open_failures: self.open_failures.load(Relaxed),
            frames: self.frames.load(Relaxed),
            pings: self.pings.load(Relaxed),
            acks: self.acks.load(Relaxed),
            disconnect_notices: self.disconnect_notices.load(Relaxed),
            zombies: self.zombies.load(Relaxed),
        }
    }
}
