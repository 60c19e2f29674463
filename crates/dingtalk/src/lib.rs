//! DingTalk's Open Platform protocol as a library, with no gateway logic.
//!
//! # Layout
//!
//! - [`ids`]: typed identifiers, so a conversation id is never passed as a staff id.
//! - [`endpoints`]: configurable base URLs (tests point them at the simulator on 127.0.0.1).
//! - [`model`]: serde wire types for Stream frames, bot messages, card callbacks, events and
//!   every outbound request body.
//! - [`crypto`]: custom-robot signing, HTTP-callback signature checks and the AES-256-CBC
//!   event-subscription crypto.
//! - [`token`]: the access-token cache (single-flight, refreshed before expiry).
//! - `http` (internal): request plumbing shared by [`token`] and [`api`]: send, count, classify,
//!   decode.
//! - [`api`]: the OpenAPI client (robot send, recall, media, cards, sessionWebhook).
//! - [`stream`]: the Stream-mode client (open → WebSocket → ACK → ping → reconnect).

pub mod api;
pub mod crypto;
pub mod endpoints;
pub mod error;
mod http;
pub mod ids;
pub mod model;
pub mod secret;
pub mod stream;
pub mod tls;
pub mod token;

pub use endpoints::Endpoints;
pub use error::{ApiError, ApiErrorKind, Error};
pub use secret::Secret;
