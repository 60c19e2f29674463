//! The clawtalk gateway: DingTalk bots in front of LLM agents.
//!
//! # Layout
//!
//! - [`cli`]: argument parsing and dispatch of the `clawtalk` binary.
//! - [`llm`]: the OpenAI-compatible model client (DashScope, DeepSeek, Kimi, GLM, any `baseUrl`).
//! - [`sim`]: `clawtalk sim`, the offline DingTalk simulator seeded with a demo organisation.

pub mod cli;
pub mod llm;
pub mod sim;
