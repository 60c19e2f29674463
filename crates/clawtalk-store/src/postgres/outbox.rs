//! Outbox (reply parts) on PostgreSQL.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;
use sqlx::PgExecutor;

use super::PgStore;
use crate::decode::{outbox_columns, reply_part};
use crate::error::StoreError;
use crate::model::{InboundId, NewReplyPart, OutboxPart, ReplyPartId, SendReceipt, WorkerId};
use crate::rules::{distinct_parts, idempotency_key, may_plan};
use crate::{OutboxStore, StoreResult};
use clawtalk_core::reply::ReplyPart;

async fn parts_of<'e>(
    conn: impl PgExecutor<'e>,
    inbound_id: InboundId,
) -> Result<Vec<OutboxPart>, StoreError> {
    let sql = concat!(
        "SELECT ",
        outbox_columns!(),
        " FROM outbox WHERE inbound_id = $1 ORDER BY part"
    );
    let rows = sqlx::query(sql).bind(inbound_id).fetch_all(conn).await?;
    rows.iter().map(reply_part).collect()
}

async fn exists(store: &PgStore, id: ReplyPartId) -> Result<(), StoreError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM outbox WHERE id = $1")
        .bind(id)
        .fetch_optional(&store.pool)
        .await?;
    found.map(drop).ok_or_else(|| StoreError::NotFound {
        what: "reply part",
        id: id.to_string(),
    })
}

/// Runs `sql`, an update of part `id` to another status (`$1` the id, `$2` now), and says how
/// many rows moved; none is fine for a part that exists (it was past that status already).
/// On the main pool, like planning: the turn pool is kept for the writes after a send.
async fn move_part(store: &PgStore, sql: &'static str, id: ReplyPartId, now: EpochMs) -> StoreResult<u64> {
    let done = sqlx::query(sql)
        .bind(id)
        .bind(now.as_millis())
        .execute(&store.pool)
        .await?;
    if done.rows_affected() == 0 {
        exists(store, id).await?;
    }
    Ok(done.rows_affected())
}

#[async_trait]
impl OutboxStore for PgStore {
    async fn plan_reply(
        &self,
        inbound_id: InboundId,
        parts: Vec<NewReplyPart>,
        worker: &WorkerId,
        lease_ms: i64,
        now: EpochMs,
    ) -> StoreResult<Vec<OutboxPart>> {
        let now_ms = now.as_millis();
        distinct_parts(&parts)?;
        let mut tx = self.pool.begin().await?;
        // The row lock holds off a concurrent `/stop` or reclaim until these parts are in, so
        // the cancel then ends them too instead of missing them.
        let message: Option<(String, String, String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT robot_code, msg_id, status, lease_owner, lease_incarnation \
             FROM inbox WHERE id = $1 FOR UPDATE",
        )
        .bind(inbound_id)
        .fetch_optional(&mut *tx)
        .await?;
        let (robot_code, msg_id, status, owner, incarnation) =
            message.ok_or_else(|| StoreError::NotFound {
                what: "inbound message",
                id: inbound_id.to_string(),
            })?;
        may_plan(
            inbound_id,
            &status,
            owner.as_deref(),
            incarnation.as_deref(),
            worker,
        )?;
        for part in &parts {
            // First plan wins: a resumed turn sends what was planned before the crash.
            sqlx::query(
                "INSERT INTO outbox (inbound_id, part, idempotency_key, kind, body_json, \
                     created_at_ms, updated_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) \
                 ON CONFLICT (inbound_id, part) DO NOTHING",
            )
            .bind(inbound_id)
            .bind(i64::from(part.part))
            .bind(idempotency_key(&robot_code, &msg_id, part.part))
            .bind(part.body.kind())
            .bind(part.body.encode())
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE outbox SET lease_owner = $2, lease_incarnation = $3, lease_expires_at_ms = $4 \
             WHERE inbound_id = $1 AND status = 'planned' \
               AND (lease_expires_at_ms IS NULL OR lease_expires_at_ms <= $5 \
                    OR (lease_owner = $2 AND lease_incarnation = $3))",
        )
        .bind(inbound_id)
        .bind(&worker.instance)
        .bind(&worker.incarnation)
        .bind(now_ms.saturating_add(lease_ms))
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let planned = parts_of(&mut *tx, inbound_id).await?;
        tx.commit().await?;
        Ok(planned)
    }

    async fn record_reply_step(&self, id: ReplyPartId, body: &ReplyPart, now: EpochMs) -> StoreResult<()> {
        let now_ms = now.as_millis();
        let done = sqlx::query(
            "UPDATE outbox SET kind = $2, body_json = $3, updated_at_ms = $4 \
             WHERE id = $1 AND status = 'planned'",
        )
        .bind(id)
        .bind(body.kind())
        .bind(body.encode())
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            exists(self, id).await?;
        }
        Ok(())
    }

    async fn mark_reply_handed(&self, id: ReplyPartId, now: EpochMs) -> StoreResult<bool> {
        // Committed only once this process has seen the update done. A statement PostgreSQL
        // has not run yet (its backend starved of CPU, or waiting for the row's lock) still
        // runs after its client died, and on its own it would commit then: a part marked as
        // leaving by a gateway that was dead before it could send it, which everyone else
        // then takes for delivered. In a transaction, a client that dies before its COMMIT
        // leaves the part as it was.
        //
        // And acknowledged without waiting for the disk: the body leaves only once this
        // process has the COMMIT's answer, and a gateway that dies while the server flushes
        // its log leaves the part marked, committed, and never sent. `synchronous_commit = off` answers once the commit
        // is in the log's buffers, visible to every replica at once; only a crash of the
        // database server itself in the next fraction of a second would forget the mark, and
        // the part would then be sent again (PostgreSQL docs, "Asynchronous Commit").
        let mut tx = self
            .pool
            .begin_with("BEGIN; SET LOCAL synchronous_commit TO off")
            .await?;
        let moved = sqlx::query(
            "UPDATE outbox SET status = 'handed', updated_at_ms = $2 \
             WHERE id = $1 AND status IN ('planned', 'handed')",
        )
        .bind(id)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if moved == 0 {
            exists(self, id).await?;
        }
        Ok(moved > 0)
    }

    async fn mark_reply_not_taken(&self, id: ReplyPartId, now: EpochMs) -> StoreResult<()> {
        let sql = "UPDATE outbox SET status = 'planned', updated_at_ms = $2 \
                   WHERE id = $1 AND status = 'handed'";
        move_part(self, sql, id, now).await.map(drop)
    }

    async fn mark_reply_sent(&self, id: ReplyPartId, receipt: SendReceipt, now: EpochMs) -> StoreResult<()> {
        let now_ms = now.as_millis();
        // `status <> 'sent'` keeps the first receipt when a mark is repeated.
        let done = sqlx::query(
            "UPDATE outbox SET status = 'sent', sent_at_ms = $2, process_query_key = $3, \
                 response_json = $4, lease_expires_at_ms = NULL, updated_at_ms = $2 \
             WHERE id = $1 AND status <> 'sent'",
        )
        .bind(id)
        .bind(now_ms)
        .bind(receipt.process_query_key)
        .bind(receipt.response_json)
        .execute(&self.turn_pool)
        .await?;
        if done.rows_affected() == 0 {
            exists(self, id).await?;
        }
        Ok(())
    }

    async fn mark_reply_failed(
        &self,
        id: ReplyPartId,
        error: &str,
        permanent: bool,
        now: EpochMs,
    ) -> StoreResult<()> {
        let now_ms = now.as_millis();
        // A retryable failure keeps the lease: the sender retries within it, and once it
        // lapses `claim_unsent_replies` hands the part to someone else.
        let done = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, updated_at_ms = $3, \
                 status = CASE WHEN $4 THEN 'failed' ELSE status END, \
                 lease_expires_at_ms = CASE WHEN $4 THEN NULL ELSE lease_expires_at_ms END \
             WHERE id = $1 AND status = 'planned'",
        )
        .bind(id)
        .bind(error)
        .bind(now_ms)
        .bind(permanent)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            // Already sent or failed: the first final state stands.
            exists(self, id).await?;
        }
        Ok(())
    }

    async fn reply_parts(&self, inbound_id: InboundId) -> StoreResult<Vec<OutboxPart>> {
        parts_of(&self.pool, inbound_id).await
    }

    async fn claim_unsent_replies(
        &self,
        worker: &WorkerId,
        lease_ms: i64,
        limit: u32,
        now: EpochMs,
    ) -> StoreResult<Vec<OutboxPart>> {
        let now_ms = now.as_millis();
        // Parts of a turn still running under a live lease belong to that turn's worker, even
        // if the part's own lease lapsed. SKIP LOCKED: two replicas take disjoint parts.
        let sql = concat!(
            "UPDATE outbox SET lease_owner = $1, lease_incarnation = $2, lease_expires_at_ms = $3 \
             WHERE status = 'planned' AND id IN ( \
                 SELECT o.id FROM outbox AS o \
                 WHERE o.status = 'planned' \
                   AND (o.lease_expires_at_ms IS NULL OR o.lease_expires_at_ms <= $4) \
                   AND NOT EXISTS ( \
                       SELECT 1 FROM inbox AS i WHERE i.id = o.inbound_id \
                         AND i.status = 'running' AND i.lease_expires_at_ms > $4) \
                 ORDER BY o.id LIMIT $5 FOR UPDATE OF o SKIP LOCKED) \
             RETURNING ",
            outbox_columns!()
        );
        let rows = sqlx::query(sql)
            .bind(&worker.instance)
            .bind(&worker.incarnation)
            .bind(now_ms.saturating_add(lease_ms))
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let mut parts = rows.iter().map(reply_part).collect::<Result<Vec<_>, _>>()?;
        parts.sort_by_key(|p| (p.inbound_id, p.part));
        Ok(parts)
    }
}
