//! Durable state of the gateway: inbox, outbox, sessions, pairing, cards and scheduled tasks,
//! behind one trait.
//!
//! The gateway holds an `Arc<dyn Store>`. [`Store`] is the union of one trait per domain
//! ([`InboxStore`], [`OutboxStore`], [`SessionStore`], [`PairingStore`], [`CardStore`],
//! [`CronStore`], [`CallbackSignStore`], [`MemoryStore`], [`ApprovalStore`], [`UsageStore`], [`RateBudgetStore`]); a module that needs only one
//! domain can take `Arc<dyn PairingStore>` (trait upcasting) and tests can fake just that. Two backends implement them with the same semantics: [`SqliteStore`] (one file, one
//! gateway) and [`PgStore`] (one database shared by several gateway replicas: row leases with
//! `SKIP LOCKED`, a unique index for one running turn per session, dedup by `ON CONFLICT`).
//!
//! # Call order for one message (zero lost, zero duplicated replies)
//!
//! 1. [`InboxStore::record_inbound`] **before** acking the Stream frame. `Duplicate` → ack
//!    and stop. A failed write → do not ack, so DingTalk redelivers.
//! 2. Ack the frame.
//! 3. Decide (policy, pairing, commands) and call [`InboxStore::dispatch_inbound`]: `Queue` for
//!    agent turns; `Ignore`/`Replied` for everything else.
//! 4. A worker calls [`InboxStore::claim_next_turn`]: it gets the oldest queued message of a
//!    session with no running turn, under a lease. Renew the lease during long turns
//!    ([`InboxStore::renew_lease`]); `LeaseLost` means stop working on it.
//! 5. Before sending anything: [`OutboxStore::plan_reply`] writes every part. Then send each
//!    part still `Planned` and leased to you, and call [`OutboxStore::mark_reply_sent`] right
//!    after each accepted send. A part with a dependent step (an image's or file's upload)
//!    stores the step's result with [`OutboxStore::record_reply_step`] before its send.
//! 6. [`InboxStore::finish_turn`].
//!
//! At start-up, call [`InboxStore::recover_unfinished`] once: dispatch its `Received` rows again
//! and start workers for the sessions of its `Queued` rows. While running, decide the rows
//! [`InboxStore::undecided_before`] returns (stored a lease ago and still `Received`). A reclaimed turn first checks
//! [`OutboxStore::reply_parts`]: if a reply was planned, send the unsent parts instead of
//! asking the agent again. [`OutboxStore::claim_unsent_replies`] picks up parts whose sender
//! died.
//!
//! The store never reads a clock: every time is passed in as an [`EpochMs`].

mod approval_rows;
mod decode;
mod error;
mod memory_rows;
mod model;
mod open;
pub mod postgres;
mod rules;
pub mod sqlite;
mod state_lock;
mod usage_rows;

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;
use clawtalk_core::reply::ReplyPart;

pub use error::{PairingError, StoreError};
pub use model::*;
pub use open::create_private_dir;
pub use open::{StoreBackend, open_configured};
pub use postgres::{PgOptions, PgStore};
pub use rules::memory::{MAX_MEMORY_CHARS, search_terms};
pub use sqlite::{Durability, SqliteOptions, SqliteStore};
pub use state_lock::{LOCK_FILE, StateLock, lock_state_dir};

/// Result alias for store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// Inbound messages and the per-session turn queue.
#[async_trait]
pub trait InboxStore: Send + Sync {
    /// Stores a message as `received` unless `(robot_code, msg_id)` is already stored.
    /// Durable when it returns: only then may the frame be acked.
    async fn record_inbound(&self, record: InboundRecord) -> StoreResult<RecordOutcome>;

    /// Moves a `received` message on; fails with `InvalidTransition` from any other status.
    async fn dispatch_inbound(&self, id: InboundId, dispatch: Dispatch, now: EpochMs) -> StoreResult<()>;

    /// Leases a turn: first a `running` turn whose lease lapsed (its worker died; taken over
    /// in place, `attempts` grows), else the oldest `queued` message of a session with no
    /// running turn. At most one turn per session is ever running (a unique index enforces
    /// it). `None` when there is nothing to do. Give up on a message whose `attempts` keeps
    /// growing (it may be crashing the process) with `finish_turn(.., Failed)`.
    async fn claim_next_turn(
        &self,
        scope: ClaimScope<'_>,
        worker: &WorkerId,
        lease_ms: i64,
        now: EpochMs,
    ) -> StoreResult<Option<StoredInbound>>;

    /// Extends the caller's lease; `LeaseLost` when it no longer holds it.
    async fn renew_lease(
        &self,
        id: InboundId,
        worker: &WorkerId,
        lease_ms: i64,
        now: EpochMs,
    ) -> StoreResult<()>;

    /// Extends each of the caller's leases on `ids` at once, and names those it no longer
    /// holds and those it could not renew now (the others were renewed). A gateway renews
    /// every turn it runs in one call, so thousands of turns in flight cost one statement a
    /// renewal period, not thousands.
    async fn renew_leases(
        &self,
        ids: &[InboundId],
        worker: &WorkerId,
        lease_ms: i64,
        now: EpochMs,
    ) -> StoreResult<LeaseRenewal> {
        let mut renewal = LeaseRenewal::default();
        for &id in ids {
            match self.renew_lease(id, worker, lease_ms, now).await {
                Ok(()) => {}
                Err(StoreError::LeaseLost { id }) => renewal.lost.push(id),
                Err(error) => return Err(error),
            }
        }
        Ok(renewal)
    }

    /// Ends a running turn held by `worker`; `LeaseLost` when it was cancelled or reclaimed
    /// meanwhile (then its result must be dropped, not sent).
    async fn finish_turn(
        &self,
        id: InboundId,
        worker: &WorkerId,
        outcome: TurnOutcome,
        now: EpochMs,
    ) -> StoreResult<()>;

    /// `/stop`: marks the session's running turn (and optionally its queue) cancelled, ends
    /// their still-unsent reply parts as failed, and returns the ids so the gateway can abort
    /// their tasks.
    async fn cancel_running(
        &self,
        session_key: &str,
        scope: CancelScope,
        now: EpochMs,
    ) -> StoreResult<Vec<InboundId>>;

    /// Start-up recovery: puts running turns of `me`'s previous incarnations and turns with
    /// lapsed leases back in the queue, releases the leases `me`'s previous incarnations
    /// hold on unsent reply parts (so they are sent now, not when the lease lapses), then
    /// returns every `received` and `queued` row, oldest first. Live leases of other
    /// instances are left alone.
    async fn recover_unfinished(&self, me: &WorkerId, now: EpochMs) -> StoreResult<Vec<StoredInbound>>;

    /// Rows still `received` that were stored before `received_before_ms`, oldest first, at
    /// most `limit`: their frame was acknowledged but they were never decided, because the
    /// process that stored them died (another replica finds them here) or a store write
    /// failed (disk full). Deciding one twice is harmless: only the first
    /// [`InboxStore::dispatch_inbound`] moves it.
    async fn undecided_before(&self, received_before: EpochMs, limit: u32)
    -> StoreResult<Vec<StoredInbound>>;

    /// One inbox row.
    async fn inbound(&self, id: InboundId) -> StoreResult<Option<StoredInbound>>;

    /// Deletes finished messages (and their reply parts) last updated before `before`.
    /// A finished message with a reply part still to send is kept: its answer is not out yet.
    /// Dedup only covers what is kept, so keep longer than DingTalk redelivers (days).
    async fn purge_finished(&self, before: EpochMs) -> StoreResult<u64>;
}

/// Reply parts, written before they are sent (exactly-once replies).
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Writes the parts not yet planned for `inbound_id` (the first plan of a part wins) and
    /// leases every still-`Planned` part (new, or whose lease lapsed or is already
    /// `worker`'s) to `worker`. Returns all parts of the message in order; send only those
    /// `Planned` and leased to you. Allowed while the message is `Running` under `worker`'s
    /// lease, or still `Received` (a command answered before dispatching); otherwise
    /// `LeaseLost` (cancelled, reclaimed, finished).
    async fn plan_reply(
        &self,
        inbound_id: InboundId,
        parts: Vec<NewReplyPart>,
        worker: &WorkerId,
        lease_ms: i64,
        now: EpochMs,
    ) -> StoreResult<Vec<OutboxPart>>;

    /// Stores the result of a planned part's dependent step (the media id of an image's or
    /// file's upload) as its new body, so the part is sent without redoing the step even by
    /// another worker after a crash. Only a still-`Planned` part changes (a sent one keeps the
    /// body it was sent with). Durable when it returns: the send follows it.
    async fn record_reply_step(&self, id: ReplyPartId, body: &ReplyPart, now: EpochMs) -> StoreResult<()>;

    /// Records that the part's request is leaving for DingTalk, just before it goes
    /// ([`ReplyStatus::Handed`]): from then on nobody else sends it, since DingTalk may have it.
    /// Durable when it returns. `false` when the part is no longer `Planned` or `Handed` (sent,
    /// or ended): it must not be sent.
    async fn mark_reply_handed(&self, id: ReplyPartId, now: EpochMs) -> StoreResult<bool>;

    /// DingTalk answered a handed part's request with a refusal, so it has nothing: the part
    /// is `Planned` again (its lease kept), for its sender's next attempt.
    async fn mark_reply_not_taken(&self, id: ReplyPartId, now: EpochMs) -> StoreResult<()>;

    /// Records that DingTalk accepted the part. Idempotent. A backend may make it durable
    /// shortly after it returns (SQLite: within 10 ms) rather than before: nothing waits on
    /// it, and a mark lost to a power cut only means the part is sent again.
    async fn mark_reply_sent(&self, id: ReplyPartId, receipt: SendReceipt, now: EpochMs) -> StoreResult<()>;

    /// Records a failed send of a `Planned` part (a `Handed` one is left as it is: DingTalk
    /// may have it, so it is neither ended nor sent again): `permanent` ends the part as
    /// `Failed`; otherwise it stays `Planned` and keeps its lease, so the sender may retry
    /// within the lease and, once the lease lapses, [`OutboxStore::claim_unsent_replies`] hands it to someone else.
    async fn mark_reply_failed(
        &self,
        id: ReplyPartId,
        error: &str,
        permanent: bool,
        now: EpochMs,
    ) -> StoreResult<()>;

    /// All parts of one message, in order.
    async fn reply_parts(&self, inbound_id: InboundId) -> StoreResult<Vec<OutboxPart>>;

    /// Leases up to `limit` `Planned` parts nobody holds a live lease on, oldest first.
    async fn claim_unsent_replies(
        &self,
        worker: &WorkerId,
        lease_ms: i64,
        limit: u32,
        now: EpochMs,
    ) -> StoreResult<Vec<OutboxPart>>;
}

/// Sessions and their transcripts.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Returns the session for `key`, creating it, and starts a new generation when it was
    /// idle longer than `idle_reset_ms` (`None`: never) or its agent changed. Marks it
    /// active at `now`.
    async fn session_get_or_create(
        &self,
        key: &str,
        agent_id: &str,
        now: EpochMs,
        idle_reset_ms: Option<i64>,
    ) -> StoreResult<OpenedSession>;

    /// [`SessionStore::session_get_or_create`], then the last `limit` entries of the
    /// session's current generation ([`SessionStore::transcript_load`]): what a turn needs to
    /// start. Backends that can do both in one step override it.
    async fn session_open_with_history(
        &self,
        key: &str,
        agent_id: &str,
        now: EpochMs,
        idle_reset_ms: Option<i64>,
        limit: u32,
    ) -> StoreResult<(OpenedSession, Vec<TranscriptEntry>)> {
        let opened = self
            .session_get_or_create(key, agent_id, now, idle_reset_ms)
            .await?;
        let history = self.transcript_load(opened.session.id, limit).await?;
        Ok((opened, history))
    }

    /// The session for `key`, if any; does not touch it.
    async fn session_get(&self, key: &str) -> StoreResult<Option<Session>>;

    /// `/new`, `/reset`: starts a new generation. `None` when there is no such session.
    async fn session_reset(&self, key: &str, now: EpochMs) -> StoreResult<Option<Session>>;

    /// Deletes a session and the transcripts of all its generations (the operator's
    /// "delete"); the next message in its conversation starts a new one. Durable memories
    /// and the inbox are not touched. The deleted session, `None` when there was none.
    async fn session_delete(&self, key: &str) -> StoreResult<Option<Session>>;

    /// Appends entries to a generation of a session's transcript, in order.
    async fn transcript_append(
        &self,
        session_id: SessionId,
        generation: u32,
        entries: Vec<NewTranscriptEntry>,
    ) -> StoreResult<()>;

    /// The last `limit` entries of the session's current generation, oldest first.
    async fn transcript_load(&self, session_id: SessionId, limit: u32) -> StoreResult<Vec<TranscriptEntry>>;

    /// The `limit` most recently active sessions, most recent first (for the web UI).
    async fn session_list(&self, limit: u32) -> StoreResult<Vec<Session>>;

    /// One session by row id; does not touch it.
    async fn session_by_id(&self, id: SessionId) -> StoreResult<Option<Session>>;
}

/// Pairing codes and the per-account allowlist they feed.
///
/// Senders are identified by their sender key (`inbound::Sender::key()`: the staff id, else
/// the encrypted per-app id), the same key the policy and session keys use.
#[async_trait]
pub trait PairingStore: Send + Sync {
    /// Gives a sender a pairing code: their live one if they have it, else a new random
    /// one, unless the account already has `max_pending_per_account` live requests.
    async fn pairing_request(
        &self,
        account_id: &str,
        sender_id: &str,
        nick: &str,
        policy: PairingPolicy,
        now: EpochMs,
    ) -> StoreResult<PairingOutcome>;

    /// Lists requests (for `clawtalk pairing list`).
    async fn pairing_list(&self, filter: PairingFilter, now: EpochMs) -> StoreResult<Vec<PairingRequest>>;

    /// Approves a live code: the sender joins the account's allowlist. Case and separators
    /// in `code` are ignored. Fails with [`PairingError`] for unknown, expired or used codes.
    async fn pairing_approve(&self, code: &str, now: EpochMs) -> StoreResult<ApprovedSender>;

    /// Rejects a pending code (expired ones may be rejected too, to clear them).
    async fn pairing_reject(&self, code: &str, now: EpochMs) -> StoreResult<PairingRequest>;

    /// True when the sender is on the account's allowlist.
    async fn is_approved(&self, account_id: &str, sender_id: &str) -> StoreResult<bool>;

    /// The allowlist, optionally of one account.
    async fn approved_senders(&self, account_id: Option<&str>) -> StoreResult<Vec<ApprovedSender>>;

    /// Removes a sender from an account's allowlist; false when they were not on it.
    async fn revoke_sender(&self, account_id: &str, sender_id: &str) -> StoreResult<bool>;
}

/// AI cards the gateway opened: what was last shown in each, and whether it was finalized.
#[async_trait]
pub trait CardStore: Send + Sync {
    /// Records a card right before it is created, so a crash cannot leave it unknown.
    async fn card_open(&self, card: NewCard, now: EpochMs) -> StoreResult<()>;

    /// Remembers the content last pushed into an open card.
    async fn card_progress(&self, out_track_id: &str, content: &str, now: EpochMs) -> StoreResult<()>;

    /// Marks a card closed (finished, failed or interrupted) with its final content.
    async fn card_close(
        &self,
        out_track_id: &str,
        status: CardStatus,
        content: &str,
        now: EpochMs,
    ) -> StoreResult<()>;

    /// One card by its `outTrackId`.
    async fn card(&self, out_track_id: &str) -> StoreResult<Option<CardRecord>>;

    /// Cards still open, oldest first (of one account, or all).
    async fn cards_open(&self, account_id: Option<&str>) -> StoreResult<Vec<CardRecord>>;

    /// Cards still open that answer `inbound_id`, oldest first: what a run of a reclaimed
    /// turn adopts instead of opening a second card.
    async fn cards_open_for(&self, inbound_id: InboundId) -> StoreResult<Vec<CardRecord>>;
}

/// Scheduled tasks (`cron_create`, `clawtalk cron`), and the claim that fires each due run
/// once however many gateways share the store.
#[async_trait]
pub trait CronStore: Send + Sync {
    /// Stores a new active task.
    async fn cron_create(&self, task: NewCronTask, now: EpochMs) -> StoreResult<CronTask>;

    /// One task.
    async fn cron_get(&self, id: CronTaskId) -> StoreResult<Option<CronTask>>;

    /// Tasks in id order: active ones, or with `include_finished` also done and cancelled.
    async fn cron_list(&self, include_finished: bool) -> StoreResult<Vec<CronTask>>;

    /// Cancels an active task; `None` when there is no active task `id` (unknown, done, or
    /// already cancelled). A run already started still delivers its answer.
    async fn cron_cancel(&self, id: CronTaskId, now: EpochMs) -> StoreResult<Option<CronTask>>;

    /// Asks for one extra run as soon as a gateway sees it; `None` when `id` is not active.
    async fn cron_run_now(&self, id: CronTaskId, now: EpochMs) -> StoreResult<Option<CronTask>>;

    /// Pauses an active task: its scheduled runs are skipped (never reported as missed)
    /// until [`CronStore::cron_resume`]; a `run-now` still runs it. `None` when `id` is not
    /// an active, unpaused task.
    async fn cron_pause(&self, id: CronTaskId, now: EpochMs) -> StoreResult<Option<CronTask>>;

    /// Resumes a paused task with its next scheduled run at `next_run_at_ms` (computed from
    /// its schedule by the caller; `None` keeps the stored one, for a one-shot task whose
    /// time may have passed). `None` when `id` is not an active, paused task.
    async fn cron_resume(
        &self,
        id: CronTaskId,
        next_run_at_ms: Option<EpochMs>,
        now: EpochMs,
    ) -> StoreResult<Option<CronTask>>;

    /// Leases up to `limit` active tasks that are due (`next_run_at_ms <= now` and not
    /// paused, or a `run-now` request) and not leased by a live worker, in one atomic `UPDATE … RETURNING`:
    /// two gateways never both get the same task while the lease lives.
    async fn cron_claim_due(
        &self,
        worker: &WorkerId,
        lease_ms: i64,
        limit: u32,
        now: EpochMs,
    ) -> StoreResult<Vec<CronTask>>;

    /// Records what the lease holder did and releases the lease. False when `worker` no
    /// longer held it (it lapsed and someone else took over); nothing is changed then.
    async fn cron_fired(
        &self,
        id: CronTaskId,
        worker: &WorkerId,
        fired: CronFired,
        now: EpochMs,
    ) -> StoreResult<bool>;

    /// Records how a run ended (`error` for failed and missed runs).
    async fn cron_record_result(
        &self,
        id: CronTaskId,
        status: CronRunStatus,
        error: Option<&str>,
        now: EpochMs,
    ) -> StoreResult<()>;

    /// When the next active task not leased by a live worker at `now` is due (a pending
    /// `run-now` counts as due at its request time); `None` when nothing is scheduled.
    async fn cron_next_due(&self, now: EpochMs) -> StoreResult<Option<EpochMs>>;
}

/// The `timestamp`/`sign` pairs of HTTP-mode bot callbacks already used, kept in the store so
/// that a restart or another replica on the same store does not accept a captured pair again.
///
/// DingTalk's HTTP-mode `sign` covers the timestamp only, never the body, so a pair seen on
/// the wire authenticates any body while the timestamp is fresh (an hour either way). A pair
/// is the account's and its timestamp: the sign is a function of the two.
#[async_trait]
pub trait CallbackSignStore: Send + Sync {
    /// Claims the pair `(account_id, timestamp)` for `msg_id` unless it already has a
    /// message: [`SignUse::First`] when it had none, [`SignUse::Again`] when it is `msg_id`,
    /// [`SignUse::Taken`] when another message has it. Atomic across every process on the
    /// store. Pairs with timestamps before `stale_before` are forgotten.
    async fn callback_sign_use(
        &self,
        account_id: &str,
        timestamp: EpochMs,
        msg_id: &str,
        stale_before: EpochMs,
    ) -> StoreResult<SignUse>;
}

/// Durable memories of agents (`memory_save`, `memory_search`, recall, the workspace's memory
/// files), each owned by a [`MemorySubject`]: a user, a conversation, a group, or the agent.
/// Visibility is the caller's decision, stated in [`MemoryQuery::visible`]; the store never
/// returns a search hit outside it. Both backends rank with the same rules (`rules/memory.rs`).
#[async_trait]
pub trait MemoryStore: Send + Sync {
    /// Keeps a fact for its owner. The same text (ignoring case and spacing) saved again for
    /// the same owner keeps one row, whose `updated_at_ms` moves. `Invalid` for empty text,
    /// text over [`MAX_MEMORY_CHARS`], or the agent scope (only files write that).
    async fn memory_save(&self, memory: NewMemory, now: EpochMs) -> StoreResult<SavedMemory>;

    /// The memories of `query.agent_id` owned by one of `query.visible` that contain a term of
    /// `query.text` (or are similar to it), best first; the most recently saved ones when the
    /// text has no usable term.
    async fn memory_search(&self, query: &MemoryQuery) -> StoreResult<Vec<MemoryHit>>;

    /// One memory by id.
    async fn memory_get(&self, id: MemoryId) -> StoreResult<Option<MemoryRecord>>;

    /// Memories matching `filter`, most recently saved first (the web console, "what do you
    /// remember about me").
    async fn memory_list(&self, filter: &MemoryFilter) -> StoreResult<Vec<MemoryRecord>>;

    /// Deletes one memory; the deleted row, `None` when there was none.
    async fn memory_forget(&self, id: MemoryId) -> StoreResult<Option<MemoryRecord>>;

    /// Deletes every memory `owner` has with `agent_id`; how many.
    async fn memory_forget_owner(&self, agent_id: &str, owner: &MemorySubject) -> StoreResult<u64>;

    /// The agent's workspace files as last indexed.
    async fn memory_files(&self, agent_id: &str) -> StoreResult<Vec<IndexedFile>>;

    /// Replaces what a workspace file says (agent scope) with `entries`, atomically, and
    /// records `modified_ms` as the file's indexed version.
    async fn memory_index_file(
        &self,
        agent_id: &str,
        file: &IndexedFile,
        source: MemorySource,
        entries: Vec<FileMemory>,
        now: EpochMs,
    ) -> StoreResult<()>;

    /// Forgets a workspace file that is gone: its memories and its indexed version.
    async fn memory_drop_file(&self, agent_id: &str, path: &str) -> StoreResult<()>;
}

/// Tool calls waiting for a person's approval (`tools.approval`), and "always allow" grants.
///
/// A request's id is derived from the call (its turn, tool, arguments and place in the turn),
/// so the same call asks once however often its turn runs: after a restart the re-run finds
/// the row, pending or decided.
#[async_trait]
pub trait ApprovalStore: Send + Sync {
    /// Writes the request unless one with its id exists; returns the stored row either way.
    async fn approval_request(&self, request: NewApproval, now: EpochMs) -> StoreResult<ApprovalRecord>;

    /// One request.
    async fn approval(&self, id: &str) -> StoreResult<Option<ApprovalRecord>>;

    /// Decides a pending request; the first decision wins, atomically across every process
    /// on the store. [`ApprovalDecision::AllowAlways`] also grants the requester the tool
    /// (see [`ApprovalStore::approval_granted`]). `decided_by` is `None` for expiry.
    async fn approval_decide(
        &self,
        id: &str,
        decision: ApprovalDecision,
        decided_by: Option<&str>,
        now: EpochMs,
    ) -> StoreResult<DecideOutcome>;

    /// Whether `user` said "always allow" to `tool` on `account_id`.
    async fn approval_granted(&self, account_id: &str, user: &str, tool: &str) -> StoreResult<bool>;

    /// Deletes decided requests decided before `before`; grants stay.
    async fn approval_purge(&self, before: EpochMs) -> StoreResult<u64>;
}

/// Usage per day (UTC), account and agent: model tokens and DingTalk API calls. The gateway
/// counts in memory and adds what it counted every few seconds, so a write costs nothing on a
/// message's path.
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Adds each row's counts to the stored row of its day, account and agent (created at
    /// zero), all in one transaction. Concurrent adds from every process on the store sum.
    async fn usage_add(&self, rows: Vec<UsageRow>) -> StoreResult<()>;

    /// The rows of `from_day` (`YYYY-MM-DD`) and later, by day, account and agent.
    async fn usage_since(&self, from_day: &str) -> StoreResult<Vec<UsageRow>>;
}

/// Send budgets (DingTalk's rate limits) counted in the store, so that several gateways on
/// one database together stay within a quota that DingTalk counts per app or per robot.
#[async_trait]
pub trait RateBudgetStore: Send + Sync {
    /// Takes one send from `key`'s budget of `limit` sends in any `window_ms` (a sliding
    /// window ending at `now`): `None` when taken, else `Some(ms)` to wait before the
    /// oldest counted send leaves the window. Atomic across every process on the store.
    async fn rate_take(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now: EpochMs,
    ) -> StoreResult<Option<i64>>;

    /// Reports that the process `owner` has `waiting` calls queued for `key`'s budget, and
    /// returns how many the other processes on the store have queued for it, counting only
    /// reports made after `now - fresh_ms` (a process that stopped reporting has stopped or
    /// died). A store that serves one process has no others: 0.
    async fn rate_backlog(
        &self,
        key: &str,
        owner: &str,
        waiting: u32,
        now: EpochMs,
        fresh_ms: i64,
    ) -> StoreResult<u64> {
        let _ = (key, owner, waiting, now, fresh_ms);
        Ok(0)
    }
}

/// Sends older than this are dropped whatever their budget: windows are seconds or minutes.
pub const RATE_SENDS_STALE_AFTER_MS: i64 = 86_400_000;

/// Sends of a budget at or before this are forgotten by a take at `now_ms`. Two windows, not
/// one: a taker whose clock is behind (another replica's, or one that waited for the lock)
/// still counts the sends of its own window, so no window ever holds more than the limit.
pub fn forget_before(window_ms: i64, now_ms: i64) -> i64 {
    now_ms.saturating_sub(window_ms.saturating_mul(2))
}

/// How long a take from a budget with `used` sends in the window (the oldest at `oldest`)
/// must wait; `None` when one more fits. Both backends decide with this.
pub fn rate_budget_wait(
    used: i64,
    oldest: Option<i64>,
    limit: u32,
    window_ms: i64,
    now_ms: i64,
) -> Option<i64> {
    if used < i64::from(limit.max(1)) {
        return None;
    }
    let window_ms = window_ms.max(1);
    // The oldest send leaves the window `window_ms` after it was made; at least 1 ms.
    let leaves_at = oldest.unwrap_or(now_ms).saturating_add(window_ms);
    Some(leaves_at.saturating_sub(now_ms).max(1))
}

/// The whole store, as the gateway holds it: `Arc<dyn Store>`.
#[async_trait]
pub trait Store:
    InboxStore
    + OutboxStore
    + SessionStore
    + PairingStore
    + CardStore
    + CronStore
    + CallbackSignStore
    + MemoryStore
    + ApprovalStore
    + UsageStore
{
    /// Finishes pending writes and closes the database. Later calls fail with `Closed`.
    async fn close(&self);

    /// The send budget to share with the other gateways on this store, when the backend is
    /// meant to be shared by replicas (PostgreSQL). `None` (the default, and SQLite's: one
    /// gateway per file, whose in-process limiter already sees every send) saves a store
    /// round trip per send.
    fn shared_rate_budget(&self) -> Option<std::sync::Arc<dyn RateBudgetStore>> {
        None
    }

    /// How much work is waiting (for metrics and readiness; also a cheap liveness query).
    async fn queue_depths(&self) -> StoreResult<QueueDepths>;
}

/// Work waiting in the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepths {
    /// Inbox rows `queued` or `running` (agent turns not finished).
    pub pending_turns: u64,
    /// Outbox parts `planned` (not yet accepted by DingTalk).
    pub planned_parts: u64,
}
