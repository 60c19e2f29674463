//! What `clawtalk gateway status` shows: the running gateway rewrites `status.json` in its
//! state directory every few seconds; the command reads it and checks the process is alive.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clawtalk_core::clock::{Clock, EpochMs};
use serde::{Deserialize, Serialize};

/// How often the file is rewritten; a file older than three periods means "not running".
pub(crate) const REFRESH: Duration = Duration::from_secs(2);

/// One account's connection and traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountStatus {
    /// Account id.
    pub id: String,
    /// A Stream connection is up.
    pub connected: bool,
    /// Open connections (two for a moment while a `disconnect` rotation drains the old one).
    pub open_connections: u64,
    /// Connections opened since start (1 = never reconnected).
    pub connects: u64,
    /// When the current or last connection opened, epoch ms.
    pub last_connected_ms: Option<EpochMs>,
    /// When the last message arrived, epoch ms.
    pub last_message_ms: Option<EpochMs>,
    /// Messages received since start.
    pub messages: u64,
    /// The last connection error, if the connection is down.
    pub last_error: Option<String>,
    /// AI card API calls since start (DingTalk counts them against the org's quota).
    #[serde(default)]
    pub card_calls: u64,
    /// `QpsLimit` answers to card calls since start.
    #[serde(default)]
    pub card_qps_limits: u64,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayStatus {
    /// Process id of the gateway.
    pub pid: u32,
    /// Lease owner name.
    pub instance: String,
    /// clawtalk version.
    pub version: String,
    /// Start time, epoch ms.
    pub started_at_ms: EpochMs,
    /// Last rewrite, epoch ms.
    pub updated_at_ms: EpochMs,
    /// Per account.
    pub accounts: Vec<AccountStatus>,
    /// Where the gateway's HTTP listener (control API, `/metrics`) is, when it has one.
    #[serde(default)]
    pub http_addr: Option<SocketAddr>,
}

impl GatewayStatus {
    /// The gateway that wrote this is still running: its process exists and it wrote recently.
    #[must_use]
    pub fn is_live(&self, now: EpochMs) -> bool {
        let fresh = now.since(self.updated_at_ms) <= 3 * REFRESH;
        fresh && Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

/// The status file of a state directory.
#[must_use]
pub fn status_path(state_dir: &Path) -> PathBuf {
    state_dir.join("status.json")
}

/// Reads the status file.
///
/// # Errors
/// No file (the gateway never ran with this state directory) or an unreadable one.
pub fn read(state_dir: &Path) -> anyhow::Result<GatewayStatus> {
    let path = status_path(state_dir);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no gateway status at {} (has `clawtalk gateway run` been started with this config?)",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a gateway status file", path.display()))
}

/// Live status kept by the running gateway.
pub(crate) struct StatusBoard {
    path: PathBuf,
    instance: String,
    started_at_ms: EpochMs,
    accounts: Mutex<BTreeMap<String, AccountStatus>>,
    http_addr: Mutex<Option<SocketAddr>>,
    /// Two writers (the refresh task, the listener at bind) share one temp file.
    writing: Mutex<()>,
    clock: Arc<dyn Clock>,
}

impl StatusBoard {
    pub(crate) fn new(
        state_dir: &Path,
        instance: &str,
        account_ids: impl IntoIterator<Item = String>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let accounts = account_ids
            .into_iter()
            .map(|id| {
                (
                    id.clone(),
                    AccountStatus {
                        id,
                        ..AccountStatus::default()
                    },
                )
            })
            .collect();
        Self {
            path: status_path(state_dir),
            instance: instance.to_owned(),
            started_at_ms: clock.now(),
            clock,
            accounts: Mutex::new(accounts),
            http_addr: Mutex::new(None),
            writing: Mutex::new(()),
        }
    }

    /// Applies `change` to one account's entry.
    pub(crate) fn update(&self, account: &str, change: impl FnOnce(&mut AccountStatus)) {
        if let Ok(mut accounts) = self.accounts.lock() {
            change(
                accounts
                    .entry(account.to_owned())
                    .or_insert_with(|| AccountStatus {
                        id: account.to_owned(),
                        ..AccountStatus::default()
                    }),
            );
        }
    }

    /// Drops an account's entry (a reload removed the account and it has drained).
    pub(crate) fn forget(&self, account: &str) {
        if let Ok(mut accounts) = self.accounts.lock() {
            accounts.remove(account);
        }
    }

    /// Records where the HTTP listener is bound.
    pub(crate) fn set_http_addr(&self, addr: SocketAddr) {
        if let Ok(mut slot) = self.http_addr.lock() {
            *slot = Some(addr);
        }
    }

    /// Where the HTTP listener is bound, once it is.
    pub(crate) fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr.lock().ok().and_then(|a| *a)
    }

    /// The status as it is now.
    pub(crate) fn snapshot(&self) -> GatewayStatus {
        GatewayStatus {
            pid: std::process::id(),
            instance: self.instance.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at_ms: self.started_at_ms,
            updated_at_ms: self.clock.now(),
            accounts: self
                .accounts
                .lock()
                .map(|a| a.values().cloned().collect())
                .unwrap_or_default(),
            http_addr: self.http_addr(),
        }
    }

    /// Rewrites the file (write then rename, so readers never see half a file), owner-only
    /// like everything in the state directory: it names accounts and their last errors.
    pub(crate) fn write(&self) -> anyhow::Result<()> {
        let _writing = self.writing.lock();
        let json = serde_json::to_string_pretty(&self.snapshot())?;
        clawtalk_config::write_private(&self.path, &json)
            .with_context(|| format!("writing {}", self.path.display()))
    }

    /// Removes the file at shutdown so `status` says "not running" at once.
    pub(crate) fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_core::clock::SystemClock;

    #[test]
    fn written_status_reads_back_and_is_live_for_this_process() {
        let dir = tempfile::tempdir().unwrap();
        let board = StatusBoard::new(dir.path(), "test", ["bot1".to_owned()], Arc::new(SystemClock));
        board.update("bot1", |a| {
            a.connected = true;
            a.messages = 3;
        });
        board.write().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(status_path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "owner-only");
        }
        let status = read(dir.path()).unwrap();
        assert_eq!(status.accounts[0].messages, 3);
        assert!(status.is_live(SystemClock.now()));
        assert!(!status.is_live(SystemClock.now().plus(Duration::from_secs(60))));
        board.remove();
        assert!(read(dir.path()).is_err());
    }
}
