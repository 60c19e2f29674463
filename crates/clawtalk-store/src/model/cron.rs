//! Scheduled tasks: what runs, when, and where its answer goes.

use clawtalk_core::clock::EpochMs;
use clawtalk_core::ids::AccountId;
use clawtalk_core::mask::describe_custom_robot;
use std::fmt;
use std::str::FromStr;

use super::inbox::Lease;
use crate::error::StoreError;

/// Primary key of a scheduled task.
pub type CronTaskId = i64;

/// How a task's times are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CronKind {
    /// A five-field cron expression, repeated.
    Cron,
    /// One instant (stored as RFC 3339).
    Once,
}

/// Lifecycle of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CronStatus {
    /// Waiting for its next run.
    Active,
    /// A one-shot task that has run (or missed its time).
    Done,
    /// Cancelled by a user or the operator.
    Cancelled,
}

/// Outcome of a task's last run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CronRunStatus {
    /// The answer was delivered.
    Ok,
    /// The model or the delivery failed (see `last_error`).
    Failed,
    /// The run was skipped: its time passed while no gateway was running.
    Missed,
}

macro_rules! spelled {
    ($ty:ty, $what:literal, $($variant:ident = $text:literal),+) => {
        impl $ty {
            /// The stored spelling.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }
        impl FromStr for $ty {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self, StoreError> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(StoreError::decode(format!(concat!("unknown ", $what, " {:?}"), other))),
                }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

spelled!(CronKind, "schedule kind", Cron = "cron", Once = "once");
spelled!(
    CronStatus,
    "task status",
    Active = "active",
    Done = "done",
    Cancelled = "cancelled"
);
spelled!(
    CronRunStatus,
    "run status",
    Ok = "ok",
    Failed = "failed",
    Missed = "missed"
);

/// Where a task's answer goes.
#[derive(Clone, PartialEq, Eq)]
pub enum CronTarget {
    /// A DM to this staff id.
    User(String),
    /// A group (`openConversationId`) the bot is in.
    Group(String),
    /// A group custom robot's webhook (the URL carries its `access_token`) and its optional
    /// `SEC…` signing secret.
    Webhook {
        /// `…/robot/send?access_token=…`.
        url: String,
        /// Signing secret.
        secret: Option<String>,
    },
}

impl CronTarget {
    /// The stored `target_kind`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::Group(_) => "group",
            Self::Webhook { .. } => "webhook",
        }
    }

    /// For people: the DM or group, or the webhook without its token.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::User(id) => format!("DM to {id}"),
            Self::Group(cid) => format!("group {cid}"),
            Self::Webhook { url, secret } => describe_custom_robot(url, secret.is_some()),
        }
    }
}

impl fmt::Debug for CronTarget {
    // The webhook's access_token and the secret are credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A task to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCronTask {
    /// Account (bot) whose agent runs it and whose credentials send the answer.
    pub account_id: AccountId,
    /// Agent that answers.
    pub agent_id: String,
    /// Short name shown in lists and failure notices.
    pub name: String,
    /// The instruction the agent gets at each run.
    pub prompt: String,
    /// Cron or one-shot.
    pub kind: CronKind,
    /// The cron expression, or the one-shot time as RFC 3339.
    pub schedule: String,
    /// IANA time zone the schedule is read in.
    pub timezone: String,
    /// Where the answer goes.
    pub target: CronTarget,
    /// Staff id of the user who asked for it (none when made with the CLI).
    pub created_by: Option<String>,
    /// The chat it was asked for in (`user:<staffId>` / `group:<cid>`).
    pub origin: Option<String>,
    /// First run, epoch ms.
    pub next_run_at_ms: EpochMs,
}

/// A stored task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronTask {
    /// Id.
    pub id: CronTaskId,
    /// What was asked for.
    pub spec: NewCronTask,
    /// Lifecycle.
    pub status: CronStatus,
    /// Next scheduled run (`None` once a one-shot task fired).
    pub next_run_at_ms: Option<EpochMs>,
    /// A pending `run-now` request, epoch ms.
    pub run_requested_at_ms: Option<EpochMs>,
    /// Paused by the operator since then: an active task that skips its scheduled runs
    /// (a `run-now` still runs it).
    pub paused_at_ms: Option<EpochMs>,
    /// The gateway firing it right now, if any.
    pub lease: Option<Lease>,
    /// Runs fired so far (missed ones not counted).
    pub runs: u32,
    /// When it last fired, epoch ms.
    pub last_run_at_ms: Option<EpochMs>,
    /// How the last run went.
    pub last_status: Option<CronRunStatus>,
    /// Why the last run failed or was skipped.
    pub last_error: Option<String>,
    /// Created, epoch ms.
    pub created_at_ms: EpochMs,
    /// Last changed, epoch ms.
    pub updated_at_ms: EpochMs,
}

/// What a gateway did with a claimed task (see `CronStore::cron_fired`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CronFired {
    /// The next scheduled run; `None` ends a one-shot task (status `done`).
    pub next_run_at_ms: Option<EpochMs>,
    /// The `run-now` request this firing served, cleared unless a newer one arrived.
    pub served_request_ms: Option<EpochMs>,
    /// True when a run was started (counts in `runs` and `last_run_at_ms`).
    pub ran: bool,
}
