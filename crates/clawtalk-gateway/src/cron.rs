//! Scheduled tasks in the gateway: claim the due ones, admit each run as a turn of the
//! task's agent (or a missed-run notice; [`crate::intake::scheduled_run`]), and record how
//! each run ended.
//!
//! Exactly once: a due task is claimed under a lease with one atomic `UPDATE … RETURNING`,
//! so of several gateways on one store only one fires it; the run is then written to the
//! inbox under the key `cron:<task>:<due time>`, deduplicated like a DingTalk message, so a
//! gateway that takes over a lapsed lease cannot queue the same run again. From there the
//! ordinary turn and outbox machinery answers, and sends each part once; the turn's end comes
//! back here ([`turn_ended`]) to be recorded on the task.

use clawtalk_core::clock::EpochMs;
use std::sync::Arc;
use std::time::Duration;

use crate::intake::scheduled_run;
use crate::turn::TurnEnded;
use crate::{BoxedEnd, Shared};
use clawtalk_agent::cron::Schedule;
use clawtalk_agent::cron::due::{self, Action};
use clawtalk_agent::cron::request::next_run_text;
use clawtalk_agent::cron::schedule::local;
use clawtalk_config::AgentLimits;
use clawtalk_store::{CronFired, CronRunStatus, CronTask, CronTaskId, InboundId, InboundStatus};

/// Longest sleep between looks at the store: tasks added by the CLI or another gateway, and
/// `run-now` requests, are seen within this.
const POLL: Duration = Duration::from_secs(5);
/// Tasks claimed per look.
const CLAIM_BATCH: u32 = 16;

/// Fires due tasks until shutdown.
pub(crate) async fn run(shared: Arc<Shared>) {
    loop {
        fire_due(&shared).await;
        let wait = until_next(&shared).await;
        tokio::select! {
            () = shared.shutdown.cancelled() => break,
            () = shared.cron_wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn until_next(shared: &Shared) -> Duration {
    let now = shared.clock.now();
    match shared.store.cron_next_due(now).await {
        Ok(Some(at)) => at.since(now).clamp(Duration::from_millis(20), POLL),
        Ok(None) => POLL,
        Err(error) => {
            tracing::warn!(%error, "cannot read the next scheduled task");
            POLL
        }
    }
}

async fn fire_due(shared: &Arc<Shared>) {
    let now = shared.clock.now();
    let tasks = match shared
        .store
        .cron_claim_due(&shared.me, shared.lease_ms(), CLAIM_BATCH, now)
        .await
    {
        Ok(tasks) => tasks,
        Err(error) => return tracing::error!(%error, "cannot claim due scheduled tasks"),
    };
    for task in tasks {
        if let Err(error) = fire(shared, &task, now).await {
            tracing::error!(task = task.id, error = %format!("{error:#}"), "could not start a scheduled run; it is retried when its lease lapses");
        }
    }
}

async fn fire(shared: &Arc<Shared>, task: &CronTask, now: EpochMs) -> anyhow::Result<()> {
    let schedule = match Schedule::stored(task.spec.kind, &task.spec.schedule, &task.spec.timezone) {
        Ok(schedule) => schedule,
        Err(error) => {
            // Edited by hand or written by another version: stop it rather than retry forever.
            let error = format!("the stored schedule is unusable: {error}");
            record(shared, task.id, CronRunStatus::Failed, Some(&error)).await;
            let stop = CronFired {
                next_run_at_ms: None,
                served_request_ms: task.run_requested_at_ms,
                ran: false,
            };
            shared
                .store
                .cron_fired(task.id, &shared.me, stop, shared.clock.now())
                .await?;
            return Ok(());
        }
    };
    let min_gap = shared
        .config()
        .agent(&task.spec.agent_id)
        .map_or_else(AgentLimits::default, |a| a.limits)
        .cron_min_interval;
    let plan = due::plan(
        &schedule,
        task.next_run_at_ms,
        task.run_requested_at_ms,
        now,
        min_gap,
    );
    match plan.action {
        Action::Run { due_ms } => {
            let text = prompt_for(task, &schedule, due_ms);
            queue(shared, task, due_ms, text, false).await?;
        }
        Action::Missed { due_ms } => {
            tracing::info!(task = task.id, due = %local(due_ms, schedule.tz()), "scheduled run missed (no gateway was running); telling its target");
            let error = format!(
                "the run at {} was missed: no gateway was running",
                local(due_ms, schedule.tz())
            );
            record(shared, task.id, CronRunStatus::Missed, Some(&error)).await;
            let text = missed_notice(task, &schedule, due_ms, plan.next_run_at_ms);
            queue(shared, task, due_ms, text, true).await?;
        }
        Action::Nothing => {}
    }
    let fired = CronFired {
        next_run_at_ms: plan.next_run_at_ms,
        served_request_ms: plan.served_request_ms,
        ran: matches!(plan.action, Action::Run { .. }),
    };
    if !shared
        .store
        .cron_fired(task.id, &shared.me, fired, shared.clock.now())
        .await?
    {
        tracing::warn!(
            task = task.id,
            "lost a scheduled task's lease while firing it; its run key keeps the run from repeating"
        );
    }
    Ok(())
}

/// Admits the run (or notice) as a turn of the task's account; a run already stored by an
/// earlier claimer is left to that one.
async fn queue(
    shared: &Arc<Shared>,
    task: &CronTask,
    due_ms: EpochMs,
    text: String,
    notice: bool,
) -> anyhow::Result<()> {
    let config = shared.config();
    let Some(account) = config
        .account(task.spec.account_id.as_str())
        .filter(|a| a.enabled)
    else {
        let error = format!(
            "account {:?} is not configured or not enabled; add it back or cancel the task",
            task.spec.account_id
        );
        tracing::warn!(task = task.id, %error, "scheduled task skipped");
        record(shared, task.id, CronRunStatus::Failed, Some(&error)).await;
        return Ok(());
    };
    scheduled_run::admit_run(shared, account, task, scheduled_run::Run { due_ms, text, notice }).await
}

/// What the agent is asked at a run.
fn prompt_for(task: &CronTask, schedule: &Schedule, due_ms: EpochMs) -> String {
    format!(
        "[Scheduled task #{} \"{}\", run for {} ({})]\n{}\n\n(Your answer is posted as is to {}; \
         give the result itself, there is nobody to answer follow-up questions.)",
        task.id,
        task.spec.name,
        local(due_ms, schedule.tz()),
        schedule.tz().name(),
        task.spec.prompt,
        task.spec.target.describe(),
    )
}

fn missed_notice(task: &CronTask, schedule: &Schedule, due_ms: EpochMs, next: Option<EpochMs>) -> String {
    let at = local(due_ms, schedule.tz());
    let next = next_run_text(schedule, next);
    let name = &task.spec.name;
    clawtalk_core::notices::scheduled_run_missed(name, &at, &next)
}

/// After a turn ended: when it was a scheduled run, records on its task how it went (the
/// gateway's [`crate::TurnEndHook`]).
pub(crate) fn turn_ended(shared: Arc<Shared>, ended: TurnEnded) -> BoxedEnd {
    Box::pin(async move {
        let task = ended
            .inbound
            .as_ref()
            .and_then(|i| i.cron.as_ref())
            .map(|c| c.task_id);
        if let Some(task) = task {
            record_outcome(&shared, task, ended.id, ended.error.as_deref()).await;
        }
    })
}

/// Records on the task how its run went. `error` is the turn's own failure (typically the
/// delivery); otherwise the inbox row says.
async fn record_outcome(shared: &Arc<Shared>, task: CronTaskId, inbound: InboundId, error: Option<&str>) {
    let (status, detail) = match error {
        Some(error) => (CronRunStatus::Failed, Some(error.to_owned())),
        None => match shared.store.inbound(inbound).await {
            Ok(Some(row)) => match row.status {
                InboundStatus::Replied => (CronRunStatus::Ok, None),
                InboundStatus::Failed => (
                    CronRunStatus::Failed,
                    Some(row.error.unwrap_or_else(|| "the run failed".to_owned())),
                ),
                InboundStatus::Cancelled => (CronRunStatus::Failed, Some("the run was stopped".to_owned())),
                // Not ours any more (lease lost): whoever finishes it records it.
                _ => return,
            },
            Ok(None) => return,
            Err(error) => return tracing::warn!(task, %error, "cannot read a scheduled run's outcome"),
        },
    };
    record(shared, task, status, detail.as_deref()).await;
}

async fn record(shared: &Shared, task: CronTaskId, status: CronRunStatus, error: Option<&str>) {
    if let Err(e) = shared
        .store
        .cron_record_result(task, status, error, shared.clock.now())
        .await
    {
        tracing::warn!(task, error = %e, "cannot record a scheduled run's outcome");
    }
}
