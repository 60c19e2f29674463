//! Read-only looks into the gateway's SQLite database while it runs (WAL allows a reader next
//! to the writer). Only for *observing* the state machine: timing a kill between replies, and
//! checking that nothing is left unfinished.

use std::collections::BTreeMap;
use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};

async fn connect(db: &Path) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .busy_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("open {} read-only: {e}", db.display()))
}

/// `status → rows` of `table` (`inbox` or `outbox`).
pub async fn statuses(db: &Path, table: &str) -> BTreeMap<String, i64> {
    let sql = match table {
        "inbox" => "SELECT status, count(*) FROM inbox GROUP BY status",
        "outbox" => "SELECT status, count(*) FROM outbox GROUP BY status",
        other => panic!("unknown table {other}"),
    };
    let mut conn = connect(db).await;
    let rows: Vec<(String, i64)> = sqlx::query_as(sql)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("count {table} rows by status: {e}"));
    rows.into_iter().collect()
}

/// Rows of `table` with `status`.
pub async fn count(db: &Path, table: &str, status: &str) -> i64 {
    statuses(db, table).await.get(status).copied().unwrap_or(0)
}

/// `lease owner → running turns`: which process is working on what.
pub async fn running_by_owner(db: &Path) -> BTreeMap<String, i64> {
    let mut conn = connect(db).await;
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT COALESCE(lease_owner, ''), count(*) FROM inbox WHERE status = 'running' GROUP BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap_or_else(|e| panic!("count running turns by owner: {e}"));
    rows.into_iter().collect()
}

/// The most times any inbox row was claimed (1 = every turn ran on its first claim).
pub async fn max_attempts(db: &Path) -> i64 {
    let mut conn = connect(db).await;
    sqlx::query_scalar("SELECT COALESCE(max(attempts), 0) FROM inbox")
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("read claim attempts: {e}"))
}

/// `(agent_id, session_key)` of every session, oldest first: which agent answered whom.
pub async fn sessions(db: &Path) -> Vec<(String, String)> {
    let mut conn = connect(db).await;
    sqlx::query_as("SELECT agent_id, session_key FROM sessions ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("read sessions: {e}"))
}

/// One inbox row as a test reads it, with its outbox parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxRow {
    /// `inbox.session_key`.
    pub session_key: String,
    /// `inbox.status`.
    pub status: String,
    /// `inbox.raw_payload_json`: the stored message.
    pub payload: String,
    /// `(status, body_json)` of each outbox part, in order.
    pub parts: Vec<(String, String)>,
}

/// The inbox rows whose `msg_id` starts with `prefix`, oldest first, with their outbox parts.
pub async fn inbox_rows(db: &Path, prefix: &str) -> Vec<InboxRow> {
    let mut conn = connect(db).await;
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT id, session_key, status, raw_payload_json FROM inbox WHERE msg_id LIKE ?1 || '%' ORDER BY id",
    )
    .bind(prefix)
    .fetch_all(&mut conn)
    .await
    .unwrap_or_else(|e| panic!("read inbox rows: {e}"));
    let mut found = Vec::new();
    for (id, session_key, status, payload) in rows {
        let parts: Vec<(String, String)> =
            sqlx::query_as("SELECT status, body_json FROM outbox WHERE inbound_id = ?1 ORDER BY part")
                .bind(id)
                .fetch_all(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("read outbox parts: {e}"));
        found.push(InboxRow {
            session_key,
            status,
            payload,
            parts,
        });
    }
    found
}
