//! `clawtalk gateway run`: load the configuration, open the store, serve until a signal.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clawtalk_core::clock::{Clock, SystemClock};
use dingtalk::Secret;

use super::{Gateway, WebMount};
use crate::token::TokenSource;
use clawtalk_config::{Config, ConfigSource, ConnectionMode};
use clawtalk_store::Store;

/// How long running turns may take to finish at shutdown before they are left to resume.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The longest start-up waits for the first Stream connections before its pages are released.
const STARTUP_LIMIT: Duration = Duration::from_secs(10);
/// How long after the first connections start-up pages are released.
const STARTUP_SETTLE: Duration = Duration::from_millis(500);

/// Opens the configured store as the gateway holds it.
///
/// # Errors
/// An unsupported URL or a database that cannot be opened.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    clawtalk_store::open_configured(config).await
}

/// The state directory's lock when the store is SQLite (see `store::lock_state_dir`);
/// PostgreSQL is shared by replicas and takes none.
///
/// # Errors
/// Another gateway holds the lock, or the store URL is unsupported.
pub fn lock_if_sqlite(config: &Config) -> anyhow::Result<Option<clawtalk_store::StateLock>> {
    match clawtalk_store::StoreBackend::from_url(&config.store.url)? {
        clawtalk_store::StoreBackend::Sqlite(_) => {
            clawtalk_store::lock_state_dir(&config.gateway.state_dir).map(Some)
        }
        clawtalk_store::StoreBackend::Postgres(_) => Ok(None),
    }
}

/// A stable name for this gateway process's leases: `CLAWTALK_INSTANCE`, else the host name.
#[must_use]
pub fn instance_name() -> String {
    std::env::var("CLAWTALK_INSTANCE")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "clawtalk".to_owned())
}

/// `gateway run --bind/--port`: overrides of `gateway.bind` / `gateway.port`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Listen {
    /// Instead of `gateway.bind`.
    pub bind: Option<IpAddr>,
    /// Instead of `gateway.port`.
    pub port: Option<u16>,
}

/// Makes the web console for a login token and the config file the gateway was started
/// from (where the console's setup writes); the binary passes its console here.
pub type WebConsole = fn(Secret, &ConfigSource) -> Box<dyn WebMount>;

/// Runs the gateway in the foreground until Ctrl-C or SIGTERM, serving `console` when
/// `gateway.controlUi` is on.
///
/// # Errors
/// Invalid configuration, an unusable store or provider.
pub async fn run(config_path: Option<&Path>, listen: Listen, console: WebConsole) -> anyhow::Result<()> {
    let mut loaded = Config::load(config_path).map_err(|errors| anyhow::anyhow!("{errors}"))?;
    for warning in &loaded.warnings {
        tracing::warn!("config: {warning}");
    }
    if let Some(bind) = listen.bind {
        loaded.config.gateway.bind = bind;
    }
    if let Some(port) = listen.port {
        loaded.config.gateway.port = port;
    }
    let config = Arc::new(loaded.config);
    // Before the log file and the store: a second gateway must not touch either.
    let _state_lock = lock_if_sqlite(&config)?;
    // Loose modes are fixed before the log file is written to again; a mode that cannot be
    // fixed refuses the start (the directory holds messages and the allowlist).
    let tightened = crate::owner_only::tighten_state_dir(&config.gateway.state_dir)?;
    match crate::logfile::attach(&config.gateway.state_dir) {
        Ok(path) => tracing::info!(path = %path.display(), "writing logs to the log file too"),
        Err(error) => tracing::warn!(%error, "cannot write the log file; logging to stderr only"),
    }
    for change in &tightened {
        tracing::warn!("{change}");
    }
    if config.enabled_accounts().next().is_none() {
        // With the web console on, its setup page adds the first account.
        if !config.gateway.control_ui {
            anyhow::bail!(
                "no DingTalk account is configured: set channels.dingtalk.clientId/clientSecret in the config or \
                 DINGTALK_CLIENT_ID/DINGTALK_CLIENT_SECRET"
            );
        }
        tracing::warn!(
            "no DingTalk account is configured yet: open the web console's Setup page (or run `clawtalk onboard dingtalk`)"
        );
    }
    let web_token = if config.gateway.control_ui {
        Some(crate::token::resolve(&config).context("the web UI's gateway token")?)
    } else {
        None
    };
    let store = open_store(&config).await?;
    let web = web_token
        .as_ref()
        .map(|(token, _)| console(token.clone(), &loaded.source));
    let gateway = Gateway::start_with(Arc::clone(&config), store, &instance_name(), web).await?;
    gateway.follow_config(crate::reload::Source {
        explicit: config_path.map(Path::to_path_buf),
        file: loaded.source.path().map(Path::to_path_buf),
        bind: listen.bind,
        port: listen.port,
    });
    tracing::info!(accounts = config.enabled_accounts().count(), source = %loaded.source, "gateway running");
    // Start-up code (config, migrations, TLS roots, the first connections) never runs
    // again: let it leave the resident set once it is done; see
    // `memory::release_startup_pages`. Released right after `start_with` instead, a
    // connection still being opened faulted its code back, 2–4 MB more in some runs.
    let first_connections = gateway.first_connections_done(STARTUP_LIMIT);
    tokio::spawn(async move {
        first_connections.await;
        // The work each connection starts (recovery, the first sweep) runs in this time.
        tokio::time::sleep(STARTUP_SETTLE).await;
        let released_kb = crate::memory::release_startup_pages();
        tracing::debug!(released_kb, "start-up pages released");
    });
    if let (Some(addr), Some((token, source))) = (gateway.http_addr(), &web_token) {
        announce_web_ui(addr, token, source);
    }
    wait_for_signal().await;
    tracing::info!("shutting down");
    gateway.shutdown(SHUTDOWN_GRACE).await;
    Ok(())
}

/// Where the web UI is and how to log in, on stdout (not in the logs). A freshly generated
/// token is shown this once; later starts only say where it is kept.
fn announce_web_ui(addr: SocketAddr, token: &Secret, source: &TokenSource) {
    let shown = if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
    };
    println!("Web UI: http://{shown}/");
    match source {
        TokenSource::Generated(path) => println!(
            "Log in with this gateway token (shown once; kept in {}, `clawtalk gateway token` prints it again):\n  {}",
            path.display(),
            token.expose()
        ),
        TokenSource::Stored(path) => println!(
            "Log in with the gateway token in {} (`clawtalk gateway token` prints it).",
            path.display()
        ),
        _ => println!("Log in with gateway.auth.token from the config."),
    }
}

/// Ctrl-C or, on Unix, SIGTERM (what `kill` and service managers send).
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// `clawtalk gateway status`: prints the status; false when no gateway is running. Asks the
/// gateway over its control API when it answers, else reads the status file it rewrites.
/// `service` (the service manager's view, from the caller) joins the JSON form.
///
/// # Errors
/// Invalid configuration.
pub async fn print_status(
    config_path: Option<&Path>,
    json: bool,
    service: Option<serde_json::Value>,
) -> anyhow::Result<bool> {
    let loaded = Config::load(config_path).map_err(|errors| anyhow::anyhow!("{errors}"))?;
    let config = &loaded.config;
    let state_dir = &config.gateway.state_dir;
    let from_file = super::status::read(state_dir);
    let recorded = from_file.as_ref().ok().and_then(|s| s.http_addr);
    let addr = super::control_client::control_addr(config, recorded);
    let (status, source) = match super::control_client::fetch_status(config, addr).await {
        Ok(status) => (status, format!("control API on {addr}")),
        Err(api_error) => match from_file {
            Ok(status) => {
                tracing::debug!(error = %format!("{api_error:#}"), "control API unavailable; reading the status file");
                (status, "status file".to_owned())
            }
            Err(error) => {
                let reason = format!("{error:#}; {api_error:#}");
                if json {
                    let value = serde_json::json!({ "running": false, "reason": reason, "service": service });
                    println!("{}", serde_json::to_string_pretty(&value)?);
                } else {
                    println!("gateway: not running ({reason})");
                }
                return Ok(false);
            }
        },
    };
    let live = source != "status file" || status.is_live(SystemClock.now());
    if json {
        let value =
            serde_json::json!({ "running": live, "source": source, "status": status, "service": service });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(live);
    }
    if !live {
        println!(
            "gateway: not running (last seen {} s ago, pid {})",
            (SystemClock.now().as_millis() - status.updated_at_ms.as_millis()) / 1000,
            status.pid
        );
        return Ok(false);
    }
    let uptime = (SystemClock.now().as_millis() - status.started_at_ms.as_millis()) / 1000;
    println!(
        "gateway: running (pid {}, instance {}, version {}, up {uptime} s; from the {source})",
        status.pid, status.instance, status.version
    );
    for a in &status.accounts {
        let state = match config.account(&a.id).map(|acc| acc.mode) {
            Some(ConnectionMode::Stream) | None if a.connected => "connected",
            Some(ConnectionMode::Stream) | None => "disconnected",
            // No Stream connection to report: these only receive callbacks or only send.
            Some(ConnectionMode::Http) => "http-callback",
            Some(_) => "send-only",
        };
        let error = a
            .last_error
            .as_deref()
            .map(|e| format!(", last error: {e}"))
            .unwrap_or_default();
        println!(
            "  {:<16} {state:<13} connects {:<4} messages {:<6} card calls {} (QpsLimit {}){error}",
            a.id, a.connects, a.messages, a.card_calls, a.card_qps_limits
        );
    }
    Ok(true)
}
