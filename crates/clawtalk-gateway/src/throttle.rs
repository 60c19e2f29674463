//! Wrong-token attempts at `/login`, counted per client address, so that a weak configured
//! `gateway.auth.token` cannot be guessed online. (A generated token has 256 bits; this is
//! for tokens people chose.)
//!
//! An address gets [`MAX_FAILURES`] wrong tokens per [`WINDOW`]; after that every login from
//! it is refused with 429 until the window ends, even with the right token, so the answers
//! say nothing during a lockout. A successful login clears the address's count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong tokens allowed per address and window.
pub const MAX_FAILURES: u32 = 10;
/// The counting window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked before stale entries are swept, so a spray of addresses cannot grow
/// the map without bound.
const SWEEP_AT: usize = 1024;

#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
}

impl LoginThrottle {
    /// `Err(wait)` when `ip` is locked out, for `wait` more.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.get(&ip) {
            Some(f) if f.count >= MAX_FAILURES && now.duration_since(f.since) < WINDOW => {
                Err(WINDOW - now.duration_since(f.since))
            }
            _ => Ok(()),
        }
    }

    /// Counts a wrong token from `ip`.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= SWEEP_AT {
            map.retain(|_, f| now.duration_since(f.since) < WINDOW);
        }
        let entry = map.entry(ip).or_insert(Failures { count: 0, since: now });
        if now.duration_since(entry.since) >= WINDOW {
            *entry = Failures { count: 0, since: now };
        }
        entry.count = entry.count.saturating_add(1);
    }

    /// Forgets `ip`'s failures after a successful login.
    pub fn succeeded(&self, ip: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_locked_out_after_ten_wrong_tokens_for_the_rest_of_the_minute() {
        let throttle = LoginThrottle::default();
        let (attacker, other): (IpAddr, IpAddr) =
            ("192.0.2.7".parse().unwrap(), "192.0.2.8".parse().unwrap());
        let start = Instant::now();
        for i in 0..MAX_FAILURES {
            assert_eq!(throttle.check(attacker, start), Ok(()), "attempt {i}");
            throttle.failed(attacker, start);
        }
        let later = start + Duration::from_secs(20);
        assert_eq!(throttle.check(attacker, later), Err(Duration::from_secs(40)));
        assert_eq!(throttle.check(other, later), Ok(()), "per address");
        assert_eq!(
            throttle.check(attacker, start + WINDOW),
            Ok(()),
            "the window ends"
        );
        throttle.failed(attacker, start + WINDOW);
        assert_eq!(
            throttle.check(attacker, start + WINDOW),
            Ok(()),
            "a new window counts from one"
        );
    }

    #[test]
    fn a_good_login_clears_the_count_and_stale_entries_are_swept() {
        let throttle = LoginThrottle::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            throttle.failed(ip, now);
        }
        throttle.succeeded(ip);
        throttle.failed(ip, now);
        assert_eq!(throttle.check(ip, now), Ok(()));

        for n in 0..SWEEP_AT as u32 {
            throttle.failed(IpAddr::from(n.to_be_bytes()), now);
        }
        throttle.failed(ip, now + WINDOW);
        let tracked = throttle.failures.lock().unwrap().len();
        assert_eq!(tracked, 1, "only the fresh entry is left");
    }
}
