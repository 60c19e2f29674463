//! HTTP-mode bot callbacks and card callbacks: signature checks over attacker-controlled
//! `timestamp` and `sign` headers, against a clock anywhere in the i64 range.

#![no_main]

use dingtalk::crypto::{robot_sign, verify_card_callback_signature, verify_timestamped_sign};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-client-secret-0123456789";
const NOW_MS: i64 = 1_767_225_600_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // `timestamp\nsign`; header values are strings, a missing sign is an empty one.
    let (timestamp, sign) = text.split_once('\n').unwrap_or((text, ""));
    for now in [NOW_MS, 0, i64::MIN, i64::MAX, -1] {
        let verdict = verify_timestamped_sign(SECRET, timestamp, sign, now);
        // Only the real signature over the timestamp as sent may pass.
        if verdict.is_ok() {
            let ms: i64 = timestamp.parse().expect("a verified timestamp is a number");
            if timestamp == ms.to_string() {
                assert_eq!(
                    sign,
                    robot_sign(SECRET, ms),
                    "accepted a signature we did not make"
                );
            }
        }
        // An empty secret would make every signature forgeable: always refused.
        assert!(verify_timestamped_sign("", timestamp, sign, now).is_err());
    }
    if verify_card_callback_signature(SECRET, timestamp, sign).is_ok() {
        assert_eq!(sign, dingtalk::crypto::card_callback_signature(SECRET, timestamp));
    }
    assert!(verify_card_callback_signature("", timestamp, sign).is_err());
});
