//! Sessions and transcripts on SQLite.

use async_trait::async_trait;
use sqlx::SqliteConnection;

use super::SqliteStore;
use super::row::int;
use crate::store::decode::{session, session_columns, transcript_entry};
use crate::store::error::StoreError;
use crate::store::model::{
    NewGeneration, NewTranscriptEntry, OpenedSession, Session, SessionId, TranscriptEntry,
};
use crate::store::{SessionStore, StoreResult};

async fn by_key(conn: &mut SqliteConnection, key: &str) -> Result<Option<Session>, StoreError> {
    let sql: &str = concat!(
        "SELECT ",
        session_columns!(),
        " FROM sessions WHERE session_key = ?1"
    );
    let row = sqlx::query(sql).bind(key).fetch_optional(&mut *conn).await?;
    row.as_ref().map(session).transpose()
}

/// Whether an existing session starts a new generation now.
pub(crate) fn needs_new_generation(
    session: &Session,
    agent_id: &str,
    now_ms: i64,
    idle_reset_ms: Option<i64>,
) -> Option<NewGeneration> {
    if session.agent_id != agent_id {
        // Another agent must not inherit this agent's history.
        Some(NewGeneration::AgentChanged)
    } else if idle_reset_ms.is_some_and(|idle| now_ms.saturating_sub(session.last_active_ms) > idle) {
        Some(NewGeneration::IdleReset)
    } else {
        None
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn session_get_or_create(
        &self,
        key: &str,
        agent_id: &str,
        now_ms: i64,
        idle_reset_ms: Option<i64>,
    ) -> StoreResult<OpenedSession> {
        let key = key.to_owned();
        let agent_id = agent_id.to_owned();
        self.write_one(move |conn| {
            Box::pin(async move {
                let Some(existing) = by_key(conn, &key).await? else {
                    let sql: &str = concat!(
                        "INSERT INTO sessions (session_key, agent_id, generation, created_at_ms, \
                             generation_started_at_ms, last_active_ms) \
                         VALUES (?1, ?2, 1, ?3, ?3, ?3) RETURNING ",
                        session_columns!()
                    );
                    let row = sqlx::query(sql)
                        .bind(&key)
                        .bind(&agent_id)
                        .bind(now_ms)
                        .fetch_one(&mut *conn)
                        .await?;
                    return Ok(OpenedSession {
                        session: session(&row)?,
                        new_generation: Some(NewGeneration::Created),
                    });
                };
                let new_generation = needs_new_generation(&existing, &agent_id, now_ms, idle_reset_ms);
                let (generation, started) = match new_generation {
                    Some(_) => (existing.generation.saturating_add(1), now_ms),
                    None => (existing.generation, existing.generation_started_at_ms),
                };
                // MAX: a late, out-of-order call must not move activity backwards.
                let sql: &str = concat!(
                    "UPDATE sessions SET agent_id = ?2, generation = ?3, generation_started_at_ms = ?4, \
                         last_active_ms = MAX(last_active_ms, ?5) \
                     WHERE id = ?1 RETURNING ",
                    session_columns!()
                );
                let row = sqlx::query(sql)
                    .bind(existing.id)
                    .bind(&agent_id)
                    .bind(int(generation))
                    .bind(started)
                    .bind(now_ms)
                    .fetch_one(&mut *conn)
                    .await?;
                Ok(OpenedSession {
                    session: session(&row)?,
                    new_generation,
                })
            })
        })
        .await
    }

    async fn session_get(&self, key: &str) -> StoreResult<Option<Session>> {
        let key = key.to_owned();
        self.read(move |conn| Box::pin(async move { by_key(conn, &key).await }))
            .await
    }

    async fn session_reset(&self, key: &str, now_ms: i64) -> StoreResult<Option<Session>> {
        let key = key.to_owned();
        self.write_one(move |conn| {
            Box::pin(async move {
                let sql: &str = concat!(
                    "UPDATE sessions SET generation = generation + 1, generation_started_at_ms = ?2, \
                         last_active_ms = MAX(last_active_ms, ?2) \
                     WHERE session_key = ?1 RETURNING ",
                    session_columns!()
                );
                let row = sqlx::query(sql)
                    .bind(&key)
                    .bind(now_ms)
                    .fetch_optional(&mut *conn)
                    .await?;
                row.as_ref().map(session).transpose()
            })
        })
        .await
    }

    async fn transcript_append(
        &self,
        session_id: SessionId,
        generation: u32,
        entries: Vec<NewTranscriptEntry>,
    ) -> StoreResult<()> {
        self.write(move |conn| {
            Box::pin(async move {
                let current: Option<i64> = sqlx::query_scalar("SELECT generation FROM sessions WHERE id = ?1")
                    .bind(session_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                let current = current.ok_or_else(|| StoreError::NotFound {
                    what: "session",
                    id: session_id.to_string(),
                })?;
                // Appending to an older generation is allowed (a turn that straddled `/new`
                // finishes its bookkeeping); a future one would be a caller bug.
                if int(generation) > current || generation == 0 {
                    return Err(StoreError::Invalid(format!(
                        "session {session_id} has generation {current}, cannot append to {generation}"
                    )));
                }
                for entry in &entries {
                    sqlx::query(
                        "INSERT INTO transcript (session_id, generation, role, content_json, inbound_id, at_ms) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )
                    .bind(session_id)
                    .bind(int(generation))
                    .bind(entry.role.as_str())
                    .bind(&entry.content_json)
                    .bind(entry.inbound_id)
                    .bind(entry.at_ms)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn transcript_load(&self, session_id: SessionId, limit: u32) -> StoreResult<Vec<TranscriptEntry>> {
        self.read(move |conn| {
            Box::pin(async move {
                // Newest `limit` of the current generation, then back to chronological order.
                let rows = sqlx::query(
                    "SELECT id, generation, role, content_json, inbound_id, at_ms FROM ( \
                         SELECT t.id, t.generation, t.role, t.content_json, t.inbound_id, t.at_ms \
                         FROM transcript AS t JOIN sessions AS s \
                           ON s.id = t.session_id AND s.generation = t.generation \
                         WHERE t.session_id = ?1 \
                         ORDER BY t.id DESC LIMIT ?2) \
                     ORDER BY id",
                )
                .bind(session_id)
                .bind(int(limit))
                .fetch_all(&mut *conn)
                .await?;
                rows.iter().map(transcript_entry).collect()
            })
        })
        .await
    }

    async fn session_list(&self, limit: u32) -> StoreResult<Vec<Session>> {
        self.read(move |conn| {
            Box::pin(async move {
                let sql: &str = concat!(
                    "SELECT ",
                    session_columns!(),
                    " FROM sessions ORDER BY last_active_ms DESC, id DESC LIMIT ?1"
                );
                let rows = sqlx::query(sql).bind(int(limit)).fetch_all(&mut *conn).await?;
                rows.iter().map(session).collect()
            })
        })
        .await
    }

    async fn session_by_id(&self, id: SessionId) -> StoreResult<Option<Session>> {
        self.read(move |conn| {
            Box::pin(async move {
                let sql: &str = concat!("SELECT ", session_columns!(), " FROM sessions WHERE id = ?1");
                let row = sqlx::query(sql).bind(id).fetch_optional(&mut *conn).await?;
                row.as_ref().map(session).transpose()
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(agent: &str, last_active_ms: i64) -> Session {
        Session {
            id: 1,
            key: "k".into(),
            agent_id: agent.into(),
            generation: 1,
            generation_started_at_ms: 0,
            last_active_ms,
        }
    }

    #[test]
    fn generation_rules() {
        let s = session("a", 1_000);
        assert_eq!(
            needs_new_generation(&s, "a", 1_000 + 1_800_000, Some(1_800_000)),
            None
        );
        assert_eq!(
            needs_new_generation(&s, "a", 1_001 + 1_800_000, Some(1_800_000)),
            Some(NewGeneration::IdleReset)
        );
        assert_eq!(needs_new_generation(&s, "a", i64::MAX, None), None);
        assert_eq!(
            needs_new_generation(&s, "b", 1_000, None),
            Some(NewGeneration::AgentChanged)
        );
        // A clock that went backwards is not idleness.
        assert_eq!(needs_new_generation(&s, "a", 0, Some(10)), None);
    }
}
