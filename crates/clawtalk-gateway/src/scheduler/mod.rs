//! One worker per busy session: turns of a session run one at a time, sessions in parallel.
//!
//! The store enforces "one running turn per session" (a unique index), so the in-memory
//! bookkeeping here only avoids needless workers; it is not what keeps turns apart.

mod sessions;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::task::JoinSet;

use self::sessions::{Sessions, Start, SweptTurn};
use super::{Shared, decide, decode_inbound, reply, turn};
use clawtalk_config::routing;
use clawtalk_core::ids::SessionKey;
use clawtalk_store::{ClaimScope, Dispatch, InboundStatus, StoredInbound};

/// How often lapsed leases and unsent reply parts are picked up (more often with leases
/// shorter than 10 s, so a takeover never waits much longer than the lease).
const SWEEP: Duration = Duration::from_secs(5);

/// How a session worker ended: its key, and whether its woken claim found nothing.
type Done = (String, bool);

/// What the scheduler is told about a session.
#[derive(Debug)]
pub(crate) enum Wake {
    /// A turn of the session was queued.
    Queued(String),
    /// A message of the session was settled without a turn (ignored, refused, or answered
    /// directly, as `/new` is). A newer message queued meanwhile could not be claimed while
    /// this one was undecided (HTTP callbacks of one session race): it is claimed now, not at
    /// the next sweep.
    Settled(String),
    /// A turn the sweep ran beside the session's worker ended. The worker's claims found the
    /// session busy meanwhile and it stopped: without this, the session's other queued turns
    /// would wait for the next sweep.
    Ran(String),
}

impl Wake {
    fn session(&self) -> &str {
        match self {
            Self::Queued(key) | Self::Settled(key) | Self::Ran(key) => key,
        }
    }
}

/// Runs until shutdown, then waits for the workers to finish their current turn.
pub(crate) async fn run(shared: Arc<Shared>, mut wake: mpsc::UnboundedReceiver<Wake>) {
    let mut sessions = Sessions::default();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut workers = JoinSet::new();
    let mut sweep = tokio::time::interval(SWEEP.min(shared.config().gateway.turn_lease / 2));
    let spawn =
        |workers: &mut JoinSet<()>, start: Start, first: Option<(StoredInbound, OwnedSemaphorePermit)>| {
            workers.spawn(session_worker(Arc::clone(&shared), start, first, done_tx.clone()));
        };
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => break,
            Some(wake) = wake.recv() => {
                if let Some(start) = sessions.wake(wake) {
                    spawn(&mut workers, start, None);
                }
            }
            Some((key, found_nothing)) = done_rx.recv() => {
                if let Some(start) = sessions.done(key, found_nothing) {
                    spawn(&mut workers, start, None);
                }
            }
            _ = sweep.tick() => {
                sessions.sweeping();
                // Each turn starts as soon as it is claimed: its lease runs from the claim,
                // and held back until the whole batch was claimed (up to 64 store round trips,
                // seconds in a burst) the first ones were found lapsing as they began.
                for _ in 0..ORPHANS_PER_SWEEP {
                    let Some((turn, permit)) = claim_orphan(&shared).await else {
                        break;
                    };
                    let key = turn.record.session_key.clone();
                    match sessions.swept(key.clone()) {
                        SweptTurn::Beside => {
                            let shared = Arc::clone(&shared);
                            workers.spawn(async move {
                                let _permit = permit;
                                Box::pin(turn::run(&shared, turn)).await;
                                let _ = shared.wake.send(Wake::Ran(key));
                            });
                        }
                        SweptTurn::Start(start) => spawn(&mut workers, start, Some((turn, permit))),
                    }
                }
                resend_orphaned_parts(&shared).await;
                settle_undecided(&shared).await;
            }
            Some(_) = workers.join_next(), if !workers.is_empty() => {}
        }
    }
    while workers.join_next().await.is_some() {}
}

async fn session_worker(
    shared: Arc<Shared>,
    start: Start,
    mut first: Option<(StoredInbound, OwnedSemaphorePermit)>,
    done: mpsc::UnboundedSender<Done>,
) {
    let Start { key, drain, pending } = start;
    // A draining worker (started by the sweep, after a turn the sweep ran beside a worker, or
    // for a session whose last woken claim found nothing) claims until its session's queue is empty; one started by a wake claims once
    // for that wake, then again only when woken meanwhile.
    let mut woken = true;
    let mut claimed = false;
    let mut found_nothing = false;
    while !shared.shutdown.is_cancelled() {
        let (next, _permit) = match first.take() {
            Some(claimed) => claimed,
            None => {
                let claim = drain
                    || std::mem::take(&mut woken)
                    || pending
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                        .is_ok();
                if !claim {
                    break;
                }
                // A permit before the claim: a turn waiting for one must not sit on a ticking
                // lease. The semaphore is never closed, so `acquire` only waits.
                let waiting = shared.metrics.wait_for_slot();
                let Ok(permit) = Arc::clone(&shared.turn_permits).acquire_owned().await else {
                    break;
                };
                drop(waiting);
                match shared
                    .store
                    .claim_next_turn(
                        ClaimScope::Session(&key),
                        &shared.me,
                        shared.lease_ms(),
                        shared.clock.now(),
                    )
                    .await
                {
                    Ok(Some(turn)) => (turn, permit),
                    Ok(None) => {
                        found_nothing = !claimed;
                        break;
                    }
                    Err(error) => {
                        tracing::error!(session = %key, %error, "cannot claim the next turn; retrying at the next sweep");
                        break;
                    }
                }
            }
        };
        // Boxed: a turn's future is tens of kB, and a worker exists for every busy session
        // while only `maxConcurrentTurns` of them run; inline, every waiting worker would
        // hold that much memory from the moment it was spawned.
        claimed = true;
        Box::pin(turn::run(&shared, next)).await;
    }
    let _ = done.send((key, found_nothing));
}

/// How many orphaned turns one sweep claims at most.
const ORPHANS_PER_SWEEP: usize = 64;

/// A turn whose worker died (lapsed lease) or that nobody woke up, with the permit it runs
/// under. Claims only while a permit is free: when every permit is taken, a claimed turn
/// would wait on a ticking lease (possibly longer than the lease, handing it to another
/// replica), and the queued turns of sessions whose worker waits for a permit would be
/// claimed out from under it. A later sweep picks up what is left.
async fn claim_orphan(shared: &Arc<Shared>) -> Option<(StoredInbound, OwnedSemaphorePermit)> {
    let permit = Arc::clone(&shared.turn_permits).try_acquire_owned().ok()?;
    match shared
        .store
        .claim_next_turn(ClaimScope::Any, &shared.me, shared.lease_ms(), shared.clock.now())
        .await
    {
        Ok(Some(turn)) => Some((turn, permit)),
        Ok(None) => None,
        Err(error) => {
            tracing::error!(%error, "cannot look for orphaned turns");
            None
        }
    }
}

/// Reply parts planned by a worker that died before sending them.
async fn resend_orphaned_parts(shared: &Arc<Shared>) {
    let parts = match shared
        .store
        .claim_unsent_replies(&shared.me, shared.lease_ms(), 64, shared.clock.now())
        .await
    {
        Ok(parts) => parts,
        Err(error) => return tracing::error!(%error, "cannot look for unsent reply parts"),
    };
    for part in parts {
        let inbound = match shared.store.inbound(part.inbound_id).await {
            Ok(Some(row)) => decode_inbound(&row.record.raw_payload_json),
            Ok(None) => continue,
            Err(error) => Err(error.into()),
        };
        let result = match inbound {
            Ok(inbound) => reply::send_planned(shared, &inbound, std::slice::from_ref(&part), true).await,
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            tracing::warn!(part = ?part.id, error = %format!("{error:#}"), "resending a reply part failed; will retry");
        }
    }
}

/// Start-up: settle messages stored but never decided, and wake sessions with queued turns.
pub(crate) async fn recover(shared: &Arc<Shared>) -> anyhow::Result<()> {
    let rows = shared
        .store
        .recover_unfinished(&shared.me, shared.clock.now())
        .await?;
    if !rows.is_empty() {
        tracing::info!(count = rows.len(), "resuming unfinished messages");
    }
    for row in rows {
        match row.status {
            InboundStatus::Received => redecide(shared, &row, true).await,
            _ => {
                let _ = shared.wake.send(Wake::Queued(row.record.session_key));
            }
        }
    }
    Ok(())
}

/// Messages stored (and acknowledged) a lease ago but never decided: the replica that stored
/// them died in between, or a store write failed (disk full). Without this they would wait
/// for the next start-up.
async fn settle_undecided(shared: &Arc<Shared>) {
    let before = shared.clock.now().minus(shared.config().gateway.turn_lease);
    let rows = match shared.store.undecided_before(before, 64).await {
        Ok(rows) => rows,
        Err(error) => return tracing::error!(%error, "cannot look for undecided messages"),
    };
    if !rows.is_empty() {
        tracing::info!(count = rows.len(), "settling messages stored but never decided");
    }
    for row in rows {
        redecide(shared, &row, false).await;
    }
}

/// Decides a stored `received` row again, from its stored payload. A row of an account this
/// process does not serve is left for a process that does (warned about at start-up only, as
/// the sweep meets it again and again).
async fn redecide(shared: &Arc<Shared>, row: &StoredInbound, at_start_up: bool) {
    let inbound = match decode_inbound(&row.record.raw_payload_json) {
        Ok(inbound) => inbound,
        Err(error) => {
            tracing::error!(inbound = ?row.id, error = %format!("{error:#}"), "an unreadable stored message is marked failed");
            if let Err(error) = shared
                .store
                .dispatch_inbound(row.id, Dispatch::Failed, shared.clock.now())
                .await
            {
                tracing::warn!(inbound = ?row.id, %error, "cannot mark an unreadable message failed");
            }
            return;
        }
    };
    let Some(account) = shared.account_settings(inbound.account_id.as_str()) else {
        if at_start_up {
            tracing::warn!(inbound = ?row.id, account = %inbound.account_id, "stored message for an account that is no longer configured");
        }
        return;
    };
    // The route was computed once, at intake, and stored with the row.
    let route = match SessionKey::parse(&row.record.session_key) {
        Ok(key) => key,
        Err(_) => {
            let departments = shared.departments_of(&account.id, &inbound).await;
            routing::route(&shared.config(), &account, &inbound, &departments)
        }
    };
    decide::decide(shared, &account, row.id, &inbound, &route).await;
}
