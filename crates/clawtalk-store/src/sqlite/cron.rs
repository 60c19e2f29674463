//! Scheduled tasks on SQLite.

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;
use rusqlite::params;

use super::SqliteStore;
use super::row::int;
use super::sql::{execute, query_all, query_one, query_opt, scalar};
use crate::decode::{cron_columns, cron_task};
use crate::model::{CronFired, CronRunStatus, CronTarget, CronTask, CronTaskId, NewCronTask, WorkerId};
use crate::{CronStore, StoreResult};

impl SqliteStore {
    /// Runs `sql` (an `UPDATE … WHERE id = ?1 AND status = 'active' RETURNING`) with the id
    /// and the time `?2`; the task after it, when it was active.
    async fn update_active(
        &self,
        sql: &'static str,
        id: CronTaskId,
        now: EpochMs,
    ) -> StoreResult<Option<CronTask>> {
        let now_ms = now.as_millis();
        self.write_one(move |conn| query_opt(conn, sql, params![id, now_ms], |row| cron_task(row)))
            .await
    }
}

#[async_trait]
impl CronStore for SqliteStore {
    async fn cron_create(&self, task: NewCronTask, now: EpochMs) -> StoreResult<CronTask> {
        let now_ms = now.as_millis();
        self.write_one(move |conn| {
            let (target, secret) = match &task.target {
                CronTarget::User(id) | CronTarget::Group(id) => (id.clone(), None),
                CronTarget::Webhook { url, secret } => (url.clone(), secret.clone()),
            };
            let sql: &str = concat!(
                "INSERT INTO cron_tasks (account_id, agent_id, name, prompt, schedule_kind, schedule, \
                 timezone, target_kind, target, webhook_secret, created_by, origin, next_run_at_ms, \
                 created_at_ms, updated_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14) RETURNING ",
                cron_columns!()
            );
            let params = params![
                task.account_id.as_str(),
                task.agent_id,
                task.name,
                task.prompt,
                task.kind.as_str(),
                task.schedule,
                task.timezone,
                task.target.kind(),
                target,
                secret,
                task.created_by,
                task.origin,
                task.next_run_at_ms.as_millis(),
                now_ms
            ];
            query_one(conn, sql, params, |row| cron_task(row))
        })
        .await
    }

    async fn cron_get(&self, id: CronTaskId) -> StoreResult<Option<CronTask>> {
        self.read(move |conn| {
            let sql: &str = concat!("SELECT ", cron_columns!(), " FROM cron_tasks WHERE id = ?1");
            query_opt(conn, sql, [id], |row| cron_task(row))
        })
        .await
    }

    async fn cron_list(&self, include_finished: bool) -> StoreResult<Vec<CronTask>> {
        self.read(move |conn| {
            let sql: &str = concat!(
                "SELECT ",
                cron_columns!(),
                " FROM cron_tasks WHERE ?1 OR status = 'active' ORDER BY id"
            );
            query_all(conn, sql, [include_finished], |row| cron_task(row))
        })
        .await
    }

    async fn cron_cancel(&self, id: CronTaskId, now: EpochMs) -> StoreResult<Option<CronTask>> {
        let sql: &'static str = concat!(
            "UPDATE cron_tasks SET status = 'cancelled', run_requested_at_ms = NULL, updated_at_ms = ?2 \
             WHERE id = ?1 AND status = 'active' RETURNING ",
            cron_columns!()
        );
        self.update_active(sql, id, now).await
    }

    async fn cron_run_now(&self, id: CronTaskId, now: EpochMs) -> StoreResult<Option<CronTask>> {
        let sql: &'static str = concat!(
            "UPDATE cron_tasks SET run_requested_at_ms = ?2, updated_at_ms = ?2 \
             WHERE id = ?1 AND status = 'active' RETURNING ",
            cron_columns!()
        );
        self.update_active(sql, id, now).await
    }

    async fn cron_pause(&self, id: CronTaskId, now: EpochMs) -> StoreResult<Option<CronTask>> {
        let sql: &'static str = concat!(
            "UPDATE cron_tasks SET paused_at_ms = ?2, updated_at_ms = ?2 \
             WHERE id = ?1 AND status = 'active' AND paused_at_ms IS NULL RETURNING ",
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
            "UPDATE cron_tasks SET paused_at_ms = NULL, next_run_at_ms = coalesce(?3, next_run_at_ms), \
                 updated_at_ms = ?2 \
             WHERE id = ?1 AND status = 'active' AND paused_at_ms IS NOT NULL RETURNING ",
            cron_columns!()
        );
        let (now_ms, next_ms) = (now.as_millis(), next_run_at_ms.map(EpochMs::as_millis));
        self.write_one(move |conn| query_opt(conn, sql, params![id, now_ms, next_ms], |row| cron_task(row)))
            .await
    }

    async fn cron_claim_due(
        &self,
        worker: &WorkerId,
        lease_ms: i64,
        limit: u32,
        now: EpochMs,
    ) -> StoreResult<Vec<CronTask>> {
        let now_ms = now.as_millis();
        let worker = worker.clone();
        self.write_one(move |conn| {
            // One statement: SQLite's write lock makes the check and the lease one step,
            // also against another process on the same file.
            let sql: &str = concat!(
                "UPDATE cron_tasks SET lease_owner = ?1, lease_incarnation = ?2, \
                     lease_expires_at_ms = ?3 + ?4, updated_at_ms = ?3 \
                 WHERE id IN (SELECT id FROM cron_tasks \
                     WHERE status = 'active' \
                       AND ((next_run_at_ms <= ?3 AND paused_at_ms IS NULL) OR run_requested_at_ms IS NOT NULL) \
                       AND (lease_expires_at_ms IS NULL OR lease_expires_at_ms <= ?3) \
                     ORDER BY coalesce(run_requested_at_ms, next_run_at_ms), id LIMIT ?5) \
                 RETURNING ",
                cron_columns!()
            );
            let params = params![worker.instance, worker.incarnation, now_ms, lease_ms, int(limit)];
            let mut tasks = query_all(conn, sql, params, |row| cron_task(row))?;
            tasks.sort_by_key(|t| t.id);
            Ok(tasks)
        })
        .await
    }

    async fn cron_fired(
        &self,
        id: CronTaskId,
        worker: &WorkerId,
        fired: CronFired,
        now: EpochMs,
    ) -> StoreResult<bool> {
        let now_ms = now.as_millis();
        let worker = worker.clone();
        self.write_one(move |conn| {
            // A cancel that raced the run keeps the task cancelled; a run-now that arrived
            // meanwhile stays pending.
            let done = execute(
                conn,
                "UPDATE cron_tasks SET \
                     next_run_at_ms = ?4, \
                     status = CASE WHEN status = 'active' AND ?4 IS NULL THEN 'done' ELSE status END, \
                     run_requested_at_ms = CASE WHEN run_requested_at_ms = ?5 THEN NULL ELSE run_requested_at_ms END, \
                     runs = runs + ?6, \
                     last_run_at_ms = CASE WHEN ?6 = 1 THEN ?7 ELSE last_run_at_ms END, \
                     lease_owner = NULL, lease_incarnation = NULL, lease_expires_at_ms = NULL, \
                     updated_at_ms = ?7 \
                 WHERE id = ?1 AND lease_owner = ?2 AND lease_incarnation = ?3 AND lease_expires_at_ms > ?7",
                params![
                    id,
                    worker.instance,
                    worker.incarnation,
                    fired.next_run_at_ms.map(EpochMs::as_millis),
                    fired.served_request_ms.map(EpochMs::as_millis),
                    i64::from(fired.ran),
                    now_ms
                ],
            )?;
            Ok(done == 1)
        })
        .await
    }

    async fn cron_record_result(
        &self,
        id: CronTaskId,
        status: CronRunStatus,
        error: Option<&str>,
        now: EpochMs,
    ) -> StoreResult<()> {
        let now_ms = now.as_millis();
        let error = error.map(str::to_owned);
        self.write_one(move |conn| {
            execute(
                conn,
                "UPDATE cron_tasks SET last_status = ?2, last_error = ?3, updated_at_ms = ?4 WHERE id = ?1",
                params![id, status.as_str(), error, now_ms],
            )?;
            Ok(())
        })
        .await
    }

    async fn cron_next_due(&self, now: EpochMs) -> StoreResult<Option<EpochMs>> {
        let now_ms = now.as_millis();
        let next: Option<i64> = self
            .read(move |conn| {
                scalar(
                    conn,
                    "SELECT MIN(coalesce(run_requested_at_ms, CASE WHEN paused_at_ms IS NULL THEN next_run_at_ms END)) FROM cron_tasks \
                     WHERE status = 'active' AND (lease_expires_at_ms IS NULL OR lease_expires_at_ms <= ?1)",
                    [now_ms],
                )
            })
            .await?;
        Ok(next.map(EpochMs::from_millis))
    }
}
