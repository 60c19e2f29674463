//! One store call renews the leases of all the turns this process runs whose renewal is due.
//! Renewed one by one, thousands of turns in flight are thousands of writes every third of a
//! lease, queueing for the store's few connections until renewals come too late (the 9 AM
//! bench on three replicas, with a 10 s lease: over 2,000 turns given up).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clawtalk_store::{InboundId, StoreError, StoreResult};
use tokio::sync::oneshot;

use super::Shared;

/// How long the renewal that opens a call waits for others to join it: short against a
/// lease, long against the pace at which turns fall due.
const GATHER: Duration = Duration::from_millis(20);

/// Whether a turn's lease was renewed (`false`: lost).
type Reply = oneshot::Sender<StoreResult<bool>>;

/// Renewals waiting for the next call.
#[derive(Default)]
pub(crate) struct Renewals {
    pending: Mutex<Vec<(InboundId, Reply)>>,
}

impl Renewals {
    /// Renews `id`'s lease in the next call: `Ok(false)` when this process no longer holds it.
    pub(crate) async fn renew(shared: &Arc<Shared>, id: InboundId) -> StoreResult<bool> {
        let (reply, renewed) = oneshot::channel();
        let opens_call = {
            let mut pending = shared
                .renewals
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            pending.push((id, reply));
            pending.len() == 1
        };
        if opens_call {
            // Its own task: the turn asking may stop waiting (it ended, or gave up), and the
            // others' renewals must go out all the same.
            tokio::spawn(call(Arc::clone(shared)));
        }
        renewed
            .await
            .unwrap_or_else(|_| Err(StoreError::Invalid("the lease renewal was dropped".into())))
    }
}

/// Gathers the renewals due about now and makes them in one store call.
async fn call(shared: Arc<Shared>) {
    tokio::time::sleep(GATHER).await;
    let batch = std::mem::take(
        &mut *shared
            .renewals
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let mut ids: Vec<InboundId> = batch.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    let result = shared
        .store
        .renew_leases(&ids, &shared.me, shared.lease_ms(), shared.clock.now())
        .await;
    let (lost, busy): (HashSet<InboundId>, HashSet<InboundId>) = match &result {
        Ok(renewal) => (
            renewal.lost.iter().copied().collect(),
            renewal.busy.iter().copied().collect(),
        ),
        Err(_) => (HashSet::new(), HashSet::new()),
    };
    for (id, reply) in batch {
        let outcome = match &result {
            // Its turn's lease loop tries again shortly, in another call.
            Ok(_) if busy.contains(&id) => Err(StoreError::Busy {
                detail: "another write held the turn's row".into(),
            }),
            Ok(_) => Ok(!lost.contains(&id)),
            Err(error) => Err(error.clone()),
        };
        let _ = reply.send(outcome);
    }
}
