//! One worker per busy session: turns of a session run one at a time, sessions in parallel.
//!
//! The store enforces "one running turn per session" (a unique index), so the in-memory
//! bookkeeping here only avoids needless workers; it is not what keeps turns apart.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::task::JoinSet;

use super::{Shared, decide, decode_inbound, reply, turn};
use clawtalk_config::routing;
use clawtalk_core::ids::SessionKey;
use clawtalk_store::{ClaimScope, Dispatch, InboundStatus, StoredInbound};

/// How often lapsed leases and unsent reply parts are picked up (more often with leases
/// shorter than 10 s, so a takeover never waits much longer than the lease).
const SWEEP: Duration = Duration::from_secs(5);

/// Wakes a session's worker has not answered yet: counted by the scheduler when a session
/// with a worker gets another message queued, taken one per claim by the worker after each
/// turn. A worker claims again only while some are left, so the common case — one message,
/// one turn — ends without a claim that finds nothing (one store round trip per message),
/// and a session with several queued messages is worked through without waiting for the
/// sweep (a flag instead of a count forgot all wakes but one).
type Pending = Arc<AtomicUsize>;

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
}

/// Runs until shutdown, then waits for the workers to finish their current turn.
pub(crate) async fn run(shared: Arc<Shared>, mut wake: mpsc::UnboundedReceiver<Wake>) {
    let mut active: HashMap<String, Pending> = HashMap::new();
    // Sessions whose last woken claim found nothing. Mostly another worker took the turn, but
    // a queued message also waits while an older one of its session is undecided (HTTP
    // callbacks of one session race); the older one's wake then starts a worker that must
    // go on to the newer one instead of leaving it to the sweep. Cleared at each sweep,
    // which picks up whatever is left.
    let mut drain_next: HashSet<String> = HashSet::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut workers = JoinSet::new();
    let mut sweep = tokio::time::interval(SWEEP.min(shared.config().gateway.turn_lease / 2));
    let spawn = |workers: &mut JoinSet<()>,
                 active: &mut HashMap<String, Pending>,
                 drain_next: &mut HashSet<String>,
                 key: String,
                 first: Option<(StoredInbound, OwnedSemaphorePermit)>| {
        let pending = Arc::new(AtomicUsize::new(0));
        active.insert(key.clone(), Arc::clone(&pending));
        let drain = first.is_some() || drain_next.remove(&key);
        workers.spawn(session_worker(
            Arc::clone(&shared),
            key,
            first,
            drain,
            pending,
            done_tx.clone(),
        ));
    };
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => break,
            Some(wake) = wake.recv() => {
                let (key, queued) = match wake {
                    Wake::Queued(key) => (key, true),
                    Wake::Settled(key) => (key, false),
                };
                if let Some(pending) = active.get(&key) {
                    pending.fetch_add(1, Ordering::AcqRel);
                } else if queued || drain_next.contains(&key) {
                    // A settled message matters only to a session whose last claim found
                    // nothing; for every other one it would be a claim that finds nothing.
                    spawn(&mut workers, &mut active, &mut drain_next, key, None);
                }
            }
            Some((key, found_nothing)) = done_rx.recv() => {
                if found_nothing {
                    drain_next.insert(key.clone());
                }
                // Woken after the worker's last look: a turn may be queued for it.
                if active.remove(&key).is_some_and(|pending| pending.load(Ordering::Acquire) > 0) {
                    spawn(&mut workers, &mut active, &mut drain_next, key, None);
                }
            }
            _ = sweep.tick() => {
                drain_next.clear();
                for (turn, permit) in claim_orphans(&shared).await {
                    let key = turn.record.session_key.clone();
                    if active.contains_key(&key) {
                        let shared = Arc::clone(&shared);
                        workers.spawn(async move {
                            let _permit = permit;
                            Box::pin(turn::run(&shared, turn)).await;
                        });
                    } else {
                        spawn(&mut workers, &mut active, &mut drain_next, key, Some((turn, permit)));
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
    key: String,
    mut first: Option<(StoredInbound, OwnedSemaphorePermit)>,
    drain: bool,
    pending: Pending,
    done: mpsc::UnboundedSender<Done>,
) {
    // A draining worker (started by the sweep, or for a session whose last woken claim found
    // nothing) claims until its session's queue is empty; one started by a wake claims once
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

/// Turns whose worker died (lapsed lease) or that nobody woke up, each with the permit it
/// runs under. Claims only while permits are free: when every permit is taken, a claimed turn
/// would wait on a ticking lease (possibly longer than the lease, handing it to another
/// replica), and the queued turns of sessions whose worker waits for a permit would be
/// claimed out from under it. A later sweep picks up what is left.
async fn claim_orphans(shared: &Arc<Shared>) -> Vec<(StoredInbound, OwnedSemaphorePermit)> {
    let mut claimed = Vec::new();
    while claimed.len() < 64 {
        let Ok(permit) = Arc::clone(&shared.turn_permits).try_acquire_owned() else {
            break;
        };
        match shared
            .store
            .claim_next_turn(ClaimScope::Any, &shared.me, shared.lease_ms(), shared.clock.now())
            .await
        {
            Ok(Some(turn)) => claimed.push((turn, permit)),
            Ok(None) => break,
            Err(error) => {
                tracing::error!(%error, "cannot look for orphaned turns");
                break;
            }
        }
    }
    claimed
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
