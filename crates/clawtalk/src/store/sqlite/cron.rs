//! Scheduled tasks on SQLite.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::row::{count, get, int, lease, parse};
use crate::store::error::StoreError;
use crate::store::model::{
    CronFired, CronKind, CronRunStatus, CronStatus, CronTarget, CronTask, CronTaskId, NewCronTask, WorkerId,
};
use crate::store::{CronStore, StoreResult};

macro_rules! columns {
    () => {
        "id, account_id, agent_id, name, prompt, schedule_kind, schedule, timezone, target_kind, target, \
         webhook_secret, created_by, origin, status, next_run_at_ms, run_requested_at_ms, lease_owner, \
         lease_incarnation, lease_expires_at_ms, runs, last_run_at_ms, last_status, last_error, \
         created_at_ms, updated_at_ms"
    };
}

fn decode(row: &SqliteRow) -> Result<CronTask, StoreError> {
    let kind: String = get(row, "target_kind")?;
    let target_value: String = get(row, "target")?;
    let target = match kind.as_str() {
        "user" => CronTarget::User(target_value),
        "group" => CronTarget::Group(target_value),
        "webhook" => CronTarget::Webhook {
            url: target_value,
            secret: get(row, "webhook_secret")?,
        },
        other => return Err(StoreError::decode(format!("unknown cron target kind {other:?}"))),
    };
    let last_status: Option<String> = get(row, "last_status")?;
    Ok(CronTask {
        id: get(row, "id")?,
        spec: NewCronTask {
            account_id: get(row, "account_id")?,
            agent_id: get(row, "agent_id")?,
            name: get(row, "name")?,
            prompt: get(row, "prompt")?,
            kind: parse::<CronKind>(row, "schedule_kind")?,
            schedule: get(row, "schedule")?,
            timezone: get(row, "timezone")?,
            target,
            created_by: get(row, "created_by")?,
            origin: get(row, "origin")?,
            next_run_at_ms: get::<Option<i64>>(row, "next_run_at_ms")?.unwrap_or_default(),
        },
        status: parse::<CronStatus>(row, "status")?,
        next_run_at_ms: get(row, "next_run_at_ms")?,
        run_requested_at_ms: get(row, "run_requested_at_ms")?,
        lease: lease(row)?,
        runs: count(row, "runs")?,
        last_run_at_ms: get(row, "last_run_at_ms")?,
        last_status: last_status.map(|s| s.parse::<CronRunStatus>()).transpose()?,
        last_error: get(row, "last_error")?,
        created_at_ms: get(row, "created_at_ms")?,
        updated_at_ms: get(row, "updated_at_ms")?,
    })
}

impl SqliteStore {
    /// Runs `sql` (an `UPDATE … WHERE id = ?1 AND status = 'active' RETURNING`) with the id
    /// and the time `?2`; the task after it, when it was active.
    async fn update_active(
        &self,
        sql: &'static str,
        id: CronTaskId,
        now_ms: i64,
    ) -> StoreResult<Option<CronTask>> {
        self.write_one(move |conn| {
            Box::pin(async move {
                let row = sqlx::query(sql)
                    .bind(id)
                    .bind(now_ms)
                    .fetch_optional(&mut *conn)
                    .await?;
                row.as_ref().map(decode).transpose()
            })
        })
        .await
    }
}

#[async_trait]
impl CronStore for SqliteStore {
    async fn cron_create(&self, task: NewCronTask, now_ms: i64) -> StoreResult<CronTask> {
        self.write_one(move |conn| {
            Box::pin(async move {
                let (target, secret) = match &task.target {
                    CronTarget::User(id) | CronTarget::Group(id) => (id.clone(), None),
                    CronTarget::Webhook { url, secret } => (url.clone(), secret.clone()),
                };
                let sql: &str = concat!(
                    "INSERT INTO cron_tasks (account_id, agent_id, name, prompt, schedule_kind, schedule, \
                     timezone, target_kind, target, webhook_secret, created_by, origin, next_run_at_ms, \
                     created_at_ms, updated_at_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14) RETURNING ",
                    columns!()
                );
                let row = sqlx::query(sql)
                    .bind(&task.account_id)
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
                    .bind(task.next_run_at_ms)
                    .bind(now_ms)
                    .fetch_one(&mut *conn)
                    .await?;
                decode(&row)
            })
        })
        .await
    }

    async fn cron_get(&self, id: CronTaskId) -> StoreResult<Option<CronTask>> {
        self.read(move |conn| {
            Box::pin(async move {
                let sql: &str = concat!("SELECT ", columns!(), " FROM cron_tasks WHERE id = ?1");
                let row = sqlx::query(sql).bind(id).fetch_optional(&mut *conn).await?;
                row.as_ref().map(decode).transpose()
            })
        })
        .await
    }

    async fn cron_list(&self, include_finished: bool) -> StoreResult<Vec<CronTask>> {
        self.read(move |conn| {
            Box::pin(async move {
                let sql: &str = concat!(
                    "SELECT ",
                    columns!(),
                    " FROM cron_tasks WHERE ?1 OR status = 'active' ORDER BY id"
                );
                let rows = sqlx::query(sql)
                    .bind(include_finished)
                    .fetch_all(&mut *conn)
                    .await?;
                rows.iter().map(decode).collect()
            })
        })
        .await
    }

    async fn cron_cancel(&self, id: CronTaskId, now_ms: i64) -> StoreResult<Option<CronTask>> {
        let sql: &'static str = concat!(
            "UPDATE cron_tasks SET status = 'cancelled', run_requested_at_ms = NULL, updated_at_ms = ?2 \
             WHERE id = ?1 AND status = 'active' RETURNING ",
            columns!()
        );
        self.update_active(sql, id, now_ms).await
    }

    async fn cron_run_now(&self, id: CronTaskId, now_ms: i64) -> StoreResult<Option<CronTask>> {
        let sql: &'static str = concat!(
            "UPDATE cron_tasks SET run_requested_at_ms = ?2, updated_at_ms = ?2 \
             WHERE id = ?1 AND status = 'active' RETURNING ",
            columns!()
        );
        self.update_active(sql, id, now_ms).await
    }

    async fn cron_claim_due(
        &self,
        worker: &WorkerId,
        lease_ms: i64,
        limit: u32,
        now_ms: i64,
    ) -> StoreResult<Vec<CronTask>> {
        let worker = worker.clone();
        self.write_one(move |conn| {
            Box::pin(async move {
                // One statement: SQLite's write lock makes the check and the lease one step,
                // also against another process on the same file.
                let sql: &str = concat!(
                    "UPDATE cron_tasks SET lease_owner = ?1, lease_incarnation = ?2, \
                         lease_expires_at_ms = ?3 + ?4, updated_at_ms = ?3 \
                     WHERE id IN (SELECT id FROM cron_tasks \
                         WHERE status = 'active' \
                           AND (next_run_at_ms <= ?3 OR run_requested_at_ms IS NOT NULL) \
                           AND (lease_expires_at_ms IS NULL OR lease_expires_at_ms <= ?3) \
                         ORDER BY coalesce(run_requested_at_ms, next_run_at_ms), id LIMIT ?5) \
                     RETURNING ",
                    columns!()
                );
                let rows = sqlx::query(sql)
                    .bind(&worker.instance)
                    .bind(&worker.incarnation)
                    .bind(now_ms)
                    .bind(lease_ms)
                    .bind(int(limit))
                    .fetch_all(&mut *conn)
                    .await?;
                let mut tasks = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
                tasks.sort_by_key(|t| t.id);
                Ok(tasks)
            })
        })
        .await
    }

    async fn cron_fired(
        &self,
        id: CronTaskId,
        worker: &WorkerId,
        fired: CronFired,
        now_ms: i64,
    ) -> StoreResult<bool> {
        let worker = worker.clone();
        self.write_one(move |conn| {
            Box::pin(async move {
                // A cancel that raced the run keeps the task cancelled; a run-now that arrived
                // meanwhile stays pending.
                let done = sqlx::query(
                    "UPDATE cron_tasks SET \
                         next_run_at_ms = ?4, \
                         status = CASE WHEN status = 'active' AND ?4 IS NULL THEN 'done' ELSE status END, \
                         run_requested_at_ms = CASE WHEN run_requested_at_ms = ?5 THEN NULL ELSE run_requested_at_ms END, \
                         runs = runs + ?6, \
                         last_run_at_ms = CASE WHEN ?6 = 1 THEN ?7 ELSE last_run_at_ms END, \
                         lease_owner = NULL, lease_incarnation = NULL, lease_expires_at_ms = NULL, \
                         updated_at_ms = ?7 \
                     WHERE id = ?1 AND lease_owner = ?2 AND lease_incarnation = ?3 AND lease_expires_at_ms > ?7",
                )
                .bind(id)
                .bind(&worker.instance)
                .bind(&worker.incarnation)
                .bind(fired.next_run_at_ms)
                .bind(fired.served_request_ms)
                .bind(i64::from(fired.ran))
                .bind(now_ms)
                .execute(&mut *conn)
                .await?;
                Ok(done.rows_affected() == 1)
            })
        })
        .await
    }

    async fn cron_record_result(
        &self,
        id: CronTaskId,
        status: CronRunStatus,
        error: Option<&str>,
        now_ms: i64,
    ) -> StoreResult<()> {
        let error = error.map(str::to_owned);
        self.write_one(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE cron_tasks SET last_status = ?2, last_error = ?3, updated_at_ms = ?4 WHERE id = ?1",
                )
                .bind(id)
                .bind(status.as_str())
                .bind(error)
                .bind(now_ms)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn cron_next_due(&self, now_ms: i64) -> StoreResult<Option<i64>> {
        self.read(move |conn| {
            Box::pin(async move {
                let next: Option<i64> = sqlx::query_scalar(
                    "SELECT MIN(coalesce(run_requested_at_ms, next_run_at_ms)) FROM cron_tasks \
                     WHERE status = 'active' AND (lease_expires_at_ms IS NULL OR lease_expires_at_ms <= ?1)",
                )
                .bind(now_ms)
                .fetch_one(&mut *conn)
                .await?;
                Ok(next)
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::{Durability, SqliteOptions, Store};

    pub(crate) fn webhook_task(next_run_at_ms: i64) -> NewCronTask {
        NewCronTask {
            account_id: "default".into(),
            agent_id: "main".into(),
            name: "weather".into(),
            prompt: "Beijing weather".into(),
            kind: CronKind::Cron,
            schedule: "0 9 * * *".into(),
            timezone: "Asia/Shanghai".into(),
            target: CronTarget::Webhook {
                url: "https://oapi.dingtalk.com/robot/send?access_token=tok-secret".into(),
                secret: Some("SECsecret".into()),
            },
            created_by: Some("0312".into()),
            origin: Some("user:0312".into()),
            next_run_at_ms,
        }
    }

    #[tokio::test]
    async fn tasks_round_trip_and_hide_the_webhook_token_in_debug() {
        let store = SqliteStore::in_memory().await.unwrap();
        let created = store.cron_create(webhook_task(1_000), 10).await.unwrap();
        assert_eq!(created.status, CronStatus::Active);
        assert_eq!(created.next_run_at_ms, Some(1_000));
        assert_eq!(store.cron_get(created.id).await.unwrap().unwrap(), created);
        let shown = format!("{created:?}");
        assert!(
            !shown.contains("tok-secret") && !shown.contains("SECsecret"),
            "{shown}"
        );
        assert!(shown.contains("oapi.dingtalk.com/robot/send"), "{shown}");
    }

    #[tokio::test]
    async fn only_due_unleased_tasks_are_claimed_and_firing_moves_them_on() {
        let store = SqliteStore::in_memory().await.unwrap();
        let me = WorkerId::new("a");
        let task = store.cron_create(webhook_task(1_000), 0).await.unwrap();
        assert!(
            store
                .cron_claim_due(&me, 60_000, 10, 999)
                .await
                .unwrap()
                .is_empty(),
            "not due yet"
        );
        assert_eq!(store.cron_next_due(0).await.unwrap(), Some(1_000));
        let claimed = store.cron_claim_due(&me, 60_000, 10, 1_000).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(
            store
                .cron_claim_due(&WorkerId::new("b"), 60_000, 10, 2_000)
                .await
                .unwrap()
                .is_empty(),
            "leased"
        );
        let fired = CronFired {
            next_run_at_ms: Some(90_000),
            served_request_ms: None,
            ran: true,
        };
        assert!(store.cron_fired(task.id, &me, fired, 2_000).await.unwrap());
        let after = store.cron_get(task.id).await.unwrap().unwrap();
        assert_eq!(
            (after.next_run_at_ms, after.runs, after.last_run_at_ms),
            (Some(90_000), 1, Some(2_000))
        );
        assert!(after.lease.is_none());
        assert!(
            !store.cron_fired(task.id, &me, fired, 2_001).await.unwrap(),
            "the lease was released"
        );

        // A lapsed lease is taken over; the old holder's report is then refused.
        store.cron_claim_due(&me, 1_000, 10, 90_000).await.unwrap();
        let other = WorkerId::new("b");
        assert_eq!(
            store
                .cron_claim_due(&other, 60_000, 10, 91_000)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(!store.cron_fired(task.id, &me, fired, 91_001).await.unwrap());
    }

    #[tokio::test]
    async fn one_shot_tasks_end_and_cancelled_or_run_now_tasks_behave() {
        let store = SqliteStore::in_memory().await.unwrap();
        let me = WorkerId::new("a");
        let mut once = webhook_task(5_000);
        once.kind = CronKind::Once;
        let once = store.cron_create(once, 0).await.unwrap();
        store.cron_claim_due(&me, 60_000, 10, 5_000).await.unwrap();
        let fired = CronFired {
            next_run_at_ms: None,
            served_request_ms: None,
            ran: true,
        };
        assert!(store.cron_fired(once.id, &me, fired, 5_001).await.unwrap());
        assert_eq!(
            store.cron_get(once.id).await.unwrap().unwrap().status,
            CronStatus::Done
        );
        assert!(store.cron_list(false).await.unwrap().is_empty());
        assert_eq!(store.cron_list(true).await.unwrap().len(), 1);

        let daily = store.cron_create(webhook_task(1_000_000), 0).await.unwrap();
        let requested = store.cron_run_now(daily.id, 10).await.unwrap().unwrap();
        assert_eq!(requested.run_requested_at_ms, Some(10));
        assert_eq!(store.cron_next_due(10).await.unwrap(), Some(10));
        assert_eq!(
            store.cron_claim_due(&me, 60_000, 10, 11).await.unwrap().len(),
            1,
            "run-now is due at once"
        );
        let served = CronFired {
            next_run_at_ms: Some(1_000_000),
            served_request_ms: Some(10),
            ran: true,
        };
        assert!(store.cron_fired(daily.id, &me, served, 12).await.unwrap());
        assert_eq!(
            store
                .cron_get(daily.id)
                .await
                .unwrap()
                .unwrap()
                .run_requested_at_ms,
            None
        );

        assert!(store.cron_cancel(daily.id, 20).await.unwrap().is_some());
        assert!(
            store.cron_cancel(daily.id, 21).await.unwrap().is_none(),
            "already cancelled"
        );
        assert!(store.cron_run_now(daily.id, 22).await.unwrap().is_none());
        assert!(
            store
                .cron_claim_due(&me, 60_000, 10, 2_000_000)
                .await
                .unwrap()
                .is_empty(),
            "cancelled tasks never fire"
        );
        store
            .cron_record_result(daily.id, CronRunStatus::Failed, Some("model down"), 30)
            .await
            .unwrap();
        let last = store.cron_get(daily.id).await.unwrap().unwrap();
        assert_eq!(
            (last.last_status, last.last_error.as_deref()),
            (Some(CronRunStatus::Failed), Some("model down"))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_gateways_on_one_file_claim_a_due_task_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clawtalk.db");
        let options = SqliteOptions {
            durability: Durability::Normal,
            ..SqliteOptions::default()
        };
        let a = Arc::new(SqliteStore::open_with(&path, options.clone()).await.unwrap());
        let b = Arc::new(SqliteStore::open_with(&path, options).await.unwrap());
        for round in 0..20 {
            let task = a.cron_create(webhook_task(round), 0).await.unwrap();
            let (wa, wb) = (WorkerId::new("gw-a"), WorkerId::new("gw-b"));
            let (sa, sb) = (Arc::clone(&a), Arc::clone(&b));
            let ta = tokio::spawn(async move { sa.cron_claim_due(&wa, 60_000, 10, 1_000).await.unwrap() });
            let tb = tokio::spawn(async move { sb.cron_claim_due(&wb, 60_000, 10, 1_000).await.unwrap() });
            let (ca, cb) = (ta.await.unwrap(), tb.await.unwrap());
            let winners = ca.iter().chain(&cb).filter(|t| t.id == task.id).count();
            assert_eq!(winners, 1, "round {round}: {ca:?} / {cb:?}");
        }
        a.close().await;
        b.close().await;
    }
}
