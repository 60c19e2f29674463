//! The clawtalk gateway: DingTalk bots in front of LLM agents.
//!
//! # Layout
//!
//! - [`cli`]: argument parsing and dispatch of the `clawtalk` binary.
//! - [`delivery`]: outbound messages: one `Outbound` trait, the DingTalk sender, chunking, and
//!   rate-limit, retry and tracing layers.
//! - [`sim`]: `clawtalk sim`, the offline DingTalk simulator seeded with a demo organisation.

pub mod cli;
pub mod delivery;
pub mod sim;
