//! HMAC-SHA256 signatures: custom-robot webhooks, HTTP-mode bot callbacks and card callbacks.
//!
//! All three schemes are `Base64(HMAC-SHA256(key = secret, msg))`; they differ only in `msg`:
//! robots and bot callbacks sign `"{timestamp}\n{secret}"`, card callbacks sign the bare timestamp.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// How far (either way) a `timestamp` may be from our clock: one hour, as DingTalk enforces.
pub const MAX_TIMESTAMP_SKEW_MS: i64 = 3_600_000;

/// Why a timestamp/sign pair or a card-callback signature was rejected.
///
/// Messages never contain the secret or the expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The secret we were configured with is empty, which would make every signature forgeable.
    #[error("no signing secret is configured; set the robot/app secret before verifying signatures")]
    EmptySecret,
    /// `timestamp` is not a decimal number of epoch milliseconds.
    #[error(
        "timestamp {timestamp:?} is not a decimal number of epoch milliseconds; \
         send the signing time as digits only, e.g. 1700000000000"
    )]
    TimestampInvalid {
        /// The timestamp as received, cut to 32 characters.
        timestamp: String,
    },
    /// `timestamp` is more than an hour away from our clock.
    #[error(
        "timestamp is {skew_ms} ms away from this host's clock (allowed: ±{MAX_TIMESTAMP_SKEW_MS} ms; \
         positive = in the past); sign each request freshly with epoch milliseconds and check both \
         clocks (NTP)"
    )]
    Stale {
        /// `now − timestamp` in milliseconds (positive: the request is old; negative: from the future).
        skew_ms: i64,
    },
    /// The signature contains a character that Base64 never produces.
    #[error(
        "signature contains {found:?}, which is not a Base64 character; it was probably \
         percent-encoded twice, or a '+' was sent unencoded and decoded as a space — \
         percent-encode the signature exactly once"
    )]
    SignNotBase64 {
        /// The first offending character.
        found: char,
    },
    /// The signature is well-formed but was made with a different secret or over a different timestamp.
    #[error(
        "signature does not match; check that the sender uses the same secret as this side and \
         signs the exact timestamp it sends"
    )]
    Mismatch,
}

/// The custom-robot signature: `Base64(HMAC-SHA256(key = secret, msg = "{timestamp_ms}\n{secret}"))`.
///
/// DingTalk uses the same computation for the `sign` header of HTTP-mode bot callbacks
/// (key = the app's Client Secret) and of outgoing-robot callbacks.
#[must_use]
pub fn robot_sign(secret: &str, timestamp_ms: i64) -> String {
    timestamped_sign(secret, &timestamp_ms.to_string())
}

/// `webhook` with fresh `timestamp` and `sign` query parameters, each percent-encoded exactly once.
///
/// Other parameters (notably `access_token`) are kept; a `timestamp`/`sign` left over from an
/// earlier signing is replaced rather than duplicated.
#[must_use]
pub fn signed_webhook_url(webhook: &url::Url, secret: &str, timestamp_ms: i64) -> url::Url {
    let mut url = webhook.clone();
    let is_signing_param = |key: &str| key == "timestamp" || key == "sign";
    if url.query_pairs().any(|(key, _)| is_signing_param(&key)) {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(key, _)| !is_signing_param(key))
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    url.query_pairs_mut()
        .append_pair("timestamp", &timestamp_ms.to_string())
        .append_pair("sign", &robot_sign(secret, timestamp_ms));
    url
}

/// Checks a `timestamp` + `sign` pair made with [`robot_sign`]'s algorithm.
///
/// Used for custom-robot webhook calls (simulator) and HTTP-mode bot callbacks (gateway).
/// `timestamp` must be epoch milliseconds within [`MAX_TIMESTAMP_SKEW_MS`] of `now_ms`, and
/// the signature is computed over `timestamp` exactly as received. `sign` must already be
/// percent-decoded (as header values and parsed query parameters are).
///
/// # Errors
/// [`SignError::EmptySecret`] for an empty `secret`; [`SignError::TimestampInvalid`] when
/// `timestamp` is not decimal digits; [`SignError::Stale`] when it is more than
/// [`MAX_TIMESTAMP_SKEW_MS`] from `now_ms`; [`SignError::SignNotBase64`] when `sign` has a
/// non-Base64 character; [`SignError::Mismatch`] when it does not match.
pub fn verify_timestamped_sign(
    secret: &str,
    timestamp: &str,
    sign: &str,
    now_ms: i64,
) -> Result<(), SignError> {
    if secret.is_empty() {
        return Err(SignError::EmptySecret);
    }
    let timestamp_ms = parse_epoch_ms(timestamp)?;
    let skew_ms = now_ms.saturating_sub(timestamp_ms);
    if now_ms.abs_diff(timestamp_ms) > MAX_TIMESTAMP_SKEW_MS.unsigned_abs() {
        return Err(SignError::Stale { skew_ms });
    }
    compare_signature(&timestamped_sign(secret, timestamp), sign)
}

/// The card-callback signature (`x-ddpaas-signature`): `Base64(HMAC-SHA256(key = apiSecret, msg = timestamp))`,
/// where `timestamp` is the `x-ddpaas-signature-timestamp` header as received.
#[must_use]
pub fn card_callback_signature(api_secret: &str, timestamp: &str) -> String {
    hmac_sha256_base64(api_secret, timestamp.as_bytes())
}

/// Checks an `x-ddpaas-signature` header against [`card_callback_signature`] in constant time.
///
/// DingTalk documents no freshness window for card callbacks, so this checks only the
/// signature; a receiver should use [`verify_fresh_card_callback`], which also bounds the
/// timestamp.
///
/// # Errors
/// [`SignError::EmptySecret`] for an empty `api_secret`; [`SignError::SignNotBase64`] when
/// `signature` has a non-Base64 character; [`SignError::Mismatch`] when it does not match.
pub fn verify_card_callback_signature(
    api_secret: &str,
    timestamp: &str,
    signature: &str,
) -> Result<(), SignError> {
    if api_secret.is_empty() {
        return Err(SignError::EmptySecret);
    }
    compare_signature(&card_callback_signature(api_secret, timestamp), signature)
}

/// Checks a card callback's `x-ddpaas-signature-timestamp` / `x-ddpaas-signature` pair: the
/// timestamp must be epoch milliseconds within [`MAX_TIMESTAMP_SKEW_MS`] of `now_ms` (the
/// window DingTalk enforces for bot callbacks; the signature covers only the timestamp, so
/// an old captured pair must not stay usable), and the signature must match.
///
/// # Errors
/// As [`verify_timestamped_sign`]: [`SignError::EmptySecret`], [`SignError::TimestampInvalid`],
/// [`SignError::Stale`], [`SignError::SignNotBase64`], [`SignError::Mismatch`].
pub fn verify_fresh_card_callback(
    api_secret: &str,
    timestamp: &str,
    signature: &str,
    now_ms: i64,
) -> Result<(), SignError> {
    if api_secret.is_empty() {
        return Err(SignError::EmptySecret);
    }
    let timestamp_ms = parse_epoch_ms(timestamp)?;
    if now_ms.abs_diff(timestamp_ms) > MAX_TIMESTAMP_SKEW_MS.unsigned_abs() {
        return Err(SignError::Stale {
            skew_ms: now_ms.saturating_sub(timestamp_ms),
        });
    }
    verify_card_callback_signature(api_secret, timestamp, signature)
}

fn timestamped_sign(secret: &str, timestamp: &str) -> String {
    hmac_sha256_base64(secret, format!("{timestamp}\n{secret}").as_bytes())
}

fn hmac_sha256_base64(key: &str, message: &[u8]) -> String {
    // HMAC hashes over-long keys and zero-pads short ones, so no key length is an error.
    let mut mac = HmacSha256::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(message);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Compares the Base64 texts, not decoded bytes: a lenient decoder would ignore the two
/// unused low bits of the last character and so accept more than one spelling of a signature.
fn compare_signature(expected: &str, received: &str) -> Result<(), SignError> {
    if let Some(found) = received.chars().find(|c| !is_base64_char(*c)) {
        return Err(SignError::SignNotBase64 { found });
    }
    if bool::from(expected.as_bytes().ct_eq(received.as_bytes())) {
        Ok(())
    } else {
        Err(SignError::Mismatch)
    }
}

fn is_base64_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')
}

fn parse_epoch_ms(timestamp: &str) -> Result<i64, SignError> {
    let invalid = || SignError::TimestampInvalid {
        timestamp: timestamp.chars().take(32).collect(),
    };
    // `i64::from_str` would also take a sign; DingTalk only ever sends plain digits.
    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    timestamp.parse().map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "SECexample0123456789";
    const TS: i64 = 1_700_000_000_000;

    #[test]
    fn window_edges_are_inclusive() {
        let sign = robot_sign(SECRET, TS);
        let ts = TS.to_string();
        assert_eq!(
            verify_timestamped_sign(SECRET, &ts, &sign, TS + MAX_TIMESTAMP_SKEW_MS),
            Ok(())
        );
        assert_eq!(
            verify_timestamped_sign(SECRET, &ts, &sign, TS - MAX_TIMESTAMP_SKEW_MS),
            Ok(())
        );
        assert_eq!(
            verify_timestamped_sign(SECRET, &ts, &sign, TS + MAX_TIMESTAMP_SKEW_MS + 1),
            Err(SignError::Stale {
                skew_ms: MAX_TIMESTAMP_SKEW_MS + 1
            })
        );
        assert_eq!(
            verify_timestamped_sign(SECRET, &ts, &sign, TS - MAX_TIMESTAMP_SKEW_MS - 1),
            Err(SignError::Stale {
                skew_ms: -MAX_TIMESTAMP_SKEW_MS - 1
            })
        );
    }

    #[test]
    fn extreme_clocks_do_not_overflow() {
        let sign = robot_sign(SECRET, TS);
        for now in [i64::MIN, i64::MAX, 0] {
            assert!(matches!(
                verify_timestamped_sign(SECRET, &TS.to_string(), &sign, now),
                Err(SignError::Stale { .. })
            ));
        }
        let huge = "99999999999999999999999";
        assert!(matches!(
            verify_timestamped_sign(SECRET, huge, &sign, TS),
            Err(SignError::TimestampInvalid { .. })
        ));
    }

    #[test]
    fn malformed_inputs_have_specific_errors() {
        let sign = robot_sign(SECRET, TS);
        let ts = TS.to_string();
        for bad_ts in ["", "+1700000000000", "-1", "1700000000000 ", "17e11", "１"] {
            assert!(
                matches!(
                    verify_timestamped_sign(SECRET, bad_ts, &sign, TS),
                    Err(SignError::TimestampInvalid { .. })
                ),
                "{bad_ts:?} accepted"
            );
        }
        let double_encoded = sign.replace('/', "%2F").replace('=', "%3D");
        assert_eq!(
            verify_timestamped_sign(SECRET, &ts, &double_encoded, TS),
            Err(SignError::SignNotBase64 { found: '%' })
        );
        assert_eq!(
            verify_timestamped_sign(SECRET, &ts, "", TS),
            Err(SignError::Mismatch)
        );
        assert_eq!(
            verify_timestamped_sign("", &ts, &sign, TS),
            Err(SignError::EmptySecret)
        );
        assert_eq!(
            verify_card_callback_signature("", &ts, &sign),
            Err(SignError::EmptySecret)
        );
    }

    #[test]
    fn card_callbacks_must_be_fresh_and_signed_with_the_api_secret() {
        let ts = TS.to_string();
        let signature = card_callback_signature("mySecret", &ts);
        assert_eq!(
            verify_fresh_card_callback("mySecret", &ts, &signature, TS),
            Ok(())
        );
        assert_eq!(
            verify_fresh_card_callback("mySecret", &ts, &signature, TS + MAX_TIMESTAMP_SKEW_MS),
            Ok(())
        );
        assert_eq!(
            verify_fresh_card_callback("mySecret", &ts, &signature, TS + MAX_TIMESTAMP_SKEW_MS + 1),
            Err(SignError::Stale {
                skew_ms: MAX_TIMESTAMP_SKEW_MS + 1
            })
        );
        assert_eq!(
            verify_fresh_card_callback("otherSecret", &ts, &signature, TS),
            Err(SignError::Mismatch)
        );
        assert!(matches!(
            verify_fresh_card_callback("mySecret", "17e11", &signature, TS),
            Err(SignError::TimestampInvalid { .. })
        ));
        assert_eq!(
            verify_fresh_card_callback("", &ts, &signature, TS),
            Err(SignError::EmptySecret)
        );
    }

    #[test]
    fn errors_never_reveal_secret_or_expected_signature() {
        let expected = robot_sign(SECRET, TS);
        let errors = [
            verify_timestamped_sign(SECRET, &TS.to_string(), "AAAA", TS),
            verify_timestamped_sign(SECRET, &TS.to_string(), "%41", TS),
            verify_timestamped_sign(SECRET, "x", &expected, TS),
            verify_timestamped_sign(SECRET, &TS.to_string(), &expected, 0),
        ];
        for error in errors {
            let message = error.expect_err("must be rejected").to_string();
            assert!(
                !message.contains(SECRET) && !message.contains(&expected),
                "{message}"
            );
        }
    }

    proptest! {
        #[test]
        fn accepts_any_timestamp_inside_the_window(
            secret in "[ -~]{1,40}",
            ts in 0_i64..4_000_000_000_000,
            skew in -MAX_TIMESTAMP_SKEW_MS..=MAX_TIMESTAMP_SKEW_MS,
        ) {
            let sign = robot_sign(&secret, ts);
            prop_assert_eq!(verify_timestamped_sign(&secret, &ts.to_string(), &sign, ts + skew), Ok(()));
        }

        #[test]
        fn rejects_any_timestamp_outside_the_window(
            ts in 0_i64..4_000_000_000_000,
            excess in 1_i64..1_000_000_000_000,
            future in any::<bool>(),
        ) {
            let sign = robot_sign(SECRET, ts);
            let skew = if future { -(MAX_TIMESTAMP_SKEW_MS + excess) } else { MAX_TIMESTAMP_SKEW_MS + excess };
            prop_assert_eq!(
                verify_timestamped_sign(SECRET, &ts.to_string(), &sign, ts + skew),
                Err(SignError::Stale { skew_ms: skew })
            );
        }

        #[test]
        fn rejects_any_single_bit_flip_in_sign_or_timestamp(
            ts in 1_000_000_000_000_i64..4_000_000_000_000,
            flip_sign in any::<bool>(),
            index in any::<prop::sample::Index>(),
            bit in 0_u8..7,
        ) {
            let mut sign = robot_sign(SECRET, ts).into_bytes();
            let mut ts_text = ts.to_string().into_bytes();
            let target = if flip_sign { &mut sign } else { &mut ts_text };
            let at = index.index(target.len());
            if let Some(byte) = target.get_mut(at) {
                *byte ^= 1 << bit;
            }
            // Flipping one of bits 0..7 keeps the byte ASCII, so both stay valid UTF-8.
            let sign = String::from_utf8(sign).expect("ascii");
            let ts_text = String::from_utf8(ts_text).expect("ascii");
            prop_assert!(verify_timestamped_sign(SECRET, &ts_text, &sign, ts).is_err());
        }

        #[test]
        fn card_signature_rejects_any_single_bit_flip(
            index in any::<prop::sample::Index>(),
            bit in 0_u8..7,
        ) {
            let mut signature = card_callback_signature("mySecret", "1700000000000").into_bytes();
            let at = index.index(signature.len());
            if let Some(byte) = signature.get_mut(at) {
                *byte ^= 1 << bit;
            }
            let signature = String::from_utf8(signature).expect("ascii");
            prop_assert!(verify_card_callback_signature("mySecret", "1700000000000", &signature).is_err());
        }
    }
}
