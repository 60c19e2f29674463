//! HMAC-SHA256 timestamp signatures, implemented here independently of the client crate:
//! custom-robot `sign` and HTTP-mode bot callback `sign` are both
//! `Base64(HMAC-SHA256(key = secret, msg = timestamp + "\n" + secret))`; a card callback's
//! `x-ddpaas-signature` is `Base64(HMAC-SHA256(key = apiSecret, msg = timestamp))`
//! (open.dingtalk.com/document/development/event-callback-card, "回调签名验证").

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// The signature of `timestamp` under `secret`.
pub(crate) fn timestamped_sign(secret: &str, timestamp: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{timestamp}\n{secret}").as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The `x-ddpaas-signature` of a card callback sent at `timestamp` (epoch ms as text).
pub(crate) fn card_callback_signature(api_secret: &str, timestamp: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(api_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Constant-time check of a received signature.
pub(crate) fn sign_matches(secret: &str, timestamp: &str, sign: &str) -> bool {
    let expected = timestamped_sign(secret, timestamp);
    expected.as_bytes().ct_eq(sign.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_fixture_vectors() {
        // crates/dingtalk/fixtures/crypto-vectors.json
        assert_eq!(
            timestamped_sign("SECexample0123456789", "1700000000000"),
            "figG6qqCA/lRh0hsGCW2zNtNV5znkAFut5BI0zKhqnQ="
        );
        assert_eq!(
            timestamped_sign("exampleAppSecret123", "1700000000000"),
            "zYMae4T+nHrYWy0ZzwhUYMjQMn07bEfbuTh7LpRz55Y="
        );
        assert_eq!(
            card_callback_signature("mySecret", "1700000000000"),
            "t3jqwt0WBVsvNpgD+ncljxce56XsNOeEYafngX/BHjc="
        );
        assert!(sign_matches("mySecret", "1", &timestamped_sign("mySecret", "1")));
        assert!(!sign_matches("mySecret", "1", "x"));
    }
}
