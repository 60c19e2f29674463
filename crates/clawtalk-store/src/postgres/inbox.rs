//! Inbox and turn queue on PostgreSQL.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;
use dingtalk::ids::StaffId;
use sqlx::PgPool;
use sqlx::postgres::PgRow;

use super::{PgStore, is_unique_violation, positive};
use crate::decode::{inbound, inbox_columns};
use crate::error::StoreError;
use crate::model::{
    CancelScope, ClaimScope, Dispatch, InboundId, InboundRecord, InboundStatus, LeaseRenewal, RecordOutcome,
    StoredInbound, TurnOutcome, WorkerId,
};
use crate::{InboxStore, StoreResult};

/// Rows deleted per purge statement, so a big purge never holds many row locks for long.
const PURGE_CHUNK: i64 = 1000;

/// How often a claim is retried after losing a race on `inbox_one_running_per_session`.
/// The claim's own conditions make that race all but impossible; the index is the guarantee.
const CLAIM_RACE_RETRIES: usize = 5;

/// Claim statements, tried in order until one takes a row: first a running turn whose lease
/// lapsed (taken over in place), then the oldest queued message of a session with no running
/// turn. `$5` is the session key for `ClaimScope::Session`.
///
/// Replicas claim concurrently: `FOR UPDATE SKIP LOCKED` lets each pass over rows another is
/// claiming, and a queued row is only a candidate while it is the oldest open row of its
/// session (no older one queued, or still undecided because the replica that stored it has
/// not queued it yet), so a replica can never start the session's next message ahead of an
/// earlier one (replies stay in order).
macro_rules! claim_sql {
    ($status:literal, $pick:expr) => {
        concat!(
            "UPDATE inbox SET status = 'running', attempts = attempts + 1, lease_owner = $1, \
                 lease_incarnation = $2, lease_expires_at_ms = $3, updated_at_ms = $4 \
             WHERE status = '",
            $status,
            "' AND id = (",
            $pick,
            ") RETURNING ",
            inbox_columns!()
        )
    };
}
macro_rules! reclaim_pick {
    ($session_filter:literal) => {
        concat!(
            "SELECT id FROM inbox WHERE status = 'running' AND lease_expires_at_ms <= $4 ",
            $session_filter,
            " ORDER BY lease_expires_at_ms, id LIMIT 1 FOR UPDATE SKIP LOCKED"
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
                 SELECT 1 FROM inbox AS b \
                 WHERE b.status IN ('received', 'queued', 'running') AND b.session_key = c.session_key \
                   AND (b.status = 'running' OR b.id < c.id)) \
             ORDER BY c.id LIMIT 1 FOR UPDATE OF c SKIP LOCKED"
        )
    };
}
const CLAIM_ANY: [&str; 2] = [
    claim_sql!("running", reclaim_pick!("")),
    claim_sql!("queued", queued_pick!("")),
];
const CLAIM_SESSION: [&str; 2] = [
    claim_sql!("running", reclaim_pick!("AND session_key = $5")),
    claim_sql!("queued", queued_pick!("AND c.session_key = $5")),
];

async fn status_of(pool: &PgPool, id: InboundId) -> Result<Option<InboundStatus>, StoreError> {
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM inbox WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    status.map(|s| s.parse()).transpose()
}

/// Explains why a conditional update touched no row.
async fn transition_error(pool: &PgPool, id: InboundId, to: InboundStatus) -> Result<StoreError, StoreError> {
    Ok(match status_of(pool, id).await? {
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

impl PgStore {
    /// One pass over the claim statements; `Ok(None)` when none took a row.
    async fn claim_once(
        &self,
        session: Option<&str>,
        worker: &WorkerId,
        lease_ms: i64,
        now: EpochMs,
    ) -> Result<Option<PgRow>, sqlx::Error> {
        let now_ms = now.as_millis();
        let asked = std::time::Instant::now();
        let mut conn = self.pool.acquire().await?;
        // The lease runs from the statement, not from the call: in a burst the wait for a
        // connection can take most of a lease, and a turn claimed with its lease nearly spent
        // is given up at once and claimed again (56 turns of a 3-replica 9 AM run). A wait
        // under a twentieth of the lease costs less than the tenth the turn gives up early
        // with, and is left out, so a claim's expiry is otherwise the caller's clock reading
        // plus the lease. Whether another worker's lease lapsed is still judged at that
        // reading, which can find it lapsed later than it did, never sooner.
        let waited = i64::try_from(asked.elapsed().as_millis()).unwrap_or(i64::MAX);
        let expires_ms = if waited >= lease_ms / 20 {
            now_ms.saturating_add(waited).saturating_add(lease_ms)
        } else {
            now_ms.saturating_add(lease_ms)
        };
        let statements = if session.is_some() {
            CLAIM_SESSION
        } else {
            CLAIM_ANY
        };
        for sql in statements {
            let mut query = sqlx::query(sql)
                .bind(&worker.instance)
                .bind(&worker.incarnation)
                .bind(expires_ms)
                .bind(now_ms);
            if let Some(session) = session {
                query = query.bind(session);
            }
            if let Some(row) = query.fetch_optional(&mut *conn).await? {
                return Ok(Some(row));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl InboxStore for PgStore {
    async fn record_inbound(&self, record: InboundRecord) -> StoreResult<RecordOutcome> {
        // A concurrent insert of the same key by another replica makes this one wait for its
        // commit, then do nothing; the SELECT below (a new snapshot) sees that row.
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO inbox (account_id, robot_code, msg_id, conversation_id, sender_staff_id, \
                 session_key, received_at_ms, raw_payload_json, text, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $7) \
             ON CONFLICT (robot_code, msg_id) DO NOTHING RETURNING id",
        )
        .bind(record.account_id.as_str())
        .bind(record.robot_code.as_str())
        .bind(record.msg_id.as_str())
        .bind(record.conversation_id.as_str())
        .bind(record.sender_staff_id.as_ref().map(StaffId::as_str))
        .bind(&record.session_key)
        .bind(record.received_at_ms.as_millis())
        .bind(&record.raw_payload_json)
        .bind(&record.text)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(id) = inserted {
            return Ok(RecordOutcome::New(id));
        }
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT id, status FROM inbox WHERE robot_code = $1 AND msg_id = $2")
                .bind(record.robot_code.as_str())
                .bind(record.msg_id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        let (id, status) =
            row.ok_or_else(|| StoreError::decode("insert conflicted but the existing inbox row is missing"))?;
        Ok(RecordOutcome::Duplicate {
            id,
            status: status.parse()?,
        })
    }

    async fn dispatch_inbound(&self, id: InboundId, dispatch: Dispatch, now: EpochMs) -> StoreResult<()> {
        let now_ms = now.as_millis();
        let to = dispatch.status();
        let done = sqlx::query(
            "UPDATE inbox SET status = $2, updated_at_ms = $3 WHERE id = $1 AND status = 'received'",
        )
        .bind(id)
        .bind(to.as_str())
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        // Routing the same way twice (e.g. after a restart) is not an error.
        match status_of(&self.pool, id).await? {
            Some(current) if current == to => Ok(()),
            _ => Err(transition_error(&self.pool, id, to).await?),
        }
    }

    async fn claim_next_turn(
        &self,
        scope: ClaimScope<'_>,
        worker: &WorkerId,
        lease_ms: i64,
        now: EpochMs,
    ) -> StoreResult<Option<StoredInbound>> {
        positive("lease_ms", lease_ms)?;
        let session = match scope {
            ClaimScope::Session(key) => Some(key),
            ClaimScope::Any => None,
        };
        let mut attempt = 0;
        loop {
            match self.claim_once(session, worker, lease_ms, now).await {
                Ok(claimed) => return claimed.as_ref().map(inbound).transpose(),
                // Another replica started this session's turn first: look again.
                Err(error) if is_unique_violation(&error) && attempt < CLAIM_RACE_RETRIES => attempt += 1,
                Err(error) => return Err(error.into()),
            }
        }
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
        let done = sqlx::query(
            "UPDATE inbox SET lease_expires_at_ms = $2, updated_at_ms = $3 \
             WHERE id = $1 AND status = 'running' AND lease_owner = $4 AND lease_incarnation = $5",
        )
        .bind(id)
        .bind(now_ms.saturating_add(lease_ms))
        .bind(now_ms)
        .bind(&worker.instance)
        .bind(&worker.incarnation)
        .execute(&self.turn_pool)
        .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::LeaseLost { id })
        }
    }

    async fn renew_leases(
        &self,
        ids: &[InboundId],
        worker: &WorkerId,
        lease_ms: i64,
        now: EpochMs,
    ) -> StoreResult<LeaseRenewal> {
        let now_ms = now.as_millis();
        positive("lease_ms", lease_ms)?;
        if ids.is_empty() {
            return Ok(LeaseRenewal::default());
        }
        // Rows another transaction holds locked are skipped, not waited for: a turn planning
        // its reply locks its inbox row, and on a loaded replica that transaction can stay
        // open for seconds between its statements; waited for, it held every lease of the
        // call back until they lapsed together.
        let renewed: Vec<InboundId> = sqlx::query_scalar(
            "WITH held AS ( \
                 SELECT id FROM inbox \
                 WHERE id = ANY($1) AND status = 'running' \
                   AND lease_owner = $4 AND lease_incarnation = $5 \
                 FOR NO KEY UPDATE SKIP LOCKED) \
             UPDATE inbox SET lease_expires_at_ms = $2, updated_at_ms = $3 \
             FROM held WHERE inbox.id = held.id \
             RETURNING inbox.id",
        )
        .bind(ids)
        .bind(now_ms.saturating_add(lease_ms))
        .bind(now_ms)
        .bind(&worker.instance)
        .bind(&worker.incarnation)
        .fetch_all(&self.lease_pool)
        .await?;
        let renewed: std::collections::HashSet<InboundId> = renewed.into_iter().collect();
        let missed: Vec<InboundId> = ids.iter().copied().filter(|id| !renewed.contains(id)).collect();
        if missed.is_empty() {
            return Ok(LeaseRenewal::default());
        }
        // Which of the rest are still this worker's, as last committed (a plain read takes no
        // lock, so it does not wait either).
        let still_held: std::collections::HashSet<InboundId> = sqlx::query_scalar(
            "SELECT id FROM inbox \
             WHERE id = ANY($1) AND status = 'running' AND lease_owner = $2 AND lease_incarnation = $3",
        )
        .bind(&missed)
        .bind(&worker.instance)
        .bind(&worker.incarnation)
        .fetch_all(&self.lease_pool)
        .await?
        .into_iter()
        .collect();
        let (busy, lost) = missed.into_iter().partition(|id| still_held.contains(id));
        Ok(LeaseRenewal { lost, busy })
    }

    async fn finish_turn(
        &self,
        id: InboundId,
        worker: &WorkerId,
        outcome: TurnOutcome,
        now: EpochMs,
    ) -> StoreResult<()> {
        let now_ms = now.as_millis();
        let error = match &outcome {
            TurnOutcome::Failed(reason) => Some(reason.as_str()),
            _ => None,
        };
        // The lease owner stays on the row (who ran it); clearing the expiry ends it.
        let done = sqlx::query(
            "UPDATE inbox SET status = $2, error = $3, lease_expires_at_ms = NULL, updated_at_ms = $4 \
             WHERE id = $1 AND status = 'running' AND lease_owner = $5 AND lease_incarnation = $6",
        )
        .bind(id)
        .bind(outcome.status().as_str())
        .bind(error)
        .bind(now_ms)
        .bind(&worker.instance)
        .bind(&worker.incarnation)
        .execute(&self.turn_pool)
        .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::LeaseLost { id })
        }
    }

    async fn cancel_running(
        &self,
        session_key: &str,
        scope: CancelScope,
        now: EpochMs,
    ) -> StoreResult<Vec<InboundId>> {
        let now_ms = now.as_millis();
        let statuses: &[&str] = match scope {
            CancelScope::Running => &["running"],
            CancelScope::RunningAndQueued => &["running", "queued"],
        };
        let mut tx = self.pool.begin().await?;
        let mut ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE inbox SET status = 'cancelled', lease_expires_at_ms = NULL, updated_at_ms = $2 \
             WHERE session_key = $1 AND status IN ('received', 'queued', 'running') AND status = ANY($3) \
             RETURNING id",
        )
        .bind(session_key)
        .bind(now_ms)
        .bind(statuses)
        .fetch_all(&mut *tx)
        .await?;
        ids.sort_unstable();
        // What was planned but not yet sent stays unsent: the user said stop. `plan_reply`
        // locks the inbox row, so no part can be planned for these rows after this.
        sqlx::query(
            "UPDATE outbox SET status = 'failed', last_error = 'cancelled', \
                 lease_expires_at_ms = NULL, updated_at_ms = $2 \
             WHERE inbound_id = ANY($1) AND status = 'planned'",
        )
        .bind(&ids)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ids)
    }

    async fn recover_unfinished(&self, me: &WorkerId, now: EpochMs) -> StoreResult<Vec<StoredInbound>> {
        let now_ms = now.as_millis();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE inbox SET status = 'queued', lease_expires_at_ms = NULL, updated_at_ms = $1 \
             WHERE status = 'running' \
               AND (lease_expires_at_ms IS NULL OR lease_expires_at_ms <= $1 \
                    OR (lease_owner = $2 AND lease_incarnation IS DISTINCT FROM $3))",
        )
        .bind(now_ms)
        .bind(&me.instance)
        .bind(&me.incarnation)
        .execute(&mut *tx)
        .await?;
        // Reply parts a previous incarnation planned but did not send: free them too, so the
        // resumed turn sends them now instead of after the dead lease lapses.
        sqlx::query(
            "UPDATE outbox SET lease_expires_at_ms = NULL, updated_at_ms = $1 \
             WHERE status = 'planned' AND lease_expires_at_ms IS NOT NULL \
               AND lease_owner = $2 AND lease_incarnation IS DISTINCT FROM $3",
        )
        .bind(now_ms)
        .bind(&me.instance)
        .bind(&me.incarnation)
        .execute(&mut *tx)
        .await?;
        let sql = concat!(
            "SELECT ",
            inbox_columns!(),
            " FROM inbox \
             WHERE status IN ('received', 'queued', 'running') AND status IN ('received', 'queued') \
             ORDER BY id"
        );
        let rows = sqlx::query(sql).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        rows.iter().map(inbound).collect()
    }

    async fn undecided_before(
        &self,
        received_before: EpochMs,
        limit: u32,
    ) -> StoreResult<Vec<StoredInbound>> {
        let received_before_ms = received_before.as_millis();
        let sql = concat!(
            "SELECT ",
            inbox_columns!(),
            " FROM inbox \
             WHERE status IN ('received', 'queued', 'running') AND status = 'received' \
               AND received_at_ms < $1 \
             ORDER BY id LIMIT $2"
        );
        let rows = sqlx::query(sql)
            .bind(received_before_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(inbound).collect()
    }

    async fn inbound(&self, id: InboundId) -> StoreResult<Option<StoredInbound>> {
        let sql = concat!("SELECT ", inbox_columns!(), " FROM inbox WHERE id = $1");
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(inbound).transpose()
    }

    async fn purge_finished(&self, before: EpochMs) -> StoreResult<u64> {
        let before_ms = before.as_millis();
        let mut total = 0;
        loop {
            // The cascade to the outbox is part of the statement.
            let done = sqlx::query(
                "DELETE FROM inbox WHERE id IN ( \
                     SELECT id FROM inbox \
                     WHERE updated_at_ms < $1 AND status IN ('replied', 'failed', 'cancelled', 'ignored') \
                       AND NOT EXISTS (SELECT 1 FROM outbox \
                           WHERE outbox.inbound_id = inbox.id AND outbox.status = 'planned') \
                     LIMIT $2)",
            )
            .bind(before_ms)
            .bind(PURGE_CHUNK)
            .execute(&self.pool)
            .await?;
            total += done.rows_affected();
            if done.rows_affected() < PURGE_CHUNK.unsigned_abs() {
                return Ok(total);
            }
        }
    }
}
