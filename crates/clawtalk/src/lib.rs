//! The clawtalk gateway: DingTalk bots in front of LLM agents.
//!
//! # Layout
//!
//! - [`cli`]: argument parsing and dispatch of the `clawtalk` binary.
//! - [`inbound`]: the one message type every transport produces.
//! - [`commands`]: `/stop`, `/new`, `/reset` and their Chinese forms.
//! - [`sim`]: `clawtalk sim`, the offline DingTalk simulator seeded with a demo organisation.

pub mod cli;
pub mod commands;
pub mod inbound;
pub mod sim;
