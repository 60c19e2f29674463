//! Memories on SQLite: an FTS5 table with the trigram tokenizer finds the candidates for
//! query terms of three or more characters, `instr` those of shorter ones (a trigram index
//! cannot), and `rules::memory` ranks them.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;
use rusqlite::params;

use super::SqliteStore;
use super::sql::{execute, query_all, query_one, query_opt, scalar_opt};
use crate::memory_rows::{memory_columns, memory_record, owner_keys};
use crate::model::{
    FileMemory, IndexedFile, MemoryFilter, MemoryHit, MemoryId, MemoryQuery, MemoryRecord, MemoryScope,
    MemorySource, MemorySubject, NewMemory, SavedMemory,
};
use crate::rules::memory::{best, candidate_limit, file_rows, normalize_text, rank, search_terms, text_hash};
use crate::{MemoryStore, StoreError, StoreResult};

/// Where the visible owners and the agent are checked; `?1` agent, `?2` owners (JSON).
macro_rules! visible {
    () => {
        "m.agent_id = ?1 AND (m.scope || char(31) || m.subject) IN (SELECT value FROM json_each(?2))"
    };
}

/// An FTS5 query matching any of `terms` as a substring: each a quoted string.
fn fts_query(terms: &[&String]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// A JSON array of strings, for `json_each`.
fn json<S: AsRef<str>>(values: &[S]) -> String {
    serde_json::Value::from(values.iter().map(AsRef::as_ref).collect::<Vec<_>>()).to_string()
}

#[async_trait]
impl MemoryStore for SqliteStore {
    async fn memory_save(&self, memory: NewMemory, now: EpochMs) -> StoreResult<SavedMemory> {
        if memory.owner.scope == MemoryScope::Agent {
            return Err(StoreError::Invalid(
                "agent-wide memories come from the workspace's MEMORY.md and memory/ files; edit those"
                    .into(),
            ));
        }
        let text = normalize_text(&memory.text)?;
        let hash = text_hash(&text);
        let now_ms = now.as_millis();
        self.write(move |conn| {
            let owner = &memory.owner;
            let existing: Option<i64> = scalar_opt(
                conn,
                "SELECT id FROM memories WHERE agent_id = ?1 AND scope = ?2 AND subject = ?3 \
                 AND path = '' AND text_hash = ?4",
                params![memory.agent_id, owner.scope.as_str(), owner.subject, hash],
            )?;
            if let Some(id) = existing {
                let sql: &str = concat!(
                    "UPDATE memories SET updated_at_ms = ?2 WHERE id = ?1 RETURNING ",
                    memory_columns!()
                );
                let record = query_one(conn, sql, params![id, now_ms], |row| memory_record(row))?;
                return Ok(SavedMemory {
                    record,
                    created: false,
                });
            }
            let sql: &str = concat!(
                "INSERT INTO memories (agent_id, scope, subject, text, text_hash, source, created_by, \
                 created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, 'tool', ?6, ?7, ?7) RETURNING ",
                memory_columns!()
            );
            let params = params![
                memory.agent_id,
                owner.scope.as_str(),
                owner.subject,
                text,
                hash,
                memory.created_by,
                now_ms
            ];
            let record = query_one(conn, sql, params, |row| memory_record(row))?;
            Ok(SavedMemory {
                record,
                created: true,
            })
        })
        .await
    }

    async fn memory_search(&self, query: &MemoryQuery) -> StoreResult<Vec<MemoryHit>> {
        let terms = search_terms(&query.text);
        let (agent, owners, limit) = (
            query.agent_id.clone(),
            json(&owner_keys(&query.visible)),
            query.limit,
        );
        self.read(move |conn| {
            if terms.is_empty() {
                let sql: &str = concat!(
                    "SELECT ",
                    memory_columns!(),
                    " FROM memories m WHERE ",
                    visible!(),
                    " ORDER BY m.updated_at_ms DESC, m.id DESC LIMIT ?3"
                );
                let records = query_all(conn, sql, params![agent, owners, i64::from(limit)], |row| {
                    memory_record(row)
                })?;
                return Ok(records
                    .into_iter()
                    .map(|record| MemoryHit { record, score: 0.0 })
                    .collect());
            }
            let (long, short): (Vec<&String>, Vec<&String>) =
                terms.iter().partition(|t| t.chars().count() >= 3);
            let short = json(&short);
            let candidates = if long.is_empty() {
                let sql: &str = concat!(
                    "SELECT ",
                    memory_columns!(),
                    " FROM memories m WHERE ",
                    visible!(),
                    " AND EXISTS (SELECT 1 FROM json_each(?3) t WHERE instr(lower(m.text), t.value) > 0) \
                     ORDER BY m.updated_at_ms DESC LIMIT ?4"
                );
                let params = params![agent, owners, short, candidate_limit(limit)];
                query_all(conn, sql, params, |row| memory_record(row))?
            } else {
                let sql: &str = concat!(
                    "SELECT ",
                    memory_columns!(),
                    " FROM memories m WHERE ",
                    visible!(),
                    " AND (m.id IN (SELECT rowid FROM memories_fts WHERE memories_fts MATCH ?5) \
                       OR EXISTS (SELECT 1 FROM json_each(?3) t WHERE instr(lower(m.text), t.value) > 0)) \
                     ORDER BY m.updated_at_ms DESC LIMIT ?4"
                );
                let params = params![agent, owners, short, candidate_limit(limit), fts_query(&long)];
                query_all(conn, sql, params, |row| memory_record(row))?
            };
            let scored = candidates
                .into_iter()
                .map(|record| {
                    let score = rank(&terms, &record.text, 0.0);
                    let recency = record.updated_at_ms.as_millis();
                    (record, score, recency)
                })
                .collect();
            Ok(best(scored, limit)
                .into_iter()
                .map(|(record, score)| MemoryHit { record, score })
                .collect())
        })
        .await
    }

    async fn memory_get(&self, id: MemoryId) -> StoreResult<Option<MemoryRecord>> {
        self.read(move |conn| {
            let sql: &str = concat!("SELECT ", memory_columns!(), " FROM memories WHERE id = ?1");
            query_opt(conn, sql, [id], |row| memory_record(row))
        })
        .await
    }

    async fn memory_list(&self, filter: &MemoryFilter) -> StoreResult<Vec<MemoryRecord>> {
        let filter = filter.clone();
        self.read(move |conn| {
            let sql: &str = concat!(
                "SELECT ",
                memory_columns!(),
                " FROM memories WHERE (?1 IS NULL OR agent_id = ?1) AND (?2 IS NULL OR scope = ?2) \
                 AND (?3 IS NULL OR subject = ?3) ORDER BY updated_at_ms DESC, id DESC LIMIT ?4"
            );
            let params = params![
                filter.agent_id,
                filter.scope.map(MemoryScope::as_str),
                filter.subject,
                i64::from(filter.limit)
            ];
            query_all(conn, sql, params, |row| memory_record(row))
        })
        .await
    }

    async fn memory_forget(&self, id: MemoryId) -> StoreResult<Option<MemoryRecord>> {
        self.write_one(move |conn| {
            let sql: &str = concat!("DELETE FROM memories WHERE id = ?1 RETURNING ", memory_columns!());
            query_opt(conn, sql, [id], |row| memory_record(row))
        })
        .await
    }

    async fn memory_forget_owner(&self, agent_id: &str, owner: &MemorySubject) -> StoreResult<u64> {
        if owner.scope == MemoryScope::Agent {
            return Err(StoreError::Invalid(
                "agent-wide memories come from the workspace's memory files; edit those".into(),
            ));
        }
        let (agent_id, owner) = (agent_id.to_owned(), owner.clone());
        self.write_one(move |conn| {
            let deleted = execute(
                conn,
                "DELETE FROM memories WHERE agent_id = ?1 AND scope = ?2 AND subject = ?3",
                params![agent_id, owner.scope.as_str(), owner.subject],
            )?;
            Ok(u64::try_from(deleted).unwrap_or(0))
        })
        .await
    }

    async fn memory_files(&self, agent_id: &str) -> StoreResult<Vec<IndexedFile>> {
        let agent_id = agent_id.to_owned();
        self.read(move |conn| {
            query_all(
                conn,
                "SELECT path, modified_ms FROM memory_files WHERE agent_id = ?1 ORDER BY path",
                [agent_id],
                |row| {
                    use crate::decode::Columns;
                    Ok(IndexedFile {
                        path: row.text("path")?,
                        modified_ms: row.at("modified_ms")?,
                    })
                },
            )
        })
        .await
    }

    async fn memory_index_file(
        &self,
        agent_id: &str,
        file: &IndexedFile,
        source: MemorySource,
        entries: Vec<FileMemory>,
        now: EpochMs,
    ) -> StoreResult<()> {
        let entries = file_rows(entries);
        let (agent_id, file, now_ms) = (agent_id.to_owned(), file.clone(), now.as_millis());
        self.write(move |conn| {
            execute(
                conn,
                "DELETE FROM memories WHERE agent_id = ?1 AND path = ?2",
                params![agent_id, file.path],
            )?;
            for (text, hash, entry) in entries {
                execute(
                    conn,
                    "INSERT INTO memories (agent_id, scope, subject, text, text_hash, source, path, \
                     line_start, line_end, created_at_ms, updated_at_ms) \
                     VALUES (?1, 'agent', '', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) ON CONFLICT DO NOTHING",
                    params![
                        agent_id,
                        text,
                        hash,
                        source.as_str(),
                        file.path,
                        entry.line_start,
                        entry.line_end,
                        now_ms
                    ],
                )?;
            }
            execute(
                conn,
                "INSERT INTO memory_files (agent_id, path, modified_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (agent_id, path) DO UPDATE SET modified_ms = excluded.modified_ms",
                params![agent_id, file.path, file.modified_ms.as_millis()],
            )?;
            Ok(())
        })
        .await
    }

    async fn memory_drop_file(&self, agent_id: &str, path: &str) -> StoreResult<()> {
        let (agent_id, path) = (agent_id.to_owned(), path.to_owned());
        self.write(move |conn| {
            execute(
                conn,
                "DELETE FROM memories WHERE agent_id = ?1 AND path = ?2",
                params![agent_id, path],
            )?;
            execute(
                conn,
                "DELETE FROM memory_files WHERE agent_id = ?1 AND path = ?2",
                params![agent_id, path],
            )?;
            Ok(())
        })
        .await
    }
}
