//! [`SlidingWindows`]: at most `limit` sends per key in any window, counted exactly the way
//! DingTalk states its per-conversation limit ("20 messages a minute"), so a conversation gets
//! its whole minute's budget at once instead of a burst and then one send every few seconds.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Send times per key over the last window.
pub(super) struct SlidingWindows<K> {
    limit: usize,
    window: Duration,
    sends: Mutex<HashMap<K, VecDeque<Instant>>>,
}

impl<K: Eq + Hash + Clone> SlidingWindows<K> {
    /// At most `limit` (at least one) sends per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: usize::try_from(limit.max(1)).unwrap_or(usize::MAX),
            window,
            sends: Mutex::default(),
        }
    }

    /// Counts a send for `key` if the window has room now; else how long until it has.
    pub fn try_take(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let mut sends = self.lock();
        let log = sends.entry(key.clone()).or_default();
        while log
            .front()
            .is_some_and(|at| now.duration_since(*at) >= self.window)
        {
            log.pop_front();
        }
        if log.len() < self.limit {
            log.push_back(now);
            return Ok(());
        }
        let oldest = log.front().copied().unwrap_or(now);
        Err((oldest + self.window)
            .saturating_duration_since(now)
            .max(Duration::from_millis(1)))
    }

    /// Counts a send for `key`, waiting until the window has room; true when it had to wait.
    pub async fn take(&self, key: &K) -> bool {
        let mut waited = false;
        loop {
            match self.try_take(key) {
                Ok(()) => return waited,
                Err(wait) => {
                    waited = true;
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Forgets keys without a send in the last window; returns how many are left.
    pub fn retain_recent(&self) -> usize {
        let now = Instant::now();
        let mut sends = self.lock();
        sends.retain(|_, log| log.back().is_some_and(|at| now.duration_since(*at) < self.window));
        sends.len()
    }

    /// Keys tracked.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, VecDeque<Instant>>> {
        self.sends
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_whole_budget_is_there_at_once_and_comes_back_a_window_later() {
        let windows = SlidingWindows::new(20, Duration::from_secs(60));
        for _ in 0..20 {
            assert!(windows.try_take(&"c").is_ok());
        }
        let wait = windows.try_take(&"c").unwrap_err();
        assert_eq!(wait, Duration::from_secs(60));
        // Other keys are not affected.
        assert!(windows.try_take(&"other").is_ok());
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(windows.try_take(&"c").is_err());
        let started = Instant::now();
        assert!(windows.take(&"c").await, "waited");
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_keys_are_forgotten() {
        let windows = SlidingWindows::new(2, Duration::from_secs(60));
        windows.try_take(&1).unwrap();
        tokio::time::advance(Duration::from_secs(30)).await;
        windows.try_take(&2).unwrap();
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(windows.retain_recent(), 1);
        assert_eq!(windows.len(), 1);
    }
}
