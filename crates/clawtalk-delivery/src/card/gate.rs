//! Who gets the next card permit: the waiting call of the most urgent class, then the one
//! that came first.
//!
//! A rate limiter alone serves whoever polls it first, so a burst of users waiting for their
//! card's first text competes with cards that already show an answer and only need to be
//! finished. The gate queues waiting calls by [`Class`] then arrival and lets only the head
//! ask the limiter; calls that merely *try* (intermediate updates) pass only when nobody
//! waits. Each waiter has its own wake-up, so a permit wakes one task, not the whole queue.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// How urgent a card call is; the order of the variants is the order of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// The first text a user sees of an answer (a card's creation, its first streamed text).
    FirstText,
    /// Closing a card with the whole answer, and setting its state: never skipped, so no
    /// card stays "typing".
    Finish,
}

type Ticket = (Class, u64);

#[derive(Default)]
struct Queue {
    next: u64,
    waiting: BTreeMap<Ticket, Arc<Notify>>,
}

impl Queue {
    fn head(&self) -> Option<Ticket> {
        self.waiting.keys().next().copied()
    }

    fn wake_head(&self) {
        if let Some(notify) = self.waiting.values().next() {
            notify.notify_one();
        }
    }
}

/// The queue in front of one API's limiter.
#[derive(Default)]
pub struct PriorityGate {
    queue: Mutex<Queue>,
}

impl std::fmt::Debug for PriorityGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PriorityGate")
            .field("waiting", &self.waiting(Class::Finish))
            .finish()
    }
}

/// A place in the queue; leaving it (served, or the waiting future dropped) hands the head
/// to the next.
struct Place<'a> {
    gate: &'a PriorityGate,
    ticket: Ticket,
    wake: Arc<Notify>,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if let Ok(mut queue) = self.gate.queue.lock() {
            let was_head = queue.head() == Some(self.ticket);
            queue.waiting.remove(&self.ticket);
            if was_head {
                queue.wake_head();
            }
        }
    }
}

impl PriorityGate {
    /// Waits its turn, then takes a permit from `take`: `Ok` when one was taken, or how long
    /// until the limiter may have one. Only the head of the queue calls `take`.
    pub async fn acquire(&self, class: Class, take: impl Fn() -> Result<(), Duration>) {
        let place = self.enter(class);
        loop {
            if self.is_head(place.ticket) {
                match take() {
                    Ok(()) => return,
                    Err(wait) => {
                        tokio::select! {
                            () = tokio::time::sleep(wait) => {}
                            // Someone more urgent arrived: they are the head now.
                            () = place.wake.notified() => {}
                        }
                    }
                }
            } else {
                place.wake.notified().await;
            }
        }
    }

    /// A permit from `take` only if nobody waits: calls that may be skipped never go before
    /// those that may not. `Err(None)` when calls wait, else `take`'s answer (how long until
    /// the limiter may have a permit).
    pub fn try_pass(&self, take: impl FnOnce() -> Result<(), Duration>) -> Result<(), Option<Duration>> {
        let idle = self.queue.lock().is_ok_and(|q| q.waiting.is_empty());
        if !idle {
            return Err(None);
        }
        take().map_err(Some)
    }

    /// Calls waiting in classes up to and including `up_to`.
    #[must_use]
    pub fn waiting(&self, up_to: Class) -> usize {
        self.queue
            .lock()
            .map(|q| q.waiting.keys().take_while(|(c, _)| *c <= up_to).count())
            .unwrap_or(0)
    }

    fn enter(&self, class: Class) -> Place<'_> {
        let wake = Arc::new(Notify::new());
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ticket = (class, queue.next);
        queue.next += 1;
        let old_head = queue.head();
        queue.waiting.insert(ticket, Arc::clone(&wake));
        if old_head.is_some_and(|h| ticket < h) {
            // The old head may be sleeping on the limiter; it must step back for this one.
            if let Some(old) = old_head.and_then(|h| queue.waiting.get(&h)) {
                old.notify_one();
            }
        }
        Place {
            gate: self,
            ticket,
            wake,
        }
    }

    fn is_head(&self, ticket: Ticket) -> bool {
        self.queue.lock().is_ok_and(|q| q.head() == Some(ticket))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::time::Instant;

    /// One permit every `every`, the first at once: a limiter on tokio's (paused) clock.
    struct Ticker {
        next: Mutex<Instant>,
        every: Duration,
    }

    impl Ticker {
        fn new(every: Duration) -> Arc<Self> {
            Arc::new(Self {
                next: Mutex::new(Instant::now()),
                every,
            })
        }

        fn take(&self) -> Result<(), Duration> {
            let mut next = self.next.lock().unwrap();
            let now = Instant::now();
            if now >= *next {
                *next = now.max(*next) + self.every;
                Ok(())
            } else {
                Err(*next - now)
            }
        }
    }

    /// Starts `calls` in order (each entering the queue before the next starts) and returns
    /// the order they were served in.
    async fn served_order(
        gate: &Arc<PriorityGate>,
        ticker: &Arc<Ticker>,
        calls: &[(Class, &'static str)],
    ) -> Vec<&'static str> {
        let served = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (class, name) in calls {
            let (gate, ticker, served) = (Arc::clone(gate), Arc::clone(ticker), Arc::clone(&served));
            let (class, name) = (*class, *name);
            tasks.push(tokio::spawn(async move {
                gate.acquire(class, || ticker.take()).await;
                served.lock().unwrap().push(name);
            }));
            // Let it enter the queue (and the first take its permit) before the next one.
            tokio::task::yield_now().await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        Arc::try_unwrap(served).unwrap().into_inner().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn every_first_text_goes_before_any_finish() {
        let gate = Arc::new(PriorityGate::default());
        let ticker = Ticker::new(Duration::from_millis(100));
        let order = served_order(
            &gate,
            &ticker,
            &[
                (Class::Finish, "finish a"),
                (Class::Finish, "finish b"),
                (Class::FirstText, "first c"),
                (Class::Finish, "finish d"),
                (Class::FirstText, "first e"),
            ],
        )
        .await;
        // "finish a" came to an empty queue and took the free permit at once.
        assert_eq!(order, ["finish a", "first c", "first e", "finish b", "finish d"]);
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_are_served_at_the_limiters_pace_in_arrival_order() {
        let gate = Arc::new(PriorityGate::default());
        let ticker = Ticker::new(Duration::from_millis(50));
        let started = Instant::now();
        let names: Vec<(Class, &'static str)> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|n| (Class::FirstText, *n))
            .collect();
        let order = served_order(&gate, &ticker, &names).await;
        assert_eq!(order, ["a", "b", "c", "d", "e"]);
        assert_eq!(started.elapsed(), Duration::from_millis(200));
        assert_eq!(gate.waiting(Class::Finish), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_try_passes_only_when_nobody_waits() {
        let gate = Arc::new(PriorityGate::default());
        let ticker = Ticker::new(Duration::from_millis(100));
        assert_eq!(gate.try_pass(|| ticker.take()), Ok(()));
        // Turned away by the limiter alone: told when its next permit frees.
        tokio::time::advance(Duration::from_millis(30)).await;
        assert_eq!(
            gate.try_pass(|| ticker.take()),
            Err(Some(Duration::from_millis(70)))
        );
        let waiter = {
            let (gate, ticker) = (Arc::clone(&gate), Arc::clone(&ticker));
            tokio::spawn(async move { gate.acquire(Class::Finish, || ticker.take()).await })
        };
        tokio::task::yield_now().await;
        assert_eq!(gate.waiting(Class::Finish), 1);
        assert_eq!(gate.waiting(Class::FirstText), 0);
        tokio::time::advance(Duration::from_millis(150)).await;
        // The limiter has a permit again, but the finish waiting for it gets it.
        assert_eq!(gate.try_pass(|| ticker.take()), Err(None));
        waiter.await.unwrap();
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(gate.try_pass(|| ticker.take()), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_given_up_hands_its_place_on() {
        let gate = Arc::new(PriorityGate::default());
        let ticker = Ticker::new(Duration::from_secs(1));
        assert!(ticker.take().is_ok());
        let served = Arc::new(AtomicU32::new(0));
        let spawn = |class| {
            let (gate, ticker, served) = (Arc::clone(&gate), Arc::clone(&ticker), Arc::clone(&served));
            tokio::spawn(async move {
                gate.acquire(class, || ticker.take()).await;
                served.fetch_add(1, Ordering::Relaxed);
            })
        };
        let head = spawn(Class::FirstText);
        tokio::task::yield_now().await;
        let next = spawn(Class::Finish);
        tokio::task::yield_now().await;
        head.abort();
        let _ = head.await;
        assert_eq!(gate.waiting(Class::Finish), 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        next.await.unwrap();
        assert_eq!(served.load(Ordering::Relaxed), 1);
        assert_eq!(gate.waiting(Class::Finish), 0);
    }
}
