//! Store errors: what went wrong and what the operator should do about it.
//!
//! Backend errors are classified once, here, so the gateway can react by kind (retry on
//! [`StoreError::Busy`], stop and alert on [`StoreError::DiskFull`] or
//! [`StoreError::Corrupt`]) without knowing which database is behind the trait.

use clawtalk_core::clock::EpochMs;
use std::fmt;

/// Everything a store operation can fail with.
///
/// `Clone` so that one failed group commit can be reported to every caller in the batch;
/// backend errors are therefore kept as text rather than as the driver's error value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Another process held the write lock for longer than the busy timeout.
    #[error(
        "the database is busy: another process held its lock longer than the busy timeout \
         ({detail}); make sure only one clawtalk gateway uses this state dir, then retry"
    )]
    Busy {
        /// Driver message.
        detail: String,
    },
    /// No space left for the database or its write-ahead log.
    #[error("the disk holding the database is full ({detail}); free space in the state dir")]
    DiskFull {
        /// Driver message.
        detail: String,
    },
    /// The file, its directory or the mount is read-only.
    #[error(
        "the database is read-only ({detail}); check the permissions of the state dir, \
         the database file and its -wal/-shm files, and that the disk is mounted read-write"
    )]
    ReadOnly {
        /// Driver message.
        detail: String,
    },
    /// The file is damaged or is not a database at all.
    #[error(
        "the database file is corrupt or is not a clawtalk database ({detail}); stop the \
         gateway, move the file aside and restore a backup (or start with an empty state dir)"
    )]
    Corrupt {
        /// Driver message.
        detail: String,
    },
    /// The database file could not be created or opened.
    #[error("cannot open the database {path}: {detail}")]
    CantOpen {
        /// The file.
        path: String,
        /// Why.
        detail: String,
    },
    /// Low-level I/O failure (disk, network filesystem).
    #[error("disk I/O error on the database ({detail}); check the disk and the kernel log")]
    Io {
        /// Driver or OS message.
        detail: String,
    },
    /// The process ran out of file descriptors (or the kernel of memory for it): a passing
    /// condition, such as a flood of connections, not a fault of the database.
    #[error(
        "the process is out of open files or memory ({detail}); the call can be retried; raise \
         the open-files limit (`ulimit -n`, LimitNOFILE= under systemd) if this repeats"
    )]
    Resources {
        /// Driver or OS message.
        detail: String,
    },
    /// A schema migration failed or an applied migration was changed.
    #[error("database schema migration failed: {detail}")]
    Migration {
        /// What the migrator said.
        detail: String,
    },
    /// The database holds migrations this binary does not know.
    #[error(
        "the database was migrated by a newer clawtalk: it has schema version {version}, which \
         this clawtalk is too old to know; upgrade clawtalk, or restore a backup taken before \
         the upgrade"
    )]
    SchemaTooNew {
        /// The unknown migration version (SQLite: the newest of them).
        version: i64,
    },
    /// A stored value could not be turned back into a domain value.
    #[error("stored data could not be read: {detail}")]
    Decode {
        /// Which column and why.
        detail: String,
    },
    /// The row the caller referred to does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// Kind of row.
        what: &'static str,
        /// Its id or key.
        id: String,
    },
    /// The turn is no longer running under the caller's lease: it was cancelled (`/stop`),
    /// finished, or reclaimed by another worker after the lease expired.
    #[error("turn {id} is no longer leased by this worker (cancelled, finished or reclaimed)")]
    LeaseLost {
        /// Inbox row id.
        id: i64,
    },
    /// A status change the state machine does not allow.
    #[error("inbound message {id} is {from}; it cannot become {to}")]
    InvalidTransition {
        /// Inbox row id.
        id: i64,
        /// Current status.
        from: String,
        /// Requested status.
        to: String,
    },
    /// A pairing-code operation was refused.
    #[error(transparent)]
    Pairing(#[from] PairingError),
    /// The caller passed a value the store cannot accept.
    #[error("invalid store argument: {0}")]
    Invalid(String),
    /// The store was closed, or its writer stopped.
    #[error("the store is closed")]
    Closed,
    /// The database server is down, restarting, or dropped the connection (PostgreSQL).
    #[error(
        "the database server is unavailable or dropped the connection ({detail}); the call can \
         be retried; check that PostgreSQL runs and is reachable"
    )]
    Unavailable {
        /// Driver message.
        detail: String,
    },
    /// Every connection this process may hold to the database server stayed busy for longer
    /// than the wait allowed (PostgreSQL): the server, or this machine, is not keeping up.
    #[error(
        "the database server is not keeping up ({detail}); the call can be retried; give \
         PostgreSQL (or this machine) more CPU, or lower `gateway.maxConcurrentTurns`"
    )]
    Saturated {
        /// What was waited for.
        detail: String,
    },
    /// The database server aborted the transaction to settle a conflict with a concurrent
    /// one: a deadlock, or a serialization failure (PostgreSQL, with several replicas).
    #[error(
        "the database aborted the transaction because of a conflicting concurrent one \
         ({detail}); nothing of it was written and the call can be retried"
    )]
    Conflict {
        /// Driver message.
        detail: String,
    },
    /// Any other database error.
    #[error("database error: {detail}")]
    Database {
        /// Backend error code, when there is one.
        code: Option<String>,
        /// Driver message.
        detail: String,
    },
}

impl StoreError {
    /// True when the same call may succeed if simply retried later.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Busy { .. }
                | Self::Saturated { .. }
                | Self::Io { .. }
                | Self::Resources { .. }
                | Self::Unavailable { .. }
                | Self::Conflict { .. }
        )
    }

    /// True when the failure concerns the whole database (full, read-only, corrupt, I/O),
    /// so that the transaction it happened in cannot be trusted to still be open.
    #[must_use]
    pub fn aborts_transaction(&self) -> bool {
        matches!(
            self,
            Self::Busy { .. }
                | Self::Saturated { .. }
                | Self::DiskFull { .. }
                | Self::ReadOnly { .. }
                | Self::Corrupt { .. }
                | Self::Io { .. }
                | Self::Resources { .. }
                | Self::CantOpen { .. }
                | Self::Unavailable { .. }
                | Self::Closed
        )
    }

    pub fn decode(detail: impl fmt::Display) -> Self {
        Self::Decode {
            detail: detail.to_string(),
        }
    }
}

/// Why a pairing code was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    /// No request has this code.
    #[error("no pairing request has code {code}; check for typos (codes are 8 letters/digits)")]
    UnknownCode {
        /// The code as normalised.
        code: String,
    },
    /// The code's hour (or configured lifetime) is over.
    #[error(
        "pairing code {code} expired at {expired_at_ms} (epoch ms); ask the user to message \
         the bot again for a new code"
    )]
    Expired {
        /// The code.
        code: String,
        /// When it expired, epoch ms.
        expired_at_ms: EpochMs,
    },
    /// The code was already approved or rejected: codes are single use.
    #[error("pairing code {code} was already {status}; codes are single use")]
    AlreadyDecided {
        /// The code.
        code: String,
        /// What happened to it.
        status: String,
    },
}

/// SQLite primary result codes we classify (see sqlite.org/rescode.html).
mod sqlite_code {
    pub const BUSY: i32 = 5;
    pub const LOCKED: i32 = 6;
    pub const READONLY: i32 = 8;
    pub const IOERR: i32 = 10;
    pub const CORRUPT: i32 = 11;
    pub const FULL: i32 = 13;
    pub const CANTOPEN: i32 = 14;
    pub const NOTADB: i32 = 26;
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Database(db) => {
                let detail = db.message().to_owned();
                let code = db.code().map(|c| c.into_owned());
                // Only PostgreSQL's errors come through sqlx; SQLite's are rusqlite's (below).
                if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some()
                    && let Some(kind) = code.as_deref().and_then(|c| classify_postgres(c, &detail))
                {
                    return kind;
                }
                Self::Database { code, detail }
            }
            sqlx::Error::Io(io) => classify_io(&io),
            sqlx::Error::PoolTimedOut => Self::Saturated {
                detail: "no database connection became free in time".to_owned(),
            },
            sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => Self::Closed,
            sqlx::Error::RowNotFound => Self::NotFound {
                what: "row",
                id: String::new(),
            },
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::TypeNotFound { .. } => Self::decode(error),
            sqlx::Error::Migrate(migrate) => (*migrate).into(),
            other => Self::Database {
                code: None,
                detail: other.to_string(),
            },
        }
    }
}

fn classify_sqlite(primary: i32, detail: &str) -> Option<StoreError> {
    let detail = detail.to_owned();
    Some(match primary {
        sqlite_code::BUSY | sqlite_code::LOCKED => StoreError::Busy { detail },
        sqlite_code::READONLY => StoreError::ReadOnly { detail },
        sqlite_code::IOERR => StoreError::Io { detail },
        sqlite_code::CORRUPT | sqlite_code::NOTADB => StoreError::Corrupt { detail },
        sqlite_code::FULL => StoreError::DiskFull { detail },
        sqlite_code::CANTOPEN => StoreError::CantOpen {
            path: String::new(),
            detail,
        },
        _ => return None,
    })
}

/// PostgreSQL SQLSTATEs we classify (see the PostgreSQL manual, appendix A).
fn classify_postgres(sqlstate: &str, detail: &str) -> Option<StoreError> {
    let detail = detail.to_owned();
    Some(match sqlstate {
        "53100" => StoreError::DiskFull { detail },
        "25006" => StoreError::ReadOnly { detail },
        "XX001" | "XX002" => StoreError::Corrupt { detail },
        // deadlock_detected, serialization_failure: the server rolled the transaction back.
        "40P01" | "40001" => StoreError::Conflict { detail },
        // Connection exceptions; admin shutdown, crash shutdown, cannot connect now.
        s if s.starts_with("08") || matches!(s, "57P01" | "57P02" | "57P03") => {
            StoreError::Unavailable { detail }
        }
        _ => return None,
    })
}

/// True for the OS errors that mean "out of descriptors or memory" (`EMFILE`, `ENFILE`,
/// `ENOMEM`, `ENOBUFS`).
pub fn is_resource_errno(errno: i32) -> bool {
    matches!(errno, libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOBUFS)
}

fn classify_io(io: &std::io::Error) -> StoreError {
    let detail = io.to_string();
    if io.raw_os_error().is_some_and(is_resource_errno) {
        return StoreError::Resources { detail };
    }
    match io.kind() {
        std::io::ErrorKind::StorageFull => StoreError::DiskFull { detail },
        std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied => {
            StoreError::ReadOnly { detail }
        }
        _ => StoreError::Io { detail },
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        use sqlx::migrate::MigrateError;
        match error {
            MigrateError::VersionMissing(version) => Self::SchemaTooNew { version },
            MigrateError::Execute(inner) | MigrateError::ExecuteMigration(inner, _) => {
                // A full disk during a migration is still a full disk.
                match Self::from(inner) {
                    Self::Database { detail, .. } => Self::Migration { detail },
                    classified => classified,
                }
            }
            other => Self::Migration {
                detail: other.to_string(),
            },
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::Error as E;
        match error {
            E::SqliteFailure(failure, message) => {
                let detail = message.unwrap_or_else(|| failure.to_string());
                if let Some(kind) = classify_sqlite(failure.extended_code & 0xff, &detail) {
                    return kind;
                }
                Self::Database {
                    code: Some(failure.extended_code.to_string()),
                    detail,
                }
            }
            E::QueryReturnedNoRows => Self::NotFound {
                what: "row",
                id: String::new(),
            },
            E::FromSqlConversionFailure(..)
            | E::IntegralValueOutOfRange(..)
            | E::InvalidColumnType(..)
            | E::InvalidColumnIndex(_)
            | E::InvalidColumnName(_)
            | E::Utf8Error(..) => Self::decode(error),
            other => Self::Database {
                code: None,
                detail: other.to_string(),
            },
        }
    }
}

impl From<std::io::Error> for StoreError {
    fn from(error: std::io::Error) -> Self {
        classify_io(&error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified() {
        let full = std::io::Error::new(std::io::ErrorKind::StorageFull, "no space");
        assert!(matches!(StoreError::from(full), StoreError::DiskFull { .. }));
        let ro = std::io::Error::new(std::io::ErrorKind::ReadOnlyFilesystem, "ro");
        assert!(matches!(StoreError::from(ro), StoreError::ReadOnly { .. }));
    }

    #[test]
    fn running_out_of_descriptors_is_transient_and_says_so() {
        for errno in [libc::EMFILE, libc::ENFILE] {
            let error = StoreError::from(std::io::Error::from_raw_os_error(errno));
            assert!(matches!(error, StoreError::Resources { .. }), "{error:?}");
            assert!(error.is_transient());
            assert!(error.to_string().contains("open-files limit"), "{error}");
        }
    }

    #[test]
    fn sqlite_codes_are_classified() {
        assert!(matches!(
            classify_sqlite(13, "x"),
            Some(StoreError::DiskFull { .. })
        ));
        assert!(matches!(
            classify_sqlite(11, "x"),
            Some(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            classify_sqlite(26, "x"),
            Some(StoreError::Corrupt { .. })
        ));
        assert!(matches!(classify_sqlite(5, "x"), Some(StoreError::Busy { .. })));
        assert!(classify_sqlite(19, "constraint").is_none());
    }

    #[test]
    fn a_postgres_pool_that_never_freed_a_connection_says_so_not_to_check_the_state_dir() {
        let error = StoreError::from(sqlx::Error::PoolTimedOut);
        assert!(matches!(error, StoreError::Saturated { .. }), "{error:?}");
        assert!(error.is_transient());
        let text = error.to_string();
        assert!(!text.contains("state dir"), "{text}");
        assert!(text.contains("gateway.maxConcurrentTurns"), "{text}");
    }

    #[test]
    fn postgres_sqlstates_are_classified() {
        assert!(matches!(
            classify_postgres("57P01", "terminating connection due to administrator command"),
            Some(StoreError::Unavailable { .. })
        ));
        assert!(matches!(
            classify_postgres("08006", "x"),
            Some(StoreError::Unavailable { .. })
        ));
        assert!(matches!(
            classify_postgres("53100", "x"),
            Some(StoreError::DiskFull { .. })
        ));
        let deadlock = classify_postgres("40P01", "deadlock detected");
        assert!(matches!(deadlock, Some(StoreError::Conflict { .. })));
        assert!(deadlock.is_some_and(|e| e.is_transient() && e.to_string().contains("retried")));
        assert!(matches!(
            classify_postgres("40001", "could not serialize access"),
            Some(StoreError::Conflict { .. })
        ));
        assert!(classify_postgres("23505", "unique").is_none());
        assert!(StoreError::Unavailable { detail: "x".into() }.is_transient());
    }

    #[test]
    fn messages_say_what_to_do() {
        let e = StoreError::DiskFull {
            detail: "database or disk is full".into(),
        };
        assert!(e.to_string().contains("free space"));
        assert!(e.aborts_transaction());
        assert!(!StoreError::LeaseLost { id: 1 }.aborts_transaction());
    }
}
