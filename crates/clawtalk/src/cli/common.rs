//! What the operator commands share: loading the config, opening the store, formatting times.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use clap::Args;

use clawtalk_config::{Config, ConfigErrors, ConnectionMode, DingTalkAccount, DmPolicy, GroupPolicy};

/// `--config PATH`, taken by every command that reads the configuration.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArg {
    /// Config file to use instead of the usual search (CLAWTALK_CONFIG,
    /// ~/.clawtalk/clawtalk.json, ~/.openclaw/openclaw.json, environment only).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    /// Loads and validates the configuration the gateway would use.
    ///
    /// Warnings are not repeated here: they are `config validate`'s business, and an operator
    /// approving a pairing code does not need to hear about an ignored plugin key every time.
    pub fn load(&self) -> anyhow::Result<Config> {
        Config::load(self.config.as_deref())
            .map(|loaded| loaded.config)
            .map_err(|errors| config_error(&errors, self.config.as_deref()))
    }
}

/// One line for an invalid config: the first problem and how to see all of them.
fn config_error(errors: &ConfigErrors, explicit: Option<&Path>) -> anyhow::Error {
    let validate = match explicit {
        Some(path) => format!("clawtalk config validate --config {}", path.display()),
        None => "clawtalk config validate".to_owned(),
    };
    let n = errors.errors.len();
    match errors.errors.first() {
        Some(first) => anyhow!(
            "the configuration ({}) is invalid: {first}{}; run `{validate}` to see every problem",
            errors.source,
            if n > 1 {
                format!(" (and {} more)", n - 1)
            } else {
                String::new()
            }
        ),
        None => anyhow!(
            "the configuration ({}) is invalid; run `{validate}`",
            errors.source
        ),
    }
}

/// Opens the configured store (see [`clawtalk_store::open_configured`]).
pub async fn open_store(config: &Config) -> anyhow::Result<std::sync::Arc<dyn clawtalk_store::Store>> {
    clawtalk_store::open_configured(config).await
}

/// Picks the account a command acts as: `--account ID`, else the only enabled account, else
/// the enabled one called `default`.
pub fn pick_account<'c>(config: &'c Config, requested: Option<&str>) -> anyhow::Result<&'c DingTalkAccount> {
    let known = || {
        config
            .accounts
            .iter()
            .map(|a| a.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(id) = requested {
        let account = config.account(id).ok_or_else(|| {
            anyhow!(
                "no DingTalk account {id:?} in the config; known accounts: {}",
                known()
            )
        })?;
        if !account.enabled {
            bail!("account {id:?} is disabled (enabled: false); enable it or pick another with --account");
        }
        return Ok(account);
    }
    let enabled: Vec<_> = config.enabled_accounts().collect();
    match enabled.as_slice() {
        [] if config.accounts.is_empty() => bail!(
            "no DingTalk account is configured; add channels.dingtalk.clientId/clientSecret \
             or set DINGTALK_CLIENT_ID/DINGTALK_CLIENT_SECRET"
        ),
        [] => bail!("every DingTalk account is disabled; enable one in the config"),
        [only] => Ok(only),
        several => several
            .iter()
            .find(|a| a.id == "default")
            .copied()
            .ok_or_else(|| {
                let ids: Vec<&str> = several.iter().map(|a| a.id.as_str()).collect();
                anyhow!(
                    "several accounts are enabled ({}); pick one with --account",
                    ids.join(", ")
                )
            }),
    }
}

/// The config spelling of an account's mode.
#[must_use]
pub fn mode_name(mode: ConnectionMode) -> &'static str {
    match mode {
        ConnectionMode::Stream => "stream",
        ConnectionMode::Http => "http",
        ConnectionMode::CustomRobot => "customRobot",
    }
}

/// The config spelling of a `dmPolicy`.
#[must_use]
pub fn dm_policy_name(policy: DmPolicy) -> &'static str {
    match policy {
        DmPolicy::Pairing => "pairing",
        DmPolicy::Allowlist => "allowlist",
        DmPolicy::Open => "open",
        DmPolicy::Disabled => "disabled",
    }
}

/// The config spelling of a `groupPolicy`.
#[must_use]
pub fn group_policy_name(policy: GroupPolicy) -> &'static str {
    match policy {
        GroupPolicy::Open => "open",
        GroupPolicy::Allowlist => "allowlist",
        GroupPolicy::Disabled => "disabled",
    }
}

/// Left-aligned columns, two spaces apart, widths from the widest cell (by characters).
#[must_use]
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(&["A", "LONG"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "A    LONG\nxyz  1\n");
    }
}
