//! What the shared store holds for the users a failed run describes: their turn and each
//! reply part's status, attempts, owner and last error, so that a lost or cut answer can be
//! traced to the step that dropped it before the schema is dropped with the run.

use sqlx::Row as _;

use crate::pg;
use crate::support::staff;

/// Prints, on stderr, the inbox row and outbox parts of each of `users`; with PostgreSQL's
/// `track_commit_timestamp` on, also when each part's last change committed (a handover mark
/// stamps `updated_at_ms` before it waits for a connection; this is when it took effect).
pub async fn explain(schema: &pg::TestSchema, users: &[usize]) {
    if users.is_empty() {
        return;
    }
    let pool = schema.pool().await;
    for &user in users {
        let rows = sqlx::query(
            "SELECT i.id, i.status AS turn, i.attempts AS claims, i.lease_owner AS turn_owner, \
                    i.error, i.received_at_ms, \
                    o.part, o.kind, o.status, o.attempts, o.lease_owner, o.last_error, \
                    o.created_at_ms, o.updated_at_ms, o.sent_at_ms, \
                    CASE WHEN current_setting('track_commit_timestamp') = 'on' \
                         THEN (extract(epoch FROM pg_xact_commit_timestamp(o.xmin)) * 1000)::bigint \
                    END AS committed_ms \
             FROM inbox i LEFT JOIN outbox o ON o.inbound_id = i.id \
             WHERE i.sender_staff_id = $1 ORDER BY i.id, o.part",
        )
        .bind(staff(user))
        .fetch_all(&pool)
        .await;
        let rows = match rows {
            Ok(rows) => rows,
            Err(error) => {
                eprintln!("  (store trail of user {user} unreadable: {error})");
                continue;
            }
        };
        for (n, row) in rows.iter().enumerate() {
            let received: i64 = row.get("received_at_ms");
            let since = |column: &str| {
                row.get::<Option<i64>, _>(column)
                    .map_or_else(|| "-".to_owned(), |at| format!("{} ms", at - received))
            };
            if n == 0 {
                eprintln!(
                    "  store (user {user}): turn {} {}, {} claims, held by {:?}, error {:?}",
                    row.get::<i64, _>("id"),
                    row.get::<String, _>("turn"),
                    row.get::<i64, _>("claims"),
                    row.get::<Option<String>, _>("turn_owner"),
                    row.get::<Option<String>, _>("error"),
                );
            }
            let Some(part) = row.get::<Option<i64>, _>("part") else {
                continue;
            };
            eprintln!(
                "    part {part} {} {}, {} attempts, owner {:?}, planned +{}, updated +{}, committed +{} (epoch {}), sent +{}, error {:?}",
                row.get::<String, _>("kind"),
                row.get::<String, _>("status"),
                row.get::<i64, _>("attempts"),
                row.get::<Option<String>, _>("lease_owner"),
                since("created_at_ms"),
                since("updated_at_ms"),
                since("committed_ms"),
                row.get::<Option<i64>, _>("committed_ms")
                    .map_or_else(|| "-".to_owned(), |at| at.to_string()),
                since("sent_at_ms"),
                row.get::<Option<String>, _>("last_error"),
            );
        }
    }
}
