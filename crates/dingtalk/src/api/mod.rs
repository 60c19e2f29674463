//! HTTP clients for DingTalk's send-side APIs.
//!
//! - [`OpenApiClient`]: token-authenticated robot sends, recalls, media and cards. One per app;
//!   cheap to clone.
//! - [`SessionWebhookClient`]: replies through the per-message `sessionWebhook` (no token).
//! - [`CustomRobotClient`]: group custom robots (webhook URL + optional signing secret).
//!
//! All of them count every request in an [`ApiMetrics`] and log endpoint, status, request id
//! and error code at debug level — never tokens, secrets or credential-bearing URLs.

mod card;
mod client;
mod contact;
mod custom_robot;
mod media;
mod robot;
mod session_webhook;
mod token_retry;
mod webhook;

#[cfg(test)]
mod tests;

pub use crate::endpoints::ApiEndpoint;
pub use crate::http::{ApiMetrics, BodyGate, MetricsHook};
pub use client::{OpenApiClient, OpenApiClientBuilder};
pub use custom_robot::CustomRobotClient;
pub use media::{DEFAULT_DOWNLOAD_TIMEOUT, MediaKind};
pub use session_webhook::SessionWebhookClient;
