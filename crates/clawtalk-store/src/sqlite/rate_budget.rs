//! Shared send budgets on SQLite: correct across processes on one file, because the count
//! and the insert run in one write transaction (`BEGIN IMMEDIATE` holds the file's write lock).

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;
use rusqlite::params;

use super::SqliteStore;
use super::sql::{execute, query_one};
use crate::decode::Columns;
use crate::{RATE_SENDS_STALE_AFTER_MS, RateBudgetStore, StoreResult, forget_before, rate_budget_wait};

#[async_trait]
impl RateBudgetStore for SqliteStore {
    async fn rate_take(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now: EpochMs,
    ) -> StoreResult<Option<i64>> {
        let now_ms = now.as_millis();
        let key = key.to_owned();
        self.write(move |conn| {
            execute(
                conn,
                "DELETE FROM rate_sends WHERE budget_key = ?1 AND at_ms <= ?2",
                params![key, forget_before(window_ms, now_ms)],
            )?;
            let (used, oldest) = query_one(
                conn,
                "SELECT count(*) AS used, min(at_ms) AS oldest FROM rate_sends \
                 WHERE budget_key = ?1 AND at_ms > ?2",
                params![key, now_ms.saturating_sub(window_ms)],
                |row| Ok((row.int("used")?, row.int_opt("oldest")?)),
            )?;
            let wait = rate_budget_wait(used, oldest, limit, window_ms, now_ms);
            if rand::random::<u8>() == 0 {
                // Now and then, the sends of budgets nobody takes from any more go too.
                execute(
                    conn,
                    "DELETE FROM rate_sends WHERE at_ms <= ?1",
                    [now_ms.saturating_sub(RATE_SENDS_STALE_AFTER_MS)],
                )?;
            }
            if wait.is_none() {
                execute(
                    conn,
                    "INSERT INTO rate_sends (budget_key, at_ms) VALUES (?1, ?2)",
                    params![key, now_ms],
                )?;
            }
            Ok(wait)
        })
        .await
    }
}
