//! Used HTTP-mode callback signatures on SQLite: the claim is one write job, so processes
//! sharing the file see each other's pairs.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;
use rusqlite::params;

use super::SqliteStore;
use super::sql::{execute, scalar};
use crate::{CallbackSignStore, SignUse, StoreResult};

#[async_trait]
impl CallbackSignStore for SqliteStore {
    async fn callback_sign_use(
        &self,
        account_id: &str,
        timestamp: EpochMs,
        msg_id: &str,
        stale_before: EpochMs,
    ) -> StoreResult<SignUse> {
        let timestamp_ms = timestamp.as_millis();
        let stale_before_ms = stale_before.as_millis();
        let (account_id, msg_id) = (account_id.to_owned(), msg_id.to_owned());
        self.write(move |conn| {
            execute(
                conn,
                "DELETE FROM callback_signs WHERE timestamp_ms < ?1",
                [stale_before_ms],
            )?;
            let claimed = execute(
                conn,
                "INSERT INTO callback_signs (account_id, timestamp_ms, msg_id) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (account_id, timestamp_ms) DO NOTHING",
                params![account_id, timestamp_ms, msg_id],
            )?;
            if claimed == 1 {
                return Ok(SignUse::First);
            }
            let holder: String = scalar(
                conn,
                "SELECT msg_id FROM callback_signs WHERE account_id = ?1 AND timestamp_ms = ?2",
                params![account_id, timestamp_ms],
            )?;
            Ok(if holder == msg_id {
                SignUse::Again
            } else {
                SignUse::Taken
            })
        })
        .await
    }
}
