//! Tests of the schema itself, on SQLite's own compiled programs: the writes every message
//! makes check their rules in place, the queue's queries use the partial indexes, and
//! migration 0008 keeps the rows and references of a database it rebuilds.

use std::time::Duration;

use rusqlite::Connection;
use rusqlite::types::Null;

use super::SqliteOptions;
use super::connect::{self, Target};
use super::inbox::{CLAIM_ANY, CLAIM_SESSION};

async fn migrated() -> Connection {
    let target = Target::fresh_memory();
    // Opened first: the in-memory database lives as long as a connection to it.
    let conn = connect::writer(&target, &SqliteOptions::default()).unwrap();
    connect::migrate(&target, Duration::from_secs(5)).await.unwrap();
    conn
}

/// Binds NULL to every parameter: compiling is all EXPLAIN needs.
fn explain(conn: &Connection, sql: &str, column: &str) -> Vec<String> {
    let mut statement = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
    for i in 1..=statement.parameter_count() {
        statement.raw_bind_parameter(i, Null).unwrap();
    }
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        out.push(row.get::<_, String>(column).unwrap());
    }
    out
}

/// Temporary b-trees the statement builds each time it runs.
fn temporary_btrees(conn: &Connection, sql: &str) -> usize {
    explain(conn, sql, "opcode")
        .iter()
        .filter(|op| *op == "OpenEphemeral")
        .count()
}

fn query_plan(conn: &Connection, sql: &str) -> String {
    explain(conn, &format!("QUERY PLAN {sql}"), "detail").join(" | ")
}

#[tokio::test]
async fn message_path_writes_check_their_rules_in_place() {
    let conn = migrated().await;
    let writes = [
        "INSERT INTO inbox (account_id, robot_code, msg_id, conversation_id, sender_staff_id, \
             session_key, received_at_ms, raw_payload_json, text, updated_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?7) \
         ON CONFLICT (robot_code, msg_id) DO NOTHING",
        "UPDATE inbox SET status = ?2, updated_at_ms = ?3 WHERE id = ?1 AND status = 'received'",
        "UPDATE inbox SET status = ?2, error = ?3, lease_expires_at_ms = NULL, updated_at_ms = ?4 \
         WHERE id = ?1 AND status = 'running' AND lease_owner = ?5 AND lease_incarnation = ?6",
        "INSERT INTO outbox (inbound_id, part, idempotency_key, kind, body_json, created_at_ms, \
             updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        "UPDATE outbox SET status = 'sent', sent_at_ms = ?2, updated_at_ms = ?2 WHERE id = ?1",
        "INSERT INTO transcript (session_id, generation, role, content_json, inbound_id, at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    ];
    for sql in writes {
        assert_eq!(temporary_btrees(&conn, sql), 0, "{sql}");
    }
}

#[tokio::test]
async fn claims_build_no_temporary_btree_beyond_their_returning_rows() {
    let conn = migrated().await;
    // RETURNING collects its rows in one temporary b-tree; the schema adds none.
    for sql in [CLAIM_SESSION, CLAIM_ANY] {
        assert_eq!(temporary_btrees(&conn, sql), 1, "{sql}");
    }
}

#[tokio::test]
async fn queue_queries_use_the_partial_indexes() {
    let conn = migrated().await;
    let session = query_plan(&conn, CLAIM_SESSION);
    assert!(session.contains("inbox_open_by_session"), "{session}");
    assert!(session.contains("inbox_one_running_per_session"), "{session}");
    let any = query_plan(&conn, CLAIM_ANY);
    assert!(any.contains("inbox_open"), "{any}");
    assert!(!any.contains("SCAN inbox"), "{any}");
}

#[tokio::test]
async fn the_rebuild_keeps_rows_references_and_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    // A database as the release before migration 0008 left it, with a message, its reply
    // part and a transcript entry.
    {
        let mut conn = Connection::open(&path).unwrap();
        super::migrate::run_through(&mut conn, 7).unwrap();
        conn.execute_batch(
            "INSERT INTO inbox (account_id, robot_code, msg_id, conversation_id, session_key, \
                 received_at_ms, raw_payload_json, text, updated_at_ms, status) \
             VALUES ('a', 'r', 'm1', 'cidAbC', 'k', 1, '{}', 'hi', 1, 'running'); \
             INSERT INTO outbox (inbound_id, part, idempotency_key, kind, body_json, created_at_ms, updated_at_ms) \
             VALUES (1, 0, 'r/m1/0', 'markdown', '{}', 1, 1); \
             INSERT INTO sessions (session_key, agent_id, created_at_ms, generation_started_at_ms, last_active_ms) \
             VALUES ('k', 'main', 1, 1, 1); \
             INSERT INTO transcript (session_id, generation, role, content_json, at_ms) \
             VALUES (1, 1, 'user', '{}', 1);",
        )
        .unwrap();
    }
    connect::migrate(&Target::File(&path), Duration::from_secs(5))
        .await
        .unwrap();

    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!((count("inbox"), count("outbox"), count("transcript")), (1, 1, 1));
    let (status, conversation): (String, String) = conn
        .query_row(
            "SELECT status, conversation_id FROM inbox WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), conversation.as_str()), ("running", "cidAbC"));
    // The rules still hold.
    let bad_status = conn.execute("UPDATE inbox SET status = 'lost' WHERE id = 1", []);
    assert!(bad_status.is_err(), "an unknown status was accepted");
    let bad_role = conn.execute(
        "INSERT INTO transcript (session_id, generation, role, content_json, at_ms) \
         VALUES (1, 1, 'narrator', '{}', 1)",
        [],
    );
    assert!(bad_role.is_err(), "an unknown role was accepted");
    let orphan = conn.execute(
        "INSERT INTO outbox (inbound_id, part, idempotency_key, kind, body_json, created_at_ms, updated_at_ms) \
         VALUES (99, 0, 'x', 'markdown', '{}', 1, 1)",
        [],
    );
    assert!(
        orphan.is_err(),
        "a part of a message that does not exist was accepted"
    );
    // References point at the rebuilt tables: purging a message takes its reply parts along.
    conn.execute("DELETE FROM inbox WHERE id = 1", []).unwrap();
    assert_eq!(count("outbox"), 0);
    conn.execute("DELETE FROM sessions WHERE id = 1", []).unwrap();
    assert_eq!(count("transcript"), 0);
}
