//! The DingTalk surfaces the simulator serves, one file each, plus the checks they share.
//!
//! - OpenAPI (`/v1.0/…`): OAuth tokens, the Stream gateway, the robot send/recall APIs,
//!   message file download, interactive cards;
//! - legacy host: `gettoken`, media upload, contacts, sessionWebhook replies, custom robots;
//! - outbound: HTTP event push and HTTP-mode bot callbacks to the app's own URLs.

pub(crate) mod auth;
pub(crate) mod body;
pub(crate) mod cards;
pub(crate) mod contact;

/// Largest request body accepted (media uploads are checked against their own limits).
pub(crate) const BODY_LIMIT: usize = 64 * 1024 * 1024;
pub(crate) mod custom_robot;
pub(crate) mod faults;
pub(crate) mod http_push;
pub(crate) mod media;
pub(crate) mod oauth;
pub(crate) mod robot;
pub(crate) mod session_webhook;
pub(crate) mod stream_open;
pub(crate) mod stream_socket;
pub(crate) mod webhook;
