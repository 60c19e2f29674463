//! Shared send budgets on SQLite: correct across processes on one file, because the count
//! and the insert run in one write transaction (`BEGIN IMMEDIATE` holds the file's write lock).

use async_trait::async_trait;

use super::SqliteStore;
use crate::store::{
    RATE_SENDS_STALE_AFTER_MS, RateBudgetStore, StoreResult, forget_before, rate_budget_wait,
};

#[async_trait]
impl RateBudgetStore for SqliteStore {
    async fn rate_take(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Option<i64>> {
        let key = key.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query("DELETE FROM rate_sends WHERE budget_key = ?1 AND at_ms <= ?2")
                    .bind(&key)
                    .bind(forget_before(window_ms, now_ms))
                    .execute(&mut *conn)
                    .await?;
                let (used, oldest): (i64, Option<i64>) = sqlx::query_as(
                    "SELECT count(*), min(at_ms) FROM rate_sends WHERE budget_key = ?1 AND at_ms > ?2",
                )
                .bind(&key)
                .bind(now_ms.saturating_sub(window_ms))
                .fetch_one(&mut *conn)
                .await?;
                let wait = rate_budget_wait(used, oldest, limit, window_ms, now_ms);
                if rand::random::<u8>() == 0 {
                    // Now and then, the sends of budgets nobody takes from any more go too.
                    sqlx::query("DELETE FROM rate_sends WHERE at_ms <= ?1")
                        .bind(now_ms.saturating_sub(RATE_SENDS_STALE_AFTER_MS))
                        .execute(&mut *conn)
                        .await?;
                }
                if wait.is_none() {
                    sqlx::query("INSERT INTO rate_sends (budget_key, at_ms) VALUES (?1, ?2)")
                        .bind(&key)
                        .bind(now_ms)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(wait)
            })
        })
        .await
    }
}
