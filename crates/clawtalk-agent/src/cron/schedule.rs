//! When a task runs: a five-field cron expression, or one instant, read in an IANA time zone.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use clawtalk_core::clock::EpochMs;
use clawtalk_store::CronKind;

/// The zone a schedule is read in when the user names none: DingTalk's home.
pub const DEFAULT_TIMEZONE: &str = "Asia/Shanghai";

/// A schedule that cannot be used, with what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Not a known IANA zone.
    #[error("unknown time zone {0:?}; use an IANA name such as Asia/Shanghai, Asia/Tokyo or Europe/Berlin")]
    UnknownTimeZone(String),
    /// The cron expression does not parse.
    #[error(
        "invalid cron expression {expr:?} ({detail}); use five fields: minute hour day-of-month month \
         day-of-week, e.g. \"0 9 * * *\" for 9:00 every day or \"30 8 * * 1-5\" for 8:30 on weekdays"
    )]
    BadCron {
        /// What was given.
        expr: String,
        /// The parser's complaint.
        detail: String,
    },
    /// The expression never matches a real time (e.g. 30 February).
    #[error("the cron expression {0:?} never matches a date; check the day and month fields")]
    NeverRuns(String),
    /// The one-shot time does not parse.
    #[error(
        "cannot read the time {0:?}; give an RFC 3339 time such as 2026-12-02T09:00:00+08:00, a local \
         time such as 2026-12-02 09:00 (read in the task's time zone), or \"in 10 minutes\""
    )]
    BadTime(String),
    /// The one-shot time is not in the future.
    #[error("the time {at} has already passed (it is now {now}); give a future time")]
    InThePast {
        /// The requested time, in the task's zone.
        at: String,
        /// Now, in the task's zone.
        now: String,
    },
    /// A local time that does not exist (skipped by a daylight-saving change).
    #[error("{0} does not exist in that time zone (a daylight-saving change skips it)")]
    NoSuchLocalTime(String),
}

/// Most runs [`Schedule::runs_closer_than`] looks at: more than a year of a schedule that
/// keeps a 15-minute spacing.
pub const GAP_SCAN_RUNS: usize = 40_000;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    kind: Kind,
    tz: Tz,
}

#[derive(Debug, Clone)]
enum Kind {
    Cron { cron: Box<Cron>, expr: String },
    Once { at: EpochMs },
}

/// The zone named `name`, or [`DEFAULT_TIMEZONE`] when none is given.
///
/// # Errors
/// [`ScheduleError::UnknownTimeZone`].
pub fn timezone(name: Option<&str>) -> Result<Tz, ScheduleError> {
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(DEFAULT_TIMEZONE);
    Tz::from_str(name).map_err(|_| ScheduleError::UnknownTimeZone(name.to_owned()))
}

fn parser() -> CronParser {
    // Minute resolution: a seconds field would let a chat message start an agent turn
    // every second.
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
}

impl Schedule {
    /// A repeating schedule from a cron expression (aliases such as `@daily` included).
    ///
    /// # Errors
    /// [`ScheduleError::BadCron`] or [`ScheduleError::NeverRuns`].
    pub fn cron(expr: &str, tz: Tz) -> Result<Self, ScheduleError> {
        let expr = expr.trim();
        let cron = parser().parse(expr).map_err(|e| ScheduleError::BadCron {
            expr: expr.to_owned(),
            detail: e.to_string(),
        })?;
        let schedule = Self {
            kind: Kind::Cron {
                cron: Box::new(cron),
                expr: expr.to_owned(),
            },
            tz,
        };
        // Patterns such as "0 0 30 2 *" parse but never match.
        if schedule.next_after(EpochMs::from_millis(0)).is_none() {
            return Err(ScheduleError::NeverRuns(expr.to_owned()));
        }
        Ok(schedule)
    }

    /// A one-shot schedule at `text`: RFC 3339, a local `YYYY-MM-DD HH:MM[:SS]` in `tz`, or
    /// `in N minutes|hours|days` from `now`. It must lie after `now`.
    ///
    /// # Errors
    /// [`ScheduleError::BadTime`], [`ScheduleError::InThePast`] or
    /// [`ScheduleError::NoSuchLocalTime`].
    pub fn once(text: &str, tz: Tz, now: EpochMs) -> Result<Self, ScheduleError> {
        let at = parse_instant(text.trim(), tz, now)?;
        if at <= now {
            return Err(ScheduleError::InThePast {
                at: local(at, tz),
                now: local(now, tz),
            });
        }
        Ok(Self {
            kind: Kind::Once { at },
            tz,
        })
    }

    /// A stored schedule (`schedule_kind`, `schedule`, `timezone` columns), without the
    /// "must be in the future" check.
    ///
    /// # Errors
    /// A [`ScheduleError`] when the stored text no longer parses.
    pub fn stored(kind: CronKind, schedule: &str, timezone_name: &str) -> Result<Self, ScheduleError> {
        let tz = timezone(Some(timezone_name))?;
        match kind {
            CronKind::Cron => Self::cron(schedule, tz),
            CronKind::Once => {
                let at = DateTime::parse_from_rfc3339(schedule)
                    .map_err(|_| ScheduleError::BadTime(schedule.to_owned()))?;
                Ok(Self {
                    kind: Kind::Once {
                        at: EpochMs::from_millis(at.timestamp_millis()),
                    },
                    tz,
                })
            }
        }
    }

    /// How it is stored: the kind and the text (RFC 3339 in the task's zone for one-shots).
    #[must_use]
    pub fn to_stored(&self) -> (CronKind, String) {
        match &self.kind {
            Kind::Cron { expr, .. } => (CronKind::Cron, expr.clone()),
            Kind::Once { at } => (
                CronKind::Once,
                self.tz
                    .timestamp_millis_opt(at.as_millis())
                    .single()
                    .map_or_else(|| at.to_string(), |t| t.to_rfc3339()),
            ),
        }
    }

    /// The zone.
    #[must_use]
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// True for a repeating schedule.
    #[must_use]
    pub fn repeats(&self) -> bool {
        matches!(self.kind, Kind::Cron { .. })
    }

    /// The first run strictly after `after`; `None` when there is none (a one-shot time
    /// already reached).
    #[must_use]
    pub fn next_after(&self, after: EpochMs) -> Option<EpochMs> {
        match &self.kind {
            Kind::Once { at } => (*at > after).then_some(*at),
            Kind::Cron { cron, .. } => {
                let start = self.tz.timestamp_millis_opt(after.as_millis()).single()?;
                cron.find_next_occurrence(&start, false)
                    .ok()
                    .map(|t| EpochMs::from_millis(t.timestamp_millis()))
            }
        }
    }

    /// Two consecutive runs after `from` closer together than `min`, if any within a
    /// year (or the first [`GAP_SCAN_RUNS`] runs). A rarer close pair (say, the 31st at 23:59
    /// and the 1st at 00:00) can slip through; the scheduler spaces runs by the minimum
    /// anyway ([`super::due::plan`]), so this only decides whether to refuse the expression.
    #[must_use]
    pub fn runs_closer_than(&self, min: Duration, from: EpochMs) -> Option<(EpochMs, EpochMs)> {
        let until = from.plus(Duration::from_secs(366 * 86_400));
        let mut previous = self.next_after(from)?;
        for _ in 0..GAP_SCAN_RUNS {
            let next = self.next_after(previous)?;
            if next.since(previous) < min {
                return Some((previous, next));
            }
            if next > until {
                break;
            }
            previous = next;
        }
        None
    }

    /// For people: `cron 0 9 * * * (Asia/Shanghai)` or `once at 2026-12-02 09:00 (Asia/Shanghai)`.
    #[must_use]
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Cron { expr, .. } => format!("cron {expr} ({})", self.tz.name()),
            Kind::Once { at } => format!("once at {} ({})", local(*at, self.tz), self.tz.name()),
        }
    }
}

/// `2026-12-02 09:00` in `tz`.
#[must_use]
pub fn local(at: EpochMs, tz: Tz) -> String {
    tz.timestamp_millis_opt(at.as_millis())
        .single()
        .map_or_else(|| at.to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

fn parse_instant(text: &str, tz: Tz, now: EpochMs) -> Result<EpochMs, ScheduleError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(EpochMs::from_millis(at.timestamp_millis()));
    }
    if let Some(delay) = relative(text) {
        return now
            .as_millis()
            .checked_add(delay)
            .map(EpochMs::from_millis)
            .ok_or_else(|| ScheduleError::BadTime(text.to_owned()));
    }
    let formats = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ];
    let naive = formats
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .ok_or_else(|| ScheduleError::BadTime(text.to_owned()))?;
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(EpochMs::from_millis(t.timestamp_millis())),
        // The first of two (a clock set back): the earlier one is what "09:00" meant first.
        LocalResult::Ambiguous(first, _) => Ok(EpochMs::from_millis(first.timestamp_millis())),
        LocalResult::None => Err(ScheduleError::NoSuchLocalTime(text.to_owned())),
    }
}

/// `in 10 minutes`, `in 2 hours`, `in 1 day` (also `10m`, `2h`, `1d` after `in`), in ms.
fn relative(text: &str) -> Option<i64> {
    let rest = text.strip_prefix("in ")?.trim();
    let split = rest.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = rest.split_at(split);
    let n: i64 = number.parse().ok()?;
    let unit_ms = match unit.trim() {
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms).filter(|ms| *ms > 0)
}

/// Now as RFC 3339 in `tz`, for the model.
#[must_use]
pub fn rfc3339(at: EpochMs, tz: Tz) -> String {
    Utc.timestamp_millis_opt(at.as_millis())
        .single()
        .map_or_else(|| at.to_string(), |t| t.with_timezone(&tz).to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-01 22:00:00 UTC = 2026-12-02 06:00 in Shanghai.
    const NOW: EpochMs = EpochMs::from_millis(1_796_162_400_000);
    const DAY: Duration = Duration::from_secs(86_400);

    fn shanghai() -> Tz {
        timezone(None).unwrap()
    }

    #[test]
    fn daily_cron_runs_at_nine_in_the_tasks_zone() {
        let s = Schedule::cron("0 9 * * *", shanghai()).unwrap();
        let next = s.next_after(NOW).unwrap();
        assert_eq!(rfc3339(next, shanghai()), "2026-12-02T09:00:00+08:00");
        let after = s.next_after(next).unwrap();
        assert_eq!(after.since(next), DAY, "the next day, not the same instant again");
        let berlin = Schedule::cron("0 9 * * *", timezone(Some("Europe/Berlin")).unwrap()).unwrap();
        assert_eq!(
            rfc3339(berlin.next_after(NOW).unwrap(), shanghai()),
            "2026-12-02T16:00:00+08:00",
            "09:00 in Berlin (CET) is 16:00 in Shanghai"
        );
        assert_eq!(s.describe(), "cron 0 9 * * * (Asia/Shanghai)");
        assert!(s.repeats());
    }

    #[test]
    fn daylight_saving_moves_the_utc_time_not_the_local_one() {
        let ny = timezone(Some("America/New_York")).unwrap();
        let s = Schedule::cron("0 9 * * *", ny).unwrap();
        // 2026-03-07 (EST, -05:00) and 2026-03-09 (EDT, -04:00).
        let before = s.next_after(EpochMs::from_millis(1_772_841_600_000)).unwrap();
        assert_eq!(rfc3339(before, ny), "2026-03-07T09:00:00-05:00");
        let later = s.next_after(before.plus(DAY)).unwrap();
        assert_eq!(rfc3339(later, ny), "2026-03-09T09:00:00-04:00");
    }

    #[test]
    fn bad_crons_and_zones_say_what_to_write() {
        let err = Schedule::cron("every morning", shanghai()).unwrap_err();
        assert!(matches!(err, ScheduleError::BadCron { .. }));
        assert!(err.to_string().contains("five fields"), "{err}");
        let err = Schedule::cron("0 0 9 * * *", shanghai()).unwrap_err();
        assert!(
            matches!(err, ScheduleError::BadCron { .. }),
            "no seconds field: {err}"
        );
        assert_eq!(
            Schedule::cron("0 0 30 2 *", shanghai()).unwrap_err(),
            ScheduleError::NeverRuns("0 0 30 2 *".into())
        );
        let err = timezone(Some("Beijing")).unwrap_err();
        assert!(err.to_string().contains("Asia/Shanghai"), "{err}");
        assert!(Schedule::cron("@daily", shanghai()).is_ok());
    }

    #[test]
    fn one_shot_times_in_every_accepted_spelling() {
        let tz = shanghai();
        let at = |t: &str| Schedule::once(t, tz, NOW).map(|s| s.next_after(NOW).unwrap());
        let nine = at("2026-12-02T09:00:00+08:00").unwrap();
        assert_eq!(
            at("2026-12-02 09:00").unwrap(),
            nine,
            "local time in the task's zone"
        );
        assert_eq!(at("2026-12-02T01:00:00Z").unwrap(), nine);
        assert_eq!(at("in 10 minutes").unwrap(), NOW.plus(Duration::from_secs(600)));
        assert_eq!(at("in 2h").unwrap(), NOW.plus(Duration::from_secs(7_200)));
        let past = at("2026-12-02 05:00").unwrap_err();
        assert!(matches!(past, ScheduleError::InThePast { .. }), "{past}");
        assert!(
            past.to_string().contains("2026-12-02 06:00"),
            "now is shown: {past}"
        );
        assert!(matches!(
            at("tomorrow-ish").unwrap_err(),
            ScheduleError::BadTime(_)
        ));
        assert!(matches!(
            at("in 0 minutes").unwrap_err(),
            ScheduleError::BadTime(_)
        ));
        let once = Schedule::once("2026-12-02 09:00", tz, NOW).unwrap();
        assert_eq!(once.next_after(nine), None, "a one-shot runs once");
        let (kind, text) = once.to_stored();
        assert_eq!(
            (kind, text.as_str()),
            (CronKind::Once, "2026-12-02T09:00:00+08:00")
        );
        let back = Schedule::stored(kind, &text, "Asia/Shanghai").unwrap();
        assert_eq!(back.next_after(NOW), Some(nine));
        assert_eq!(once.describe(), "once at 2026-12-02 09:00 (Asia/Shanghai)");
    }

    #[test]
    fn runs_closer_than_the_minimum_are_found() {
        const MIN: Duration = Duration::from_secs(60);
        let tz = shanghai();
        let every_minute = Schedule::cron("*/1 * * * *", tz).unwrap();
        let (a, b) = every_minute.runs_closer_than(15 * MIN, NOW).unwrap();
        assert_eq!(b.since(a), MIN);
        let quarter = Schedule::cron("*/15 * * * *", tz).unwrap();
        assert_eq!(quarter.runs_closer_than(15 * MIN, NOW), None);
        assert!(quarter.runs_closer_than(16 * MIN, NOW).is_some());
        // Only close once a day, hours after the first run looked at.
        let pair = Schedule::cron("0,5 17 * * *", tz).unwrap();
        let (a, b) = pair.runs_closer_than(15 * MIN, NOW).unwrap();
        assert_eq!((local(a, tz).as_str(), b.since(a)), ("2026-12-02 17:00", 5 * MIN));
        assert_eq!(
            Schedule::cron("0 9 * * *", tz)
                .unwrap()
                .runs_closer_than(15 * MIN, NOW),
            None
        );
        let once = Schedule::once("in 10 minutes", tz, NOW).unwrap();
        assert_eq!(once.runs_closer_than(15 * MIN, NOW), None, "one run has no gap");
    }

    #[test]
    fn a_skipped_local_time_is_refused() {
        let ny = timezone(Some("America/New_York")).unwrap();
        let err = Schedule::once("2026-03-08 02:30", ny, EpochMs::from_millis(0)).unwrap_err();
        assert!(matches!(err, ScheduleError::NoSuchLocalTime(_)), "{err}");
    }
}
