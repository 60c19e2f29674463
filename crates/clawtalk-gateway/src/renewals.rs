//! One store call renews the leases of all the turns this process runs whose renewal is due.
//! Renewed one by one, thousands of turns in flight are thousands of writes every third of a
//! lease, queueing for the store's few connections until renewals come too late (the 9 AM
//! bench on three replicas, with a 10 s lease: over 2,000 turns given up).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clawtalk_store::{InboundId, StoreError, StoreResult};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::Shared;

/// How long the renewal that opens a call waits for others to join it: short against a
/// lease, long against the pace at which turns fall due.
const GATHER: Duration = Duration::from_millis(20);

/// How long a renewal whose row was locked waits before it is asked again.
const BUSY_AGAIN_AFTER: Duration = Duration::from_millis(100);

/// Whether a turn's lease was renewed (`false`: lost).
type Reply = oneshot::Sender<StoreResult<bool>>;

/// A renewal waiting for a call: since when, so that one kept waiting by a locked row says so.
struct Pending {
    id: InboundId,
    reply: Reply,
    since: Instant,
    /// Whether the log already says a locked row keeps it waiting.
    told: bool,
}

/// Renewals waiting for the next call.
#[derive(Default)]
pub(crate) struct Renewals {
    pending: Mutex<Vec<Pending>>,
}

impl Renewals {
    /// Renews `id`'s lease in the next call: `Ok(false)` when this process no longer holds it.
    pub(crate) async fn renew(shared: &Arc<Shared>, id: InboundId) -> StoreResult<bool> {
        let (reply, renewed) = oneshot::channel();
        enqueue(
            Arc::clone(shared),
            [Pending {
                id,
                reply,
                since: Instant::now(),
                told: false,
            }],
        );
        renewed
            .await
            .unwrap_or_else(|_| Err(StoreError::Invalid("the lease renewal was dropped".into())))
    }
}

/// Adds renewals to the next call, starting that call when they are its first: in a task of
/// its own, since the turn asking may stop waiting (it ended, or gave up) and the others'
/// renewals must go out all the same.
fn enqueue(shared: Arc<Shared>, renewals: impl IntoIterator<Item = Pending>) {
    let opens_call = {
        let mut pending = pending(&shared);
        let opens_call = pending.is_empty();
        pending.extend(renewals);
        opens_call
    };
    if opens_call {
        tokio::spawn(call(shared));
    }
}

/// Gathers the renewals due about now and makes them in one store call.
async fn call(shared: Arc<Shared>) {
    tokio::time::sleep(GATHER).await;
    let mut batch = std::mem::take(&mut *pending(&shared));
    // A turn that stopped waiting (it ended, or gave its lease up) must not have its lease
    // renewed behind its back: that would keep other replicas from reclaiming it for a lease.
    batch.retain(|pending| !pending.reply.is_closed());
    if batch.is_empty() {
        return;
    }
    let mut ids: Vec<InboundId> = batch.iter().map(|pending| pending.id).collect();
    ids.sort_unstable();
    ids.dedup();
    let lease = shared.config().gateway.turn_lease;
    let started = Instant::now();
    let result = shared
        .store
        .renew_leases(&ids, &shared.me, shared.lease_ms(), shared.clock.now())
        .await;
    // A turn gives its lease up a tenth of a lease before it lapses, so a call this slow
    // already costs turns: worth a line in the log before they go.
    let slow = lease / 10;
    if started.elapsed() > slow {
        tracing::warn!(
            turns = ids.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "renewing turn leases took longer than a tenth of a lease; turns may be given up"
        );
    }
    let (lost, busy): (HashSet<InboundId>, HashSet<InboundId>) = match &result {
        Ok(renewal) => (
            renewal.lost.iter().copied().collect(),
            renewal.busy.iter().copied().collect(),
        ),
        Err(_) => (HashSet::new(), HashSet::new()),
    };
    let mut again = Vec::new();
    for mut pending in batch {
        let id = pending.id;
        if busy.contains(&id) {
            // Unless its turn stopped waiting (it ended, or gave the lease up).
            if !pending.reply.is_closed() {
                if !pending.told && pending.since.elapsed() > slow {
                    pending.told = true;
                    tracing::warn!(
                        inbound = ?id,
                        waited_ms = pending.since.elapsed().as_millis() as u64,
                        "a turn's lease renewal waits: another write keeps its row locked"
                    );
                }
                again.push(pending);
            }
            continue;
        }
        let outcome = match &result {
            Ok(_) => Ok(!lost.contains(&id)),
            Err(error) => Err(error.clone()),
        };
        // Recorded here, not by the phase that asked: a phase that ended while the call was
        // under way no longer hears the answer, and the next phase would start from the
        // renewal before, finding the lease lapsing that the store has just renewed.
        if outcome == Ok(true) {
            super::lease::renewed(&shared, id, pending.since + lease);
        }
        let _ = pending.reply.send(outcome);
    }
    if !again.is_empty() {
        // Still held, but a write under way had the row locked (its own turn planning a
        // reply part, which takes moments): asked again shortly, while the turn waits on.
        tokio::spawn(async move {
            tokio::time::sleep(BUSY_AGAIN_AFTER).await;
            enqueue(shared, again);
        });
    }
}

fn pending(shared: &Shared) -> std::sync::MutexGuard<'_, Vec<Pending>> {
    shared
        .renewals
        .pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
