//! Opening the store's connections: the schema through sqlx's migrator (shared with the
//! PostgreSQL backend's tooling), the connections that serve the store through rusqlite.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};

use super::{Durability, MIGRATOR, SqliteOptions};
use crate::store::error::StoreError;

/// Statements the store prepares; all of them stay cached on every connection.
const STATEMENT_CACHE: usize = 128;

/// Where the database lives.
pub(super) enum Target<'a> {
    File(&'a Path),
    /// A private in-memory database, named so that the migrating connection and the serving
    /// one see the same database.
    Memory(String),
}

impl Target<'_> {
    pub(super) fn fresh_memory() -> Self {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        Target::Memory(format!(
            "file:clawtalk-memory-{}-{n}?mode=memory&cache=shared",
            std::process::id()
        ))
    }
}

/// Brings the schema up to date (sqlx's migrator keeps its `_sqlx_migrations` table).
pub(super) async fn migrate(target: &Target<'_>, busy_timeout: Duration) -> Result<(), StoreError> {
    let options = match target {
        Target::File(path) => SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(busy_timeout)
            .foreign_keys(true),
        Target::Memory(uri) => format!("sqlite:{uri}")
            .parse::<SqliteConnectOptions>()?
            .foreign_keys(true),
    };
    let mut conn = options.connect().await?;
    MIGRATOR.run(&mut conn).await?;
    sqlx::Connection::close(conn).await?;
    Ok(())
}

/// The one writing connection.
pub(super) fn writer(target: &Target<'_>, options: &SqliteOptions) -> Result<Connection, StoreError> {
    let conn = open(
        target,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )?;
    configure(&conn, options.busy_timeout)?;
    if let Target::File(_) = target {
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable {
                detail: format!("the database could not switch to WAL mode (it is in {mode} mode)"),
            });
        }
        // SQLite never shrinks the WAL by itself; after a burst, cut it back to 64 MiB.
        conn.pragma_update_and_check(None, "journal_size_limit", 67_108_864_i64, |_| Ok(()))?;
        let synchronous = match options.durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", synchronous)?;
    }
    Ok(conn)
}

/// A read-only connection to a database file.
pub(super) fn reader(path: &Path, options: &SqliteOptions) -> Result<Connection, StoreError> {
    let conn = open(&Target::File(path), OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    configure(&conn, options.busy_timeout)?;
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(conn)
}

fn open(target: &Target<'_>, flags: OpenFlags) -> Result<Connection, StoreError> {
    // NO_MUTEX: every connection is used by one thread at a time (its own).
    let flags = flags | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let opened = match target {
        Target::File(path) => Connection::open_with_flags(path, flags),
        Target::Memory(uri) => Connection::open_with_flags(
            uri,
            flags | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_SHARED_CACHE,
        ),
    };
    opened.map_err(|error| match StoreError::from(error) {
        StoreError::CantOpen { detail, .. } => StoreError::CantOpen {
            path: match target {
                Target::File(path) => path.display().to_string(),
                Target::Memory(_) => ":memory:".to_owned(),
            },
            detail,
        },
        other => other,
    })
}

fn configure(conn: &Connection, busy_timeout: Duration) -> Result<(), StoreError> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(busy_timeout)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}
