//! Outbox (reply parts) on SQLite.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::row::int;
use super::sql::{execute, query_all, query_opt, scalar_opt};
use crate::decode::{Columns, outbox_columns, reply_part};
use crate::error::StoreError;
use crate::model::{InboundId, NewReplyPart, OutboxPart, ReplyPartId, SendReceipt, WorkerId};
use crate::rules::{distinct_parts, idempotency_key, may_plan};
use crate::{OutboxStore, StoreResult};
use clawtalk_core::reply::ReplyPart;

fn parts_of(conn: &Connection, inbound_id: InboundId) -> Result<Vec<OutboxPart>, StoreError> {
    let sql: &str = concat!(
        "SELECT ",
        outbox_columns!(),
        " FROM outbox WHERE inbound_id = ?1 ORDER BY part"
    );
    query_all(conn, sql, [inbound_id], |row| reply_part(row))
}

fn exists(conn: &Connection, id: ReplyPartId) -> Result<(), StoreError> {
    let found: Option<i64> = scalar_opt(conn, "SELECT id FROM outbox WHERE id = ?1", [id])?;
    found.map(drop).ok_or_else(|| StoreError::NotFound {
        what: "reply part",
        id: id.to_string(),
    })
}

/// Runs `sql`, an update of part `id` to another status (`?1` the id, `?2` now), and says how
/// many rows moved; none is fine for a part that exists (it was past that status already).
/// Waited for, unlike the sent mark: a request must not leave before its mark is written.
async fn move_part(
    store: &SqliteStore,
    sql: &'static str,
    id: ReplyPartId,
    now: EpochMs,
) -> StoreResult<usize> {
    let now_ms = now.as_millis();
    store
        .write_one(move |conn| {
            let done = execute(conn, sql, params![id, now_ms])?;
            if done == 0 {
                exists(conn, id)?;
            }
            Ok(done)
        })
        .await
}

#[async_trait]
impl OutboxStore for SqliteStore {
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
        let worker = worker.clone();
        self.write(move |conn| {
            let message = query_opt(
                conn,
                "SELECT robot_code, msg_id, status, lease_owner, lease_incarnation \
                 FROM inbox WHERE id = ?1",
                [inbound_id],
                |row| {
                    Ok((
                        row.text("robot_code")?,
                        row.text("msg_id")?,
                        row.text("status")?,
                        row.text_opt("lease_owner")?,
                        row.text_opt("lease_incarnation")?,
                    ))
                },
            )?;
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
                &worker,
            )?;
            for part in &parts {
                // First plan wins: a resumed turn sends what was planned before the
                // crash, not a second, different answer.
                execute(
                    conn,
                    "INSERT INTO outbox (inbound_id, part, idempotency_key, kind, body_json, \
                         created_at_ms, updated_at_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
                     ON CONFLICT (inbound_id, part) DO NOTHING",
                    params![
                        inbound_id,
                        int(part.part),
                        idempotency_key(&robot_code, &msg_id, part.part),
                        part.body.kind(),
                        part.body.encode(),
                        now_ms
                    ],
                )?;
            }
            execute(
                conn,
                "UPDATE outbox SET lease_owner = ?2, lease_incarnation = ?3, lease_expires_at_ms = ?4 \
                 WHERE inbound_id = ?1 AND status = 'planned' \
                   AND (lease_expires_at_ms IS NULL OR lease_expires_at_ms <= ?5 \
                        OR (lease_owner = ?2 AND lease_incarnation = ?3))",
                params![
                    inbound_id,
                    worker.instance,
                    worker.incarnation,
                    now_ms.saturating_add(lease_ms),
                    now_ms
                ],
            )?;
            parts_of(conn, inbound_id)
        })
        .await
    }

    async fn record_reply_step(&self, id: ReplyPartId, body: &ReplyPart, now: EpochMs) -> StoreResult<()> {
        let now_ms = now.as_millis();
        let (kind, body_json) = (body.kind(), body.encode());
        self.write_one(move |conn| {
            let done = execute(
                conn,
                "UPDATE outbox SET kind = ?2, body_json = ?3, updated_at_ms = ?4 \
                 WHERE id = ?1 AND status = 'planned'",
                params![id, kind, body_json, now_ms],
            )?;
            if done == 0 {
                exists(conn, id)?;
            }
            Ok(())
        })
        .await
    }

    async fn mark_reply_handed(&self, id: ReplyPartId, now: EpochMs) -> StoreResult<bool> {
        let sql = "UPDATE outbox SET status = 'handed', updated_at_ms = ?2 \
                   WHERE id = ?1 AND (status = 'planned' OR status = 'handed')";
        Ok(move_part(self, sql, id, now).await? > 0)
    }

    async fn mark_reply_not_taken(&self, id: ReplyPartId, now: EpochMs) -> StoreResult<()> {
        let sql = "UPDATE outbox SET status = 'planned', updated_at_ms = ?2 \
                   WHERE id = ?1 AND status = 'handed'";
        move_part(self, sql, id, now).await.map(drop)
    }

    async fn mark_reply_sent(&self, id: ReplyPartId, receipt: SendReceipt, now: EpochMs) -> StoreResult<()> {
        let now_ms = now.as_millis();
        // Flushed soon, not waited for: a power cut before the flush loses the mark and the
        // part is sent again after the restart, the same duplicate a cut during the send's
        // round trip already risks, for a few milliseconds more. Waiting put a third flush in
        // every message's path: the next message's inbox row queued behind it.
        self.write_one_soon(move |conn| {
            // `status <> 'sent'` keeps the first receipt when a mark is repeated.
            let done = execute(
                conn,
                "UPDATE outbox SET status = 'sent', sent_at_ms = ?2, process_query_key = ?3, \
                     response_json = ?4, lease_expires_at_ms = NULL, updated_at_ms = ?2 \
                 WHERE id = ?1 AND status <> 'sent'",
                params![id, now_ms, receipt.process_query_key, receipt.response_json],
            )?;
            if done == 0 {
                exists(conn, id)?;
            }
            Ok(())
        })
        .await
    }

    async fn mark_reply_failed(
        &self,
        id: ReplyPartId,
        error: &str,
        permanent: bool,
        now: EpochMs,
    ) -> StoreResult<()> {
        let now_ms = now.as_millis();
        let error = error.to_owned();
        self.write_one(move |conn| {
            // A retryable failure keeps the lease: the sender retries within it, and once
            // it lapses `claim_unsent_replies` hands the part to someone else.
            let done = execute(
                conn,
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, updated_at_ms = ?3, \
                     status = CASE WHEN ?4 THEN 'failed' ELSE status END, \
                     lease_expires_at_ms = CASE WHEN ?4 THEN NULL ELSE lease_expires_at_ms END \
                 WHERE id = ?1 AND status = 'planned'",
                params![id, error, now_ms, permanent],
            )?;
            if done == 0 {
                // Already sent or failed: the first final state stands.
                exists(conn, id)?;
            }
            Ok(())
        })
        .await
    }

    async fn reply_parts(&self, inbound_id: InboundId) -> StoreResult<Vec<OutboxPart>> {
        self.read(move |conn| parts_of(conn, inbound_id)).await
    }

    async fn claim_unsent_replies(
        &self,
        worker: &WorkerId,
        lease_ms: i64,
        limit: u32,
        now: EpochMs,
    ) -> StoreResult<Vec<OutboxPart>> {
        let now_ms = now.as_millis();
        let worker = worker.clone();
        self.write_one(move |conn| {
            // Parts of a turn that is still running under a live lease belong to that
            // turn's worker, even if the part's own lease lapsed.
            let sql: &str = concat!(
                "UPDATE outbox SET lease_owner = ?1, lease_incarnation = ?2, lease_expires_at_ms = ?3 \
                 WHERE id IN ( \
                     SELECT o.id FROM outbox AS o \
                     WHERE o.status = 'planned' \
                       AND (o.lease_expires_at_ms IS NULL OR o.lease_expires_at_ms <= ?4) \
                       AND NOT EXISTS ( \
                           SELECT 1 FROM inbox AS i WHERE i.id = o.inbound_id \
                             AND i.status = 'running' AND i.lease_expires_at_ms > ?4) \
                     ORDER BY o.id LIMIT ?5) \
                 RETURNING ",
                outbox_columns!()
            );
            let params = params![
                worker.instance,
                worker.incarnation,
                now_ms.saturating_add(lease_ms),
                now_ms,
                int(limit)
            ];
            let mut parts = query_all(conn, sql, params, |row| reply_part(row))?;
            parts.sort_by_key(|p| (p.inbound_id, p.part));
            Ok(parts)
        })
        .await
    }
}
