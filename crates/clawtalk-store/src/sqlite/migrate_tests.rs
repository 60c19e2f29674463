//! The migrator against sqlx's: it reads the folder as sqlx does and keeps the same books, so
//! each accepts a database the other migrated; and what it refuses.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;
use sqlx::migrate::{MigrateError, Migrator};

use super::connect::{self, Target};
use super::migrate::{self, MIGRATIONS, Migration};
use crate::error::StoreError;

/// The folder as sqlx's macro embeds it.
static SQLX: Migrator = sqlx::migrate!("./migrations/sqlite");

/// sqlx's migrator with the migrations up to and including `version`.
fn sqlx_through(version: i64) -> Migrator {
    Migrator {
        migrations: Cow::Owned(
            SQLX.migrations
                .iter()
                .filter(|m| m.version <= version)
                .cloned()
                .collect(),
        ),
        ..Migrator::DEFAULT
    }
}

/// Runs sqlx's migrator on the file, as earlier releases did at every open.
async fn sqlx_migrate(path: &Path, migrator: &Migrator) -> Result<(), MigrateError> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .foreign_keys(true);
    let mut conn = sqlx::ConnectOptions::connect(&options).await.unwrap();
    let result = migrator.run(&mut conn).await;
    sqlx::Connection::close(conn).await.unwrap();
    result
}

async fn migrate_file(path: &Path) -> Result<(), StoreError> {
    connect::migrate(&Target::File(path), Duration::from_secs(5)).await
}

/// A row of `_sqlx_migrations`: version, description, installed_on, success, checksum,
/// execution_time.
type Row = (i64, String, String, bool, Vec<u8>, i64);

/// `PRAGMA schema_version` (SQLite raises it with every change to the schema) and the
/// bookkeeping rows.
fn books(path: &Path) -> (i64, Vec<Row>) {
    let conn = Connection::open(path).unwrap();
    let schema_version = conn.query_row("PRAGMA schema_version", [], |r| r.get(0)).unwrap();
    let mut statement = conn
        .prepare(
            "SELECT version, description, installed_on, success, checksum, execution_time \
             FROM _sqlx_migrations ORDER BY version",
        )
        .unwrap();
    let rows = statement
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    (schema_version, rows)
}

/// Every table, index and trigger with its SQL, and the bookkeeping table's columns.
fn schema(path: &Path) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    let mut statement = conn
        .prepare(
            "SELECT type || ' ' || name || ': ' || COALESCE(sql, '') FROM sqlite_schema \
             WHERE name != '_sqlx_migrations' \
             UNION ALL \
             SELECT 'column ' || name || ' ' || type || ' ' || \"notnull\" || ' ' || \
                 COALESCE(dflt_value, '') || ' ' || pk \
             FROM pragma_table_info('_sqlx_migrations') \
             ORDER BY 1",
        )
        .unwrap();
    statement
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn execute(path: &Path, sql: &str) {
    Connection::open(path).unwrap().execute_batch(sql).unwrap();
}

#[test]
fn every_file_of_the_folder_is_listed_in_order() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".sql"))
        .collect();
    files.sort();
    let listed: Vec<&str> = MIGRATIONS.iter().map(|m| m.file).collect();
    for file in &files {
        assert!(
            listed.contains(&file.as_str()),
            "migrations/sqlite/{file} is missing from MIGRATIONS in sqlite/migrate.rs"
        );
    }
    assert_eq!(listed, files);
    assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
}

#[test]
fn each_migration_reads_as_sqlx_reads_it() {
    assert_eq!(MIGRATIONS.len(), SQLX.migrations.len());
    for (ours, theirs) in MIGRATIONS.iter().zip(SQLX.iter()) {
        assert_eq!(ours.version, theirs.version, "{}", ours.file);
        assert_eq!(ours.description(), theirs.description, "{}", ours.file);
        assert_eq!(ours.checksum(), *theirs.checksum, "{}", ours.file);
        assert_eq!(ours.sql, theirs.sql.as_str(), "{}", ours.file);
        assert_eq!(ours.has_own_transaction(), theirs.no_tx, "{}", ours.file);
    }
}

#[tokio::test]
async fn a_database_sqlx_migrated_is_carried_on_where_it_stands() {
    let dir = tempfile::tempdir().unwrap();
    // Brought fully up to date by sqlx: nothing to do here.
    let full = dir.path().join("full.db");
    sqlx_migrate(&full, &SQLX).await.unwrap();
    let before = books(&full);
    migrate_file(&full).await.unwrap();
    assert_eq!(books(&full), before, "something was applied again");

    // Left two migrations behind (one of them runs its own transaction): those two only.
    let behind = dir.path().join("behind.db");
    sqlx_migrate(&behind, &sqlx_through(12)).await.unwrap();
    let (_, old_rows) = books(&behind);
    migrate_file(&behind).await.unwrap();
    let (_, rows) = books(&behind);
    assert_eq!(rows[..12], old_rows[..], "an applied migration's row changed");
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        (1..=14).collect::<Vec<_>>()
    );
    assert_eq!(schema(&behind), schema(&full));
    // And sqlx, pointed at it again, finds nothing to do.
    let before = books(&behind);
    sqlx_migrate(&behind, &SQLX).await.unwrap();
    assert_eq!(books(&behind), before);
}

#[tokio::test]
async fn a_database_migrated_here_is_taken_by_sqlx() {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.db");
    migrate_file(&ours).await.unwrap();
    let before = books(&ours);
    sqlx_migrate(&ours, &SQLX).await.unwrap();
    assert_eq!(books(&ours), before, "sqlx applied something again");

    // The same books and schema as sqlx keeps, but for when and how long.
    let theirs = dir.path().join("theirs.db");
    sqlx_migrate(&theirs, &SQLX).await.unwrap();
    let essentials = |path: &Path| {
        let (_, rows) = books(path);
        rows.into_iter()
            .map(|(version, description, _, success, checksum, _)| (version, description, success, checksum))
            .collect::<Vec<_>>()
    };
    assert_eq!(essentials(&ours), essentials(&theirs));
    assert!(before.1.iter().all(|row| row.5 >= 0), "execution times recorded");
    assert_eq!(schema(&ours), schema(&theirs));
}

/// The error of migrating again a fully migrated database after `tamper` ran on it, and its
/// detail.
async fn refused_after(tamper: &str) -> (StoreError, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    migrate_file(&path).await.unwrap();
    execute(&path, tamper);
    let error = migrate_file(&path).await.unwrap_err();
    let StoreError::Migration { detail } = &error else {
        panic!("{error:?}");
    };
    let detail = detail.clone();
    (error, detail)
}

#[tokio::test]
async fn a_changed_migration_is_refused() {
    let (error, detail) =
        refused_after("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 3").await;
    assert!(
        detail.starts_with("migration 3 (sessions) was applied from other SQL"),
        "{detail}"
    );
    assert!(detail.contains("checksum"), "{detail}");
    assert!(
        error.to_string().starts_with("database schema migration failed"),
        "{error}"
    );
}

#[tokio::test]
async fn a_migration_recorded_as_failed_is_refused() {
    let (_, detail) = refused_after("UPDATE _sqlx_migrations SET success = FALSE WHERE version = 5").await;
    assert!(
        detail.starts_with("migration 5 (cards) is recorded as failed"),
        "{detail}"
    );
    assert!(detail.contains("half changed"), "{detail}");
}

#[test]
fn a_database_a_newer_binary_migrated_is_refused() {
    let mut conn = Connection::open_in_memory().unwrap();
    migrate::run(&mut conn).unwrap();
    // This binary as a release that knew migrations up to 12.
    let error = migrate::run_through(&mut conn, 12).unwrap_err();
    assert_eq!(error, StoreError::SchemaTooNew { version: 14 });
    let message = error.to_string();
    assert!(message.contains("newer clawtalk"), "{message}");
    assert!(message.contains("schema version 14"), "{message}");
    assert!(message.contains("this clawtalk is too old"), "{message}");
}

#[test]
fn a_failing_migration_leaves_neither_its_changes_nor_its_row() {
    let list = [
        Migration {
            version: 1,
            file: "0001_first.sql",
            sql: "CREATE TABLE first (x INTEGER);",
        },
        Migration {
            version: 2,
            file: "0002_broken_step.sql",
            sql: "CREATE TABLE second (x INTEGER); INSERT INTO nowhere VALUES (1);",
        },
    ];
    let mut conn = Connection::open_in_memory().unwrap();
    let error = migrate::run_list(&mut conn, &list).unwrap_err();
    let StoreError::Migration { detail } = &error else {
        panic!("{error:?}");
    };
    assert!(detail.starts_with("migration 2 (broken step) failed"), "{detail}");
    assert!(detail.contains("no such table: nowhere"), "{detail}");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tables, ["_sqlx_migrations", "first"]);
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM _sqlx_migrations")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(versions, [1]);
}
