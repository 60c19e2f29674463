//! Memories on PostgreSQL: `strpos` finds the candidates holding a query term (Chinese
//! included, whatever the database's locale), pg_trgm's word similarity adds the ones an
//! English query only nearly matches (typos), and `rules::memory` ranks them.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;
use sqlx::Row;

use super::PgStore;
use crate::decode::Columns;
use crate::memory_rows::{memory_columns, memory_record, owner_keys};
use crate::model::{
    FileMemory, IndexedFile, MemoryFilter, MemoryHit, MemoryId, MemoryQuery, MemoryRecord, MemoryScope,
    MemorySource, MemorySubject, NewMemory, SavedMemory,
};
use crate::rules::memory::{best, candidate_limit, file_rows, normalize_text, rank, search_terms, text_hash};
use crate::{MemoryStore, StoreError, StoreResult};

/// pg_trgm word similarity from which a memory without any query term is still a candidate.
const FUZZY_THRESHOLD: f32 = 0.5;

fn agent_scope_refused() -> StoreError {
    StoreError::Invalid(
        "agent-wide memories come from the workspace's MEMORY.md and memory/ files; edit those".into(),
    )
}

#[async_trait]
impl MemoryStore for PgStore {
    async fn memory_save(&self, memory: NewMemory, now: EpochMs) -> StoreResult<SavedMemory> {
        if memory.owner.scope == MemoryScope::Agent {
            return Err(agent_scope_refused());
        }
        let text = normalize_text(&memory.text)?;
        let hash = text_hash(&text);
        // `xmax = 0` on the returned row: it was inserted, not updated by the conflict arm.
        let sql = concat!(
            "INSERT INTO memories (agent_id, scope, subject, text, text_hash, source, created_by, \
             created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, 'tool', $6, $7, $7) \
             ON CONFLICT (agent_id, scope, subject, path, text_hash) \
             DO UPDATE SET updated_at_ms = EXCLUDED.updated_at_ms RETURNING (xmax = 0) AS inserted, ",
            memory_columns!()
        );
        let row = sqlx::query(sql)
            .bind(&memory.agent_id)
            .bind(memory.owner.scope.as_str())
            .bind(&memory.owner.subject)
            .bind(&text)
            .bind(&hash)
            .bind(&memory.created_by)
            .bind(now.as_millis())
            .fetch_one(&self.pool)
            .await?;
        let created: bool = row
            .try_get("inserted")
            .map_err(|e| StoreError::decode(format!("column inserted: {e}")))?;
        Ok(SavedMemory {
            record: memory_record(&row)?,
            created,
        })
    }

    async fn memory_search(&self, query: &MemoryQuery) -> StoreResult<Vec<MemoryHit>> {
        let terms = search_terms(&query.text);
        let owners = owner_keys(&query.visible);
        if terms.is_empty() {
            let sql = concat!(
                "SELECT ",
                memory_columns!(),
                " FROM memories m WHERE m.agent_id = $1 AND (m.scope || chr(31) || m.subject) = ANY($2) \
                 ORDER BY m.updated_at_ms DESC, m.id DESC LIMIT $3"
            );
            let rows = sqlx::query(sql)
                .bind(&query.agent_id)
                .bind(&owners)
                .bind(i64::from(query.limit))
                .fetch_all(&self.pool)
                .await?;
            return rows
                .iter()
                .map(|row| {
                    Ok(MemoryHit {
                        record: memory_record(row)?,
                        score: 0.0,
                    })
                })
                .collect();
        }
        let sql = concat!(
            "SELECT memory_word_similarity($3, m.text) AS fuzzy, ",
            memory_columns!(),
            " FROM memories m WHERE m.agent_id = $1 AND (m.scope || chr(31) || m.subject) = ANY($2) \
             AND (EXISTS (SELECT 1 FROM unnest($4::text[]) t WHERE strpos(lower(m.text), t) > 0) \
                  OR memory_word_similarity($3, m.text) >= $5) \
             ORDER BY m.updated_at_ms DESC LIMIT $6"
        );
        let rows = sqlx::query(sql)
            .bind(&query.agent_id)
            .bind(&owners)
            .bind(&query.text)
            .bind(&terms)
            .bind(FUZZY_THRESHOLD)
            .bind(candidate_limit(query.limit))
            .fetch_all(&self.pool)
            .await?;
        let mut scored = Vec::with_capacity(rows.len());
        for row in &rows {
            let fuzzy: f32 = row
                .try_get("fuzzy")
                .map_err(|e| StoreError::decode(format!("column fuzzy: {e}")))?;
            let record = memory_record(row)?;
            let score = rank(&terms, &record.text, f64::from(fuzzy));
            let recency = record.updated_at_ms.as_millis();
            scored.push((record, score, recency));
        }
        Ok(best(scored, query.limit)
            .into_iter()
            .map(|(record, score)| MemoryHit { record, score })
            .collect())
    }

    async fn memory_get(&self, id: MemoryId) -> StoreResult<Option<MemoryRecord>> {
        let sql = concat!("SELECT ", memory_columns!(), " FROM memories WHERE id = $1");
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(memory_record).transpose()
    }

    async fn memory_list(&self, filter: &MemoryFilter) -> StoreResult<Vec<MemoryRecord>> {
        let sql = concat!(
            "SELECT ",
            memory_columns!(),
            " FROM memories WHERE ($1::text IS NULL OR agent_id = $1) AND ($2::text IS NULL OR scope = $2) \
             AND ($3::text IS NULL OR subject = $3) ORDER BY updated_at_ms DESC, id DESC LIMIT $4"
        );
        let rows = sqlx::query(sql)
            .bind(&filter.agent_id)
            .bind(filter.scope.map(MemoryScope::as_str))
            .bind(&filter.subject)
            .bind(i64::from(filter.limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(memory_record).collect()
    }

    async fn memory_forget(&self, id: MemoryId) -> StoreResult<Option<MemoryRecord>> {
        let sql = concat!("DELETE FROM memories WHERE id = $1 RETURNING ", memory_columns!());
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(memory_record).transpose()
    }

    async fn memory_forget_owner(&self, agent_id: &str, owner: &MemorySubject) -> StoreResult<u64> {
        if owner.scope == MemoryScope::Agent {
            return Err(agent_scope_refused());
        }
        let done = sqlx::query("DELETE FROM memories WHERE agent_id = $1 AND scope = $2 AND subject = $3")
            .bind(agent_id)
            .bind(owner.scope.as_str())
            .bind(&owner.subject)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn memory_files(&self, agent_id: &str) -> StoreResult<Vec<IndexedFile>> {
        let rows =
            sqlx::query("SELECT path, modified_ms FROM memory_files WHERE agent_id = $1 ORDER BY path")
                .bind(agent_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                Ok(IndexedFile {
                    path: row.text("path")?,
                    modified_ms: row.at("modified_ms")?,
                })
            })
            .collect()
    }

    async fn memory_index_file(
        &self,
        agent_id: &str,
        file: &IndexedFile,
        source: MemorySource,
        entries: Vec<FileMemory>,
        now: EpochMs,
    ) -> StoreResult<()> {
        let now_ms = now.as_millis();
        let mut tx = self.pool.begin().await?;
        // Two replicas indexing the same file at once: the second waits here for the first.
        sqlx::query(
            "INSERT INTO memory_files (agent_id, path, modified_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (agent_id, path) DO UPDATE SET modified_ms = EXCLUDED.modified_ms",
        )
        .bind(agent_id)
        .bind(&file.path)
        .bind(file.modified_ms.as_millis())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM memories WHERE agent_id = $1 AND path = $2")
            .bind(agent_id)
            .bind(&file.path)
            .execute(&mut *tx)
            .await?;
        for (text, hash, entry) in file_rows(entries) {
            sqlx::query(
                "INSERT INTO memories (agent_id, scope, subject, text, text_hash, source, path, \
                 line_start, line_end, created_at_ms, updated_at_ms) \
                 VALUES ($1, 'agent', '', $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT DO NOTHING",
            )
            .bind(agent_id)
            .bind(text)
            .bind(hash)
            .bind(source.as_str())
            .bind(&file.path)
            .bind(i64::from(entry.line_start))
            .bind(i64::from(entry.line_end))
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn memory_drop_file(&self, agent_id: &str, path: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for sql in [
            "DELETE FROM memory_files WHERE agent_id = $1 AND path = $2",
            "DELETE FROM memories WHERE agent_id = $1 AND path = $2",
        ] {
            sqlx::query(sql)
                .bind(agent_id)
                .bind(path)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
