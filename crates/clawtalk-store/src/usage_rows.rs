//! Usage rows: the upsert that adds to a row and the decoder, the same for both backends.

use crate::decode::Columns;
use crate::error::StoreError;
use crate::model::{UsageCounts, UsageRow};

/// The counter columns of `usage_daily`, in the order [`counter_values`] gives them.
macro_rules! usage_counters {
    () => {
        "prompt_tokens, completion_tokens, model_calls, api_messages, api_cards, api_media, \
         api_other, api_exempt, quota_errors"
    };
}
pub(crate) use usage_counters;

/// `SET` of the upsert: each counter adds the new row's value to the stored one.
macro_rules! usage_sums {
    () => {
        "prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens, \
         completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens, \
         model_calls = usage_daily.model_calls + excluded.model_calls, \
         api_messages = usage_daily.api_messages + excluded.api_messages, \
         api_cards = usage_daily.api_cards + excluded.api_cards, \
         api_media = usage_daily.api_media + excluded.api_media, \
         api_other = usage_daily.api_other + excluded.api_other, \
         api_exempt = usage_daily.api_exempt + excluded.api_exempt, \
         quota_errors = usage_daily.quota_errors + excluded.quota_errors"
    };
}
pub(crate) use usage_sums;

/// The counts as the integers the columns hold (clamped: no count comes near `i64::MAX`).
pub fn counter_values(counts: &UsageCounts) -> [i64; 9] {
    [
        counts.prompt_tokens,
        counts.completion_tokens,
        counts.model_calls,
        counts.api_messages,
        counts.api_cards,
        counts.api_media,
        counts.api_other,
        counts.api_exempt,
        counts.quota_errors,
    ]
    .map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// Rows to add in key order, empty ones dropped: two replicas adding to the same rows take
/// their row locks in the same order, so they never deadlock.
pub fn in_key_order(mut rows: Vec<UsageRow>) -> Vec<UsageRow> {
    rows.retain(|row| !row.counts.is_empty());
    rows.sort_by(|a, b| (&a.day, &a.account_id, &a.agent_id).cmp(&(&b.day, &b.account_id, &b.agent_id)));
    rows
}

pub fn usage_row(row: &impl Columns) -> Result<UsageRow, StoreError> {
    let count =
        |column: &str| -> Result<u64, StoreError> { Ok(u64::try_from(row.int(column)?).unwrap_or(0)) };
    Ok(UsageRow {
        day: row.text("day")?,
        account_id: row.text("account_id")?,
        agent_id: row.text("agent_id")?,
        counts: UsageCounts {
            prompt_tokens: count("prompt_tokens")?,
            completion_tokens: count("completion_tokens")?,
            model_calls: count("model_calls")?,
            api_messages: count("api_messages")?,
            api_cards: count("api_cards")?,
            api_media: count("api_media")?,
            api_other: count("api_other")?,
            api_exempt: count("api_exempt")?,
            quota_errors: count("quota_errors")?,
        },
    })
}
