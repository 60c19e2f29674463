//! Stream mode: an outbound WebSocket to DingTalk, so the gateway needs no public address.
//!
//! The client registers with `connections/open` (a fresh single-use ticket per attempt),
//! opens the WebSocket, answers `SYSTEM/ping` itself, and hands every CALLBACK and EVENT frame
//! to the caller as a [`Delivery`]. Acknowledging is the caller's decision, so a gateway can
//! persist a message before DingTalk considers it delivered.
//!
//! Reconnects: a `disconnect` notice opens the replacement at once while the old socket drains
//! (make-before-break); a socket silent for `idle_timeout` is abandoned as a zombie; failed
//! attempts back off exponentially with jitter.
//!
//! ```no_run
//! # async fn demo() {
//! use dingtalk::ids::ClientId;
//! use dingtalk::stream::{StreamClient, StreamConfig, StreamEvent};
//! let config = StreamConfig::new(ClientId::new("dingappkey"), "secret", dingtalk::Endpoints::default());
//! let (handle, mut events) = StreamClient::spawn(config);
//! while let Some(event) = events.recv().await {
//!     if let StreamEvent::Frame(delivery) = event {
//!         // persist delivery.frame, then:
//!         let _ = delivery.acker().ok();
//!     }
//! }
//! handle.shutdown().await;
//! # }
//! ```

mod backoff;
mod client;
mod config;
mod connection;
mod delivery;
mod error;
mod open;
mod proxy;
mod stats;

use std::sync::Arc;
use std::time::Duration;

pub use backoff::Backoff;
pub use client::{StreamClient, StreamEvents, StreamHandle};
pub use config::StreamConfig;
pub use connection::CloseReason;
pub use delivery::{Acker, Delivery};
pub use error::{AckError, StreamError};
pub use open::probe_open;
pub use stats::{StatsSnapshot, StreamStats};

use crate::model::frame::FrameError;

/// What the Stream client reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamEvent {
    /// A WebSocket is up (local sequence number).
    Connected {
        /// Local connection number.
        connection: u64,
    },
    /// A WebSocket ended.
    Disconnected {
        /// Local connection number.
        connection: u64,
        /// Why.
        reason: CloseReason,
    },
    /// A connection attempt failed; the next one follows after `retry_in`.
    ConnectFailed {
        /// Consecutive failures so far.
        failures: u32,
        /// What went wrong.
        error: Arc<StreamError>,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// A CALLBACK or EVENT frame to handle and acknowledge.
    Frame(Box<Delivery>),
    /// A frame that could not be parsed; it cannot be acknowledged.
    Undecodable {
        /// Local connection number.
        connection: u64,
        /// The parse error.
        error: Arc<FrameError>,
    },
}
