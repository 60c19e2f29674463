//! Reloading the configuration without a restart.
//!
//! Three triggers read the config file again ([`triggers`]): an edit of the file (when
//! `gateway.reload.mode` is `hybrid`), SIGHUP, and the web console's Reload. A file with
//! errors is refused, each error logged with its key path, and the running configuration
//! stays. A valid one replaces the running configuration ([`crate::running`]) for every
//! turn that starts from then on, with a new agent runtime (providers, agents, tools);
//! accounts follow ([`reconcile`]): added ones connect, removed or disabled ones drain and
//! disconnect, unchanged ones keep their Stream connection. Settings that cannot apply
//! live keep their running values ([`restart`]) and are reported.

mod reconcile;
mod restart;
mod triggers;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;

use crate::Shared;
use crate::running;
use clawtalk_config::{Config, ReloadMode};
use clawtalk_core::clock::EpochMs;

pub(crate) use triggers::spawn as spawn_triggers;

/// What asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Trigger {
    /// The config file was saved.
    File,
    /// SIGHUP.
    Signal,
    /// The web console's Reload button.
    Console,
}

/// How a reload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// The new configuration is in force.
    Applied,
    /// The file says what is running already.
    Unchanged,
    /// The file has errors; the running configuration stays.
    Refused,
    /// The file changed and is valid, but `gateway.reload.mode` is `off`: it applies on
    /// SIGHUP, the console's Reload, or the next start.
    Waiting,
}

/// What the last reload did, for the logs' readers and the web console.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReloadReport {
    /// When it ran.
    pub at_ms: EpochMs,
    pub trigger: Trigger,
    pub outcome: Outcome,
    /// Every error of a refused file, each starting with its key path.
    pub errors: Vec<String>,
    /// What changed (accounts connected or drained, agents replaced).
    pub changes: Vec<String>,
    /// Settings whose new value waits for a restart (the running value stays).
    pub needs_restart: Vec<String>,
}

/// Where the running configuration was read from, so that a reload reads the same.
#[derive(Debug, Clone, Default)]
pub(crate) struct Source {
    /// `--config`, when given (else the same search as at start).
    pub explicit: Option<PathBuf>,
    /// The file that was read, which the watcher watches.
    pub file: Option<PathBuf>,
    /// `--bind`, which wins over the file at every reload too.
    pub bind: Option<std::net::IpAddr>,
    /// `--port`, likewise.
    pub port: Option<u16>,
}

/// The last reload's report, and one reload at a time.
#[derive(Default)]
pub(crate) struct ReloadBoard {
    last: Mutex<Option<ReloadReport>>,
    source: OnceLock<Source>,
    /// Reloads run one after another (two saves in a row, a SIGHUP meanwhile).
    serial: tokio::sync::Mutex<()>,
}

impl ReloadBoard {
    /// The last reload's report, if any reload ran.
    pub(crate) fn snapshot(&self) -> Option<ReloadReport> {
        self.last.lock().ok().and_then(|last| last.clone())
    }

    fn record(&self, report: ReloadReport) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some(report);
        }
    }

    /// Sets where the configuration comes from (once, at start).
    pub(crate) fn set_source(&self, source: Source) {
        let _ = self.source.set(source);
    }
}

/// Reads the config file again and applies it (or, for a file edit under
/// `gateway.reload.mode: off`, only checks it).
pub(crate) async fn reload_now(shared: &Arc<Shared>, trigger: Trigger) -> ReloadReport {
    let _serial = shared.reload.serial.lock().await;
    let Some(source) = shared.reload.source.get().cloned() else {
        // Embedded (tests, the demo): the config came from the caller, not from a file.
        let report = report(shared, trigger, Outcome::Refused).errors(vec![
            "(reload) this gateway was not started from a config file".to_owned(),
        ]);
        shared.reload.record(report.clone());
        return report;
    };
    let explicit = source.explicit.clone();
    let loaded = tokio::task::spawn_blocking(move || Config::load(explicit.as_deref())).await;
    let report = match loaded {
        Ok(Ok(loaded)) => {
            for warning in &loaded.warnings {
                tracing::warn!("config: {warning}");
            }
            let mut next = loaded.config;
            if let Some(bind) = source.bind {
                next.gateway.bind = bind;
            }
            if let Some(port) = source.port {
                next.gateway.port = port;
            }
            apply(shared, next, trigger)
        }
        Ok(Err(errors)) => {
            for error in &errors.errors {
                tracing::error!(key = %error.path, "config reload refused: {error}");
            }
            tracing::error!(
                errors = errors.errors.len(),
                source = %errors.source,
                "config reload refused: the running configuration stays"
            );
            report(shared, trigger, Outcome::Refused)
                .errors(errors.errors.iter().map(ToString::to_string).collect())
        }
        Err(join) => {
            tracing::error!(error = %join, "config reload failed: the running configuration stays");
            report(shared, trigger, Outcome::Refused).errors(vec![format!("(reload) {join}")])
        }
    };
    shared.reload.record(report.clone());
    report
}

/// Makes `next` (valid, read from the file) the running configuration.
fn apply(shared: &Arc<Shared>, mut next: Config, trigger: Trigger) -> ReloadReport {
    let running = shared.config();
    let needs_restart = restart::pin(&running, &mut next);
    for waiting in &needs_restart {
        tracing::warn!("config reload: needs a restart: {waiting}");
    }
    if next == *running {
        tracing::info!(?trigger, "config reloaded: nothing to apply");
        return report(shared, trigger, Outcome::Unchanged).needs_restart(needs_restart);
    }
    if trigger == Trigger::File && running.gateway.reload_mode == ReloadMode::Off {
        tracing::info!(
            "the config file changed and is valid; gateway.reload.mode is \"off\": it applies on SIGHUP, \
             the web console's Reload, or the next start"
        );
        return report(shared, trigger, Outcome::Waiting).needs_restart(needs_restart);
    }
    let next = Arc::new(next);
    let previous_mcp = shared.live.live().mcp.clone();
    let built = match running::build_agent(
        &next,
        &shared.store,
        &shared.cron_wake,
        &shared.clock,
        previous_mcp.as_ref(),
    ) {
        Ok(built) => built,
        Err(error) => {
            let error = format!("models.providers: {error:#}");
            tracing::error!("config reload refused: {error}; the running configuration stays");
            return report(shared, trigger, Outcome::Refused)
                .errors(vec![error])
                .needs_restart(needs_restart);
        }
    };
    let endpoints = match crate::http::Endpoints::of(&next) {
        Ok(endpoints) => endpoints,
        Err(error) => {
            let error = format!("channels.dingtalk: {error:#}");
            tracing::error!("config reload refused: {error}; the running configuration stays");
            return report(shared, trigger, Outcome::Refused)
                .errors(vec![error])
                .needs_restart(needs_restart);
        }
    };
    let mut changes = summary(&running, &next);
    changes.extend(mcp_summary(&built.mcp_changes));
    shared.live.replace(Arc::clone(&next), built);
    changes.extend(reconcile::accounts(shared, &running, &next));
    changes.extend(reconcile::webhooks(shared, &running, &next, endpoints));
    tracing::info!(?trigger, changes = %changes.join("; "), "config reloaded");
    report(shared, trigger, Outcome::Applied)
        .changes(changes)
        .needs_restart(needs_restart)
}

/// One line per section that changed, outside the accounts (which [`reconcile`] reports).
fn summary(running: &Config, next: &Config) -> Vec<String> {
    let mut changed = Vec::new();
    if running.agents != next.agents || running.default_agent != next.default_agent {
        changed.push("agents");
    }
    if running.providers != next.providers {
        changed.push("models.providers");
    }
    if running.bindings != next.bindings {
        changed.push("bindings");
    }
    if running.session != next.session {
        changed.push("session");
    }
    if running.workflows != next.workflows {
        changed.push("workflows");
    }
    if running.gateway != next.gateway || running.store != next.store {
        changed.push("gateway");
    }
    changed
        .into_iter()
        .map(|section| format!("{section}: changed, applies to the next turn"))
        .collect()
}

/// One line per MCP server the reload started, restarted or stopped (kept ones go unsaid).
fn mcp_summary(changes: &clawtalk_mcp::HubChanges) -> Vec<String> {
    let lines = |names: &[String], what: &str| {
        names
            .iter()
            .map(|name| format!("mcp.servers.{name}: {what}"))
            .collect::<Vec<_>>()
    };
    [
        lines(&changes.started, "started"),
        lines(&changes.restarted, "restarted with its new settings"),
        lines(&changes.stopped, "stopped once the turns using it end"),
    ]
    .concat()
}

fn report(shared: &Shared, trigger: Trigger, outcome: Outcome) -> ReloadReport {
    ReloadReport {
        at_ms: shared.clock.now(),
        trigger,
        outcome,
        errors: Vec::new(),
        changes: Vec::new(),
        needs_restart: Vec::new(),
    }
}

impl ReloadReport {
    fn errors(mut self, errors: Vec<String>) -> Self {
        self.errors = errors;
        self
    }

    fn changes(mut self, changes: Vec<String>) -> Self {
        self.changes = changes;
        self
    }

    fn needs_restart(mut self, waiting: Vec<String>) -> Self {
        self.needs_restart = waiting;
        self
    }
}
