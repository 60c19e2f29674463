//! SQLite backend: one file in the state dir, WAL mode, group-committed writes.
//!
//! Connections (rusqlite): one writer, owned by the group-commit thread in `writer.rs`, plus
//! two read-only connections on threads of their own (`readers.rs`); WAL lets the readers run
//! while the writer commits. Two cores gain nothing from more: SQLite has one write lock.
//! Jobs are synchronous closures handed to a connection's thread once, whatever number of
//! statements they run. Before those open, the schema is brought up to date on a connection
//! of its own (`migrate.rs`), with sqlx's bookkeeping, which the PostgreSQL backend's migrator
//! keeps too.

mod approvals;
mod callback_sign;
mod cards;
mod connect;
mod cron;
mod flusher;
mod inbox;
mod memory;
mod migrate;
#[cfg(test)]
mod migrate_tests;
mod outbox;
mod pairing;
mod rate_budget;
mod readers;
mod row;
#[cfg(test)]
mod schema_tests;
mod session;
mod sql;
mod usage;
mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::Connection;

use super::error::StoreError;
use super::{Store, StoreResult};
use connect::Target;
use readers::Readers;
use writer::{WriteKind, Writer};

// Rules both backends share: reply idempotency keys, pairing codes, session generations.

/// How hard each commit is pushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every durable write is on disk (its write-ahead log flushed with `fdatasync`) before
    /// the call returns, so an acked message survives a power cut or kernel crash, not only a
    /// process kill: what `synchronous=FULL` promises, with the flush on a thread of its own
    /// (see `writer.rs`). Group commit keeps the cost to one flush per batch (0.3–1.8 ms on
    /// the dev box). The default: the inbox promises to lose nothing.
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
    readers: Option<Readers>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("in_memory", &self.readers.is_none())
            .finish_non_exhaustive()
    }
}

/// SQLite's write-ahead log of the database at `path`.
fn wal_of(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
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
        let target = Target::File(&path);
        connect::migrate(&target, options.busy_timeout)
            .await
            .map_err(|error| match error {
                StoreError::CantOpen { detail, .. } => StoreError::CantOpen {
                    path: path.display().to_string(),
                    detail,
                },
                other => other,
            })?;
        let writer = connect::writer(&target, &options)?;
        // The log next to the file SQLite opened: it resolves symbolic links, `path` may be one.
        let wal = (options.durability == Durability::Full)
            .then(|| wal_of(writer.path().map_or(path.as_path(), Path::new)));
        let readers = (0..options.read_connections.max(1))
            .map(|_| connect::reader(&path, &options))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            writer: Writer::spawn(writer, wal)?,
            readers: Some(Readers::spawn(readers)?),
        })
    }

    /// A private in-memory database, for tests of the gateway's other modules.
    pub async fn in_memory() -> Result<Self, StoreError> {
        let target = Target::fresh_memory();
        // Opened first: the database lives as long as a connection to it is open.
        let writer = connect::writer(&target, &SqliteOptions::default())?;
        connect::migrate(&target, Duration::from_secs(5)).await?;
        Ok(Self {
            // Nothing to fsync in memory.
            writer: Writer::spawn(writer, None)?,
            readers: None,
        })
    }

    /// Runs a write job of several writing statements in the next group commit, atomically.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.write(WriteKind::ATOMIC, work).await
    }

    /// Runs a write job that changes the database with at most one statement (it may read
    /// more) in the next group commit. Cheaper: no savepoint.
    async fn write_one<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.write(WriteKind::ONE, work).await
    }

    /// [`SqliteStore::write`] for writes that recovery recomputes when a power cut loses
    /// them: no fsync of their own (see `writer.rs`).
    async fn write_relaxed<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.write(WriteKind::ATOMIC_RELAXED, work).await
    }

    /// [`SqliteStore::write_one`] for writes that recovery recomputes when a power cut loses
    /// them: no fsync of their own (see `writer.rs`).
    async fn write_one_relaxed<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.write(WriteKind::ONE_RELAXED, work).await
    }

    /// [`SqliteStore::write_one`] for a record of something that already happened outside:
    /// answered at commit, flushed soon after (see `writer.rs`).
    async fn write_one_soon<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.write(WriteKind::ONE_SOON, work).await
    }

    /// Runs a read on a reader connection (or on the writer for in-memory databases).
    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.readers {
            Some(readers) => readers.read(work).await,
            None => self.writer.write(WriteKind::ONE_RELAXED, work).await,
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn close(&self) {
        self.writer.close().await;
        if let Some(readers) = &self.readers {
            readers.close().await;
        }
    }

    async fn queue_depths(&self) -> StoreResult<super::QueueDepths> {
        self.read(|conn| {
            // The first term is `inbox_open`'s condition: it makes the count read open rows only.
            let sql = "SELECT (SELECT COUNT(*) FROM inbox \
                               WHERE (status = 'received' OR status = 'queued' OR status = 'running') \
                                 AND status IN ('queued', 'running')) AS turns, \
                              (SELECT COUNT(*) FROM outbox WHERE status = 'planned') AS parts";
            sql::query_one(conn, sql, [], |row| {
                use super::decode::Columns;
                Ok(super::QueueDepths {
                    pending_turns: u64::try_from(row.int("turns")?).unwrap_or(0),
                    planned_parts: u64::try_from(row.int("parts")?).unwrap_or(0),
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
