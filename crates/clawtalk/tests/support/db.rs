//! Read-only looks into the gateway's SQLite database while it runs (WAL allows a reader next
//! to the writer). Only for *observing* the state machine: timing a kill between replies, and
//! checking that nothing is left unfinished.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OpenFlags, Params, Row};

/// Runs `work` on a read-only connection, on a blocking thread: the gateway under test may run
/// on the test's own runtime.
async fn read<T: Send + 'static>(
    db: &Path,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
) -> rusqlite::Result<T> {
    let db = db.to_owned();
    tokio::task::spawn_blocking(move || {
        let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("open {} read-only: {e}", db.display()));
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        work(&conn)
    })
    .await
    .unwrap()
}

fn all<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    conn.prepare(sql)?.query_map(params, row)?.collect()
}

/// `status → rows` of `table` (`inbox` or `outbox`).
pub async fn statuses(db: &Path, table: &str) -> BTreeMap<String, i64> {
    let sql = match table {
        "inbox" => "SELECT status, count(*) FROM inbox GROUP BY status",
        "outbox" => "SELECT status, count(*) FROM outbox GROUP BY status",
        other => panic!("unknown table {other}"),
    };
    let rows = read(db, move |conn| all(conn, sql, [], |r| Ok((r.get(0)?, r.get(1)?))))
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
    let sql = "SELECT COALESCE(lease_owner, ''), count(*) FROM inbox WHERE status = 'running' GROUP BY 1";
    let rows = read(db, move |conn| all(conn, sql, [], |r| Ok((r.get(0)?, r.get(1)?))))
        .await
        .unwrap_or_else(|e| panic!("count running turns by owner: {e}"));
    rows.into_iter().collect()
}

/// The most times any inbox row was claimed (1 = every turn ran on its first claim).
pub async fn max_attempts(db: &Path) -> i64 {
    read(db, |conn| {
        conn.query_row("SELECT COALESCE(max(attempts), 0) FROM inbox", [], |r| r.get(0))
    })
    .await
    .unwrap_or_else(|e| panic!("read claim attempts: {e}"))
}

/// `(agent_id, session_key)` of every session, oldest first: which agent answered whom.
pub async fn sessions(db: &Path) -> Vec<(String, String)> {
    let sql = "SELECT agent_id, session_key FROM sessions ORDER BY id";
    read(db, move |conn| all(conn, sql, [], |r| Ok((r.get(0)?, r.get(1)?))))
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
    let prefix = prefix.to_owned();
    read(db, move |conn| {
        let rows: Vec<(i64, String, String, String)> = all(
            conn,
            "SELECT id, session_key, status, raw_payload_json FROM inbox WHERE msg_id LIKE ?1 || '%' ORDER BY id",
            [&prefix],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let mut found = Vec::new();
        for (id, session_key, status, payload) in rows {
            let parts = all(
                conn,
                "SELECT status, body_json FROM outbox WHERE inbound_id = ?1 ORDER BY part",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            found.push(InboxRow {
                session_key,
                status,
                payload,
                parts,
            });
        }
        Ok(found)
    })
    .await
    .unwrap_or_else(|e| panic!("read inbox rows: {e}"))
}
