//! `clawtalk cron list|add|rm|run-now`: the operator's view of scheduled tasks.
//!
//! Like `pairing`, this is a separate process from the gateway: both open the same store.
//! A running gateway sees new tasks and `run-now` requests within a few seconds.

use std::io::Write;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};

use super::common::{ConfigArg, open_store, pick_account, table};
use clawtalk_agent::cron::Schedule;
use clawtalk_agent::cron::request::{Requester, TaskRequest, check, next_run_text, webhook_target};
use clawtalk_config::Config;
use clawtalk_core::clock::{Clock, SystemClock};
use clawtalk_store::{CronStore, CronTarget, CronTask, CronTaskId};

/// `clawtalk cron …`.
#[derive(Debug, Subcommand)]
pub enum CronCommand {
    /// List scheduled tasks (active ones unless --all).
    List(ListArgs),
    /// Schedule a task: the agent gets PROMPT at each run and its answer goes to the target.
    Add(Box<AddArgs>),
    /// Cancel a task.
    Rm(IdArgs),
    /// Run a task once now (a running gateway starts it within a few seconds).
    RunNow(IdArgs),
}

/// `cron list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Also finished and cancelled tasks.
    #[arg(long)]
    all: bool,
}

/// `cron add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// What the agent should do at each run.
    #[arg(long)]
    prompt: String,
    /// Short name (default: the start of the prompt).
    #[arg(long)]
    name: Option<String>,
    /// Repeating: a five-field cron expression, e.g. "0 9 * * *".
    #[arg(long, conflicts_with = "at")]
    cron: Option<String>,
    /// Once: "2026-12-02 09:00", an RFC 3339 time, or "in 10 minutes".
    #[arg(long)]
    at: Option<String>,
    /// IANA time zone the schedule is read in.
    #[arg(long = "tz", default_value = clawtalk_agent::cron::DEFAULT_TIMEZONE)]
    timezone: String,
    /// The bot account whose agent runs it and that delivers it.
    #[arg(long, value_name = "ID")]
    account: Option<String>,
    /// The agent (default: the default agent).
    #[arg(long, value_name = "ID")]
    agent: Option<String>,
    /// Deliver to a custom robot webhook (https://oapi.dingtalk.com/robot/send?access_token=…).
    #[arg(long, value_name = "URL", conflicts_with_all = ["user", "group"])]
    webhook: Option<String>,
    /// Environment variable holding the webhook's SEC… signing secret.
    #[arg(long, value_name = "VAR", requires = "webhook")]
    secret_env: Option<String>,
    /// Deliver as a DM to this staff id.
    #[arg(long, value_name = "STAFF_ID", conflicts_with = "group")]
    user: Option<String>,
    /// Deliver into this group (openConversationId).
    #[arg(long, value_name = "CID")]
    group: Option<String>,
}

/// `cron rm|run-now`.
#[derive(Debug, Args)]
pub struct IdArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The task id (see `clawtalk cron list`).
    id: CronTaskId,
}

/// Runs a `cron` subcommand.
pub async fn run(command: CronCommand) -> anyhow::Result<()> {
    let config = match &command {
        CronCommand::List(a) => &a.config,
        CronCommand::Add(a) => &a.config,
        CronCommand::Rm(a) | CronCommand::RunNow(a) => &a.config,
    }
    .load()?;
    let store = open_store(&config).await?;
    let result = match command {
        CronCommand::List(args) => list(&*store, args.all).await,
        CronCommand::Add(args) => add(&*store, &config, &args).await,
        CronCommand::Rm(args) => rm(&*store, args.id).await,
        CronCommand::RunNow(args) => run_now(&*store, args.id).await,
    };
    store.close().await;
    result
}

fn schedule_of(task: &CronTask) -> Option<Schedule> {
    Schedule::stored(task.spec.kind, &task.spec.schedule, &task.spec.timezone).ok()
}

async fn list(store: &dyn CronStore, all: bool) -> anyhow::Result<()> {
    let tasks = store.cron_list(all).await?;
    let mut out = std::io::stdout().lock();
    if tasks.is_empty() {
        writeln!(out, "no {}scheduled tasks", if all { "" } else { "active " })?;
        return Ok(());
    }
    let header = [
        "ID", "NAME", "SCHEDULE", "NEXT RUN", "TARGET", "AGENT", "STATUS", "LAST RUN",
    ];
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let schedule = schedule_of(t);
            let last = match (t.last_status, &t.last_error) {
                (Some(status), Some(error)) => format!("{status}: {error}"),
                (Some(status), None) => status.to_string(),
                (None, _) => "-".to_owned(),
            };
            vec![
                t.id.to_string(),
                t.spec.name.clone(),
                schedule
                    .as_ref()
                    .map_or_else(|| "(unusable)".to_owned(), Schedule::describe),
                schedule
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |s| next_run_text(s, t.next_run_at_ms)),
                t.spec.target.describe(),
                format!("{}/{}", t.spec.account_id, t.spec.agent_id),
                t.status.to_string(),
                last,
            ]
        })
        .collect();
    write!(out, "{}", table(&header, &rows))?;
    Ok(())
}

async fn add(store: &dyn CronStore, config: &Config, args: &AddArgs) -> anyhow::Result<()> {
    let account = pick_account(config, args.account.as_deref())?;
    let agent_id = args.agent.as_deref().unwrap_or(&config.default_agent);
    let Some(agent) = config.agent(agent_id) else {
        bail!("agent {agent_id:?} is not configured; pick one of agents.list with --agent");
    };
    let target = match (&args.webhook, &args.user, &args.group) {
        (Some(url), _, _) => {
            let secret = match &args.secret_env {
                Some(var) => Some(
                    std::env::var(var)
                        .with_context(|| format!("--secret-env {var}: the variable is not set"))?,
                ),
                None => None,
            };
            webhook_target(url, secret.as_deref(), account).map_err(|e| anyhow!(e))?
        }
        (None, Some(user), _) => CronTarget::User(user.clone()),
        (None, None, Some(group)) => CronTarget::Group(group.clone()),
        (None, None, None) => {
            bail!("say where the answers go: --webhook URL, --user STAFF_ID or --group CID")
        }
    };
    let request = TaskRequest {
        name: args.name.as_deref(),
        prompt: &args.prompt,
        cron: args.cron.as_deref(),
        every: None,
        at: args.at.as_deref(),
        timezone: Some(&args.timezone),
    };
    let who = Requester {
        account,
        agent_id,
        created_by: None,
        origin: None,
        min_interval: agent.limits.cron_min_interval,
    };
    let now = SystemClock.now();
    let checked = check(&request, target, &who, now).map_err(|e| anyhow!(e))?;
    let task = store.cron_create(checked.task, now).await?;
    println!(
        "scheduled task #{} \"{}\": {}, next run {}, to {}",
        task.id,
        task.spec.name,
        checked.schedule.describe(),
        next_run_text(&checked.schedule, task.next_run_at_ms),
        task.spec.target.describe()
    );
    Ok(())
}

async fn rm(store: &dyn CronStore, id: CronTaskId) -> anyhow::Result<()> {
    match store.cron_cancel(id, SystemClock.now()).await? {
        Some(task) => {
            println!("cancelled scheduled task #{} \"{}\"", task.id, task.spec.name);
            Ok(())
        }
        None => Err(not_active(store, id).await),
    }
}

async fn run_now(store: &dyn CronStore, id: CronTaskId) -> anyhow::Result<()> {
    match store.cron_run_now(id, SystemClock.now()).await? {
        Some(task) => {
            println!(
                "run requested for scheduled task #{} \"{}\"; a running gateway starts it within a few seconds",
                task.id, task.spec.name
            );
            Ok(())
        }
        None => Err(not_active(store, id).await),
    }
}

async fn not_active(store: &dyn CronStore, id: CronTaskId) -> anyhow::Error {
    match store.cron_get(id).await {
        Ok(Some(task)) => anyhow!("scheduled task #{id} is already {}", task.status),
        Ok(None) => anyhow!("there is no scheduled task #{id}; `clawtalk cron list` shows them"),
        Err(error) => anyhow!("cannot read scheduled task #{id}: {error}"),
    }
}
