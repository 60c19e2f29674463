//! Usage per day, account and agent: model tokens and DingTalk API calls.

/// What was used in one day by one agent on one account (or, for DingTalk API calls, which no
/// agent is told of, by the account as a whole: agent [`USAGE_NO_AGENT`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageCounts {
    /// Prompt tokens the model providers reported.
    pub prompt_tokens: u64,
    /// Completion tokens the model providers reported.
    pub completion_tokens: u64,
    /// Requests to a model (one per round of a turn).
    pub model_calls: u64,
    /// DingTalk calls that send or recall messages (robot API, sessionWebhook, custom robot).
    pub api_messages: u64,
    /// DingTalk AI card calls (create, stream, update).
    pub api_cards: u64,
    /// DingTalk media calls (upload, download).
    pub api_media: u64,
    /// Other DingTalk calls that count against the monthly quota.
    pub api_other: u64,
    /// DingTalk calls the monthly quota leaves out (access tokens, contacts).
    pub api_exempt: u64,
    /// Answers of DingTalk saying the organisation's quota is used up (90020, 20001, 90030).
    pub quota_errors: u64,
}

impl UsageCounts {
    /// Adds `other` to these counts (saturating).
    pub fn add(&mut self, other: &Self) {
        let pairs = [
            (&mut self.prompt_tokens, other.prompt_tokens),
            (&mut self.completion_tokens, other.completion_tokens),
            (&mut self.model_calls, other.model_calls),
            (&mut self.api_messages, other.api_messages),
            (&mut self.api_cards, other.api_cards),
            (&mut self.api_media, other.api_media),
            (&mut self.api_other, other.api_other),
            (&mut self.api_exempt, other.api_exempt),
            (&mut self.quota_errors, other.quota_errors),
        ];
        for (mine, theirs) in pairs {
            *mine = mine.saturating_add(theirs);
        }
    }

    /// Tokens in and out.
    #[must_use]
    pub fn tokens(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }

    /// DingTalk calls that count against the organisation's monthly quota.
    #[must_use]
    pub fn quota_calls(&self) -> u64 {
        self.api_messages
            .saturating_add(self.api_cards)
            .saturating_add(self.api_media)
            .saturating_add(self.api_other)
    }

    /// Every DingTalk call, counted against the quota or not.
    #[must_use]
    pub fn api_calls(&self) -> u64 {
        self.quota_calls().saturating_add(self.api_exempt)
    }

    /// True when nothing was counted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The agent of usage no agent is told of (DingTalk API calls of an account).
pub const USAGE_NO_AGENT: &str = "-";

/// One row of usage: a day (UTC, `YYYY-MM-DD`), an account, an agent and what they used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// The UTC day, `YYYY-MM-DD` (so days sort as text).
    pub day: String,
    /// The DingTalk account (or `webchat` for the console's chat).
    pub account_id: String,
    /// The agent, or [`USAGE_NO_AGENT`].
    pub agent_id: String,
    /// What was used.
    pub counts: UsageCounts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_and_splits_quota_from_exempt_calls() {
        let mut total = UsageCounts {
            prompt_tokens: 10,
            api_messages: 2,
            api_exempt: 5,
            ..UsageCounts::default()
        };
        total.add(&UsageCounts {
            completion_tokens: 3,
            api_cards: 1,
            api_media: 1,
            api_other: 1,
            ..UsageCounts::default()
        });
        assert_eq!(total.tokens(), 13);
        assert_eq!(total.quota_calls(), 5);
        assert_eq!(total.api_calls(), 10);
        assert!(!total.is_empty());
        assert!(UsageCounts::default().is_empty());
    }
}
