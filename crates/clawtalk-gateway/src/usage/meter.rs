//! Usage counted in memory between flushes: adding to it is a map update under a lock, so a
//! model answer or a DingTalk call costs no store write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use clawtalk_core::clock::Clock;
use clawtalk_store::{USAGE_NO_AGENT, UsageCounts, UsageRow};
use dingtalk::endpoints::ApiEndpoint;

use super::days::day_of;

/// Day, account and agent of a row.
pub(crate) type Key = (String, String, String);

/// The row of `key` with `counts`.
pub(crate) fn row_of((day, account_id, agent_id): Key, counts: UsageCounts) -> UsageRow {
    UsageRow {
        day,
        account_id,
        agent_id,
        counts,
    }
}

/// Counts by day, account and agent, not yet in the store.
pub struct UsageMeter {
    clock: Arc<dyn Clock>,
    pending: Mutex<HashMap<Key, UsageCounts>>,
}

impl UsageMeter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// Adds `counts` to today's row of `account_id` and `agent_id`.
    pub fn add(&self, account_id: &str, agent_id: &str, counts: &UsageCounts) {
        let key = (
            day_of(self.clock.now()),
            account_id.to_owned(),
            agent_id.to_owned(),
        );
        self.lock().entry(key).or_default().add(counts);
    }

    /// Counts one DingTalk call of `account_id` under its kind.
    pub fn api_call(&self, account_id: &str, endpoint: ApiEndpoint) {
        self.add(account_id, USAGE_NO_AGENT, &call_counts(endpoint));
    }

    /// Counts one answer of DingTalk saying the organisation's quota is used up.
    pub fn quota_error(&self, account_id: &str) {
        let counts = UsageCounts {
            quota_errors: 1,
            ..UsageCounts::default()
        };
        self.add(account_id, USAGE_NO_AGENT, &counts);
    }

    /// Everything counted since the last take, emptying the meter.
    pub fn take(&self) -> Vec<UsageRow> {
        std::mem::take(&mut *self.lock())
            .into_iter()
            .map(|(key, counts)| row_of(key, counts))
            .collect()
    }

    /// Puts back rows a flush could not store, to go with the next one.
    pub fn put_back(&self, rows: Vec<UsageRow>) {
        let mut pending = self.lock();
        for row in rows {
            let key = (row.day, row.account_id, row.agent_id);
            pending.entry(key).or_default().add(&row.counts);
        }
    }

    /// What is counted and not yet stored, without taking it.
    pub fn peek(&self) -> Vec<UsageRow> {
        self.lock()
            .iter()
            .map(|(key, counts)| row_of(key.clone(), *counts))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, UsageCounts>> {
        // Every update leaves the map whole: a poisoned lock still holds good counts.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One call of `endpoint`, under its kind. Tokens and contacts are what DingTalk leaves out of
/// the monthly quota (protocol reference §11.1); every other call counts, the sessionWebhook
/// and custom robot posts included, so the warning errs early rather than late.
fn call_counts(endpoint: ApiEndpoint) -> UsageCounts {
    use ApiEndpoint as E;
    let mut counts = UsageCounts::default();
    let slot = match endpoint {
        E::AccessToken | E::LegacyToken | E::UserGet => &mut counts.api_exempt,
        E::BatchSend | E::GroupSend | E::RecallDm | E::RecallGroup | E::SessionWebhook | E::CustomRobot => {
            &mut counts.api_messages
        }
        E::CardCreateAndDeliver | E::CardStreaming | E::CardUpdate => &mut counts.api_cards,
        E::MessageFileDownload | E::MediaDownload | E::MediaUpload => &mut counts.api_media,
        _ => &mut counts.api_other,
    };
    *slot = 1;
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_core::clock::{EpochMs, ManualClock};

    #[test]
    fn counts_by_day_account_and_agent_until_taken() {
        let clock = Arc::new(ManualClock::at(EpochMs::from_millis(1_764_633_599_000)));
        let meter = UsageMeter::new(clock.clone());
        meter.api_call("bot", ApiEndpoint::BatchSend);
        meter.api_call("bot", ApiEndpoint::AccessToken);
        meter.api_call("bot", ApiEndpoint::CardStreaming);
        meter.quota_error("bot");
        let tokens = UsageCounts {
            prompt_tokens: 5,
            model_calls: 1,
            ..UsageCounts::default()
        };
        meter.add("bot", "main", &tokens);
        clock.advance(std::time::Duration::from_secs(2));
        meter.add("bot", "main", &tokens);

        let mut rows = meter.take();
        rows.sort_by(|a, b| (&a.day, &a.agent_id).cmp(&(&b.day, &b.agent_id)));
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert_eq!(
            (rows[0].day.as_str(), rows[0].agent_id.as_str()),
            ("2025-12-01", "-")
        );
        assert_eq!(rows[0].counts.quota_calls(), 2);
        assert_eq!(rows[0].counts.api_exempt, 1);
        assert_eq!(rows[0].counts.quota_errors, 1);
        assert_eq!(rows[1].counts, tokens);
        assert_eq!(rows[2].day, "2025-12-02", "a new UTC day starts a new row");
        assert!(meter.take().is_empty());

        meter.put_back(rows);
        meter.add("bot", "main", &tokens);
        let back = meter.peek();
        assert_eq!(back.len(), 3);
        assert_eq!(
            back.iter()
                .find(|r| r.day == "2025-12-02")
                .unwrap()
                .counts
                .prompt_tokens,
            10,
            "put back rows add to what was counted meanwhile"
        );
    }
}
