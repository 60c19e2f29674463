//! Every vector in `fixtures/crypto-vectors.json`, checked through the public `dingtalk::crypto` API.

use dingtalk::crypto::{
    CryptoError, EncryptedBody, EncryptedReply, EventCrypto, EventQuery, SignError, card_callback_signature,
    robot_sign, signed_webhook_url, verify_card_callback_signature, verify_fresh_card_callback,
    verify_timestamped_sign,
};
use serde_json::Value;

fn vector(name: &str) -> Value {
    let all: Value =
        serde_json::from_str(include_str!("../fixtures/crypto-vectors.json")).expect("vectors parse");
    all.get(name)
        .cloned()
        .unwrap_or_else(|| panic!("vector {name} missing"))
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {key} missing"))
}

fn event_crypto(v: &Value) -> EventCrypto {
    EventCrypto::new(text(v, "token"), text(v, "aes_key"), text(v, "owner_key"))
        .expect("vector config is valid")
}

#[test]
fn event_push_official_vector_opens_from_query_and_body() {
    let v = vector("event_http_push_decrypt_official");
    let query = EventQuery::from_pairs(
        v["query"]
            .as_object()
            .expect("query object")
            .iter()
            .map(|(k, val)| (k.clone(), val.as_str().expect("string").to_owned())),
    )
    .expect("query has all parameters");
    let body: EncryptedBody = serde_json::from_value(v["body"].clone()).expect("body");

    let crypto = event_crypto(&v);
    assert_eq!(
        crypto.signature(&query.timestamp, &query.nonce, &body.encrypt),
        query.signature
    );
    let opened = crypto.open(&query.signature, &query.timestamp, &query.nonce, &body.encrypt);
    assert_eq!(opened.as_deref(), Ok(text(&v, "expected_plaintext")));
}

#[test]
fn event_push_faq_vector_opens_with_legacy_query_names() {
    let v = vector("event_http_push_decrypt_official_2");
    let query = EventQuery::from_query(&format!(
        "signature={}&timeStamp={}&nonce={}",
        text(&v, "msg_signature"),
        text(&v, "timeStamp"),
        text(&v, "nonce")
    ))
    .expect("legacy spellings accepted");
    let crypto = event_crypto(&v);
    let opened = crypto.open(
        &query.signature,
        &query.timestamp,
        &query.nonce,
        text(&v, "encrypt"),
    );
    assert_eq!(opened.as_deref(), Ok(text(&v, "expected_plaintext")));
}

#[test]
fn event_push_vector_rejects_wrong_owner_and_wrong_token() {
    let v = vector("event_http_push_decrypt_official_2");
    let (signature, timestamp, nonce, encrypt) = (
        text(&v, "msg_signature"),
        text(&v, "timeStamp"),
        text(&v, "nonce"),
        text(&v, "encrypt"),
    );

    let wrong_owner = EventCrypto::new(text(&v, "token"), text(&v, "aes_key"), "dingOtherApp").expect("new");
    assert_eq!(
        wrong_owner.open(signature, timestamp, nonce, encrypt),
        Err(CryptoError::OwnerMismatch {
            received: text(&v, "owner_key").into(),
            expected: "dingOtherApp".into()
        })
    );
    let wrong_token = EventCrypto::new("654321", text(&v, "aes_key"), text(&v, "owner_key")).expect("new");
    assert_eq!(
        wrong_token.open(signature, timestamp, nonce, encrypt),
        Err(CryptoError::SignatureMismatch)
    );
}

#[test]
fn event_push_computed_success_reply_matches_vector() {
    let v = vector("event_http_push_encrypt_success_computed");
    let crypto = event_crypto(&v);
    let random: [u8; 16] = text(&v, "random16").as_bytes().try_into().expect("16 bytes");
    let encrypt = crypto.encrypt_with_random(text(&v, "plaintext"), &random);
    assert_eq!(encrypt, text(&v, "expected_encrypt"));
    let signature = crypto.signature(text(&v, "timeStamp"), text(&v, "nonce"), &encrypt);
    assert_eq!(signature, text(&v, "expected_msg_signature"));

    let reply = EncryptedReply {
        msg_signature: signature,
        timestamp: text(&v, "timeStamp").into(),
        nonce: text(&v, "nonce").into(),
        encrypt,
    };
    assert_eq!(crypto.open_reply(&reply).as_deref(), Ok("success"));
    let json = serde_json::to_value(&reply).expect("serialise");
    assert_eq!(json["timeStamp"], text(&v, "timeStamp"));
    assert_eq!(json["msg_signature"], text(&v, "expected_msg_signature"));
    assert_eq!(json["encrypt"], text(&v, "expected_encrypt"));
}

#[test]
fn event_push_success_reply_round_trips() {
    let v = vector("event_http_push_encrypt_success_computed");
    let crypto = event_crypto(&v);
    let reply = crypto.success_reply("1608001896900", "nonce123");
    assert_eq!(
        (reply.timestamp.as_str(), reply.nonce.as_str()),
        ("1608001896900", "nonce123")
    );
    assert_eq!(crypto.open_reply(&reply).as_deref(), Ok("success"));
}

#[test]
fn custom_robot_vector_signs_and_url_encodes_once() {
    let v = vector("custom_robot_sign_computed");
    let ts: i64 = text(&v, "timestamp").parse().expect("vector timestamp");
    assert_eq!(
        robot_sign(text(&v, "secret"), ts),
        text(&v, "expected_sign_base64")
    );

    let webhook = url::Url::parse("https://oapi.dingtalk.com/robot/send?access_token=abc123").expect("url");
    let signed = signed_webhook_url(&webhook, text(&v, "secret"), ts);
    let expected_query = format!(
        "access_token=abc123&timestamp={}&sign={}",
        text(&v, "timestamp"),
        text(&v, "expected_sign_urlencoded")
    );
    assert_eq!(signed.query(), Some(expected_query.as_str()));

    // What a receiver parses back out of the URL verifies.
    let param = |name: &str| {
        signed
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .expect("param present")
    };
    assert_eq!(param("sign"), text(&v, "expected_sign_base64"));
    assert_eq!(
        verify_timestamped_sign(text(&v, "secret"), &param("timestamp"), &param("sign"), ts),
        Ok(())
    );
}

#[test]
fn bot_http_callback_vector_verifies() {
    let v = vector("bot_http_callback_sign_computed");
    let (secret, ts_header, sign) = (
        text(&v, "app_secret"),
        text(&v, "timestamp_header"),
        text(&v, "expected_sign_header"),
    );
    let ts: i64 = ts_header.parse().expect("vector timestamp");
    assert_eq!(robot_sign(secret, ts), sign);
    assert_eq!(
        verify_timestamped_sign(secret, ts_header, sign, ts + 5_000),
        Ok(())
    );
    assert_eq!(
        verify_timestamped_sign("otherSecret", ts_header, sign, ts),
        Err(SignError::Mismatch)
    );
    assert_eq!(
        verify_timestamped_sign(secret, ts_header, sign, ts + 3_600_001),
        Err(SignError::Stale { skew_ms: 3_600_001 })
    );
}

#[test]
fn card_http_callback_vector_verifies() {
    let v = vector("card_http_callback_signature_computed");
    let (secret, ts, expected) = (
        text(&v, "api_secret"),
        text(&v, "x-ddpaas-signature-timestamp"),
        text(&v, "expected_x-ddpaas-signature"),
    );
    assert_eq!(card_callback_signature(secret, ts), expected);
    assert_eq!(verify_card_callback_signature(secret, ts, expected), Ok(()));
    assert_eq!(
        verify_card_callback_signature("otherSecret", ts, expected),
        Err(SignError::Mismatch)
    );
    assert_eq!(
        verify_card_callback_signature(secret, "1700000000001", expected),
        Err(SignError::Mismatch)
    );
    // The vector's timestamp is epoch milliseconds: fresh at that instant, stale a day later.
    let signed_at: i64 = ts.parse().unwrap();
    assert_eq!(
        verify_fresh_card_callback(secret, ts, expected, signed_at),
        Ok(())
    );
    assert!(matches!(
        verify_fresh_card_callback(secret, ts, expected, signed_at + 86_400_000),
        Err(SignError::Stale { .. })
    ));
}
