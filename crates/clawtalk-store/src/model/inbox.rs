//! Inbox rows, turns and leases.

use clawtalk_core::clock::EpochMs;
use clawtalk_core::ids::AccountId;
use std::fmt;
use std::str::FromStr;

use dingtalk::ids::{ConversationId, MsgId, RobotCode, StaffId};

use crate::error::StoreError;

/// Primary key of an inbox row.
pub type InboundId = i64;

/// Who holds a lease: a stable instance name plus a random per-process incarnation.
///
/// The instance name survives restarts (configured, or the host name), the incarnation does
/// not; so at start-up a process can tell its own previous incarnation's turns (reclaim at
/// once) from another live replica's (leave alone until the lease expires).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkerId {
    /// Stable name of this gateway instance.
    pub instance: String,
    /// Random per-process value.
    pub incarnation: String,
}

impl WorkerId {
    /// A worker id for this process: `instance` plus a fresh random incarnation.
    #[must_use]
    pub fn new(instance: impl Into<String>) -> Self {
        let incarnation = format!("{:016x}", rand::random::<u64>());
        Self {
            instance: instance.into(),
            incarnation,
        }
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.instance, self.incarnation)
    }
}

/// A lease as stored on a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Holder.
    pub owner: WorkerId,
    /// When it lapses, epoch ms.
    pub expires_at_ms: EpochMs,
}

impl Lease {
    /// True when `worker` holds it and it has not lapsed at `now`.
    #[must_use]
    pub fn is_held_by(&self, worker: &WorkerId, now: EpochMs) -> bool {
        &self.owner == worker && self.expires_at_ms > now
    }
}

/// What [`crate::InboxStore::renew_leases`] could not renew; the leases it was asked for and
/// that are named in neither list were extended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseRenewal {
    /// Leases the caller no longer holds: their turns must stop.
    pub lost: Vec<InboundId>,
    /// Leases the caller still holds whose rows another transaction had locked (its own turn
    /// planning a reply part, say): renew them again in a moment. Waiting for those locks
    /// instead would hold every other renewal of the call behind the slowest of them.
    pub busy: Vec<InboundId>,
}

/// An inbound message as received, before anything is decided about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRecord {
    /// Configured account (bot) that received it.
    pub account_id: AccountId,
    /// The receiving bot: with `msg_id`, the dedup key.
    pub robot_code: RobotCode,
    /// Platform message id.
    pub msg_id: MsgId,
    /// Conversation, case kept.
    pub conversation_id: ConversationId,
    /// Author's staff id, when DingTalk sent one.
    pub sender_staff_id: Option<StaffId>,
    /// Session the message belongs to (built by the router).
    pub session_key: String,
    /// When the gateway received it, epoch ms.
    pub received_at_ms: EpochMs,
    /// The callback payload as received, for replay after a restart.
    pub raw_payload_json: String,
    /// Plain text (mention stripped).
    pub text: String,
}

/// Status of an inbox row.
///
/// `received → queued → running → replied | failed | cancelled | ignored`; a `received`
/// message can also be finished directly (ignored by policy, answered by a command).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InboundStatus {
    /// Stored, not yet dispatched.
    Received,
    /// Waiting for its session's turn.
    Queued,
    /// A worker holds it under a lease.
    Running,
    /// Answered.
    Replied,
    /// Gave up.
    Failed,
    /// Stopped by `/stop`.
    Cancelled,
    /// Dropped by policy (not allowed, no mention, …).
    Ignored,
}

impl InboundStatus {
    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Replied => "replied",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Ignored => "ignored",
        }
    }

    /// True for the end states.
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Replied | Self::Failed | Self::Cancelled | Self::Ignored
        )
    }
}

impl FromStr for InboundStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "received" => Self::Received,
            "queued" => Self::Queued,
            "running" => Self::Running,
            "replied" => Self::Replied,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            "ignored" => Self::Ignored,
            other => return Err(StoreError::decode(format!("unknown inbox status {other:?}"))),
        })
    }
}

impl fmt::Display for InboundStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Result of [`InboxStore::record_inbound`](crate::InboxStore::record_inbound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// First time this `(robot_code, msg_id)` was seen: ack it, then dispatch it.
    New(InboundId),
    /// Seen before (redelivery): ack it and do nothing else.
    Duplicate {
        /// The existing row.
        id: InboundId,
        /// Where it is now.
        status: InboundStatus,
    },
}

/// Where a `received` message goes once the gateway has looked at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// Into its session's queue, to become a turn.
    Queue,
    /// Dropped by policy.
    Ignore,
    /// Handled on the spot (a command answered through the outbox).
    Replied,
    /// Could not be handled.
    Failed,
}

impl Dispatch {
    /// The status the row takes.
    #[must_use]
    pub fn status(self) -> InboundStatus {
        match self {
            Self::Queue => InboundStatus::Queued,
            Self::Ignore => InboundStatus::Ignored,
            Self::Replied => InboundStatus::Replied,
            Self::Failed => InboundStatus::Failed,
        }
    }
}

/// How a running turn ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnOutcome {
    /// The reply was planned (and normally sent).
    Replied,
    /// Gave up; the reason is kept on the row.
    Failed(String),
    /// The worker noticed a cancellation.
    Cancelled,
    /// Nothing to answer after all.
    Ignored,
}

impl TurnOutcome {
    /// The status the row takes.
    #[must_use]
    pub fn status(&self) -> InboundStatus {
        match self {
            Self::Replied => InboundStatus::Replied,
            Self::Failed(_) => InboundStatus::Failed,
            Self::Cancelled => InboundStatus::Cancelled,
            Self::Ignored => InboundStatus::Ignored,
        }
    }
}

/// Which turns to claim from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimScope<'a> {
    /// Only this session.
    Session(&'a str),
    /// The oldest claimable turn of any session.
    Any,
}

/// What `/stop` cancels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelScope {
    /// The running turn only; queued messages still run.
    Running,
    /// The running turn and everything queued behind it.
    RunningAndQueued,
}

/// A stored inbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInbound {
    /// Row id.
    pub id: InboundId,
    /// What was received.
    pub record: InboundRecord,
    /// Where it is now.
    pub status: InboundStatus,
    /// How many times it was claimed (> 1 after a crash or an expired lease).
    pub attempts: u32,
    /// Current lease, for running rows.
    pub lease: Option<Lease>,
    /// Last status change, epoch ms.
    pub updated_at_ms: EpochMs,
    /// Failure reason, for failed rows.
    pub error: Option<String>,
}
