//! A running turn's lease: renewed while the turn runs, retried when a renewal fails, and given
//! up before it can lapse, so that no two replicas ever run one turn at once.

use std::sync::Arc;
use std::time::Duration;

use clawtalk_store::{InboundId, StoreError, StoredInbound};
use tokio::time::Instant;

use super::Shared;
use super::renewals::Renewals;

/// Pause before trying a failed renewal again (the store busy or briefly unreachable).
const RETRY_AFTER: Duration = Duration::from_millis(250);

/// How long an uncontested turn keeps trying to renew its lease: as long as it runs.
const FOREVER: Duration = Duration::from_secs(86_400 * 365);

/// Notes that this process runs `turn`, claimed just now (the scheduler takes a turn permit
/// before it claims, so a claimed turn starts at once). False when it already runs here.
///
/// The lease is held until the expiry the claim stored, not for a whole lease from now: the
/// claim's clock reading was taken before the store call, and a claim that waited for the
/// store (seconds, when a burst keeps every connection busy) left that much less of the lease.
/// Counted from now, the turn would renew and give up too late, after another replica could
/// have claimed it.
pub(crate) fn enter(shared: &Shared, turn: &StoredInbound) -> bool {
    let lease = shared.config().gateway.turn_lease;
    let left = turn.lease.as_ref().map_or(lease, |held| {
        held.expires_at_ms.since(shared.clock.now()).min(lease)
    });
    let mut running = lock(shared);
    if running.contains_key(&turn.id) {
        return false;
    }
    running.insert(turn.id, Instant::now() + left);
    true
}

/// Takes the mark [`enter`] made off, once the run ended.
pub(crate) fn leave(shared: &Shared, id: InboundId) {
    lock(shared).remove(&id);
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, std::collections::HashMap<InboundId, Instant>> {
    shared
        .running_turns
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Until when this process surely holds `id`'s lease: the last renewal (or the claim) plus the
/// lease; a turn not marked running here holds it for one lease from now.
fn held_until(shared: &Shared, id: InboundId, lease: Duration) -> Instant {
    lock(shared)
        .get(&id)
        .copied()
        .unwrap_or_else(|| Instant::now() + lease)
}

/// Records that `id`'s lease holds until at least `until`, as the renewal call that renewed it
/// says: also when the phase that asked ended while the call was under way.
pub(crate) fn renewed(shared: &Shared, id: InboundId, until: Instant) {
    if let Some(held) = lock(shared).get_mut(&id) {
        *held = (*held).max(until);
    }
}

/// Renews the turn's lease until it is lost or about to lapse; never returns while the lease is
/// held. Each phase of a turn (finishing what an earlier run left, opening its session and
/// fetching media, opening its card, running the agent, waiting for a note on its way, sending
/// the answer) runs beside one call; the lease's state lives in [`Shared::running_turns`], so
/// a phase renews on the schedule the one before it kept.
///
/// A renewal goes a third of a lease after the last one, in one store call with the other
/// turns' renewals due about then (`renewals.rs`), and one that fails (the store busy:
/// in a burst on several replicas, writes queue) is tried again at once and again until the
/// lease is close to lapsing. Then the turn gives up, a tenth of a lease early to allow for the
/// replicas' clocks differing: once the lease lapses another replica may claim the turn, and a
/// turn run on in the meantime would answer a second time. Its new owner (or this process's
/// sweep) runs it from what the store holds.
///
/// On a store that serves this gateway alone (SQLite) nobody else can claim the turn, and this
/// process's own sweep leaves it to the run under way: there the turn never gives up, and
/// renewals are retried for as long as it runs.
pub(crate) async fn keep_lease(shared: &Arc<Shared>, turn: &StoredInbound) -> StoreError {
    // Stores that several gateways share are the ones that share send budgets.
    let contested = shared.store.shared_rate_budget().is_some();
    keep(shared, turn, contested).await
}

/// [`keep_lease`]; `contested` when other gateways may claim the turn once its lease lapses.
async fn keep(shared: &Arc<Shared>, turn: &StoredInbound, contested: bool) -> StoreError {
    let id = turn.id;
    loop {
        let lease = shared.config().gateway.turn_lease;
        let until = held_until(shared, id, lease);
        let due = until.checked_sub(lease * 2 / 3).unwrap_or(until);
        let sleeps = due > Instant::now();
        tokio::time::sleep_until(due).await;
        // A runtime too busy to wake the renewal on time eats the margin it has before the
        // lease lapses; logged, since it looks like a slow store from anywhere else.
        let late = Instant::now().saturating_duration_since(due);
        if sleeps && late > lease / 10 {
            tracing::warn!(inbound = ?id, late_ms = late.as_millis() as u64, "a turn's lease renewal woke late");
        }
        let give_up_at = if contested {
            until.checked_sub(lease / 10).unwrap_or(until)
        } else {
            Instant::now() + FOREVER
        };
        let mut failures = 0_u32;
        loop {
            let asked = Instant::now();
            let Some(left) = give_up_at.checked_duration_since(asked).filter(|d| !d.is_zero()) else {
                tracing::warn!(inbound = ?id, failures, "could not renew the turn's lease before it could lapse; giving the turn up so that one replica runs it");
                return StoreError::LeaseLost { id };
            };
            let renewal = Renewals::renew(shared, id);
            match tokio::time::timeout(left, renewal).await {
                // The renewal call has recorded the new expiry (`renewals.rs`).
                Ok(Ok(true)) => break,
                Ok(Ok(false)) => return StoreError::LeaseLost { id },
                Ok(Err(error)) => {
                    failures += 1;
                    tracing::warn!(inbound = ?id, %error, "could not renew a turn lease; retrying");
                    tokio::time::sleep(RETRY_AFTER.min(left)).await;
                }
                Err(_) => failures += 1,
            }
        }
    }
}

#[cfg(test)]
#[path = "lease_tests.rs"]
mod tests;
