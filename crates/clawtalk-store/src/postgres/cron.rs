//! Scheduled tasks on PostgreSQL.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;

use super::PgStore;
use crate::decode::{cron_columns, cron_task};
use crate::model::{CronFired, CronRunStatus, CronTarget, CronTask, CronTaskId, NewCronTask, WorkerId};
use crate::{CronStore, StoreResult};

impl PgStore {
    /// Runs `sql` (an `UPDATE … WHERE id = $1 AND status = 'active' RETURNING`) with the id
    /// and the time `$2`; the task after it, when it was active.
    async fn update_active(
        &self,
        sql: &'static str,
        id: CronTaskId,
        now: EpochMs,
    ) -> StoreResult<Option<CronTask>> {
        let now_ms = now.as_millis();
        let row = sqlx::query(sql)
            .bind(id)
            .bind(now_ms)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(cron_task).transpose()
    }
}

#[async_trait]
impl CronStore for PgStore {
    async fn cron_create(&self, task: NewCronTask, now: EpochMs) -> StoreResult<CronTask> {
        let now_ms = now.as_millis();
        let (target, secret) = match &task.target {
            CronTarget::User(id) | CronTarget::Group(id) => (id.clone(), None),
            CronTarget::Webhook { url, secret } => (url.clone(), secret.clone()),
        };
        let sql = concat!(
            "INSERT INTO cron_tasks (account_id, agent_id, name, prompt, schedule_kind, schedule, \
             timezone, target_kind, target, webhook_secret, created_by, origin, next_run_at_ms, \
             created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING ",
            cron_columns!()
        );
        let row = sqlx::query(sql)
            .bind(task.account_id.as_str())
            .bind(&task.agent_id)
            .bind(&task.name)
            .bind(&task.prompt)
            .bind(task.kind.as_str())
            .bind(&task.schedule)
            .bind(&task.timezone)
            .bind(task.target.kind())
            .bind(target)
            .bind(secret)
            .bind(&task.created_by)
            .bind(&task.origin)
            .bind(task.next_run_at_ms.as_millis())
            .bind(now_ms)
            .fetch_one(&self.pool)
            .await?;
        cron_task(&row)
    }

    async fn cron_get(&self, id: CronTaskId) -> StoreResult<Option<CronTask>> {
        let sql = concat!("SELECT ", cron_columns!(), " FROM cron_tasks WHERE id = $1");
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(cron_task).transpose()
    }

    async fn cron_list(&self, include_finished: bool) -> StoreResult<Vec<CronTask>> {
        let sql = concat!(
            "SELECT ",
            cron_columns!(),
            " FROM cron_tasks WHERE $1 OR status = 'active' ORDER BY id"
        );
        let rows = sqlx::query(sql)
            .bind(include_finished)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(cron_task).collect()
    }

    async fn cron_cancel(&self, id: CronTaskId, now: EpochMs) -> StoreResult<Option<CronTask>> {
        let sql = concat!(
            "UPDATE cron_tasks SET status = 'cancelled', run_requested_at_ms = NULL, updated_at_ms = $2 \
             WHERE id = $1 AND status = 'active' RETURNING ",
            cron_columns!()
        );
        self.update_active(sql, id, now).await
    }

    async fn cron_run_now(&self, id: CronTaskId, now: EpochMs) -> StoreResult<Option<CronTask>> {
        let sql = concat!(
            "UPDATE cron_tasks SET run_requested_at_ms = $2, updated_at_ms = $2 \
             WHERE id = $1 AND status = 'active' RETURNING ",
            cron_columns!()
        );
        self.update_active(sql, id, now).await
    }

    async fn cron_pause(&self, id: CronTaskId, now: EpochMs) -> StoreResult<Option<CronTask>> {
        let sql: &'static str = concat!(
            "UPDATE cron_tasks SET paused_at_ms = $2, updated_at_ms = $2 \
             WHERE id = $1 AND status = 'active' AND paused_at_ms IS NULL RETURNING ",
            cron_columns!()
        );
        self.update_active(sql, id, now).await
    }

    async fn cron_resume(
        &self,
        id: CronTaskId,
        next_run_at_ms: Option<EpochMs>,
        now: EpochMs,
    ) -> StoreResult<Option<CronTask>> {
        let sql: &'static str = concat!(
            "UPDATE cron_tasks SET paused_at_ms = NULL, next_run_at_ms = coalesce($3, next_run_at_ms), \
                 updated_at_ms = $2 \
             WHERE id = $1 AND status = 'active' AND paused_at_ms IS NOT NULL RETURNING ",
            cron_columns!()
        );
        let row = sqlx::query(sql)
            .bind(id)
            .bind(now.as_millis())
            .bind(next_run_at_ms.map(EpochMs::as_millis))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(cron_task).transpose()
    }

    async fn cron_claim_due(
        &self,
        worker: &WorkerId,
        lease_ms: i64,
        limit: u32,
        now: EpochMs,
    ) -> StoreResult<Vec<CronTask>> {
        let now_ms = now.as_millis();
        // SKIP LOCKED: a replica claiming at the same instant passes over the rows this one
        // is leasing; the re-check of the lease in the outer WHERE keeps a row another
        // replica leased just before out.
        let sql = concat!(
            "UPDATE cron_tasks SET lease_owner = $1, lease_incarnation = $2, \
                 lease_expires_at_ms = $3 + $4, updated_at_ms = $3 \
             WHERE status = 'active' AND (lease_expires_at_ms IS NULL OR lease_expires_at_ms <= $3) \
               AND id IN (SELECT id FROM cron_tasks \
                 WHERE status = 'active' \
                   AND ((next_run_at_ms <= $3 AND paused_at_ms IS NULL) OR run_requested_at_ms IS NOT NULL) \
                   AND (lease_expires_at_ms IS NULL OR lease_expires_at_ms <= $3) \
                 ORDER BY coalesce(run_requested_at_ms, next_run_at_ms), id LIMIT $5 \
                 FOR UPDATE SKIP LOCKED) \
             RETURNING ",
            cron_columns!()
        );
        let rows = sqlx::query(sql)
            .bind(&worker.instance)
            .bind(&worker.incarnation)
            .bind(now_ms)
            .bind(lease_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let mut tasks = rows.iter().map(cron_task).collect::<Result<Vec<_>, _>>()?;
        tasks.sort_by_key(|t| t.id);
        Ok(tasks)
    }

    async fn cron_fired(
        &self,
        id: CronTaskId,
        worker: &WorkerId,
        fired: CronFired,
        now: EpochMs,
    ) -> StoreResult<bool> {
        let now_ms = now.as_millis();
        // A cancel that raced the run keeps the task cancelled; a run-now that arrived
        // meanwhile stays pending.
        let done = sqlx::query(
            "UPDATE cron_tasks SET \
                 next_run_at_ms = $4, \
                 status = CASE WHEN status = 'active' AND $4::BIGINT IS NULL THEN 'done' ELSE status END, \
                 run_requested_at_ms = CASE WHEN run_requested_at_ms = $5 THEN NULL ELSE run_requested_at_ms END, \
                 runs = runs + $6, \
                 last_run_at_ms = CASE WHEN $6 = 1 THEN $7 ELSE last_run_at_ms END, \
                 lease_owner = NULL, lease_incarnation = NULL, lease_expires_at_ms = NULL, \
                 updated_at_ms = $7 \
             WHERE id = $1 AND lease_owner = $2 AND lease_incarnation = $3 AND lease_expires_at_ms > $7",
        )
        .bind(id)
        .bind(&worker.instance)
        .bind(&worker.incarnation)
        .bind(fired.next_run_at_ms.map(EpochMs::as_millis))
        .bind(fired.served_request_ms.map(EpochMs::as_millis))
        .bind(i64::from(fired.ran))
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn cron_record_result(
        &self,
        id: CronTaskId,
        status: CronRunStatus,
        error: Option<&str>,
        now: EpochMs,
    ) -> StoreResult<()> {
        let now_ms = now.as_millis();
        sqlx::query(
            "UPDATE cron_tasks SET last_status = $2, last_error = $3, updated_at_ms = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(error)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn cron_next_due(&self, now: EpochMs) -> StoreResult<Option<EpochMs>> {
        let now_ms = now.as_millis();
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(coalesce(run_requested_at_ms, CASE WHEN paused_at_ms IS NULL THEN next_run_at_ms END)) FROM cron_tasks \
             WHERE status = 'active' AND (lease_expires_at_ms IS NULL OR lease_expires_at_ms <= $1)",
        )
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(next.map(EpochMs::from_millis))
    }
}
