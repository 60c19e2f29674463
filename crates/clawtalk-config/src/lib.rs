//! Configuration: `~/.clawtalk/clawtalk.json` (JSON5) or an unchanged OpenClaw
//! `~/.openclaw/openclaw.json`, normalized into one typed [`Config`].
//!
//! # Reading it
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use clawtalk_config::Config;
//! let loaded = Config::load(None)?; // --config, CLAWTALK_CONFIG, ~/.clawtalk, ~/.openclaw, env
//! for warning in &loaded.warnings {
//!     eprintln!("config warning: {warning}");
//! }
//! let config = loaded.config;
//! for account in config.accounts.iter().filter(|a| a.enabled) {
//!     // one Stream connection per account: account.client_id, account.client_secret, account.endpoints
//! }
//! let agent = config.default_agent();
//! let provider = config.provider_for(&agent.model);
//! # let _ = provider; Ok(()) }
//! ```
//!
//! # Behaviour worth knowing
//!
//! - Unknown keys are warnings, never errors (OpenClaw files carry many keys clawtalk ignores);
//!   a known key with a wrong type or value is an error. All errors are collected, each with its
//!   key path and a fix.
//! - `${VAR}` in any string value is replaced from the environment (then from the file's own
//!   `env` section); `$${VAR}` is a literal. Secrets may also be `{source: "env"|"file", id}`.
//! - `DINGTALK_CLIENT_ID` / `DINGTALK_CLIENT_SECRET` fill in (or create) the `default` account.
//! - `CLAWTALK_MODEL` (`provider/model`) is the model of last resort; `CLAWTALK_STATE_DIR`
//!   moves the state directory.
//! - Defaults that differ from OpenClaw or its DingTalk plugins: `dmPolicy` = `pairing`
//!   (plugins: `open`), `groupPolicy` = `open` (core: `allowlist`), session idle reset 30 min
//!   (OpenClaw: none), `messageType` = `markdown`.
//! - Secrets are [`dingtalk::Secret`]: `Debug`/`Display` print `***`, and no diagnostic
//!   contains a secret value.

mod agent_memory;
mod agents;
mod card_callback;
mod channels;
pub mod command;
mod custom_robot;
mod document;
mod include;
mod issue;
mod load;
mod mcp;
mod openclaw;
pub mod policy;
mod presets;
mod reader;
mod reload_mode;
mod response_format;
pub mod routing;
mod secrets;
mod seed_yaml;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod tool_policy;
mod tools;
mod types;
mod validate;
mod value;
mod web_tools;
mod workflows;

use std::path::Path;

pub use channels::{DEFAULT_MAX_INBOUND_CHARS, DEFAULT_MEDIA_MAX_BYTES};
pub use document::write_private;
pub use issue::{ConfigErrors, ConfigIssue};
pub use load::{ConfigSource, LoadedConfig};
pub use mcp::{
    DEFAULT_MCP_CONNECT_TIMEOUT, DEFAULT_MCP_TIMEOUT, McpConfig, McpServerConfig, McpTransport, ToolFilter,
};
pub use tool_policy::{AgentTools, ApprovalConfig, ToolPolicy, ToolPolicyConfig, ToolProfile, ToolsConfig};
pub use types::*;
pub use value::Value;
pub use web_tools::{
    AllowTarget, PrivateAllow, SearchProvider, WebFetchConfig, WebSearchConfig, WebToolsConfig, parse_allow,
};

/// The kinds of config file [`Config::from_text`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFormat {
    /// `clawtalk.json` (JSON5).
    Clawtalk,
    /// An OpenClaw `openclaw.json`, read unchanged (JSON5).
    OpenClaw,
    /// `channels.yaml`, the seed format.
    ChannelsYaml,
}

/// Parses JSON5 config text into the editable document tree (for tools that rewrite a file).
pub fn parse_document(text: &str) -> Result<Value, String> {
    value::parse_json5(text)
}

impl Config {
    /// Finds and reads the configuration using the process environment (see the module docs
    /// for the search order). On failure every error is returned at once.
    pub fn load(explicit_path: Option<&Path>) -> Result<LoadedConfig, ConfigErrors> {
        Self::load_with_env(explicit_path, &|name| std::env::var(name).ok())
    }

    /// [`Config::load`] with an injected environment (`HOME` included), so tests need not
    /// touch the process environment.
    pub fn load_with_env(
        explicit_path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<LoadedConfig, ConfigErrors> {
        load::load(explicit_path, env)
    }

    /// Reads configuration from JSON5 text (for tests and embedding). `HOME` comes from `env`;
    /// without it, set `gateway.stateDir` or the state directory is reported missing.
    pub fn from_json5(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<LoadedConfig, ConfigErrors> {
        Self::from_text(text, ConfigFormat::Clawtalk, env)
    }

    /// Reads configuration from text in any of the file formats, exactly as a file of that
    /// kind is read (minus the search for a file and a sibling `channels.yaml`). For
    /// embedding, and for the fuzz targets, which must reach every parser and check.
    pub fn from_text(
        text: &str,
        format: ConfigFormat,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<LoadedConfig, ConfigErrors> {
        let home = env("HOME").map(std::path::PathBuf::from);
        let cx = reader::Ctx::new(env, home);
        let (yaml, openclaw) = match format {
            ConfigFormat::Clawtalk => (false, false),
            ConfigFormat::OpenClaw => (false, true),
            ConfigFormat::ChannelsYaml => (true, false),
        };
        load::parse_and_build(Some(text), ConfigSource::Inline, cx, yaml, openclaw)
    }

    /// The agent answering when no binding matches.
    ///
    /// # Panics
    /// Only on a hand-built `Config` with no agents; loaded configs always have one.
    #[must_use]
    pub fn default_agent(&self) -> &AgentConfig {
        // `assemble` guarantees the default id names an agent; fall back to the first anyway.
        self.agent(&self.default_agent).unwrap_or(&self.agents[0])
    }

    /// An agent by id.
    #[must_use]
    pub fn agent(&self, id: &str) -> Option<&AgentConfig> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// A DingTalk account by id.
    #[must_use]
    pub fn account(&self, id: &str) -> Option<&DingTalkAccount> {
        self.accounts.iter().find(|a| a.id == id)
    }

    /// The accounts to connect.
    pub fn enabled_accounts(&self) -> impl Iterator<Item = &DingTalkAccount> {
        self.accounts.iter().filter(|a| a.enabled)
    }

    /// A provider by id.
    #[must_use]
    pub fn provider(&self, id: &str) -> Option<&ProviderConfig> {
        self.providers.get(id)
    }

    /// The provider serving a model reference (always present for refs from this config).
    #[must_use]
    pub fn provider_for(&self, model: &ModelRef) -> Option<&ProviderConfig> {
        self.providers.get(&model.provider)
    }

    /// Whether `model` accepts images: as its catalogue entry's `input` says, else guessed
    /// from well-known vision model names (`qwen-vl-max`, `glm-4v`, `kimi-vl`, `gpt-4o`…).
    #[must_use]
    pub fn model_sees_images(&self, model: &ModelRef) -> bool {
        let declared = self
            .provider_for(model)
            .and_then(|p| p.models.iter().find(|m| m.id == model.model))
            .and_then(|m| m.images);
        declared.unwrap_or_else(|| known_vision_model(&model.model))
    }
}

/// Vision model families of the providers clawtalk has presets for, plus OpenAI's. A model
/// missing here can be declared with `input: ["text", "image"]` in its catalogue entry.
fn known_vision_model(id: &str) -> bool {
    let id = id.to_ascii_lowercase();
    let family = id.rsplit('/').next().unwrap_or(&id);
    [
        "-vl", "vl-", "qvq", "-vision", "glm-4v", "glm-4.1v", "glm-4.5v", "gpt-4o", "gpt-4.1", "omni",
    ]
    .iter()
    .any(|marker| family.contains(marker))
}

#[cfg(test)]
mod tests;
