//! AI cards on SQLite.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;
use rusqlite::params;

use super::SqliteStore;
use super::sql::{execute, query_all, query_opt};
use crate::decode::{card, card_columns};
use crate::error::StoreError;
use crate::model::{CardRecord, CardStatus, InboundId, NewCard};
use crate::{CardStore, StoreResult};

fn not_found(out_track_id: String) -> StoreError {
    StoreError::NotFound {
        what: "card",
        id: out_track_id,
    }
}

#[async_trait]
impl CardStore for SqliteStore {
    async fn card_open(&self, card: NewCard, now: EpochMs) -> StoreResult<()> {
        let now_ms = now.as_millis();
        self.write_one(move |conn| {
            // A retried create reuses the row: the id is ours and the card is the same.
            execute(
                conn,
                "INSERT INTO cards (out_track_id, account_id, inbound_id, session_key, conversation_id, \
                 created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
                 ON CONFLICT (out_track_id) DO NOTHING",
                params![
                    card.out_track_id,
                    card.account_id.as_str(),
                    card.inbound_id,
                    card.session_key,
                    card.conversation_id,
                    now_ms
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn card_progress(&self, out_track_id: &str, content: &str, now: EpochMs) -> StoreResult<()> {
        let now_ms = now.as_millis();
        let (id, content) = (out_track_id.to_owned(), content.to_owned());
        self.write_one(move |conn| {
            let done = execute(
                conn,
                "UPDATE cards SET content = ?2, updated_at_ms = ?3 WHERE out_track_id = ?1",
                params![id, content, now_ms],
            )?;
            if done == 0 {
                return Err(not_found(id));
            }
            Ok(())
        })
        .await
    }

    async fn card_close(
        &self,
        out_track_id: &str,
        status: CardStatus,
        content: &str,
        now: EpochMs,
    ) -> StoreResult<()> {
        let now_ms = now.as_millis();
        let (id, content) = (out_track_id.to_owned(), content.to_owned());
        self.write_one(move |conn| {
            let done = execute(
                conn,
                "UPDATE cards SET status = ?2, content = ?3, updated_at_ms = ?4 WHERE out_track_id = ?1",
                params![id, status.as_str(), content, now_ms],
            )?;
            if done == 0 {
                return Err(not_found(id));
            }
            Ok(())
        })
        .await
    }

    async fn card(&self, out_track_id: &str) -> StoreResult<Option<CardRecord>> {
        let id = out_track_id.to_owned();
        self.read(move |conn| {
            let sql: &str = concat!("SELECT ", card_columns!(), " FROM cards WHERE out_track_id = ?1");
            query_opt(conn, sql, [&id], |row| card(row))
        })
        .await
    }

    async fn cards_open(&self, account_id: Option<&str>) -> StoreResult<Vec<CardRecord>> {
        let account = account_id.map(str::to_owned);
        self.read(move |conn| {
            let sql: &str = concat!(
                "SELECT ",
                card_columns!(),
                " FROM cards WHERE status = 'open' AND (?1 IS NULL OR account_id = ?1) \
                 ORDER BY created_at_ms, out_track_id"
            );
            query_all(conn, sql, [&account], |row| card(row))
        })
        .await
    }

    async fn cards_open_for(&self, inbound_id: InboundId) -> StoreResult<Vec<CardRecord>> {
        self.read(move |conn| {
            // `status = 'open'` lets the partial index `cards_open` narrow the scan to open cards.
            let sql: &str = concat!(
                "SELECT ",
                card_columns!(),
                " FROM cards WHERE status = 'open' AND inbound_id = ?1 \
                 ORDER BY created_at_ms, out_track_id"
            );
            query_all(conn, sql, [inbound_id], |row| card(row))
        })
        .await
    }
}
