//! When one card may be updated again: the adaptive part of card streaming.
//!
//! Users were billed out of their DingTalk quota by plugins that pushed every few hundred
//! milliseconds. Updates here are paced by *tokens* (so a long answer costs a bounded number
//! of calls however fast or slow the model is) and by a minimum interval (so a fast model
//! does not burst); the first text goes out at once so the card is not blank.

use std::time::Duration;

use tokio::time::Instant;

/// The pacing of one card.
#[derive(Debug, Clone)]
pub struct Throttle {
    min_interval: Duration,
    update_tokens: u32,
    last_push: Option<Instant>,
    tokens_since: u32,
    dirty: bool,
}

/// What the throttle says about pushing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Push now.
    Now,
    /// Push at this time unless more happens.
    At(Instant),
    /// Nothing to push until more text arrives.
    Idle,
}

impl Throttle {
    /// At most one update per `min_interval` and per `update_tokens` tokens.
    #[must_use]
    pub fn new(min_interval: Duration, update_tokens: u32) -> Self {
        Self {
            min_interval,
            update_tokens: update_tokens.max(1),
            last_push: None,
            tokens_since: 0,
            dirty: false,
        }
    }

    /// A streamed token (one delta) changed what the card should show.
    pub fn on_token(&mut self) {
        self.tokens_since = self.tokens_since.saturating_add(1);
        self.dirty = true;
    }

    /// Something besides answer tokens changed (a tool started): worth showing, but it does
    /// not count toward the token pacing.
    pub fn on_status(&mut self) {
        self.dirty = true;
    }

    /// Whether to push at `now`.
    #[must_use]
    pub fn due(&self, now: Instant) -> Due {
        if !self.dirty {
            return Due::Idle;
        }
        let Some(last) = self.last_push else {
            return Due::Now;
        };
        if self.tokens_since < self.update_tokens && self.tokens_since > 0 {
            return Due::Idle;
        }
        let next = last + self.min_interval;
        if now >= next { Due::Now } else { Due::At(next) }
    }

    /// An update went out at `now`.
    pub fn pushed(&mut self, now: Instant) {
        self.last_push = Some(now);
        self.tokens_since = 0;
        self.dirty = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_text_goes_out_at_once_then_by_tokens_and_interval() {
        let t0 = Instant::now();
        let mut t = Throttle::new(Duration::from_secs(1), 3);
        assert_eq!(t.due(t0), Due::Idle);
        t.on_token();
        assert_eq!(t.due(t0), Due::Now);
        t.pushed(t0);
        t.on_token();
        t.on_token();
        assert_eq!(t.due(t0 + Duration::from_secs(5)), Due::Idle, "too few tokens");
        t.on_token();
        assert_eq!(
            t.due(t0 + Duration::from_millis(10)),
            Due::At(t0 + Duration::from_secs(1))
        );
        assert_eq!(t.due(t0 + Duration::from_secs(1)), Due::Now);
    }

    #[test]
    fn a_status_change_waits_only_for_the_interval() {
        let t0 = Instant::now();
        let mut t = Throttle::new(Duration::from_secs(1), 100);
        t.on_token();
        t.pushed(t0);
        t.on_status();
        assert_eq!(t.due(t0), Due::At(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn a_two_thousand_token_answer_costs_at_most_eight_updates() {
        let mut now = Instant::now();
        let mut t = Throttle::new(Duration::from_millis(0), 250);
        let mut pushes = 0;
        for _ in 0..2_000 {
            t.on_token();
            now += Duration::from_millis(1);
            if t.due(now) == Due::Now {
                t.pushed(now);
                pushes += 1;
            }
        }
        assert!(pushes <= 8, "{pushes} updates");
    }
}
