//! Used HTTP-mode callback signatures on PostgreSQL, shared by every replica.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;

use super::PgStore;
use crate::{CallbackSignStore, SignUse, StoreResult};

#[async_trait]
impl CallbackSignStore for PgStore {
    async fn callback_sign_use(
        &self,
        account_id: &str,
        timestamp: EpochMs,
        msg_id: &str,
        stale_before: EpochMs,
    ) -> StoreResult<SignUse> {
        let timestamp_ms = timestamp.as_millis();
        let stale_before_ms = stale_before.as_millis();
        sqlx::query("DELETE FROM callback_signs WHERE timestamp_ms < $1")
            .bind(stale_before_ms)
            .execute(&self.pool)
            .await?;
        // Two replicas claiming the same pair at once: the primary key makes the second
        // insert wait for the first to commit and then do nothing, so exactly one gets it.
        let claimed = sqlx::query(
            "INSERT INTO callback_signs (account_id, timestamp_ms, msg_id) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id, timestamp_ms) DO NOTHING",
        )
        .bind(account_id)
        .bind(timestamp_ms)
        .bind(msg_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if claimed == 1 {
            return Ok(SignUse::First);
        }
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT msg_id FROM callback_signs WHERE account_id = $1 AND timestamp_ms = $2",
        )
        .bind(account_id)
        .bind(timestamp_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match holder {
            Some(holder) if holder == msg_id => SignUse::Again,
            // `None`: a replica whose clock is far ahead pruned it in between; refusing is the
            // safe side.
            _ => SignUse::Taken,
        })
    }
}
