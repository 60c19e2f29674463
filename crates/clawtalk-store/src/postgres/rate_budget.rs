//! Shared send budgets on PostgreSQL.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;

use super::PgStore;
use crate::{RATE_SENDS_STALE_AFTER_MS, RateBudgetStore, StoreResult, forget_before, rate_budget_wait};

/// First key of the advisory locks that serialise takes from one budget (the second is a hash
/// of the budget key), so it cannot collide with other advisory locks.
const BUDGET_LOCK_CLASS: i32 = 0x5261_7465; // "Rate"

#[async_trait]
impl RateBudgetStore for PgStore {
    async fn rate_take(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now: EpochMs,
    ) -> StoreResult<Option<i64>> {
        let now_ms = now.as_millis();
        let mut tx = self.budget_pool.begin().await?;
        // Count, then insert: one taker of a key at a time, across every replica.
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(BUDGET_LOCK_CLASS)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM rate_sends WHERE budget_key = $1 AND at_ms <= $2")
            .bind(key)
            .bind(forget_before(window_ms, now_ms))
            .execute(&mut *tx)
            .await?;
        let (used, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT count(*), min(at_ms) FROM rate_sends WHERE budget_key = $1 AND at_ms > $2",
        )
        .bind(key)
        .bind(now_ms.saturating_sub(window_ms))
        .fetch_one(&mut *tx)
        .await?;
        let wait = rate_budget_wait(used, oldest, limit, window_ms, now_ms);
        if rand::random::<u8>() == 0 {
            // Now and then, the sends of budgets nobody takes from any more (conversations
            // that went quiet) go too.
            sqlx::query("DELETE FROM rate_sends WHERE at_ms <= $1")
                .bind(now_ms.saturating_sub(RATE_SENDS_STALE_AFTER_MS))
                .execute(&mut *tx)
                .await?;
        }
        if wait.is_none() {
            sqlx::query("INSERT INTO rate_sends (budget_key, at_ms) VALUES ($1, $2)")
                .bind(key)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(wait)
    }

    async fn rate_backlog(
        &self,
        key: &str,
        owner: &str,
        waiting: u32,
        now: EpochMs,
        fresh_ms: i64,
    ) -> StoreResult<u64> {
        let now_ms = now.as_millis();
        // One statement: the report and the others' sum (the upsert's own row is not visible
        // to the select, and is left out of it anyway). The general pool, not the budget's: no
        // lock is waited for here, and a report must not queue behind takes that wait on one.
        let others: i64 = sqlx::query_scalar(
            "WITH report AS ( \
                 INSERT INTO rate_backlogs (budget_key, owner, waiting, at_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (budget_key, owner) DO UPDATE SET waiting = EXCLUDED.waiting, at_ms = EXCLUDED.at_ms) \
             SELECT COALESCE(SUM(waiting), 0)::BIGINT FROM rate_backlogs \
             WHERE budget_key = $1 AND owner <> $2 AND at_ms > $5",
        )
        .bind(key)
        .bind(owner)
        .bind(i64::from(waiting))
        .bind(now_ms)
        .bind(now_ms.saturating_sub(fresh_ms.max(0)))
        .fetch_one(&self.pool)
        .await?;
        if rand::random::<u8>() == 0 {
            // Now and then, the reports of processes long gone (each start reports as a new
            // one) go too.
            sqlx::query("DELETE FROM rate_backlogs WHERE at_ms <= $1")
                .bind(now_ms.saturating_sub(RATE_SENDS_STALE_AFTER_MS))
                .execute(&self.pool)
                .await?;
        }
        Ok(u64::try_from(others).unwrap_or(0))
    }
}
