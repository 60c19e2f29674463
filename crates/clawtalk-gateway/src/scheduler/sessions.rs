//! Which sessions have a worker, and what a new one must claim: the scheduler's bookkeeping,
//! apart from the tasks it starts so that it can be tested on its own.
//!
//! A worker claims once for being started, then once for each wake counted while it runs
//! (see [`Pending`]), or, draining, until its session's queue is empty. Every queued turn
//! comes with one wake, so as long as no wake is dropped, no turn waits for the sweep.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Wake;

/// Wakes a session's worker has not answered yet: counted by the scheduler when a session
/// with a worker gets another message queued, taken one per claim by the worker after each
/// turn. A worker claims again only while some are left, so the common case — one message,
/// one turn — ends without a claim that finds nothing (one store round trip per message),
/// and a session with several queued messages is worked through without waiting for the
/// sweep (a flag instead of a count forgot all wakes but one).
pub(crate) type Pending = Arc<AtomicUsize>;

/// A worker to start.
#[derive(Debug)]
pub(crate) struct Start {
    pub key: String,
    /// Claim until the session's queue is empty.
    pub drain: bool,
    /// Claims owed beyond the first.
    pub pending: Pending,
}

/// What to do with a turn the sweep claimed.
#[derive(Debug)]
pub(crate) enum SweptTurn {
    /// Its session has a worker: run it beside, and wake the session once it ended
    /// ([`Wake::Ran`]).
    Beside,
    /// Start a worker with it, which then drains the session.
    Start(Start),
}

#[derive(Debug, Default)]
pub(crate) struct Sessions {
    active: HashMap<String, Pending>,
    /// Sessions whose last woken claim found nothing. Mostly another worker took the turn,
    /// but a queued message also waits while an older one of its session is undecided (HTTP
    /// callbacks of one session race); the older one's wake then starts a worker that must
    /// go on to the newer one instead of leaving it to the sweep. Cleared at each sweep,
    /// which picks up whatever is left.
    drain_next: HashSet<String>,
}

impl Sessions {
    /// A wake for a session: counted for its worker, or a worker to start.
    pub(crate) fn wake(&mut self, wake: Wake) -> Option<Start> {
        if let Some(pending) = self.active.get(wake.session()) {
            pending.fetch_add(1, Ordering::AcqRel);
            return None;
        }
        match wake {
            Wake::Queued(key) => Some(self.start(key, false, 0)),
            // Whatever is queued is worked through, however many wakes were spent on claims
            // that found the session busy.
            Wake::Ran(key) => Some(self.start(key, true, 0)),
            // A settled message matters only to a session whose last claim found nothing;
            // for every other one it would be a claim that finds nothing.
            Wake::Settled(key) => self.drain_next.contains(&key).then(|| self.start(key, false, 0)),
        }
    }

    /// A worker ended (`found_nothing`: its first claim found no turn). Wakes counted after
    /// its last look each still owe a claim: the worker started for them claims once for
    /// being started and once for each other wake.
    pub(crate) fn done(&mut self, key: String, found_nothing: bool) -> Option<Start> {
        if found_nothing {
            self.drain_next.insert(key.clone());
        }
        let left = self
            .active
            .remove(&key)
            .map_or(0, |pending| pending.load(Ordering::Acquire));
        (left > 0).then(|| self.start(key, false, left - 1))
    }

    /// A turn the sweep claimed.
    pub(crate) fn swept(&mut self, key: String) -> SweptTurn {
        if self.active.contains_key(&key) {
            SweptTurn::Beside
        } else {
            SweptTurn::Start(self.start(key, true, 0))
        }
    }

    /// The sweep picks up whatever is left; the marks of the last period are spent.
    pub(crate) fn sweeping(&mut self) {
        self.drain_next.clear();
    }

    fn start(&mut self, key: String, drain: bool, carried: usize) -> Start {
        let pending = Arc::new(AtomicUsize::new(carried));
        self.active.insert(key.clone(), Arc::clone(&pending));
        let drain = drain || self.drain_next.remove(&key);
        Start { key, drain, pending }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "agent:main:dingtalk:default:dm:alice";

    /// The claims a started worker makes when it finds a turn each time (draining aside).
    fn claims(start: &Start) -> usize {
        1 + start.pending.load(Ordering::Acquire)
    }

    #[test]
    fn wakes_counted_after_a_workers_last_look_are_each_claimed_for() {
        let mut sessions = Sessions::default();
        let first = sessions.wake(Wake::Queued(S.into())).expect("a worker");
        assert_eq!(claims(&first), 1);
        // Two more messages queued while it ran its turn, after it last looked.
        assert!(sessions.wake(Wake::Queued(S.into())).is_none());
        assert!(sessions.wake(Wake::Queued(S.into())).is_none());
        let next = sessions.done(S.into(), false).expect("another worker");
        assert!(!next.drain);
        assert_eq!(claims(&next), 2, "one claim for each of the two wakes");
        // It makes both claims, taking its pending wake.
        next.pending.store(0, Ordering::Release);
        assert!(
            sessions.done(S.into(), false).is_none(),
            "nothing owed after that"
        );
    }

    #[test]
    fn a_turn_the_sweep_ran_beside_a_worker_wakes_a_draining_one_when_it_ends() {
        let mut sessions = Sessions::default();
        let worker = sessions.wake(Wake::Queued(S.into())).expect("a worker");
        assert!(matches!(sessions.swept(S.into()), SweptTurn::Beside));
        // The worker's claim found the session busy with the swept turn, so it stopped.
        drop(worker);
        assert!(sessions.done(S.into(), true).is_none());
        let after = sessions.wake(Wake::Ran(S.into())).expect("a worker");
        assert!(after.drain, "the rest of the queue is worked through");
    }

    #[test]
    fn a_swept_turn_of_an_idle_session_starts_a_draining_worker() {
        let mut sessions = Sessions::default();
        let SweptTurn::Start(start) = sessions.swept(S.into()) else {
            panic!("no worker ran");
        };
        assert!(start.drain);
        assert!(sessions.wake(Wake::Queued(S.into())).is_none(), "counted for it");
    }

    #[test]
    fn a_settled_message_starts_a_worker_only_after_a_claim_found_nothing() {
        let mut sessions = Sessions::default();
        assert!(sessions.wake(Wake::Settled(S.into())).is_none());
        sessions.wake(Wake::Queued(S.into())).expect("a worker");
        assert!(sessions.done(S.into(), true).is_none());
        let start = sessions.wake(Wake::Settled(S.into())).expect("a worker");
        assert!(start.drain);
        sessions.done(S.into(), false);
        sessions.sweeping();
        assert!(sessions.wake(Wake::Settled(S.into())).is_none());
    }
}
