//! The clawtalk gateway: DingTalk bots in front of LLM agents.
//!
//! # Layout
//!
//! - [`cli`]: argument parsing and dispatch of the `clawtalk` binary.
//! - [`config`]: loading and validating `clawtalk.json` / OpenClaw's `openclaw.json`.
//! - [`inbound`]: the one message type every transport produces.
//! - [`commands`]: `/stop`, `/new`, `/reset` and their Chinese forms.
//! - [`policy`]: dmPolicy, groupPolicy, allowlists, the mention rule and pairing replies.
//! - [`routing`]: bindings → agent, and session keys.
//! - [`store`]: durable inbox, outbox, sessions and pairing (SQLite; one trait for all backends).
//! - [`sim`]: `clawtalk sim`, the offline DingTalk simulator seeded with a demo organisation.

pub mod cli;
pub mod commands;
pub mod config;
pub mod inbound;
pub mod policy;
pub mod routing;
pub mod sim;
pub mod store;
#[cfg(test)]
mod test_support;
