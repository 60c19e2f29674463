//! Domain types shared by every store backend.
//!
//! Times are epoch milliseconds (`i64`) passed in by the caller, so tests control the clock
//! and the store never reads one. Ids from DingTalk keep their exact bytes and case.

use std::fmt;
use std::str::FromStr;

use dingtalk::ids::{ConversationId, MsgId, RobotCode, StaffId};

use super::error::StoreError;

/// Primary key of an inbox row.
pub type InboundId = i64;
/// Primary key of an outbox row (one reply part).
pub type ReplyPartId = i64;
/// Primary key of a session.
pub type SessionId = i64;

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
    pub expires_at_ms: i64,
}

impl Lease {
    /// True when `worker` holds it and it has not lapsed at `now_ms`.
    #[must_use]
    pub fn is_held_by(&self, worker: &WorkerId, now_ms: i64) -> bool {
        &self.owner == worker && self.expires_at_ms > now_ms
    }
}

/// An inbound message as received, before anything is decided about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRecord {
    /// Configured account (bot) that received it.
    pub account_id: String,
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
    pub received_at_ms: i64,
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
    /// Stored, not yet routed.
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

/// Result of [`InboxStore::record_inbound`](super::InboxStore::record_inbound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// First time this `(robot_code, msg_id)` was seen: ack it, then route it.
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
pub enum Route {
    /// Into its session's queue, to become a turn.
    Queue,
    /// Dropped by policy.
    Ignore,
    /// Handled on the spot (a command answered through the outbox).
    Replied,
    /// Could not be handled.
    Failed,
}

impl Route {
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
    pub updated_at_ms: i64,
    /// Failure reason, for failed rows.
    pub error: Option<String>,
}

/// One part of a reply, as planned by the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReplyPart {
    /// Position in the reply, from 0.
    pub part: u32,
    /// Kind of send (e.g. `sampleMarkdown`, `card`), for the delivery code.
    pub kind: String,
    /// Everything needed to send it, as JSON.
    pub body_json: String,
}

/// Delivery state of a reply part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyStatus {
    /// Written, not yet confirmed sent.
    Planned,
    /// DingTalk accepted it: never send again.
    Sent,
    /// Gave up (permanent error).
    Failed,
}

impl ReplyStatus {
    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

impl FromStr for ReplyStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "planned" => Self::Planned,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            other => return Err(StoreError::decode(format!("unknown outbox status {other:?}"))),
        })
    }
}

/// A stored reply part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyPart {
    /// Row id.
    pub id: ReplyPartId,
    /// The message it answers.
    pub inbound_id: InboundId,
    /// Position in the reply.
    pub part: u32,
    /// Stable per (message, part): use it as the send's idempotency key (card `outTrackId`,
    /// message uuid) where the API has one.
    pub idempotency_key: String,
    /// Kind of send.
    pub kind: String,
    /// What to send.
    pub body_json: String,
    /// Delivery state.
    pub status: ReplyStatus,
    /// Failed send attempts so far.
    pub attempts: u32,
    /// Who may send it now.
    pub lease: Option<Lease>,
    /// DingTalk's `processQueryKey` (or similar receipt) once sent.
    pub process_query_key: Option<String>,
    /// When it was confirmed sent, epoch ms.
    pub sent_at_ms: Option<i64>,
    /// Last send error.
    pub last_error: Option<String>,
}

/// Proof that DingTalk accepted a reply part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReceipt {
    /// `processQueryKey` from the send response, when the API returns one.
    pub process_query_key: Option<String>,
    /// The response body, for auditing.
    pub response_json: Option<String>,
}

/// A conversation session: one per DM user, group, or group + sender (the router decides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Row id.
    pub id: SessionId,
    /// Session key, case kept.
    pub key: String,
    /// Agent answering in it.
    pub agent_id: String,
    /// History epoch: bumped by idle reset, `/new`, `/reset` or an agent change; transcripts
    /// of older generations are kept but not loaded.
    pub generation: u32,
    /// When the current generation started, epoch ms.
    pub generation_started_at_ms: i64,
    /// Last activity, epoch ms.
    pub last_active_ms: i64,
}

/// Why a new generation started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewGeneration {
    /// First message ever for this key.
    Created,
    /// Idle longer than the reset time.
    IdleReset,
    /// The key is now routed to another agent.
    AgentChanged,
    /// `/new` or `/reset`.
    Manual,
}

/// Result of [`SessionStore::session_get_or_create`](super::SessionStore::session_get_or_create).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedSession {
    /// The session as it is now.
    pub session: Session,
    /// Set when this call started a new generation.
    pub new_generation: Option<NewGeneration>,
}

/// Who said a transcript entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// System prompt or gateway note.
    System,
    /// The DingTalk user.
    User,
    /// The agent.
    Assistant,
    /// A tool result.
    Tool,
}

impl Role {
    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::Tool => "tool",
        }
    }
}

impl FromStr for Role {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "system" => Self::System,
            "user" => Self::User,
            "assistant" => Self::Assistant,
            "tool" => Self::Tool,
            other => return Err(StoreError::decode(format!("unknown transcript role {other:?}"))),
        })
    }
}

/// A transcript entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTranscriptEntry {
    /// Speaker.
    pub role: Role,
    /// Message content as JSON (text, tool calls, …).
    pub content_json: String,
    /// The inbound message it belongs to, when there is one.
    pub inbound_id: Option<InboundId>,
    /// When, epoch ms.
    pub at_ms: i64,
}

/// A stored transcript entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptEntry {
    /// Row id (increasing in append order).
    pub id: i64,
    /// Generation it belongs to.
    pub generation: u32,
    /// Speaker.
    pub role: Role,
    /// Content as JSON.
    pub content_json: String,
    /// The inbound message it belongs to.
    pub inbound_id: Option<InboundId>,
    /// When, epoch ms.
    pub at_ms: i64,
}

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
    pub account_id: String,
    /// The sender.
    pub staff_id: StaffId,
    /// Sender's display name at request time.
    pub nick: String,
    /// State (pending past its expiry reads as expired).
    pub status: PairingStatus,
    /// Created, epoch ms.
    pub created_at_ms: i64,
    /// Approvable until, epoch ms.
    pub expires_at_ms: i64,
    /// Approved or rejected at, epoch ms.
    pub decided_at_ms: Option<i64>,
}

/// Result of [`PairingStore::pairing_request`](super::PairingStore::pairing_request).
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
    pub account_id: String,
    /// Sender.
    pub staff_id: StaffId,
    /// Display name when approved.
    pub nick: String,
    /// When, epoch ms.
    pub approved_at_ms: i64,
    /// The pairing code used, if approved by pairing.
    pub via_code: Option<String>,
}
