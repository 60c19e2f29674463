//! The SQLite schema's migrations, applied through rusqlite.
//!
//! The bookkeeping is sqlx's, row for row: its `_sqlx_migrations` table, each migration's
//! version and description as sqlx reads them from the file name, and the SHA-384 of the file's
//! text as checksum. So a database sqlx's migrator brought up to date carries on from where it
//! stands, and sqlx's tooling (`sqlx migrate info`, say) accepts one migrated here. sqlx's SQLite
//! driver stays out of the binary: the PostgreSQL backend needs only its PostgreSQL one.

use std::time::Instant;

use rusqlite::{Connection, TransactionBehavior, params};
use sha2::{Digest, Sha384};

use crate::error::StoreError;

/// One file of `migrations/sqlite/`.
pub(super) struct Migration {
    pub(super) version: i64,
    pub(super) file: &'static str,
    pub(super) sql: &'static str,
}

macro_rules! migrations {
    ($($file:literal),* $(,)?) => {
        &[$(Migration {
            version: version_of($file),
            file: $file,
            sql: include_str!(concat!("../../migrations/sqlite/", $file)),
        }),*]
    };
}

/// Every migration, oldest first. A test fails when a file of the folder is not listed.
pub(super) const MIGRATIONS: &[Migration] = migrations![
    "0001_inbox.sql",
    "0002_outbox.sql",
    "0003_sessions.sql",
    "0004_pairing.sql",
    "0005_cards.sql",
    "0006_cron.sql",
    "0007_rate_budget.sql",
    "0008_in_place_checks.sql",
    "0009_callback_signs.sql",
    "0010_memories.sql",
    "0011_tool_approvals.sql",
    "0012_usage_daily.sql",
    "0013_cron_pause.sql",
    "0014_outbox_handed.sql",
];

/// The number before the file name's first `_`, as sqlx reads it. Evaluated while compiling
/// the list, so a misnamed file fails the build.
const fn version_of(file: &str) -> i64 {
    let name = file.as_bytes();
    let mut version = 0;
    let mut i = 0;
    while i < name.len() && name[i] != b'_' {
        assert!(
            name[i].is_ascii_digit(),
            "a migration's file name starts with its version"
        );
        version = version * 10 + (name[i] - b'0') as i64;
        i += 1;
    }
    assert!(
        0 < i && i < name.len(),
        "a migration's file name is `<version>_<description>.sql`"
    );
    version
}

impl Migration {
    /// sqlx's description: the name after the version, without `.sql`, `_` read as a space.
    pub(super) fn description(&self) -> String {
        let name = self.file.split_once('_').map_or(self.file, |(_, name)| name);
        name.trim_end_matches(".sql").replace('_', " ")
    }

    pub(super) fn checksum(&self) -> Vec<u8> {
        Sha384::digest(self.sql.as_bytes()).to_vec()
    }

    /// sqlx's marker for SQL that opens and commits its own transaction: a table rebuild turns
    /// foreign keys off first, which SQLite ignores inside a transaction.
    pub(super) fn has_own_transaction(&self) -> bool {
        self.sql.starts_with("-- no-transaction")
    }
}

/// Brings the schema up to date; refuses a database this binary cannot vouch for. After an
/// error, close `conn`: a migration that runs its own transaction may have left it open, with
/// foreign keys off.
pub(super) fn run(conn: &mut Connection) -> Result<(), StoreError> {
    run_list(conn, MIGRATIONS)
}

/// [`run`] up to and including `version`: a database as an older release left it.
#[cfg(test)]
pub(super) fn run_through(conn: &mut Connection, version: i64) -> Result<(), StoreError> {
    run_list(
        conn,
        &MIGRATIONS[..MIGRATIONS.partition_point(|m| m.version <= version)],
    )
}

pub(super) fn run_list(conn: &mut Connection, known: &[Migration]) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            success BOOLEAN NOT NULL,
            checksum BLOB NOT NULL,
            execution_time BIGINT NOT NULL
        )",
    )?;
    let applied = applied(conn)?;
    check(&applied, known)?;
    for migration in known {
        if !applied.iter().any(|row| row.version == migration.version) {
            apply(conn, migration)?;
        }
    }
    Ok(())
}

/// A row of `_sqlx_migrations`.
struct Applied {
    version: i64,
    description: String,
    success: bool,
    checksum: Vec<u8>,
}

fn applied(conn: &Connection) -> Result<Vec<Applied>, StoreError> {
    let mut statement = conn
        .prepare("SELECT version, description, success, checksum FROM _sqlx_migrations ORDER BY version")?;
    let rows = statement.query_map([], |row| {
        Ok(Applied {
            version: row.get(0)?,
            description: row.get(1)?,
            success: row.get(2)?,
            checksum: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// sqlx's checks, in its order, all of them before anything is applied.
fn check(applied: &[Applied], known: &[Migration]) -> Result<(), StoreError> {
    // Nothing here leaves such a row (a migration and its row commit together); another tool,
    // or a hand, did, and the schema may be half changed.
    if let Some(row) = applied.iter().find(|row| !row.success) {
        return Err(StoreError::Migration {
            detail: format!(
                "migration {} ({}) is recorded as failed (success = false in _sqlx_migrations), so \
                 the schema may be half changed; restore a backup, or finish or undo that \
                 migration by hand and delete its row",
                row.version, row.description
            ),
        });
    }
    // The newest such version: the one to name when telling the operator to upgrade.
    if let Some(row) = applied
        .iter()
        .rev()
        .find(|row| !known.iter().any(|m| m.version == row.version))
    {
        return Err(StoreError::SchemaTooNew { version: row.version });
    }
    for row in applied {
        if let Some(migration) = known.iter().find(|m| m.version == row.version)
            && migration.checksum() != row.checksum
        {
            return Err(StoreError::Migration {
                detail: format!(
                    "migration {} ({}) was applied from other SQL than this clawtalk's (its \
                     checksum in _sqlx_migrations differs); the database was migrated by another \
                     build of clawtalk: run that build, or restore a backup",
                    row.version, row.description
                ),
            });
        }
    }
    Ok(())
}

fn apply(conn: &mut Connection, migration: &Migration) -> Result<(), StoreError> {
    let started = Instant::now();
    if migration.has_own_transaction() {
        // Its row can only follow the SQL's own commit (as with sqlx): a crash in between
        // applies it again at the next open, so such migrations must bear running twice.
        conn.execute_batch(migration.sql)
            .map_err(|error| failed(migration, error))?;
        record(conn, migration, started)?;
    } else {
        // The SQL and its row commit together, so a migration is never applied twice. The
        // write lock is taken up front, as a migration will write anyway.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(migration.sql)
            .map_err(|error| failed(migration, error))?;
        record(&tx, migration, started)?;
        tx.commit()?;
    }
    Ok(())
}

fn record(conn: &Connection, migration: &Migration, started: Instant) -> Result<(), StoreError> {
    let nanos = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
    conn.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (?1, ?2, TRUE, ?3, ?4)",
        params![
            migration.version,
            migration.description(),
            migration.checksum(),
            nanos
        ],
    )?;
    Ok(())
}

fn failed(migration: &Migration, error: rusqlite::Error) -> StoreError {
    match StoreError::from(error) {
        StoreError::Database { detail, .. } => StoreError::Migration {
            detail: format!(
                "migration {} ({}) failed: {detail}",
                migration.version,
                migration.description()
            ),
        },
        // A full disk during a migration is still a full disk.
        classified => classified,
    }
}
