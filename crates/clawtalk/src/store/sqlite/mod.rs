//! SQLite backend: one file in the state dir, WAL mode, group-committed writes.
//!
//! Connections: one writer (owned by the group-commit task in `writer.rs`) plus a small
//! read-only pool; WAL lets the readers run while the writer commits. Two cores gain
//! nothing from more: SQLite has one write lock and each connection has its own thread.

mod cards;
mod cron;
mod inbox;
mod outbox;
mod pairing;
mod rate_budget;
mod row;
mod session;
mod writer;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqliteConnection, SqlitePool};

use super::error::StoreError;
use super::{Store, StoreResult};
use writer::{BoxFut, Writer};

// Rules both backends share: reply idempotency keys, pairing codes, session generations.
pub(crate) use outbox::idempotency_key;
pub(crate) use pairing::{fresh_codes, normalize_code};
pub(crate) use session::needs_new_generation;

/// Embedded schema; applied on every open (already-applied steps are skipped).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How hard each commit is pushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: every commit is fsynced before the call returns, so an acked
    /// message survives a power cut or kernel crash, not only a process kill. Group commit
    /// keeps the cost to one fsync per batch (0.7–1.8 ms on the dev box; under 64–256
    /// concurrent callers the debug-build throughput of FULL and NORMAL was within noise, see
    /// the `throughput` test). The default: the inbox promises to lose nothing.
    #[default]
    Full,
    /// `synchronous=NORMAL`: survives a process crash or kill (WAL pages are in the OS cache
    /// before the commit returns), but the last commits can vanish on power loss — that
    /// would lose acked messages and resend sent replies. For tests and throwaway setups.
    Normal,
}

/// Tuning for [`SqliteStore::open_with`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Commit durability.
    pub durability: Durability,
    /// How long to wait for another process's write lock before failing with `Busy`.
    pub busy_timeout: Duration,
    /// Read-only connections (the writer is separate).
    pub read_connections: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
            busy_timeout: Duration::from_secs(5),
            // Two cores: two readers beside the writer keep both busy without thrashing.
            read_connections: 2,
        }
    }
}

/// The SQLite store. Clone it freely, or wrap it in `Arc<dyn Store>`.
#[derive(Clone)]
pub struct SqliteStore {
    writer: Writer,
    /// `None` for in-memory databases: those live in one connection, so reads go through
    /// the writer too.
    readers: Option<SqlitePool>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("in_memory", &self.readers.is_none())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it, mode 0600, if missing) the database at `path` with the default
    /// options, and brings its schema up to date.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteOptions::default()).await
    }

    /// [`SqliteStore::open`] with explicit options.
    pub async fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        create_private_file(&path)?;
        let base = SqliteConnectOptions::new()
            .filename(&path)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true)
            // SQLite never shrinks the WAL by itself; after a burst, cut it back to 64 MiB.
            .pragma("journal_size_limit", "67108864")
            .synchronous(match options.durability {
                Durability::Full => SqliteSynchronous::Full,
                Durability::Normal => SqliteSynchronous::Normal,
            });
        let cant_open = |error: sqlx::Error| match StoreError::from(error) {
            StoreError::CantOpen { detail, .. } => StoreError::CantOpen {
                path: path.display().to_string(),
                detail,
            },
            other => other,
        };
        let mut conn = base.clone().connect().await.map_err(cant_open)?;
        MIGRATOR.run(&mut conn).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .min_connections(0)
            .connect_with(base.create_if_missing(false).pragma("query_only", "ON"))
            .await
            .map_err(cant_open)?;
        Ok(Self {
            writer: Writer::spawn(conn),
            readers: Some(readers),
        })
    }

    /// A private in-memory database, for tests of the gateway's other modules.
    pub async fn in_memory() -> Result<Self, StoreError> {
        let mut conn = SqliteConnectOptions::from_str("sqlite::memory:")?
            .foreign_keys(true)
            .connect()
            .await?;
        MIGRATOR.run(&mut conn).await?;
        Ok(Self {
            writer: Writer::spawn(conn),
            readers: None,
        })
    }

    /// Runs a write job of several writing statements in the next group commit, atomically.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFut<'c, Result<T, StoreError>> + Send + 'static,
    {
        self.writer.write(false, work).await
    }

    /// Runs a write job that changes the database with at most one statement (it may read
    /// more) in the next group commit. Cheaper: no savepoint.
    async fn write_one<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFut<'c, Result<T, StoreError>> + Send + 'static,
    {
        self.writer.write(true, work).await
    }

    /// Runs a read on a reader connection (or on the writer for in-memory databases).
    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFut<'c, Result<T, StoreError>> + Send + 'static,
    {
        match &self.readers {
            Some(pool) => {
                let mut conn = pool.acquire().await?;
                work(&mut conn).await
            }
            None => self.writer.write(true, work).await,
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn close(&self) {
        self.writer.close().await;
        if let Some(pool) = &self.readers {
            pool.close().await;
        }
    }

    async fn queue_depths(&self) -> StoreResult<super::QueueDepths> {
        self.read(|conn| {
            Box::pin(async move {
                let sql = "SELECT (SELECT COUNT(*) FROM inbox WHERE status IN ('queued', 'running')), \
                                  (SELECT COUNT(*) FROM outbox WHERE status = 'planned')";
                let (turns, parts): (i64, i64) = sqlx::query_as(sql).fetch_one(&mut *conn).await?;
                Ok(super::QueueDepths {
                    pending_turns: u64::try_from(turns).unwrap_or(0),
                    planned_parts: u64::try_from(parts).unwrap_or(0),
                })
            })
        })
        .await
    }
}

/// Creates the database file readable by its owner only: it holds message text and the
/// allowlist. SQLite gives the -wal and -shm files the same mode as the database file.
fn create_private_file(path: &PathBuf) -> Result<(), StoreError> {
    let cant_open = |error: std::io::Error| StoreError::CantOpen {
        path: path.display().to_string(),
        detail: error.to_string(),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent).map_err(cant_open)?;
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    open.open(path).map(drop).map_err(|error| match error.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::ReadOnlyFilesystem => error.into(),
        _ => cant_open(error),
    })
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
