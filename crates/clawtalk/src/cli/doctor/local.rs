//! Doctor checks on this machine: the config, file permissions, the store.

use std::path::Path;

use crate::cli::common::ConfigArg;
use crate::config::{Config, LoadedConfig};

use super::Finding;

/// Loads and validates the config; every error is a problem line, every warning a warn line.
pub(super) fn check_config(arg: &ConfigArg, findings: &mut Vec<Finding>) -> Option<LoadedConfig> {
    match Config::load(arg.config.as_deref()) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                findings.push(Finding::warn("config", warning.to_string()));
            }
            findings.push(Finding::ok(
                "config",
                format!(
                    "{} is valid ({} account(s), {} agent(s))",
                    loaded.source,
                    loaded.config.accounts.len(),
                    loaded.config.agents.len()
                ),
            ));
            Some(loaded)
        }
        Err(errors) => {
            for error in &errors.errors {
                findings.push(Finding::problem("config", format!("{} — {error}", errors.source)));
            }
            None
        }
    }
}

/// Every secret of the config, to mask in the report.
pub(super) fn secrets_of(config: &Config) -> Vec<String> {
    let mut secrets = Vec::new();
    for account in &config.accounts {
        secrets.push(account.client_secret.expose().to_owned());
        if let Some(push) = &account.event_push {
            secrets.push(push.token.expose().to_owned());
            secrets.push(push.aes_key.expose().to_owned());
        }
        if let Some(robot) = &account.custom_robot {
            secrets.push(robot.webhook.to_string());
            if let Some(query) = robot.webhook.query() {
                secrets.push(query.to_owned());
            }
            if let Some(secret) = &robot.secret {
                secrets.push(secret.expose().to_owned());
            }
        }
    }
    for provider in config.providers.values() {
        if let Some(key) = &provider.api_key {
            secrets.push(key.expose().to_owned());
        }
    }
    if let Some(token) = &config.gateway.auth_token {
        secrets.push(token.expose().to_owned());
    }
    secrets.retain(|s| !s.is_empty());
    secrets
}

/// State directory owner-only; a config file holding secrets not readable by others.
pub(super) fn check_permissions(loaded: &LoadedConfig, findings: &mut Vec<Finding>) {
    let state_dir = &loaded.config.gateway.state_dir;
    match mode_of(state_dir) {
        None => findings.push(Finding::ok(
            "state dir",
            format!("{} does not exist yet; the gateway creates it (mode 0700)", state_dir.display()),
        )),
        Some(mode) if mode & 0o077 != 0 => findings.push(Finding::warn(
            "state dir",
            format!(
                "{} is accessible to other users (mode {:o}) and holds messages and the allowlist; run `chmod 700 {}`",
                state_dir.display(),
                mode & 0o777,
                state_dir.display()
            ),
        )),
        Some(_) => findings.push(Finding::ok("state dir", format!("{} is owner-only", state_dir.display()))),
    }
    let Some(path) = loaded.source.path() else {
        return;
    };
    let Some(mode) = mode_of(path) else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let holds_secrets = secrets_of(&loaded.config)
        .iter()
        .any(|s| s.len() >= 4 && text.contains(s.as_str()));
    if mode & 0o044 != 0 && holds_secrets {
        findings.push(Finding::warn(
            "config file",
            format!(
                "{} holds secrets and is readable by other users (mode {:o}); run `chmod 600 {}` or use ${{VAR}} references",
                path.display(),
                mode & 0o777,
                path.display()
            ),
        ));
    } else {
        findings.push(Finding::ok(
            "config file",
            format!("{} permissions are fine", path.display()),
        ));
    }
}

#[cfg(unix)]
fn mode_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).ok().map(|m| m.permissions().mode())
}

#[cfg(not(unix))]
fn mode_of(_path: &Path) -> Option<u32> {
    None
}

/// Opens the store as the gateway does (which applies pending migrations) and reads from it;
/// names the backend (PostgreSQL URLs with the password masked) and, for SQLite, checks the
/// database file is writable.
pub(super) async fn check_store(config: &Config, findings: &mut Vec<Finding>) {
    let backend = match crate::store::StoreBackend::from_url(&config.store.url) {
        Ok(backend) => backend,
        Err(error) => {
            findings.push(Finding::problem("store", format!("{error:#}")));
            return;
        }
    };
    let shown = backend.describe();
    let store = match crate::store::open_configured(config).await {
        Ok(store) => store,
        Err(error) => {
            findings.push(Finding::problem("store", format!("{shown}: {error:#}")));
            return;
        }
    };
    let depths = store.queue_depths().await;
    store.close().await;
    let writable = match &backend {
        crate::store::StoreBackend::Sqlite(path) => {
            std::fs::OpenOptions::new().append(true).open(path).map(drop)
        }
        // The server decides; the migration that just ran proves we may write.
        crate::store::StoreBackend::Postgres(_) => Ok(()),
    };
    let reached = match backend {
        crate::store::StoreBackend::Sqlite(_) => "opens",
        crate::store::StoreBackend::Postgres(_) => "reachable",
    };
    match (depths, writable) {
        (Err(error), _) => findings.push(Finding::problem(
            "store",
            format!("{shown} {reached} but cannot be read ({error}); restore it from a backup or move it away"),
        )),
        (_, Err(error)) => findings.push(Finding::problem(
            "store",
            format!("{shown} is not writable ({error}); fix its owner and mode (0600)"),
        )),
        (Ok(d), Ok(())) => findings.push(Finding::ok(
            "store",
            format!(
                "{shown} {reached}, schema up to date, writable ({} pending turn(s), {} unsent reply part(s))",
                d.pending_turns, d.planned_parts
            ),
        )),
    }
}
