//! Pairing requests and the allowlist.

use clawtalk_core::clock::EpochMs;
use clawtalk_core::ids::AccountId;
use std::fmt;
use std::str::FromStr;

use crate::error::StoreError;

/// Pairing limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairingPolicy {
    /// How long a code can be approved, ms (default one hour).
    pub ttl_ms: i64,
    /// Most pending requests per account; more senders get [`PairingOutcome::TooManyPending`].
    pub max_pending_per_account: u32,
}

impl Default for PairingPolicy {
    fn default() -> Self {
        Self {
            ttl_ms: 60 * 60 * 1000,
            max_pending_per_account: 3,
        }
    }
}

/// State of a pairing request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PairingStatus {
    /// Waiting for the operator.
    Pending,
    /// Approved: the sender is on the allowlist.
    Approved,
    /// Rejected by the operator.
    Rejected,
    /// Lifetime over (stored when superseded, otherwise derived from the expiry).
    Expired,
}

impl PairingStatus {
    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }
}

impl FromStr for PairingStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "rejected" => Self::Rejected,
            "expired" => Self::Expired,
            other => return Err(StoreError::decode(format!("unknown pairing status {other:?}"))),
        })
    }
}

impl fmt::Display for PairingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pairing request (one code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingRequest {
    /// The 8-character code the user sees.
    pub code: String,
    /// Account (bot) the sender wrote to.
    pub account_id: AccountId,
    /// The sender key (`Sender::key()`: staff id, else the encrypted per-app id).
    pub sender_id: String,
    /// Sender's display name at request time.
    pub nick: String,
    /// State (pending past its expiry reads as expired).
    pub status: PairingStatus,
    /// Created, epoch ms.
    pub created_at_ms: EpochMs,
    /// Approvable until, epoch ms.
    pub expires_at_ms: EpochMs,
    /// Approved or rejected at, epoch ms.
    pub decided_at_ms: Option<EpochMs>,
}

/// Result of [`PairingStore::pairing_request`](crate::PairingStore::pairing_request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingOutcome {
    /// A new code: tell the user to send it to the operator.
    Created(PairingRequest),
    /// The sender already has a live code: show the same one again (rate limit).
    Existing(PairingRequest),
    /// The sender is already approved.
    AlreadyApproved,
    /// The account has too many pending requests; try later.
    TooManyPending {
        /// The configured limit.
        limit: u32,
    },
}

/// Which pairing requests to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairingFilter {
    /// Pending and not expired.
    Pending,
    /// Everything, newest first.
    All,
}

/// A sender on an account's allowlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovedSender {
    /// Account.
    pub account_id: AccountId,
    /// The sender key.
    pub sender_id: String,
    /// Display name when approved.
    pub nick: String,
    /// When, epoch ms.
    pub approved_at_ms: EpochMs,
    /// The pairing code used, if approved by pairing.
    pub via_code: Option<String>,
}
