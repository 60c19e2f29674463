//! Usage per day on PostgreSQL: a flush's rows in one transaction, in key order (so two
//! replicas adding to the same rows never deadlock); the upsert sums atomically per row.

use async_trait::async_trait;

use super::PgStore;
use crate::model::UsageRow;
use crate::usage_rows::{counter_values, in_key_order, usage_counters, usage_row, usage_sums};
use crate::{StoreResult, UsageStore};

const UPSERT: &str = concat!(
    "INSERT INTO usage_daily (day, account_id, agent_id, ",
    usage_counters!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
     ON CONFLICT (day, account_id, agent_id) DO UPDATE SET ",
    usage_sums!()
);
const SINCE: &str = concat!(
    "SELECT day, account_id, agent_id, ",
    usage_counters!(),
    " FROM usage_daily WHERE day >= $1 ORDER BY day, account_id, agent_id"
);

#[async_trait]
impl UsageStore for PgStore {
    async fn usage_add(&self, rows: Vec<UsageRow>) -> StoreResult<()> {
        let rows = in_key_order(rows);
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for row in &rows {
            let mut query = sqlx::query(UPSERT)
                .bind(&row.day)
                .bind(&row.account_id)
                .bind(&row.agent_id);
            for value in counter_values(&row.counts) {
                query = query.bind(value);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn usage_since(&self, from_day: &str) -> StoreResult<Vec<UsageRow>> {
        let rows = sqlx::query(SINCE).bind(from_day).fetch_all(&self.pool).await?;
        rows.iter().map(usage_row).collect()
    }
}
