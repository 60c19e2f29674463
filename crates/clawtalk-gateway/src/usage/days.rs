//! Usage days: UTC calendar days as `YYYY-MM-DD`, the text the store keys rows by.
//!
//! UTC rather than a local zone: replicas in different zones must key the same call to the
//! same day. DingTalk's own month (China time, UTC+8) therefore starts eight hours before ours.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use clawtalk_core::clock::EpochMs;

fn date_of(at: EpochMs) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(at.as_millis())
        .unwrap_or_default()
        .date_naive()
}

fn text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// The UTC day of `at`.
#[must_use]
pub fn day_of(at: EpochMs) -> String {
    text(date_of(at))
}

/// The first day of `at`'s UTC month.
#[must_use]
pub fn month_start(at: EpochMs) -> String {
    let date = date_of(at);
    text(date.with_day(1).unwrap_or(date))
}

/// The `count` days ending with `at`'s, oldest first.
#[must_use]
pub fn last_days(at: EpochMs, count: u32) -> Vec<String> {
    let today = date_of(at);
    (0..i64::from(count))
        .rev()
        .map(|back| text(today - Duration::days(back)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-12-01T23:59:59.999Z.
    const END_OF_DEC_1: i64 = 1_764_633_599_999;

    #[test]
    fn days_are_utc_and_months_start_on_the_first() {
        let at = EpochMs::from_millis(END_OF_DEC_1);
        assert_eq!(day_of(at), "2025-12-01");
        assert_eq!(day_of(EpochMs::from_millis(END_OF_DEC_1 + 1)), "2025-12-02");
        assert_eq!(month_start(EpochMs::from_millis(END_OF_DEC_1 + 1)), "2025-12-01");
        assert_eq!(last_days(at, 3), ["2025-11-29", "2025-11-30", "2025-12-01"]);
    }
}
