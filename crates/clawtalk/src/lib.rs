//! The clawtalk gateway: DingTalk bots in front of LLM agents.
//!
//! # Layout
//!
//! - [`cli`]: argument parsing and dispatch of the `clawtalk` binary.
//! - [`config`]: loading and validating `clawtalk.json` / OpenClaw's `openclaw.json`.
//! - [`sim`]: `clawtalk sim`, the offline DingTalk simulator seeded with a demo organisation.

pub mod cli;
pub mod config;
pub mod sim;
