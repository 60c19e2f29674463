//! Tool calls that wait for a person's approval, and the "always allow" grants.

use std::str::FromStr;

use clawtalk_core::clock::EpochMs;
use clawtalk_core::ids::AccountId;

use crate::error::StoreError;

/// Where an approval request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApprovalStatus {
    /// Nobody has decided yet.
    Pending,
    /// Allowed (once, or always when [`ApprovalRecord::always`]).
    Allowed,
    /// Denied by a person.
    Denied,
    /// Nobody decided in time: counts as denied.
    Expired,
}

impl ApprovalStatus {
    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Expired => "expired",
        }
    }
}

impl FromStr for ApprovalStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "pending" => Self::Pending,
            "allowed" => Self::Allowed,
            "denied" => Self::Denied,
            "expired" => Self::Expired,
            other => return Err(StoreError::decode(format!("unknown approval status {other:?}"))),
        })
    }
}

/// A decision on a pending request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalDecision {
    /// Run this call.
    AllowOnce,
    /// Run this call and, from now on, every call of this tool by the requester.
    AllowAlways,
    /// Refuse this call.
    Deny,
    /// The wait ran out.
    Expire,
}

impl ApprovalDecision {
    /// The status it leaves the request in.
    #[must_use]
    pub fn status(self) -> ApprovalStatus {
        match self {
            Self::AllowOnce | Self::AllowAlways => ApprovalStatus::Allowed,
            Self::Deny => ApprovalStatus::Denied,
            Self::Expire => ApprovalStatus::Expired,
        }
    }
}

/// A request to write ([`crate::ApprovalStore::approval_request`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApproval {
    /// The call's id, the same every time its turn runs (also the approval card's id).
    pub id: String,
    /// Account (bot) of the conversation.
    pub account_id: AccountId,
    /// Session of the turn.
    pub session_key: String,
    /// Agent asking.
    pub agent_id: String,
    /// Staff id of the user whose message started the turn.
    pub requester: String,
    /// Tool name.
    pub tool: String,
    /// The call in plain words, as the card shows it.
    pub summary: String,
    /// When an undecided request counts as denied.
    pub expires_at: EpochMs,
}

/// A stored request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    /// The call's id.
    pub id: String,
    /// Account (bot) of the conversation.
    pub account_id: AccountId,
    /// Session of the turn.
    pub session_key: String,
    /// Agent asking.
    pub agent_id: String,
    /// Staff id of the requester.
    pub requester: String,
    /// Tool name.
    pub tool: String,
    /// The call in plain words.
    pub summary: String,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// Allowed with "always allow".
    pub always: bool,
    /// Staff id of who decided (`None` while pending and for expiry).
    pub decided_by: Option<String>,
    /// When it was asked.
    pub created_at_ms: EpochMs,
    /// When an undecided request counts as denied.
    pub expires_at_ms: EpochMs,
    /// When it was decided.
    pub decided_at_ms: Option<EpochMs>,
}

/// What [`crate::ApprovalStore::approval_decide`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecideOutcome {
    /// The request was pending and now holds this decision.
    Decided(ApprovalRecord),
    /// Someone decided first (or it expired); the row as it is.
    AlreadyDecided(ApprovalRecord),
    /// No request has this id.
    Unknown,
}
