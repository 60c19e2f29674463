//! Who may use the control API and `/metrics`: local callers only, holding the gateway
//! token when one is configured (`gateway.auth.token`).

use std::net::SocketAddr;

use axum::http::{HeaderMap, StatusCode, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why a request was refused; the text goes back to the caller (it names no secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    NotLoopback,
    MissingToken,
    WrongToken,
}

impl Refusal {
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Self::NotLoopback => StatusCode::FORBIDDEN,
            Self::MissingToken | Self::WrongToken => StatusCode::UNAUTHORIZED,
        }
    }

    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::NotLoopback => "the control API answers local (loopback) callers only",
            Self::MissingToken => {
                "the gateway token is required: send `Authorization: Bearer <gateway.auth.token>`"
            }
            Self::WrongToken => "wrong gateway token",
        }
    }
}

/// Checks the caller's address and, when `expected` is set, its bearer token.
pub(crate) fn check(peer: SocketAddr, headers: &HeaderMap, expected: Option<&str>) -> Result<(), Refusal> {
    if !peer.ip().is_loopback() {
        return Err(Refusal::NotLoopback);
    }
    let Some(expected) = expected else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(Refusal::MissingToken)?;
    if tokens_match(given, expected) {
        Ok(())
    } else {
        Err(Refusal::WrongToken)
    }
}

/// Constant-time comparison; hashing first hides the token's length as well.
fn tokens_match(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h
    }

    #[test]
    fn loopback_and_token_are_both_required() {
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "192.168.1.9:5000".parse().unwrap();
        assert_eq!(check(local, &HeaderMap::new(), None), Ok(()));
        assert_eq!(check(remote, &bearer("t"), Some("t")), Err(Refusal::NotLoopback));
        assert_eq!(
            check(local, &HeaderMap::new(), Some("t")),
            Err(Refusal::MissingToken)
        );
        assert_eq!(check(local, &bearer("tt"), Some("t")), Err(Refusal::WrongToken));
        assert_eq!(check(local, &bearer("t"), Some("t")), Ok(()));
        assert_eq!(check("[::1]:1".parse().unwrap(), &bearer("t"), Some("t")), Ok(()));
    }
}
