//! The clawtalk gateway: DingTalk bots in front of LLM agents.
//!
//! # Layout
//!
//! - [`agent`]: the agent runtime: model turns with tool rounds, fallbacks and cancellation.
//! - [`cli`]: argument parsing and dispatch of the `clawtalk` binary.
//! - [`config`]: loading and validating `clawtalk.json` / OpenClaw's `openclaw.json`.
//! - [`cron`]: scheduled tasks: cron and one-shot schedules, time zones, the missed-run policy.
//! - [`demo`]: `clawtalk demo`: simulator + gateway + model on embedded defaults.
//! - [`gateway`]: the pipeline: ingest (persist before ack), decide, per-session turns, replies.
//! - [`inbound`]: the one message type every transport produces.
//! - [`commands`]: `/stop`, `/new`, `/reset` and their Chinese forms.
//! - [`policy`]: dmPolicy, groupPolicy, allowlists, the mention rule and pairing replies.
//! - [`routing`]: bindings → agent, and session keys.
//! - [`media`]: received pictures and files for the agent, images and files it sends.
//! - [`memory`]: allocator settings and dropping start-up pages from the resident set.
//! - [`logfile`]: the gateway's size-capped JSON-lines log file (`clawtalk logs`).
//! - [`owner_only`]: the state directory and its logs kept owner-only (tightened at start).
//! - [`llm`]: the OpenAI-compatible model client (DashScope, DeepSeek, Kimi, GLM, any `baseUrl`).
//! - [`onboard`]: `clawtalk onboard dingtalk` / `channels add`: the setup wizard.
//! - [`delivery`]: outbound messages: one `Outbound` trait, the DingTalk sender, chunking, and
//!   rate-limit, retry and tracing layers.
//! - [`store`]: durable inbox, outbox, sessions and pairing (SQLite; one trait for all backends).
//! - [`web`]: the web UI the gateway serves: status, conversations, pairing, WebChat, config.
//! - [`sim`]: `clawtalk sim`, the offline DingTalk simulator seeded with a demo organisation.

pub mod agent;
pub mod cli;
pub mod commands;
pub mod config;
pub mod cron;
pub mod delivery;
pub mod demo;
pub mod gateway;
pub mod inbound;
pub mod llm;
pub mod logfile;
pub mod logging;
pub mod mask;
pub mod media;
pub mod memory;
pub mod onboard;
pub mod owner_only;
pub mod policy;
pub mod routing;
pub mod sim;
pub mod store;
#[cfg(test)]
mod test_support;
pub mod web;
