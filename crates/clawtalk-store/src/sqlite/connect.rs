//! Opening the store's connections: one that brings the schema up to date (`migrate.rs`) and
//! is closed again, then the ones that serve the store.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use super::SqliteOptions;
use crate::error::StoreError;

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

/// Brings the schema up to date on a connection of its own, on a thread of its own: a
/// migration may rebuild whole tables, which must not hold up a runtime thread.
pub(super) async fn migrate(target: &Target<'_>, busy_timeout: Duration) -> Result<(), StoreError> {
    let mut conn = open(
        target,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )?;
    configure(&conn, busy_timeout)?;
    let (done, outcome) = oneshot::channel();
    std::thread::Builder::new()
        .name("store-migrate".to_owned())
        .spawn(move || {
            let result = super::migrate::run(&mut conn);
            // Closed before answering, so that no part of the migration outlives the call:
            // the store's own connections open next on a file nobody else holds.
            drop(conn);
            let _ = done.send(result);
        })
        .map_err(|error| StoreError::Unavailable {
            detail: format!("cannot start the store's migration thread: {error}"),
        })?;
    outcome.await.map_err(|_| StoreError::Migration {
        detail: "the migration thread panicked".to_owned(),
    })?
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
        // NORMAL for both durabilities: with `Durability::Full` the writer's flusher thread
        // flushes the log before durable writes are answered (see `writer.rs`), and with
        // NORMAL SQLite still flushes around every checkpoint.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
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
        // SQLite says only "unable to open database file"; the errno its failed open() left
        // on this thread tells a descriptor shortage (a passing condition) from a bad path.
        StoreError::CantOpen { detail, .. }
            if std::io::Error::last_os_error()
                .raw_os_error()
                .is_some_and(super::super::error::is_resource_errno) =>
        {
            StoreError::Resources { detail }
        }
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
    // Plans must not depend on bound values, or cached statements are not reused: SQLite
    // (3.51) recompiles a statement whenever a parameter it planned with, such as a bound
    // `LIMIT ?`, is bound again. Loading a session's history recompiled on every turn, a
    // tenth of the gateway's CPU per message in the pipeline profile. The store uses no
    // LIKE/GLOB patterns and runs no ANALYZE, so the value-based plans gain it nothing.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.busy_timeout(busy_timeout)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::sql::query_all;
    use super::*;

    /// Set in the child process of the test below, which uses up its own descriptors.
    const FD_CHILD: &str = "CLAWTALK_TEST_FD_EXHAUSTED_CHILD";

    #[test]
    fn an_open_that_fails_for_lack_of_descriptors_is_a_resource_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        if std::env::var_os(FD_CHILD).is_some() {
            // Only in the child: a low limit, every descriptor below it taken.
            let limit = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            // SAFETY: setrlimit reads one `rlimit` through a valid pointer to a local.
            assert_eq!(
                unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) },
                0
            );
            let mut held = Vec::new();
            while let Ok(file) = std::fs::File::open("/dev/null") {
                held.push(file);
            }
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
            let error = open(&Target::File(&path), flags).unwrap_err();
            drop(held);
            assert!(matches!(error, StoreError::Resources { .. }), "{error:?}");
            assert!(error.is_transient());
            return;
        }
        // The limit is the whole process's, so the exhaustion happens in a child process
        // running only this test.
        // Test names leave out the crate's name.
        let module = module_path!().split_once("::").map_or("", |(_, rest)| rest);
        let name = format!("{module}::an_open_that_fails_for_lack_of_descriptors_is_a_resource_error");
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &name, "--test-threads=1"])
            .env(FD_CHILD, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("1 passed"), "the child ran the test: {text}");
        // Without the shortage the same open is a plain success.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        assert!(open(&Target::File(&path), flags).is_ok());
    }

    #[test]
    fn cached_statements_with_a_bound_limit_are_not_recompiled() {
        let conn = Connection::open_in_memory().unwrap();
        configure(&conn, Duration::from_secs(1)).unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3);")
            .unwrap();
        let sql = "SELECT x FROM t ORDER BY x LIMIT ?1";
        let first = |limit: i64| {
            query_all(&conn, sql, [limit], |row| {
                row.get::<_, i64>(0).map_err(Into::into)
            })
            .unwrap()
        };
        assert_eq!(first(1), [1]);
        assert_eq!(first(2), [1, 2]);
        assert_eq!(first(1), [1]);
        let statement = conn.prepare_cached(sql).unwrap();
        assert_eq!(
            statement.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "binding another limit recompiled the statement"
        );
    }
}
