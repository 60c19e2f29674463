//! Sessions and transcripts on PostgreSQL.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;
use sqlx::PgConnection;

use super::PgStore;
use crate::decode::{session, session_columns, transcript_entry};
use crate::error::StoreError;
use crate::model::{NewGeneration, NewTranscriptEntry, OpenedSession, Session, SessionId, TranscriptEntry};
use crate::rules::needs_new_generation;
use crate::{SessionStore, StoreResult};

/// The session for `key`, locked until the transaction ends, so two replicas opening it at
/// once apply their generation rules one after the other.
async fn lock_by_key(conn: &mut PgConnection, key: &str) -> Result<Option<Session>, StoreError> {
    let sql = concat!(
        "SELECT ",
        session_columns!(),
        " FROM sessions WHERE session_key = $1 FOR UPDATE"
    );
    let row = sqlx::query(sql).bind(key).fetch_optional(&mut *conn).await?;
    row.as_ref().map(session).transpose()
}

#[async_trait]
impl SessionStore for PgStore {
    async fn session_get_or_create(
        &self,
        key: &str,
        agent_id: &str,
        now: EpochMs,
        idle_reset_ms: Option<i64>,
    ) -> StoreResult<OpenedSession> {
        let now_ms = now.as_millis();
        let mut tx = self.pool.begin().await?;
        let existing = match lock_by_key(&mut tx, key).await? {
            Some(existing) => existing,
            None => {
                // DO NOTHING: another replica may create it between our look and our insert.
                let sql = concat!(
                    "INSERT INTO sessions (session_key, agent_id, generation, created_at_ms, \
                         generation_started_at_ms, last_active_ms) \
                     VALUES ($1, $2, 1, $3, $3, $3) ON CONFLICT (session_key) DO NOTHING \
                     RETURNING ",
                    session_columns!()
                );
                let created = sqlx::query(sql)
                    .bind(key)
                    .bind(agent_id)
                    .bind(now_ms)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(row) = created {
                    let created = session(&row)?;
                    tx.commit().await?;
                    return Ok(OpenedSession {
                        session: created,
                        new_generation: Some(NewGeneration::Created),
                    });
                }
                lock_by_key(&mut tx, key)
                    .await?
                    .ok_or_else(|| StoreError::decode("session insert conflicted but the row is missing"))?
            }
        };
        let new_generation = needs_new_generation(&existing, agent_id, now, idle_reset_ms);
        let (generation, started) = match new_generation {
            Some(_) => (existing.generation.saturating_add(1), now),
            None => (existing.generation, existing.generation_started_at_ms),
        };
        // GREATEST: a late, out-of-order call must not move activity backwards.
        let sql = concat!(
            "UPDATE sessions SET agent_id = $2, generation = $3, generation_started_at_ms = $4, \
                 last_active_ms = GREATEST(last_active_ms, $5) \
             WHERE id = $1 RETURNING ",
            session_columns!()
        );
        let row = sqlx::query(sql)
            .bind(existing.id)
            .bind(agent_id)
            .bind(i64::from(generation))
            .bind(started.as_millis())
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await?;
        let opened = session(&row)?;
        tx.commit().await?;
        Ok(OpenedSession {
            session: opened,
            new_generation,
        })
    }

    async fn session_get(&self, key: &str) -> StoreResult<Option<Session>> {
        let sql = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE session_key = $1"
        );
        let row = sqlx::query(sql).bind(key).fetch_optional(&self.pool).await?;
        row.as_ref().map(session).transpose()
    }

    async fn session_reset(&self, key: &str, now: EpochMs) -> StoreResult<Option<Session>> {
        let now_ms = now.as_millis();
        let sql = concat!(
            "UPDATE sessions SET generation = generation + 1, generation_started_at_ms = $2, \
                 last_active_ms = GREATEST(last_active_ms, $2) \
             WHERE session_key = $1 RETURNING ",
            session_columns!()
        );
        let row = sqlx::query(sql)
            .bind(key)
            .bind(now_ms)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session).transpose()
    }

    async fn session_delete(&self, key: &str) -> StoreResult<Option<Session>> {
        // The transcript goes with it (ON DELETE CASCADE).
        let sql = concat!(
            "DELETE FROM sessions WHERE session_key = $1 RETURNING ",
            session_columns!()
        );
        let row = sqlx::query(sql).bind(key).fetch_optional(&self.pool).await?;
        row.as_ref().map(session).transpose()
    }

    async fn transcript_append(
        &self,
        session_id: SessionId,
        generation: u32,
        entries: Vec<NewTranscriptEntry>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        // FOR SHARE: a concurrent `/new` waits, so the check below stays true until commit.
        let current: Option<i64> =
            sqlx::query_scalar("SELECT generation FROM sessions WHERE id = $1 FOR SHARE")
                .bind(session_id)
                .fetch_optional(&mut *tx)
                .await?;
        let current = current.ok_or_else(|| StoreError::NotFound {
            what: "session",
            id: session_id.to_string(),
        })?;
        // Appending to an older generation is allowed (a turn that straddled `/new` finishes
        // its bookkeeping); a future one would be a caller bug.
        if i64::from(generation) > current || generation == 0 {
            return Err(StoreError::Invalid(format!(
                "session {session_id} has generation {current}, cannot append to {generation}"
            )));
        }
        for entry in &entries {
            sqlx::query(
                "INSERT INTO transcript (session_id, generation, role, content_json, inbound_id, at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(session_id)
            .bind(i64::from(generation))
            .bind(entry.role.as_str())
            .bind(&entry.content_json)
            .bind(entry.inbound_id)
            .bind(entry.at_ms.as_millis())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn transcript_load(&self, session_id: SessionId, limit: u32) -> StoreResult<Vec<TranscriptEntry>> {
        // Newest `limit` of the current generation, then back to chronological order.
        let rows = sqlx::query(
            "SELECT id, generation, role, content_json, inbound_id, at_ms FROM ( \
                 SELECT t.id, t.generation, t.role, t.content_json, t.inbound_id, t.at_ms \
                 FROM transcript AS t JOIN sessions AS s \
                   ON s.id = t.session_id AND s.generation = t.generation \
                 WHERE t.session_id = $1 \
                 ORDER BY t.id DESC LIMIT $2) AS newest \
             ORDER BY id",
        )
        .bind(session_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(transcript_entry).collect()
    }

    async fn session_list(&self, limit: u32) -> StoreResult<Vec<Session>> {
        let sql = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions ORDER BY last_active_ms DESC, id DESC LIMIT $1"
        );
        let rows = sqlx::query(sql)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(session).collect()
    }

    async fn session_by_id(&self, id: SessionId) -> StoreResult<Option<Session>> {
        let sql = concat!("SELECT ", session_columns!(), " FROM sessions WHERE id = $1");
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(session).transpose()
    }
}
