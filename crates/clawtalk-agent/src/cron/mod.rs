//! Scheduled tasks: "check the weather in Beijing at 9 AM every day and post it to this
//! webhook". Users create them by talking to the agent (its `cron_create`, `cron_list` and
//! `cron_cancel` tools) or with `clawtalk cron add`; they live in the store and the gateway
//! runs each due one as an agent turn whose answer goes to the task's target.
//!
//! - [`schedule`]: cron expressions and one-shot times in IANA time zones.
//! - [`due`]: the missed-run policy (what happens to runs a downtime skipped).
//! - [`request`]: the checks shared by the tools and the CLI.

pub mod due;
pub mod request;
pub mod schedule;

pub use schedule::{DEFAULT_TIMEZONE, Schedule, ScheduleError};
