//! The organisation's monthly DingTalk API quota (`monthlyApiQuota`): how much of it each
//! account used this month, and the warnings at 80 % and 100 %.

use clawtalk_config::Config;
use clawtalk_store::UsageRow;

/// How close an account is to its monthly quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuotaLevel {
    /// Under 80 %, or no quota.
    Fine,
    /// 80 % or more.
    Near,
    /// All of it: DingTalk refuses calls with 90020 `ApiCountLimitForOrg` until next month.
    Reached,
}

/// An account's DingTalk calls this month against its quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaStatus {
    pub account_id: String,
    /// Calls this month that count against the quota.
    pub used: u64,
    /// `monthlyApiQuota`; 0 = unlimited.
    pub quota: u32,
    pub level: QuotaLevel,
    /// Answers of DingTalk this month saying the quota is used up (90020, 20001, 90030).
    pub errors: u64,
}

impl QuotaStatus {
    /// True when the operator should be told: 80 % used, or DingTalk said it is used up.
    #[must_use]
    pub fn needs_warning(&self) -> bool {
        self.level != QuotaLevel::Fine || self.errors > 0
    }

    /// Whole percent of the quota used (0 without a quota).
    #[must_use]
    pub fn percent(&self) -> u64 {
        match self.quota {
            0 => 0,
            quota => self.used.saturating_mul(100) / u64::from(quota),
        }
    }
}

/// The level of `used` calls under `quota` (0 = unlimited).
#[must_use]
pub fn level(used: u64, quota: u32) -> QuotaLevel {
    let quota = u64::from(quota);
    if quota == 0 {
        QuotaLevel::Fine
    } else if used >= quota {
        QuotaLevel::Reached
    } else if used.saturating_mul(100) >= quota.saturating_mul(80) {
        QuotaLevel::Near
    } else {
        QuotaLevel::Fine
    }
}

/// Each enabled account's status from `month`, this month's usage rows.
#[must_use]
pub fn statuses(config: &Config, month: &[UsageRow]) -> Vec<QuotaStatus> {
    config
        .enabled_accounts()
        .map(|account| {
            let rows = month.iter().filter(|r| r.account_id == account.id);
            let (used, errors) = rows.fold((0u64, 0u64), |(used, errors), r| {
                (
                    used.saturating_add(r.counts.quota_calls()),
                    errors.saturating_add(r.counts.quota_errors),
                )
            });
            QuotaStatus {
                account_id: account.id.clone(),
                used,
                quota: account.monthly_api_quota,
                level: level(used, account.monthly_api_quota),
                errors,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_from_eighty_percent_and_never_without_a_quota() {
        assert_eq!(level(3_999, 5_000), QuotaLevel::Fine);
        assert_eq!(level(4_000, 5_000), QuotaLevel::Near);
        assert_eq!(level(5_000, 5_000), QuotaLevel::Reached);
        assert_eq!(level(1_000_000, 0), QuotaLevel::Fine);
        let status = QuotaStatus {
            account_id: "bot".into(),
            used: 4_100,
            quota: 5_000,
            level: QuotaLevel::Near,
            errors: 0,
        };
        assert_eq!(status.percent(), 82);
        assert!(status.needs_warning());
        let refused = QuotaStatus {
            level: QuotaLevel::Fine,
            errors: 1,
            ..status
        };
        assert!(
            refused.needs_warning(),
            "DingTalk's refusal warns whatever we counted"
        );
    }
}
