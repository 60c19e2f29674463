//! Who may use the control API and `/metrics`: callers on this host (or a trusted reverse
//! proxy), holding the gateway token when one applies. Wrong tokens are counted per client
//! like `/login`'s ([`crate::throttle`]), so a weak token cannot be guessed online.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};
use dingtalk::Secret;
use ipnet::IpNet;

use crate::client_ip::{client_ip, is_local_or_trusted};
use crate::throttle::LoginThrottle;

/// Why a request was refused; the text goes back to the caller (it names no secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    NotLoopback,
    MissingToken,
    WrongToken,
    /// Too many wrong tokens from this client; try again after this long.
    Throttled(Duration),
}

impl Refusal {
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Self::NotLoopback => StatusCode::FORBIDDEN,
            Self::MissingToken | Self::WrongToken => StatusCode::UNAUTHORIZED,
            Self::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::NotLoopback => {
                "the control API answers local (loopback) callers and gateway.trustedProxies only"
            }
            Self::MissingToken => {
                "the gateway token is required: send `Authorization: Bearer <token>` (gateway.auth.token, \
                 or the one `clawtalk gateway token` prints)"
            }
            Self::WrongToken => "wrong gateway token",
            Self::Throttled(_) => "too many wrong gateway tokens from this address; wait and try again",
        }
    }

    /// Seconds for `Retry-After`, when the caller should wait.
    pub(crate) fn retry_after(self) -> Option<u64> {
        match self {
            Self::Throttled(wait) => Some(wait.as_secs().max(1)),
            _ => None,
        }
    }
}

/// The check in front of the control API.
#[derive(Debug)]
pub(crate) struct ControlGuard {
    /// `None`: loopback callers need no token (loopback bind, no proxy, no token configured).
    token: Option<Secret>,
    proxies: Vec<IpNet>,
    throttle: LoginThrottle,
}

impl ControlGuard {
    pub(crate) fn new(token: Option<Secret>, proxies: Vec<IpNet>) -> Self {
        Self {
            token: token.filter(|t| !t.is_empty()),
            proxies,
            throttle: LoginThrottle::default(),
        }
    }

    /// Checks the caller's address and, when a token applies, its bearer token.
    pub(crate) fn check(&self, peer: SocketAddr, headers: &HeaderMap, now: Instant) -> Result<(), Refusal> {
        if !is_local_or_trusted(peer.ip(), &self.proxies) {
            return Err(Refusal::NotLoopback);
        }
        let Some(expected) = &self.token else {
            return Ok(());
        };
        let client = client_ip(peer.ip(), headers, &self.proxies);
        self.throttle.check(client, now).map_err(Refusal::Throttled)?;
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(Refusal::MissingToken)?;
        if crate::token::matches(expected, given) {
            self.throttle.succeeded(client);
            Ok(())
        } else {
            self.throttle.failed(client, now);
            Err(Refusal::WrongToken)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::throttle::{MAX_FAILURES, WINDOW};
    use axum::http::HeaderValue;

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h
    }

    fn forwarded_for(client: &str, token: &str) -> HeaderMap {
        let mut h = bearer(token);
        h.insert("x-forwarded-for", HeaderValue::from_str(client).unwrap());
        h
    }

    fn guard(token: Option<&str>, proxies: &[&str]) -> ControlGuard {
        ControlGuard::new(
            token.map(Secret::new),
            proxies
                .iter()
                .map(|p| IpNet::from(p.parse::<std::net::IpAddr>().unwrap()))
                .collect(),
        )
    }

    #[test]
    fn loopback_and_token_are_both_required() {
        let now = Instant::now();
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "192.168.1.9:5000".parse().unwrap();
        assert_eq!(guard(None, &[]).check(local, &HeaderMap::new(), now), Ok(()));
        let g = guard(Some("t"), &[]);
        assert_eq!(g.check(remote, &bearer("t"), now), Err(Refusal::NotLoopback));
        assert_eq!(g.check(local, &HeaderMap::new(), now), Err(Refusal::MissingToken));
        assert_eq!(g.check(local, &bearer("tt"), now), Err(Refusal::WrongToken));
        assert_eq!(g.check(local, &bearer("t"), now), Ok(()));
        assert_eq!(g.check("[::1]:1".parse().unwrap(), &bearer("t"), now), Ok(()));
    }

    #[test]
    fn a_remote_trusted_proxy_may_call() {
        let g = guard(Some("t"), &["10.0.0.2"]);
        let proxy: SocketAddr = "10.0.0.2:4000".parse().unwrap();
        assert_eq!(
            g.check(proxy, &forwarded_for("203.0.113.1", "t"), Instant::now()),
            Ok(())
        );
    }

    #[test]
    fn wrong_tokens_lock_the_client_out_for_the_window_even_with_the_right_one() {
        let g = guard(Some("right"), &[]);
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert_eq!(g.check(local, &bearer("guess"), now), Err(Refusal::WrongToken));
        }
        let refused = g.check(local, &bearer("right"), now);
        assert!(matches!(refused, Err(Refusal::Throttled(_))), "{refused:?}");
        assert_eq!(refused.unwrap_err().status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(g.check(local, &bearer("right"), now + WINDOW), Ok(()));
    }

    #[test]
    fn behind_a_trusted_proxy_each_client_is_counted_alone() {
        let g = guard(Some("right"), &["127.0.0.1"]);
        let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES {
            let _ = g.check(proxy, &forwarded_for("203.0.113.1", "guess"), now);
        }
        assert!(matches!(
            g.check(proxy, &forwarded_for("203.0.113.1", "right"), now),
            Err(Refusal::Throttled(_))
        ));
        assert_eq!(
            g.check(proxy, &forwarded_for("203.0.113.2", "right"), now),
            Ok(())
        );
    }

    #[test]
    fn an_untrusted_peer_cannot_dodge_the_count_with_x_forwarded_for() {
        let g = guard(Some("right"), &[]);
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let now = Instant::now();
        for i in 0..MAX_FAILURES {
            let _ = g.check(local, &forwarded_for(&format!("203.0.113.{i}"), "guess"), now);
        }
        assert!(matches!(
            g.check(local, &forwarded_for("198.51.100.1", "right"), now),
            Err(Refusal::Throttled(_))
        ));
    }
}
