//! Opening the store a configuration names (`store.url`, default `<stateDir>/clawtalk.db`).

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};

use super::SqliteStore;
use crate::config::Config;

/// Opens the configured store the way the gateway does, so the CLI sees (and changes) the
/// gateway's own state. Safe while the gateway runs: SQLite in WAL mode lets another process
/// read and write, and writes wait for the gateway's lock (busy timeout).
///
/// Creates the state directory (mode 0700: it holds message text and the allowlist) when it
/// is missing.
pub async fn open_configured(config: &Config) -> anyhow::Result<SqliteStore> {
    let path = sqlite_path(&config.store.url)?;
    // The state directory, and the database's own directory when store.url points elsewhere.
    let db_dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(Path::to_path_buf);
    for dir in std::iter::once(config.gateway.state_dir.clone()).chain(db_dir) {
        create_private_dir(&dir).with_context(|| {
            format!(
                "cannot create the directory {}; create it (mode 0700) or set gateway.stateDir",
                dir.display()
            )
        })?;
    }
    SqliteStore::open(&path)
        .await
        .map_err(|e| anyhow!("cannot open the store {}: {e}", path.display()))
}

/// The database file behind a `store.url`. Only SQLite is implemented; the URL is never echoed
/// because a PostgreSQL URL may carry a password.
fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        bail!(
            "store.url points at PostgreSQL, which clawtalk does not support yet; \
             use sqlite:///path/to/clawtalk.db or remove store.url to use <stateDir>/clawtalk.db"
        );
    }
    let Some(rest) = url.strip_prefix("sqlite:") else {
        bail!("store.url is not a sqlite: URL; use sqlite:///path/to/clawtalk.db");
    };
    // `sqlite:///abs/path`, `sqlite://rel/path` and `sqlite:path` all name a file; options
    // after `?` are the driver's, not part of the name.
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        bail!(
            "store.url names no database file (an in-memory database would be private to this \
             command); use sqlite:///path/to/clawtalk.db"
        );
    }
    Ok(PathBuf::from(path))
}

pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_files() {
        assert_eq!(
            sqlite_path("sqlite:///var/lib/clawtalk/clawtalk.db").unwrap(),
            PathBuf::from("/var/lib/clawtalk/clawtalk.db")
        );
        assert_eq!(
            sqlite_path("sqlite:state/c.db?mode=rwc").unwrap(),
            PathBuf::from("state/c.db")
        );
        assert!(sqlite_path("sqlite::memory:").is_err());
        let pg = sqlite_path("postgres://u:hunter2@db/clawtalk")
            .unwrap_err()
            .to_string();
        assert!(pg.contains("not support yet") && !pg.contains("hunter2"), "{pg}");
    }
}
