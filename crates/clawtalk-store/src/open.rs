//! Opening the store a configuration names (`store.url`, default `<stateDir>/clawtalk.db`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};

use super::{PgStore, SqliteStore, Store};
use clawtalk_config::Config;

/// Which database a `store.url` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server; the URL as written (it may hold a password: show it only through
    /// [`StoreBackend::describe`]).
    Postgres(String),
}

impl StoreBackend {
    /// Reads a `store.url`: `sqlite:…` or `postgres://…` / `postgresql://…`.
    ///
    /// # Errors
    /// Any other scheme, or a SQLite URL that names no file. The URL is never echoed.
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else {
            sqlite_path(url).map(Self::Sqlite)
        }
    }

    /// For people: the backend and where it is, password masked.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("SQLite {}", path.display()),
            Self::Postgres(url) => format!("PostgreSQL {}", super::postgres::mask_password(url)),
        }
    }
}

/// Opens the configured store the way the gateway does, so the CLI sees (and changes) the
/// gateway's own state. Safe while the gateway runs: SQLite in WAL mode lets another process
/// read and write (writes wait for the gateway's lock), and PostgreSQL is shared by design.
///
/// For SQLite, creates the state directory (mode 0700: it holds message text and the
/// allowlist) when it is missing.
pub async fn open_configured(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let path = match StoreBackend::from_url(&config.store.url)? {
        StoreBackend::Sqlite(path) => path,
        StoreBackend::Postgres(url) => {
            let store = PgStore::open(&url)
                .await
                .map_err(|e| anyhow!("cannot open the store: {e}"))?;
            return Ok(Arc::new(store));
        }
    };
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
    let store = SqliteStore::open(&path)
        .await
        .map_err(|e| anyhow!("cannot open the store {}: {e}", path.display()))?;
    Ok(Arc::new(store))
}

/// The database file behind a `sqlite:` URL; the URL is never echoed (it may be a mistyped
/// PostgreSQL URL with a password).
fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        bail!(
            "store.url is neither a sqlite: nor a postgres:// URL; use sqlite:///path/to/clawtalk.db \
             or postgres://user:password@host/database"
        );
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

pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
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
        let other = sqlite_path("mysql://u:hunter2@db/clawtalk")
            .unwrap_err()
            .to_string();
        assert!(
            other.contains("postgres://") && !other.contains("hunter2"),
            "{other}"
        );
    }

    #[test]
    fn postgres_urls_pick_postgres_and_describe_without_the_password() {
        for url in [
            "postgres://u:hunter2@db/clawtalk",
            "postgresql://u:hunter2@db/clawtalk",
        ] {
            let backend = StoreBackend::from_url(url).unwrap();
            assert_eq!(backend, StoreBackend::Postgres(url.to_owned()));
            let shown = backend.describe();
            assert!(
                shown.starts_with("PostgreSQL ") && !shown.contains("hunter2"),
                "{shown}"
            );
        }
        assert_eq!(
            StoreBackend::from_url("sqlite:///x/c.db").unwrap().describe(),
            "SQLite /x/c.db"
        );
    }
}
