//! When to forget the idle keys of a keyed rate limiter.
//!
//! Forgetting (`retain_recent`) walks every tracked key. Run on every send once the map is
//! over its limit, a gateway with more busy conversations than the limit walked all of them
//! for each reply: with 50,000 queued conversations that walk was the largest symbol of the
//! profile and cut throughput by a third. A pass now runs only once the map has doubled since
//! the previous one left it, so its cost per send stays constant however many keys there are,
//! and the map holds at most about twice the keys that are still busy.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The size at which the next pass is due.
#[derive(Debug)]
pub(super) struct PruneSchedule {
    floor: usize,
    next_at: AtomicUsize,
}

/// Marks a pass in progress: other callers skip instead of walking the map too.
const RUNNING: usize = usize::MAX;

impl PruneSchedule {
    /// Passes start once more than `floor` keys are tracked.
    pub(super) const fn new(floor: usize) -> Self {
        Self {
            floor,
            next_at: AtomicUsize::new(floor),
        }
    }

    /// Runs `prune` when `len` keys are more than the schedule allows; `prune` returns how
    /// many keys are left. One caller prunes at a time; the others go on without waiting.
    pub(super) fn run_if_due(&self, len: usize, prune: impl FnOnce() -> usize) {
        let due = self.next_at.load(Ordering::Acquire);
        if len <= due
            || self
                .next_at
                .compare_exchange(due, RUNNING, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        let left = prune();
        self.next_at
            .store(left.saturating_mul(2).max(self.floor), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::PruneSchedule;
    use std::cell::Cell;

    #[test]
    fn nothing_happens_up_to_the_floor() {
        let schedule = PruneSchedule::new(10);
        for len in 0..=10 {
            schedule.run_if_due(len, || panic!("pruned at {len}"));
        }
    }

    #[test]
    fn keys_that_stay_busy_are_walked_a_logarithmic_number_of_times() {
        // Nothing is ever idle: every pass leaves every key. Pruning on every send over the
        // floor would walk the map 99,990 times here.
        let schedule = PruneSchedule::new(10);
        let passes = Cell::new(0);
        for len in 1..=100_000 {
            schedule.run_if_due(len, || {
                passes.set(passes.get() + 1);
                len
            });
        }
        // At 11, 23, 47, … : doubling from 11 reaches 100,000 in 14 passes.
        assert_eq!(passes.get(), 14);
    }

    #[test]
    fn a_pass_that_frees_keys_lowers_the_next_one_to_the_floor() {
        let schedule = PruneSchedule::new(10);
        let passes = Cell::new(0);
        let prune_to = |len: usize, left: usize| {
            schedule.run_if_due(len, || {
                passes.set(passes.get() + 1);
                left
            });
        };
        prune_to(1_000, 2); // everything idle: next pass over 10, not over 2,000
        prune_to(11, 11);
        assert_eq!(passes.get(), 2);
    }

    #[test]
    fn a_pass_in_progress_is_not_started_again() {
        let schedule = PruneSchedule::new(1);
        let inner = Cell::new(false);
        schedule.run_if_due(5, || {
            schedule.run_if_due(50, || {
                inner.set(true);
                0
            });
            5
        });
        assert!(!inner.get(), "a second caller walked the map during a pass");
        // The finished pass set the next one at twice what it left.
        schedule.run_if_due(10, || panic!("due only over 10"));
    }
}
