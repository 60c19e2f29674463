//! Sessions and transcripts on SQLite.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::row::int;
use super::sql::{execute, query_all, query_one, query_opt, scalar_opt};
use crate::decode::{session, session_columns, transcript_entry};
use crate::error::StoreError;
use crate::model::{NewGeneration, NewTranscriptEntry, OpenedSession, Session, SessionId, TranscriptEntry};
use crate::rules::needs_new_generation;
use crate::{SessionStore, StoreResult};

fn by_key(conn: &Connection, key: &str) -> Result<Option<Session>, StoreError> {
    let sql: &str = concat!(
        "SELECT ",
        session_columns!(),
        " FROM sessions WHERE session_key = ?1"
    );
    query_opt(conn, sql, [key], |row| session(row))
}

fn get_or_create(
    conn: &Connection,
    key: &str,
    agent_id: &str,
    now: EpochMs,
    idle_reset_ms: Option<i64>,
) -> Result<OpenedSession, StoreError> {
    let now_ms = now.as_millis();
    let Some(existing) = by_key(conn, key)? else {
        let sql: &str = concat!(
            "INSERT INTO sessions (session_key, agent_id, generation, created_at_ms, \
                 generation_started_at_ms, last_active_ms) \
             VALUES (?1, ?2, 1, ?3, ?3, ?3) RETURNING ",
            session_columns!()
        );
        return Ok(OpenedSession {
            session: query_one(conn, sql, params![key, agent_id, now_ms], |row| session(row))?,
            new_generation: Some(NewGeneration::Created),
        });
    };
    let new_generation = needs_new_generation(&existing, agent_id, now, idle_reset_ms);
    let (generation, started) = match new_generation {
        Some(_) => (existing.generation.saturating_add(1), now),
        None => (existing.generation, existing.generation_started_at_ms),
    };
    // MAX: a late, out-of-order call must not move activity backwards.
    let sql: &str = concat!(
        "UPDATE sessions SET agent_id = ?2, generation = ?3, generation_started_at_ms = ?4, \
             last_active_ms = MAX(last_active_ms, ?5) \
         WHERE id = ?1 RETURNING ",
        session_columns!()
    );
    let params = params![
        existing.id,
        agent_id,
        int(generation),
        started.as_millis(),
        now_ms
    ];
    Ok(OpenedSession {
        session: query_one(conn, sql, params, |row| session(row))?,
        new_generation,
    })
}

/// Newest `limit` of the current generation, then back to chronological order.
fn history(conn: &Connection, session_id: SessionId, limit: u32) -> Result<Vec<TranscriptEntry>, StoreError> {
    query_all(
        conn,
        "SELECT id, generation, role, content_json, inbound_id, at_ms FROM ( \
             SELECT t.id, t.generation, t.role, t.content_json, t.inbound_id, t.at_ms \
             FROM transcript AS t JOIN sessions AS s \
               ON s.id = t.session_id AND s.generation = t.generation \
             WHERE t.session_id = ?1 \
             ORDER BY t.id DESC LIMIT ?2) \
         ORDER BY id",
        params![session_id, int(limit)],
        |row| transcript_entry(row),
    )
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn session_get_or_create(
        &self,
        key: &str,
        agent_id: &str,
        now: EpochMs,
        idle_reset_ms: Option<i64>,
    ) -> StoreResult<OpenedSession> {
        let key = key.to_owned();
        let agent_id = agent_id.to_owned();
        // Recomputed by the turn that needs it when a power cut loses it.
        self.write_one_relaxed(move |conn| get_or_create(conn, &key, &agent_id, now, idle_reset_ms))
            .await
    }

    async fn session_open_with_history(
        &self,
        key: &str,
        agent_id: &str,
        now: EpochMs,
        idle_reset_ms: Option<i64>,
        limit: u32,
    ) -> StoreResult<(OpenedSession, Vec<TranscriptEntry>)> {
        let key = key.to_owned();
        let agent_id = agent_id.to_owned();
        // One hand-over to the writer instead of a write and a read: a turn's start.
        self.write_one_relaxed(move |conn| {
            let opened = get_or_create(conn, &key, &agent_id, now, idle_reset_ms)?;
            let history = history(conn, opened.session.id, limit)?;
            Ok((opened, history))
        })
        .await
    }

    async fn session_get(&self, key: &str) -> StoreResult<Option<Session>> {
        let key = key.to_owned();
        self.read(move |conn| by_key(conn, &key)).await
    }

    async fn session_reset(&self, key: &str, now: EpochMs) -> StoreResult<Option<Session>> {
        let now_ms = now.as_millis();
        let key = key.to_owned();
        self.write_one(move |conn| {
            let sql: &str = concat!(
                "UPDATE sessions SET generation = generation + 1, generation_started_at_ms = ?2, \
                     last_active_ms = MAX(last_active_ms, ?2) \
                 WHERE session_key = ?1 RETURNING ",
                session_columns!()
            );
            query_opt(conn, sql, params![key, now_ms], |row| session(row))
        })
        .await
    }

    async fn session_delete(&self, key: &str) -> StoreResult<Option<Session>> {
        let key = key.to_owned();
        self.write_one(move |conn| {
            // The transcript goes with it (ON DELETE CASCADE).
            let sql: &str = concat!(
                "DELETE FROM sessions WHERE session_key = ?1 RETURNING ",
                session_columns!()
            );
            query_opt(conn, sql, [key], |row| session(row))
        })
        .await
    }

    async fn transcript_append(
        &self,
        session_id: SessionId,
        generation: u32,
        entries: Vec<NewTranscriptEntry>,
    ) -> StoreResult<()> {
        // The reply's plan, committed durably after it, makes it durable too; lost before that,
        // the turn runs again and appends it again.
        self.write_relaxed(move |conn| {
            let current: Option<i64> = scalar_opt(
                conn,
                "SELECT generation FROM sessions WHERE id = ?1",
                [session_id],
            )?;
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
                execute(
                    conn,
                    "INSERT INTO transcript (session_id, generation, role, content_json, inbound_id, at_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        session_id,
                        int(generation),
                        entry.role.as_str(),
                        entry.content_json,
                        entry.inbound_id,
                        entry.at_ms.as_millis()
                    ],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn transcript_load(&self, session_id: SessionId, limit: u32) -> StoreResult<Vec<TranscriptEntry>> {
        self.read(move |conn| history(conn, session_id, limit)).await
    }

    async fn session_list(&self, limit: u32) -> StoreResult<Vec<Session>> {
        self.read(move |conn| {
            let sql: &str = concat!(
                "SELECT ",
                session_columns!(),
                " FROM sessions ORDER BY last_active_ms DESC, id DESC LIMIT ?1"
            );
            query_all(conn, sql, [int(limit)], |row| session(row))
        })
        .await
    }

    async fn session_by_id(&self, id: SessionId) -> StoreResult<Option<Session>> {
        self.read(move |conn| {
            let sql: &str = concat!("SELECT ", session_columns!(), " FROM sessions WHERE id = ?1");
            query_opt(conn, sql, [id], |row| session(row))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> EpochMs {
        EpochMs::from_millis(ms)
    }

    fn session(agent: &str, last_active_ms: i64) -> Session {
        Session {
            id: 1,
            key: "k".into(),
            agent_id: agent.into(),
            generation: 1,
            generation_started_at_ms: at(0),
            last_active_ms: at(last_active_ms),
        }
    }

    #[test]
    fn generation_rules() {
        let s = session("a", 1_000);
        assert_eq!(
            needs_new_generation(&s, "a", at(1_000 + 1_800_000), Some(1_800_000)),
            None
        );
        assert_eq!(
            needs_new_generation(&s, "a", at(1_001 + 1_800_000), Some(1_800_000)),
            Some(NewGeneration::IdleReset)
        );
        assert_eq!(needs_new_generation(&s, "a", at(i64::MAX), None), None);
        assert_eq!(
            needs_new_generation(&s, "b", at(1_000), None),
            Some(NewGeneration::AgentChanged)
        );
        // A clock that went backwards is not idleness.
        assert_eq!(needs_new_generation(&s, "a", at(0), Some(10)), None);
    }
}
