//! Logged-in browser sessions, kept in memory: a random id in an HttpOnly cookie, an expiry,
//! and the CSRF token every form of the session must carry. A restart logs everyone out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use ipnet::IpNet;
use rand::RngCore;
use subtle::ConstantTimeEq;

use clawtalk_gateway::token::hex;

/// Name of the session cookie.
pub const COOKIE: &str = "clawtalk_session";
/// A session ends this long after its last request.
pub const IDLE: Duration = Duration::from_secs(12 * 60 * 60);
/// Sessions kept at most; logging in beyond that drops the oldest (a flood of logins with
/// the right token cannot exhaust memory).
const MAX_SESSIONS: usize = 256;

/// What a page handler knows about the logged-in browser.
#[derive(Debug, Clone)]
pub struct WebSession {
    /// Goes into every form as `csrf`.
    pub csrf: String,
}

struct Entry {
    csrf: String,
    last_seen: Instant,
}

/// The live sessions.
#[derive(Default)]
pub struct Sessions {
    entries: Mutex<HashMap<String, Entry>>,
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

impl Sessions {
    /// Starts a session; returns its id (the cookie value).
    pub fn create(&self, now: Instant) -> String {
        let id = random_hex();
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, e| now.duration_since(e.last_seen) < IDLE);
            if entries.len() >= MAX_SESSIONS
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.last_seen)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
            entries.insert(
                id.clone(),
                Entry {
                    csrf: random_hex(),
                    last_seen: now,
                },
            );
        }
        id
    }

    /// The live session with this id, extending it; an expired one is removed.
    pub fn touch(&self, id: &str, now: Instant) -> Option<WebSession> {
        let mut entries = self.entries.lock().ok()?;
        let entry = entries.get_mut(id)?;
        if now.duration_since(entry.last_seen) >= IDLE {
            entries.remove(id);
            return None;
        }
        entry.last_seen = now;
        Some(WebSession {
            csrf: entry.csrf.clone(),
        })
    }

    /// Logs a session out.
    pub fn remove(&self, id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(id);
        }
    }
}

impl WebSession {
    /// Whether a form's `csrf` field is this session's token (constant time).
    #[must_use]
    pub fn csrf_ok(&self, given: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(given.as_bytes()))
    }
}

/// The session id from a `Cookie` header.
#[must_use]
pub fn cookie_value(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for a new session: not readable by scripts, never sent cross-site, and, when
/// the browser reached the gateway over HTTPS ([`reached_over_https`]), never sent over
/// plain HTTP either.
#[must_use]
pub fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        IDLE.as_secs(),
        secure_attr(secure)
    )
}

/// `Set-Cookie` that deletes the session cookie.
#[must_use]
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        secure_attr(secure)
    )
}

fn secure_attr(secure: bool) -> &'static str {
    if secure { "; Secure" } else { "" }
}

/// Whether the browser's request came over HTTPS. The gateway itself serves plain HTTP, so
/// HTTPS means a TLS-terminating reverse proxy: `X-Forwarded-Proto: https` (or `Forwarded:
/// proto=https`, RFC 7239) is believed only from a proxy: a loopback peer (the proxy on the
/// same host) or one of `gateway.trustedProxies`; from anywhere else a client could set it on
/// a plain connection.
#[must_use]
pub fn reached_over_https(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> bool {
    if !clawtalk_gateway::client_ip::is_local_or_trusted(peer, trusted_proxies) {
        return false;
    }
    // The first value is the one the outermost proxy saw from the browser.
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_ascii_lowercase())
    };
    if let Some(proto) = first("x-forwarded-proto") {
        return proto == "https";
    }
    first("forwarded").is_some_and(|element| {
        element
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(key, value)| key == "proto" && value.trim_matches('"') == "https")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_after_idle_time_and_can_log_out() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let id = sessions.create(t0);
        assert_eq!(id.len(), 64);
        let s = sessions.touch(&id, t0 + Duration::from_secs(60)).unwrap();
        assert!(s.csrf_ok(&s.csrf));
        assert!(!s.csrf_ok("nope"));
        assert!(!s.csrf_ok(""));
        // Touching extends it.
        assert!(sessions.touch(&id, t0 + IDLE).is_some());
        assert!(sessions.touch(&id, t0 + IDLE + IDLE).is_none());
        assert!(sessions.touch(&id, t0).is_none(), "an expired session is gone");
        let other = sessions.create(t0);
        sessions.remove(&other);
        assert!(sessions.touch(&other, t0).is_none());
        assert!(sessions.touch("made-up", t0).is_none());
    }

    #[test]
    fn each_session_has_its_own_csrf_token() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let a = sessions.touch(&sessions.create(now), now).unwrap();
        let b = sessions.touch(&sessions.create(now), now).unwrap();
        assert_ne!(a.csrf, b.csrf);
        assert!(!a.csrf_ok(&b.csrf));
    }

    #[test]
    fn too_many_sessions_drop_the_oldest() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let first = sessions.create(t0);
        for i in 1..=MAX_SESSIONS {
            sessions.create(t0 + Duration::from_millis(u64::try_from(i).unwrap()));
        }
        assert!(sessions.touch(&first, t0 + Duration::from_secs(1)).is_none());
    }

    #[test]
    fn cookies() {
        assert_eq!(cookie_value("a=1; clawtalk_session=abc; b=2"), Some("abc"));
        assert_eq!(cookie_value("clawtalk_session="), None);
        assert_eq!(cookie_value("other=abc"), None);
        let set = set_cookie("abc", false);
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"));
        assert!(!set.contains("Secure"), "{set}");
        assert!(set_cookie("abc", true).ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
        assert!(clear_cookie(true).contains("Max-Age=0; Secure"));
    }

    #[test]
    fn https_is_believed_from_a_loopback_or_trusted_proxy_only() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, axum::http::HeaderValue::from_static(value));
            }
            map
        };
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let local6: IpAddr = "::1".parse().unwrap();
        let remote: IpAddr = "203.0.113.9".parse().unwrap();
        let forwarded = headers(&[("x-forwarded-proto", "HTTPS")]);
        assert!(reached_over_https(local, &forwarded, &[]));
        assert!(reached_over_https(local6, &forwarded, &[]));
        assert!(
            !reached_over_https(remote, &forwarded, &[]),
            "anyone can send the header"
        );
        let proxy: IpNet = "203.0.113.0/24".parse().unwrap();
        assert!(
            reached_over_https(remote, &forwarded, &[proxy]),
            "a trusted proxy on another host is believed"
        );
        assert!(!reached_over_https(local, &HeaderMap::new(), &[]));
        assert!(!reached_over_https(
            local,
            &headers(&[("x-forwarded-proto", "http")]),
            &[]
        ));
        assert!(reached_over_https(
            local,
            &headers(&[("x-forwarded-proto", "https, http")]),
            &[]
        ));
        assert!(reached_over_https(
            local,
            &headers(&[("forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43")]),
            &[]
        ));
        assert!(!reached_over_https(
            local,
            &headers(&[("forwarded", "for=192.0.2.60;proto=http")]),
            &[]
        ));
    }
}
