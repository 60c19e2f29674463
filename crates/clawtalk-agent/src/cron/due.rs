//! What a gateway does with a claimed task: run it, or report a run missed while no gateway
//! was running, and when it runs next.
//!
//! # Missed runs
//!
//! A run is due at its scheduled time. A gateway that sees it up to [`MISSED_RUN_GRACE`]
//! late (it was down or busy, e.g. restarted at 09:20 for a 09:00 task) still runs it, once.
//! Later than that the run is skipped and the task's target is told it was missed, since a
//! "9 AM weather" report at 3 PM misleads more than it helps. Either way the task continues
//! from its next time after *now*: however many runs a long downtime covered, at most one
//! runs (or one notice is sent). A one-shot task past its time ends after that one run or
//! notice. A `run-now` request runs at once and leaves the schedule alone.

use std::time::Duration;

use clawtalk_core::clock::EpochMs;

use super::schedule::Schedule;

/// How late a scheduled run may start and still run.
pub const MISSED_RUN_GRACE: Duration = Duration::from_secs(30 * 60);

/// What to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start a run for the time `due_ms` (its run key).
    Run {
        /// The scheduled (or requested) time this run is for.
        due_ms: EpochMs,
    },
    /// Tell the target the run at `due_ms` was skipped.
    Missed {
        /// The scheduled time that passed.
        due_ms: EpochMs,
    },
    /// Nothing is due (a lease taken over after the run was already recorded).
    Nothing,
}

/// The decision for one claimed task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// What to do now.
    pub action: Action,
    /// The next scheduled run after this one; `None` ends a one-shot task.
    pub next_run_at_ms: Option<EpochMs>,
    /// The `run-now` request this plan serves.
    pub served_request_ms: Option<EpochMs>,
}

/// Decides for a task scheduled at `next_run_at_ms` (with an optional `run-now` request
/// at `requested_ms`) at `now`. The next run is at least `min_gap` after this one
/// (the agent's `limits.cronMinIntervalMinutes`) after it starts: creation refuses tighter schedules, and
/// this keeps one stored before the limit (or edited by hand) from running more often.
#[must_use]
pub fn plan(
    schedule: &Schedule,
    next_run_at_ms: Option<EpochMs>,
    requested_ms: Option<EpochMs>,
    now: EpochMs,
    min_gap: Duration,
) -> Plan {
    if let Some(requested) = requested_ms {
        return Plan {
            action: Action::Run { due_ms: requested },
            next_run_at_ms,
            served_request_ms: Some(requested),
        };
    }
    let Some(due) = next_run_at_ms.filter(|due| *due <= now) else {
        return Plan {
            action: Action::Nothing,
            next_run_at_ms,
            served_request_ms: None,
        };
    };
    let action = if now.since(due) <= MISSED_RUN_GRACE {
        Action::Run { due_ms: due }
    } else {
        Action::Missed { due_ms: due }
    };
    Plan {
        action,
        next_run_at_ms: schedule.next_after(
            now.max(due)
                .plus(min_gap.saturating_sub(Duration::from_millis(1))),
        ),
        served_request_ms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cron::schedule::timezone;

    const MIN: i64 = 60_000;
    /// 2026-12-02 09:00 in Shanghai.
    const NINE: i64 = 1_796_173_200_000;

    /// The default `limits.cronMinIntervalMinutes`.
    const GAP: Duration = Duration::from_secs(15 * 60);

    fn at(ms: i64) -> EpochMs {
        EpochMs::from_millis(ms)
    }

    fn daily() -> Schedule {
        Schedule::cron("0 9 * * *", timezone(None).unwrap()).unwrap()
    }

    #[test]
    fn a_run_on_time_or_within_the_grace_runs_once_and_moves_to_tomorrow() {
        for late in [0, 20 * MIN, 30 * MIN] {
            let p = plan(&daily(), Some(at(NINE)), None, at(NINE + late), GAP);
            assert_eq!(p.action, Action::Run { due_ms: at(NINE) }, "{late}");
            assert_eq!(p.next_run_at_ms, Some(at(NINE + 1_440 * MIN)));
        }
    }

    #[test]
    fn after_a_long_downtime_one_notice_and_the_next_future_run() {
        // Down for three days and six hours: one missed notice, not four runs.
        let now = NINE + 3 * 1_440 * MIN + 6 * 60 * MIN;
        let p = plan(&daily(), Some(at(NINE)), None, at(now), GAP);
        assert_eq!(p.action, Action::Missed { due_ms: at(NINE) });
        assert_eq!(p.next_run_at_ms, Some(at(NINE + 4 * 1_440 * MIN)));
        assert!(p.next_run_at_ms.unwrap() > at(now));
        let late = plan(&daily(), Some(at(NINE)), None, at(NINE + 31 * MIN), GAP);
        assert_eq!(
            late.action,
            Action::Missed { due_ms: at(NINE) },
            "just past the grace"
        );
    }

    #[test]
    fn one_shots_end_after_their_run_or_notice() {
        let tz = timezone(None).unwrap();
        let once = Schedule::once("2026-12-02 09:00", tz, at(NINE - MIN)).unwrap();
        let p = plan(&once, Some(at(NINE)), None, at(NINE + MIN), GAP);
        assert_eq!(
            (p.action, p.next_run_at_ms),
            (Action::Run { due_ms: at(NINE) }, None)
        );
        let p = plan(&once, Some(at(NINE)), None, at(NINE + 120 * MIN), GAP);
        assert_eq!(
            (p.action, p.next_run_at_ms),
            (Action::Missed { due_ms: at(NINE) }, None)
        );
    }

    #[test]
    fn runs_are_spaced_by_the_minimum_interval() {
        let every_minute = Schedule::cron("* * * * *", timezone(None).unwrap()).unwrap();
        let p = plan(&every_minute, Some(at(NINE)), None, at(NINE), GAP);
        assert_eq!(p.action, Action::Run { due_ms: at(NINE) });
        assert_eq!(p.next_run_at_ms, Some(at(NINE + 15 * MIN)), "not NINE + 1 minute");
        let late = plan(&every_minute, Some(at(NINE)), None, at(NINE + 20 * MIN), GAP);
        assert_eq!(
            late.next_run_at_ms,
            Some(at(NINE + 35 * MIN)),
            "spacing counts from when the run starts"
        );
        let p = plan(&daily(), Some(at(NINE)), None, at(NINE), GAP);
        assert_eq!(
            p.next_run_at_ms,
            Some(at(NINE + 1_440 * MIN)),
            "a wider schedule is unchanged"
        );
    }

    #[test]
    fn run_now_runs_at_once_and_keeps_the_schedule() {
        let p = plan(
            &daily(),
            Some(at(NINE)),
            Some(at(NINE - 100 * MIN)),
            at(NINE - 99 * MIN),
            GAP,
        );
        assert_eq!(
            p.action,
            Action::Run {
                due_ms: at(NINE - 100 * MIN)
            }
        );
        assert_eq!(
            (p.next_run_at_ms, p.served_request_ms),
            (Some(at(NINE)), Some(at(NINE - 100 * MIN)))
        );
        let idle = plan(&daily(), Some(at(NINE)), None, at(NINE - MIN), GAP);
        assert_eq!(
            (idle.action, idle.next_run_at_ms),
            (Action::Nothing, Some(at(NINE)))
        );
    }
}
