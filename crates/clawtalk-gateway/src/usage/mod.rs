//! Usage per day, account and agent (model tokens, DingTalk API calls) and the monthly
//! DingTalk quota: counted in memory ([`meter`]), added to the store every
//! [`FLUSH_EVERY`] and at shutdown, so a crash loses at most that window.

pub mod days;
pub(crate) mod meter;
pub mod quota;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use clawtalk_store::{UsageCounts, UsageRow};

use crate::Shared;
use quota::QuotaLevel;

pub use days::last_days;
pub use quota::{QuotaStatus, statuses};

/// How often counted usage is added to the store.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// What a turn used: the tokens its provider reported (none when the provider reports none:
/// nothing is estimated) and its requests to the model.
pub(crate) fn of_turn(outcome: &clawtalk_agent::TurnOutcome) -> UsageCounts {
    UsageCounts {
        prompt_tokens: outcome.usage.prompt_tokens,
        completion_tokens: outcome.usage.completion_tokens,
        model_calls: u64::from(outcome.model_calls),
        ..UsageCounts::default()
    }
}

/// Adds what the meter counted to the store every [`FLUSH_EVERY`] until shutdown (the last
/// flush is `Gateway::shutdown`'s), and logs a quota warning once per account, month and level.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut warned = HashSet::new();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => break,
            _ = tick.tick() => {
                if flush(&shared).await {
                    warn_quota(&shared, &mut warned).await;
                }
            }
        }
    }
}

/// Adds what the meter counted to the store; true when something was stored. A failed write
/// keeps the counts for the next flush.
pub(crate) async fn flush(shared: &Shared) -> bool {
    let rows = shared.usage.take();
    if rows.is_empty() {
        return false;
    }
    match shared.store.usage_add(rows.clone()).await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(%error, "cannot store usage figures; they go with the next flush");
            shared.usage.put_back(rows);
            false
        }
    }
}

/// The stored rows from `from_day` on with what the meter has not stored yet, by day,
/// account and agent.
pub(crate) async fn since(shared: &Shared, from_day: &str) -> anyhow::Result<Vec<UsageRow>> {
    let stored = shared.store.usage_since(from_day).await?;
    let mut merged: BTreeMap<meter::Key, UsageCounts> = BTreeMap::new();
    let pending = shared
        .usage
        .peek()
        .into_iter()
        .filter(|r| r.day.as_str() >= from_day);
    for row in stored.into_iter().chain(pending) {
        merged
            .entry((row.day, row.account_id, row.agent_id))
            .or_default()
            .add(&row.counts);
    }
    Ok(merged
        .into_iter()
        .map(|(key, counts)| meter::row_of(key, counts))
        .collect())
}

/// Each enabled account's use of its monthly quota now.
pub(crate) async fn quota_now(shared: &Shared) -> anyhow::Result<Vec<QuotaStatus>> {
    let month = since(shared, &days::month_start(shared.clock.now())).await?;
    Ok(statuses(&shared.config(), &month))
}

async fn warn_quota(shared: &Shared, warned: &mut HashSet<(String, String, QuotaLevel)>) {
    let statuses = match quota_now(shared).await {
        Ok(statuses) => statuses,
        Err(error) => {
            tracing::debug!(error = %format!("{error:#}"), "cannot read this month's usage");
            return;
        }
    };
    let month = days::month_start(shared.clock.now());
    for status in statuses.into_iter().filter(|s| s.level != QuotaLevel::Fine) {
        if !warned.insert((status.account_id.clone(), month.clone(), status.level)) {
            continue;
        }
        let used = status.used;
        let quota = status.quota;
        let account = &status.account_id;
        match status.level {
            QuotaLevel::Reached => tracing::warn!(
                account,
                used,
                quota,
                "DingTalk API calls this month reached channels.dingtalk.monthlyApiQuota: DingTalk refuses further calls (90020 ApiCountLimitForOrg) until the month ends; raise the org's edition or use fewer calls (markdown instead of cards)"
            ),
            _ => tracing::warn!(
                account,
                used,
                quota,
                percent = status.percent(),
                "DingTalk API calls this month passed 80% of channels.dingtalk.monthlyApiQuota"
            ),
        }
    }
}
