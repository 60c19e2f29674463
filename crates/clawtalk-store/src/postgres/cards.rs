//! AI cards on PostgreSQL.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;

use super::PgStore;
use crate::decode::{card, card_columns};
use crate::error::StoreError;
use crate::model::{CardRecord, CardStatus, InboundId, NewCard};
use crate::{CardStore, StoreResult};

fn not_found(out_track_id: &str) -> StoreError {
    StoreError::NotFound {
        what: "card",
        id: out_track_id.to_owned(),
    }
}

#[async_trait]
impl CardStore for PgStore {
    async fn card_open(&self, card: NewCard, now: EpochMs) -> StoreResult<()> {
        let now_ms = now.as_millis();
        // A retried create reuses the row: the id is ours and the card is the same.
        sqlx::query(
            "INSERT INTO cards (out_track_id, account_id, inbound_id, session_key, conversation_id, \
             created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (out_track_id) DO NOTHING",
        )
        .bind(&card.out_track_id)
        .bind(card.account_id.as_str())
        .bind(card.inbound_id)
        .bind(&card.session_key)
        .bind(&card.conversation_id)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn card_progress(&self, out_track_id: &str, content: &str, now: EpochMs) -> StoreResult<()> {
        let now_ms = now.as_millis();
        let done = sqlx::query("UPDATE cards SET content = $2, updated_at_ms = $3 WHERE out_track_id = $1")
            .bind(out_track_id)
            .bind(content)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(not_found(out_track_id));
        }
        Ok(())
    }

    async fn card_close(
        &self,
        out_track_id: &str,
        status: CardStatus,
        content: &str,
        now: EpochMs,
    ) -> StoreResult<()> {
        let now_ms = now.as_millis();
        let done = sqlx::query(
            "UPDATE cards SET status = $2, content = $3, updated_at_ms = $4 WHERE out_track_id = $1",
        )
        .bind(out_track_id)
        .bind(status.as_str())
        .bind(content)
        .bind(now_ms)
        .execute(&self.turn_pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(not_found(out_track_id));
        }
        Ok(())
    }

    async fn card(&self, out_track_id: &str) -> StoreResult<Option<CardRecord>> {
        let sql = concat!("SELECT ", card_columns!(), " FROM cards WHERE out_track_id = $1");
        let row = sqlx::query(sql)
            .bind(out_track_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(card).transpose()
    }

    async fn cards_open(&self, account_id: Option<&str>) -> StoreResult<Vec<CardRecord>> {
        let sql = concat!(
            "SELECT ",
            card_columns!(),
            " FROM cards WHERE status = 'open' AND ($1::TEXT IS NULL OR account_id = $1) \
             ORDER BY created_at_ms, out_track_id"
        );
        let rows = sqlx::query(sql).bind(account_id).fetch_all(&self.pool).await?;
        rows.iter().map(card).collect()
    }

    async fn cards_open_for(&self, inbound_id: InboundId) -> StoreResult<Vec<CardRecord>> {
        // `status = 'open'` lets the partial index `cards_open` narrow the scan to open cards.
        let sql = concat!(
            "SELECT ",
            card_columns!(),
            " FROM cards WHERE status = 'open' AND inbound_id = $1 \
             ORDER BY created_at_ms, out_track_id"
        );
        let rows = sqlx::query(sql).bind(inbound_id).fetch_all(&self.pool).await?;
        rows.iter().map(card).collect()
    }
}
