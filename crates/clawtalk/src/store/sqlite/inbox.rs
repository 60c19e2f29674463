//! Inbox and turn queue on SQLite.

use async_trait::async_trait;
use dingtalk::ids::StaffId;
use sqlx::SqliteConnection;

use super::SqliteStore;
use crate::store::decode::{inbound, inbox_columns};
use crate::store::error::StoreError;
use crate::store::model::{
    CancelScope, ClaimScope, Dispatch, InboundId, InboundRecord, InboundStatus, RecordOutcome, StoredInbound,
    TurnOutcome, WorkerId,
};
use crate::store::{InboxStore, StoreResult};

/// Rows deleted per purge transaction, so a big purge never holds the write lock for long.
const PURGE_CHUNK: i64 = 1000;

async fn status_of(conn: &mut SqliteConnection, id: InboundId) -> Result<Option<InboundStatus>, StoreError> {
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM inbox WHERE id = ?1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    status.map(|s| s.parse()).transpose()
}

/// Explains why a conditional update touched no row.
async fn transition_error(
    conn: &mut SqliteConnection,
    id: InboundId,
    to: InboundStatus,
) -> Result<StoreError, StoreError> {
    Ok(match status_of(conn, id).await? {
        None => StoreError::NotFound {
            what: "inbound message",
            id: id.to_string(),
        },
        Some(from) => StoreError::InvalidTransition {
            id,
            from: from.to_string(),
            to: to.to_string(),
        },
    })
}

/// The claim statement: one `UPDATE` of the row the first pick finds.
///
/// First a running turn whose lease lapsed (its worker died) is taken over in place; only
/// when there is none is the oldest queued row of a session with no running turn started.
/// That order keeps "at most one running row per session" true at all times, which the
/// unique index `inbox_one_running_per_session` enforces (and would enforce across replicas
/// on a shared database). `COALESCE` evaluates the second pick only when the first finds
/// nothing, so this is the two picks in order in one statement (claims run twice per turn;
/// one statement instead of two is one round trip less to SQLite's thread). The repeated
/// `status IN (...)` term lets SQLite use the partial indexes.
macro_rules! claim_sql {
    ($reclaim:expr, $queued:expr) => {
        concat!(
            "UPDATE inbox SET status = 'running', attempts = attempts + 1, lease_owner = ?1, \
                 lease_incarnation = ?2, lease_expires_at_ms = ?3, updated_at_ms = ?4 \
             WHERE id = COALESCE((",
            $reclaim,
            "), (",
            $queued,
            ")) RETURNING ",
            inbox_columns!()
        )
    };
}
macro_rules! reclaim_pick {
    ($session_filter:literal) => {
        concat!(
            "SELECT id FROM inbox WHERE status = 'running' AND lease_expires_at_ms <= ?4 ",
            $session_filter,
            // By expiry, not id, so that `inbox_running_by_expiry` serves the order too.
            " ORDER BY lease_expires_at_ms, id LIMIT 1"
        )
    };
}
macro_rules! queued_pick {
    ($session_filter:literal) => {
        concat!(
            "SELECT c.id FROM inbox AS c \
             WHERE c.status IN ('received', 'queued', 'running') AND c.status = 'queued' ",
            $session_filter,
            " AND NOT EXISTS ( \
                 SELECT 1 FROM inbox AS b WHERE b.status = 'running' AND b.session_key = c.session_key) \
             ORDER BY c.id LIMIT 1"
        )
    };
}
const CLAIM_ANY: &str = claim_sql!(reclaim_pick!(""), queued_pick!(""));
const CLAIM_SESSION: &str = claim_sql!(
    reclaim_pick!("AND session_key = ?5"),
    queued_pick!("AND c.session_key = ?5")
);

macro_rules! cancel_sql {
    ($statuses:literal) => {
        concat!(
            "UPDATE inbox SET status = 'cancelled', lease_expires_at_ms = NULL, updated_at_ms = ?2 \
             WHERE session_key = ?1 AND status IN ('received', 'queued', 'running') AND status IN ",
            $statuses,
            " RETURNING id"
        )
    };
}

fn positive(name: &str, value: i64) -> Result<(), StoreError> {
    if value > 0 {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{name} must be positive, got {value}"
        )))
    }
}

#[async_trait]
impl InboxStore for SqliteStore {
    async fn record_inbound(&self, record: InboundRecord) -> StoreResult<RecordOutcome> {
        self.write_one(move |conn| {
            Box::pin(async move {
                let inserted: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO inbox (account_id, robot_code, msg_id, conversation_id, sender_staff_id, \
                         session_key, received_at_ms, raw_payload_json, text, updated_at_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?7) \
                     ON CONFLICT (robot_code, msg_id) DO NOTHING RETURNING id",
                )
                .bind(&record.account_id)
                .bind(record.robot_code.as_str())
                .bind(record.msg_id.as_str())
                .bind(record.conversation_id.as_str())
                .bind(record.sender_staff_id.as_ref().map(StaffId::as_str))
                .bind(&record.session_key)
                .bind(record.received_at_ms)
                .bind(&record.raw_payload_json)
                .bind(&record.text)
                .fetch_optional(&mut *conn)
                .await?;
                if let Some(id) = inserted {
                    return Ok(RecordOutcome::New(id));
                }
                let row: Option<(i64, String)> =
                    sqlx::query_as("SELECT id, status FROM inbox WHERE robot_code = ?1 AND msg_id = ?2")
                        .bind(record.robot_code.as_str())
                        .bind(record.msg_id.as_str())
                        .fetch_optional(&mut *conn)
                        .await?;
                let (id, status) = row.ok_or_else(|| {
                    StoreError::decode("insert conflicted but the existing inbox row is missing")
                })?;
                Ok(RecordOutcome::Duplicate {
                    id,
                    status: status.parse()?,
                })
            })
        })
        .await
    }

    async fn dispatch_inbound(&self, id: InboundId, dispatch: Dispatch, now_ms: i64) -> StoreResult<()> {
        let to = dispatch.status();
        self.write_one(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE inbox SET status = ?2, updated_at_ms = ?3 WHERE id = ?1 AND status = 'received'",
                )
                .bind(id)
                .bind(to.as_str())
                .bind(now_ms)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 1 {
                    return Ok(());
                }
                // Routing the same way twice (e.g. after a restart) is not an error.
                match status_of(conn, id).await? {
                    Some(current) if current == to => Ok(()),
                    _ => Err(transition_error(conn, id, to).await?),
                }
            })
        })
        .await
    }

    async fn claim_next_turn(
        &self,
        scope: ClaimScope<'_>,
        worker: &WorkerId,
        lease_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Option<StoredInbound>> {
        positive("lease_ms", lease_ms)?;
        let worker = worker.clone();
        let session = match scope {
            ClaimScope::Session(key) => Some(key.to_owned()),
            ClaimScope::Any => None,
        };
        self.write_one(move |conn| {
            Box::pin(async move {
                let sql = if session.is_some() {
                    CLAIM_SESSION
                } else {
                    CLAIM_ANY
                };
                let mut query = sqlx::query(sql)
                    .bind(&worker.instance)
                    .bind(&worker.incarnation)
                    .bind(now_ms.saturating_add(lease_ms))
                    .bind(now_ms);
                if let Some(session) = &session {
                    query = query.bind(session);
                }
                let row = query.fetch_optional(&mut *conn).await?;
                row.as_ref().map(inbound).transpose()
            })
        })
        .await
    }

    async fn renew_lease(
        &self,
        id: InboundId,
        worker: &WorkerId,
        lease_ms: i64,
        now_ms: i64,
    ) -> StoreResult<()> {
        positive("lease_ms", lease_ms)?;
        let worker = worker.clone();
        self.write_one(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE inbox SET lease_expires_at_ms = ?2, updated_at_ms = ?3 \
                     WHERE id = ?1 AND status = 'running' AND lease_owner = ?4 AND lease_incarnation = ?5",
                )
                .bind(id)
                .bind(now_ms.saturating_add(lease_ms))
                .bind(now_ms)
                .bind(&worker.instance)
                .bind(&worker.incarnation)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 1 {
                    Ok(())
                } else {
                    Err(StoreError::LeaseLost { id })
                }
            })
        })
        .await
    }

    async fn finish_turn(
        &self,
        id: InboundId,
        worker: &WorkerId,
        outcome: TurnOutcome,
        now_ms: i64,
    ) -> StoreResult<()> {
        let worker = worker.clone();
        self.write_one(move |conn| {
            Box::pin(async move {
                let error = match &outcome {
                    TurnOutcome::Failed(reason) => Some(reason.as_str()),
                    _ => None,
                };
                // The lease owner stays on the row (who ran it); clearing the expiry ends it.
                let done = sqlx::query(
                    "UPDATE inbox SET status = ?2, error = ?3, lease_expires_at_ms = NULL, updated_at_ms = ?4 \
                     WHERE id = ?1 AND status = 'running' AND lease_owner = ?5 AND lease_incarnation = ?6",
                )
                .bind(id)
                .bind(outcome.status().as_str())
                .bind(error)
                .bind(now_ms)
                .bind(&worker.instance)
                .bind(&worker.incarnation)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 1 {
                    Ok(())
                } else {
                    Err(StoreError::LeaseLost { id })
                }
            })
        })
        .await
    }

    async fn cancel_running(
        &self,
        session_key: &str,
        scope: CancelScope,
        now_ms: i64,
    ) -> StoreResult<Vec<InboundId>> {
        let session_key = session_key.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let sql = match scope {
                    CancelScope::Running => cancel_sql!("('running')"),
                    CancelScope::RunningAndQueued => cancel_sql!("('running', 'queued')"),
                };
                let mut ids: Vec<i64> = sqlx::query_scalar(sql)
                    .bind(&session_key)
                    .bind(now_ms)
                    .fetch_all(&mut *conn)
                    .await?;
                ids.sort_unstable();
                // What was planned but not yet sent stays unsent: the user said stop.
                for id in &ids {
                    sqlx::query(
                        "UPDATE outbox SET status = 'failed', last_error = 'cancelled', \
                             lease_expires_at_ms = NULL, updated_at_ms = ?2 \
                         WHERE inbound_id = ?1 AND status = 'planned'",
                    )
                    .bind(id)
                    .bind(now_ms)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(ids)
            })
        })
        .await
    }

    async fn recover_unfinished(&self, me: &WorkerId, now_ms: i64) -> StoreResult<Vec<StoredInbound>> {
        let me = me.clone();
        // Two updates: needs the savepoint of `write`.
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE inbox SET status = 'queued', lease_expires_at_ms = NULL, updated_at_ms = ?1 \
                     WHERE status = 'running' \
                       AND (lease_expires_at_ms IS NULL OR lease_expires_at_ms <= ?1 \
                            OR (lease_owner = ?2 AND lease_incarnation IS NOT ?3))",
                )
                .bind(now_ms)
                .bind(&me.instance)
                .bind(&me.incarnation)
                .execute(&mut *conn)
                .await?;
                // Reply parts a previous incarnation planned but did not send: free them too,
                // so the resumed turn sends them now instead of after the dead lease lapses.
                sqlx::query(
                    "UPDATE outbox SET lease_expires_at_ms = NULL, updated_at_ms = ?1 \
                     WHERE status = 'planned' AND lease_expires_at_ms IS NOT NULL \
                       AND lease_owner = ?2 AND lease_incarnation IS NOT ?3",
                )
                .bind(now_ms)
                .bind(&me.instance)
                .bind(&me.incarnation)
                .execute(&mut *conn)
                .await?;
                let sql: &str = concat!(
                    "SELECT ",
                    inbox_columns!(),
                    " FROM inbox \
                     WHERE status IN ('received', 'queued', 'running') AND status IN ('received', 'queued') \
                     ORDER BY id"
                );
                let rows = sqlx::query(sql).fetch_all(&mut *conn).await?;
                rows.iter().map(inbound).collect()
            })
        })
        .await
    }

    async fn undecided_before(&self, received_before_ms: i64, limit: u32) -> StoreResult<Vec<StoredInbound>> {
        self.read(move |conn| {
            Box::pin(async move {
                let sql: &str = concat!(
                    "SELECT ",
                    inbox_columns!(),
                    " FROM inbox \
                     WHERE status IN ('received', 'queued', 'running') AND status = 'received' \
                       AND received_at_ms < ?1 \
                     ORDER BY id LIMIT ?2"
                );
                let rows = sqlx::query(sql)
                    .bind(received_before_ms)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *conn)
                    .await?;
                rows.iter().map(inbound).collect()
            })
        })
        .await
    }

    async fn inbound(&self, id: InboundId) -> StoreResult<Option<StoredInbound>> {
        self.read(move |conn| {
            Box::pin(async move {
                let sql: &str = concat!("SELECT ", inbox_columns!(), " FROM inbox WHERE id = ?1");
                let row = sqlx::query(sql).bind(id).fetch_optional(&mut *conn).await?;
                row.as_ref().map(inbound).transpose()
            })
        })
        .await
    }

    async fn purge_finished(&self, before_ms: i64) -> StoreResult<u64> {
        let mut total = 0;
        loop {
            let deleted = self
                .write_one(move |conn| {
                    Box::pin(async move {
                        // One statement: the cascade to the outbox is part of it.
                        let done = sqlx::query(
                            "DELETE FROM inbox WHERE id IN ( \
                                 SELECT id FROM inbox \
                                 WHERE updated_at_ms < ?1 \
                                   AND status IN ('replied', 'failed', 'cancelled', 'ignored') \
                                 LIMIT ?2)",
                        )
                        .bind(before_ms)
                        .bind(PURGE_CHUNK)
                        .execute(&mut *conn)
                        .await?;
                        Ok(done.rows_affected())
                    })
                })
                .await?;
            total += deleted;
            if deleted < PURGE_CHUNK.unsigned_abs() {
                return Ok(total);
            }
        }
    }
}
