//! Inbox and turn queue on SQLite.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;
use dingtalk::ids::StaffId;
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::sql::{execute, query_all, query_opt, scalar_opt};
use crate::decode::{Columns, inbound, inbox_columns};
use crate::error::StoreError;
use crate::model::{
    CancelScope, ClaimScope, Dispatch, InboundId, InboundRecord, InboundStatus, RecordOutcome, StoredInbound,
    TurnOutcome, WorkerId,
};
use crate::{InboxStore, StoreResult};

/// Rows deleted per purge transaction, so a big purge never holds the write lock for long.
const PURGE_CHUNK: i64 = 1000;

fn status_of(conn: &Connection, id: InboundId) -> Result<Option<InboundStatus>, StoreError> {
    let status: Option<String> = scalar_opt(conn, "SELECT status FROM inbox WHERE id = ?1", [id])?;
    status.map(|s| s.parse()).transpose()
}

/// Explains why a conditional update touched no row.
fn transition_error(conn: &Connection, id: InboundId, to: InboundStatus) -> Result<StoreError, StoreError> {
    Ok(match status_of(conn, id)? {
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
/// when there is none is the oldest queued row of a session with no running turn started,
/// and only once no older message of its session is still undecided (`received`): another
/// replica may have stored it first and not queued it yet, and answering the newer one
/// first would put the replies out of order.
/// That order keeps "at most one running row per session" true at all times, which the
/// unique index `inbox_one_running_per_session` enforces (and would enforce across replicas
/// on a shared database). `COALESCE` evaluates the second pick only when the first finds
/// nothing, so this is the two picks in order in one statement (claims run twice per turn;
/// one statement instead of two is one round trip less to SQLite's thread). Each pick's
/// `status = '…'` term implies the partial indexes' conditions, so SQLite uses them.
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
             WHERE c.status = 'queued' ",
            $session_filter,
            " AND NOT EXISTS ( \
                 SELECT 1 FROM inbox AS b WHERE b.status = 'running' AND b.session_key = c.session_key) \
             AND NOT EXISTS ( \
                 SELECT 1 FROM inbox AS e \
                 WHERE e.status = 'received' AND e.session_key = c.session_key AND e.id < c.id) \
             ORDER BY c.id LIMIT 1"
        )
    };
}
pub(super) const CLAIM_ANY: &str = claim_sql!(reclaim_pick!(""), queued_pick!(""));
pub(super) const CLAIM_SESSION: &str = claim_sql!(
    reclaim_pick!("AND session_key = ?5"),
    queued_pick!("AND c.session_key = ?5")
);

macro_rules! cancel_sql {
    ($status_term:literal) => {
        concat!(
            "UPDATE inbox SET status = 'cancelled', lease_expires_at_ms = NULL, updated_at_ms = ?2 \
             WHERE session_key = ?1 AND ",
            $status_term,
            " RETURNING id"
        )
    };
}

/// A lease-fenced update changed its row, or the lease is no longer ours.
fn lease_held(changed: usize, id: InboundId) -> Result<(), StoreError> {
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::LeaseLost { id })
    }
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
            let inserted: Option<i64> = scalar_opt(
                conn,
                "INSERT INTO inbox (account_id, robot_code, msg_id, conversation_id, sender_staff_id, \
                     session_key, received_at_ms, raw_payload_json, text, updated_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?7) \
                 ON CONFLICT (robot_code, msg_id) DO NOTHING RETURNING id",
                params![
                    record.account_id.as_str(),
                    record.robot_code.as_str(),
                    record.msg_id.as_str(),
                    record.conversation_id.as_str(),
                    record.sender_staff_id.as_ref().map(StaffId::as_str),
                    record.session_key,
                    record.received_at_ms.as_millis(),
                    record.raw_payload_json,
                    record.text
                ],
            )?;
            if let Some(id) = inserted {
                return Ok(RecordOutcome::New(id));
            }
            let row = query_opt(
                conn,
                "SELECT id, status FROM inbox WHERE robot_code = ?1 AND msg_id = ?2",
                params![record.robot_code.as_str(), record.msg_id.as_str()],
                |row| Ok((row.int("id")?, row.text("status")?)),
            )?;
            let (id, status) = row.ok_or_else(|| {
                StoreError::decode("insert conflicted but the existing inbox row is missing")
            })?;
            Ok(RecordOutcome::Duplicate {
                id,
                status: status.parse()?,
            })
        })
        .await
    }

    async fn dispatch_inbound(&self, id: InboundId, dispatch: Dispatch, now: EpochMs) -> StoreResult<()> {
        let now_ms = now.as_millis();
        let to = dispatch.status();
        let work = move |conn: &Connection| {
            let done = execute(
                conn,
                "UPDATE inbox SET status = ?2, updated_at_ms = ?3 WHERE id = ?1 AND status = 'received'",
                params![id, to.as_str(), now_ms],
            )?;
            if done == 1 {
                return Ok(());
            }
            // Routing the same way twice (e.g. after a restart) is not an error.
            match status_of(conn, id)? {
                Some(current) if current == to => Ok(()),
                _ => Err(transition_error(conn, id, to)?),
            }
        };
        match dispatch {
            // Lost to a power cut, the message is still `received` and is decided again
            // the same way; nothing was sent for it yet.
            Dispatch::Queue | Dispatch::Ignore => self.write_one_relaxed(work).await,
            // Answered on the spot: the answer was sent, so this must stick.
            Dispatch::Replied | Dispatch::Failed => self.write_one(work).await,
        }
    }

    async fn claim_next_turn(
        &self,
        scope: ClaimScope<'_>,
        worker: &WorkerId,
        lease_ms: i64,
        now: EpochMs,
    ) -> StoreResult<Option<StoredInbound>> {
        let now_ms = now.as_millis();
        positive("lease_ms", lease_ms)?;
        let worker = worker.clone();
        let session = match scope {
            ClaimScope::Session(key) => Some(key.to_owned()),
            ClaimScope::Any => None,
        };
        // A claim lost to a power cut leaves the turn queued: it is claimed again.
        self.write_one_relaxed(move |conn| {
            let expires = now_ms.saturating_add(lease_ms);
            match &session {
                Some(session) => query_opt(
                    conn,
                    CLAIM_SESSION,
                    params![worker.instance, worker.incarnation, expires, now_ms, session],
                    |row| inbound(row),
                ),
                None => query_opt(
                    conn,
                    CLAIM_ANY,
                    params![worker.instance, worker.incarnation, expires, now_ms],
                    |row| inbound(row),
                ),
            }
        })
        .await
    }

    async fn renew_lease(
        &self,
        id: InboundId,
        worker: &WorkerId,
        lease_ms: i64,
        now: EpochMs,
    ) -> StoreResult<()> {
        let now_ms = now.as_millis();
        positive("lease_ms", lease_ms)?;
        let worker = worker.clone();
        // A lost renewal only shortens the lease; the next one renews it again.
        self.write_one_relaxed(move |conn| {
            let done = execute(
                conn,
                "UPDATE inbox SET lease_expires_at_ms = ?2, updated_at_ms = ?3 \
                 WHERE id = ?1 AND status = 'running' AND lease_owner = ?4 AND lease_incarnation = ?5",
                params![
                    id,
                    now_ms.saturating_add(lease_ms),
                    now_ms,
                    worker.instance,
                    worker.incarnation
                ],
            )?;
            lease_held(done, id)
        })
        .await
    }

    async fn finish_turn(
        &self,
        id: InboundId,
        worker: &WorkerId,
        outcome: TurnOutcome,
        now: EpochMs,
    ) -> StoreResult<()> {
        let now_ms = now.as_millis();
        let worker = worker.clone();
        // Lost to a power cut, the turn is recovered, finds its reply sent, and finishes again.
        self.write_one_relaxed(move |conn| {
            let error = match &outcome {
                TurnOutcome::Failed(reason) => Some(reason.as_str()),
                _ => None,
            };
            // The lease owner stays on the row (who ran it); clearing the expiry ends it.
            let done = execute(
                conn,
                "UPDATE inbox SET status = ?2, error = ?3, lease_expires_at_ms = NULL, updated_at_ms = ?4 \
                 WHERE id = ?1 AND status = 'running' AND lease_owner = ?5 AND lease_incarnation = ?6",
                params![
                    id,
                    outcome.status().as_str(),
                    error,
                    now_ms,
                    worker.instance,
                    worker.incarnation
                ],
            )?;
            lease_held(done, id)
        })
        .await
    }

    async fn cancel_running(
        &self,
        session_key: &str,
        scope: CancelScope,
        now: EpochMs,
    ) -> StoreResult<Vec<InboundId>> {
        let now_ms = now.as_millis();
        let session_key = session_key.to_owned();
        self.write(move |conn| {
            let sql = match scope {
                CancelScope::Running => cancel_sql!("status = 'running'"),
                CancelScope::RunningAndQueued => cancel_sql!("(status = 'running' OR status = 'queued')"),
            };
            let mut ids: Vec<i64> = query_all(conn, sql, params![session_key, now_ms], |row| row.int("id"))?;
            ids.sort_unstable();
            // What was planned but not yet sent stays unsent: the user said stop.
            for id in &ids {
                execute(
                    conn,
                    "UPDATE outbox SET status = 'failed', last_error = 'cancelled', \
                         lease_expires_at_ms = NULL, updated_at_ms = ?2 \
                     WHERE inbound_id = ?1 AND status = 'planned'",
                    params![id, now_ms],
                )?;
            }
            Ok(ids)
        })
        .await
    }

    async fn recover_unfinished(&self, me: &WorkerId, now: EpochMs) -> StoreResult<Vec<StoredInbound>> {
        let now_ms = now.as_millis();
        let me = me.clone();
        // Two updates: needs the savepoint of `write`.
        self.write(move |conn| {
            execute(
                conn,
                "UPDATE inbox SET status = 'queued', lease_expires_at_ms = NULL, updated_at_ms = ?1 \
                 WHERE status = 'running' \
                   AND (lease_expires_at_ms IS NULL OR lease_expires_at_ms <= ?1 \
                        OR (lease_owner = ?2 AND lease_incarnation IS NOT ?3))",
                params![now_ms, me.instance, me.incarnation],
            )?;
            // Reply parts a previous incarnation planned but did not send: free them too,
            // so the resumed turn sends them now instead of after the dead lease lapses.
            execute(
                conn,
                "UPDATE outbox SET lease_expires_at_ms = NULL, updated_at_ms = ?1 \
                 WHERE status = 'planned' AND lease_expires_at_ms IS NOT NULL \
                   AND lease_owner = ?2 AND lease_incarnation IS NOT ?3",
                params![now_ms, me.instance, me.incarnation],
            )?;
            let sql: &str = concat!(
                "SELECT ",
                inbox_columns!(),
                " FROM inbox \
                 WHERE (status = 'received' OR status = 'queued' OR status = 'running') \
                   AND status IN ('received', 'queued') \
                 ORDER BY id"
            );
            query_all(conn, sql, [], |row| inbound(row))
        })
        .await
    }

    async fn undecided_before(
        &self,
        received_before: EpochMs,
        limit: u32,
    ) -> StoreResult<Vec<StoredInbound>> {
        let received_before_ms = received_before.as_millis();
        self.read(move |conn| {
            let sql: &str = concat!(
                "SELECT ",
                inbox_columns!(),
                " FROM inbox \
                 WHERE status = 'received' \
                   AND received_at_ms < ?1 \
                 ORDER BY id LIMIT ?2"
            );
            query_all(conn, sql, params![received_before_ms, i64::from(limit)], |row| {
                inbound(row)
            })
        })
        .await
    }

    async fn inbound(&self, id: InboundId) -> StoreResult<Option<StoredInbound>> {
        self.read(move |conn| {
            let sql: &str = concat!("SELECT ", inbox_columns!(), " FROM inbox WHERE id = ?1");
            query_opt(conn, sql, [id], |row| inbound(row))
        })
        .await
    }

    async fn purge_finished(&self, before: EpochMs) -> StoreResult<u64> {
        let before_ms = before.as_millis();
        let mut total = 0;
        loop {
            let deleted = self
                .write_one(move |conn| {
                    // One statement: the cascade to the outbox is part of it.
                    execute(
                        conn,
                        "DELETE FROM inbox WHERE id IN ( \
                             SELECT id FROM inbox \
                             WHERE updated_at_ms < ?1 \
                               AND status IN ('replied', 'failed', 'cancelled', 'ignored') \
                               AND NOT EXISTS (SELECT 1 FROM outbox \
                                   WHERE outbox.inbound_id = inbox.id AND outbox.status = 'planned') \
                             LIMIT ?2)",
                        params![before_ms, PURGE_CHUNK],
                    )
                })
                .await?;
            let deleted = deleted as u64;
            total += deleted;
            if deleted < PURGE_CHUNK.unsigned_abs() {
                return Ok(total);
            }
        }
    }
}
