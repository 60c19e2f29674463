//! Usage per day on SQLite: one write job adds a flush's rows; the upsert sums, so processes
//! sharing the file add up.

use async_trait::async_trait;
use rusqlite::params_from_iter;
use rusqlite::types::Value;

use super::SqliteStore;
use super::sql::{execute, query_all};
use crate::model::UsageRow;
use crate::usage_rows::{counter_values, in_key_order, usage_counters, usage_row, usage_sums};
use crate::{StoreResult, UsageStore};

const UPSERT: &str = concat!(
    "INSERT INTO usage_daily (day, account_id, agent_id, ",
    usage_counters!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
     ON CONFLICT (day, account_id, agent_id) DO UPDATE SET ",
    usage_sums!()
);
const SINCE: &str = concat!(
    "SELECT day, account_id, agent_id, ",
    usage_counters!(),
    " FROM usage_daily WHERE day >= ?1 ORDER BY day, account_id, agent_id"
);

#[async_trait]
impl UsageStore for SqliteStore {
    async fn usage_add(&self, rows: Vec<UsageRow>) -> StoreResult<()> {
        let rows = in_key_order(rows);
        if rows.is_empty() {
            return Ok(());
        }
        self.write(move |conn| {
            for row in rows {
                let keys = [row.day, row.account_id, row.agent_id].map(Value::Text);
                let counts = counter_values(&row.counts).map(Value::Integer);
                execute(conn, UPSERT, params_from_iter(keys.into_iter().chain(counts)))?;
            }
            Ok(())
        })
        .await
    }

    async fn usage_since(&self, from_day: &str) -> StoreResult<Vec<UsageRow>> {
        let from_day = from_day.to_owned();
        self.read(move |conn| query_all(conn, SINCE, [&from_day], |row| usage_row(row)))
            .await
    }
}
