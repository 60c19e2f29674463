//! Encrypted event pushes: the query parameters, the `{"encrypt": …}` body, the signature
//! check and the AES-CBC decryption of attacker-controlled ciphertext, then the event JSON.
//!
//! Random ciphertext almost never has valid padding, so half the runs encrypt the input
//! with the subscription's real key first: that way the plaintext layout parser (length
//! field, receiveId, padding) sees arbitrary bytes too.

#![no_main]

use std::sync::OnceLock;

use aes::Aes256;
use aes::cipher::{BlockEncryptMut, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use dingtalk::crypto::{EncryptedBody, EventCrypto, EventQuery};
use dingtalk::model::event::ReceivedEvent;
use libfuzzer_sys::fuzz_target;

const TOKEN: &str = "mryue";
const AES_KEY: &str = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";
const OWNER: &str = "ding6ccabc44d2c8d38b";

fn crypto() -> &'static EventCrypto {
    static CRYPTO: OnceLock<EventCrypto> = OnceLock::new();
    CRYPTO.get_or_init(|| EventCrypto::new(TOKEN, AES_KEY, OWNER).expect("the published test key"))
}

/// AES-256-CBC over `plain` (whole blocks, no padding added) with the subscription's key and
/// IV, as DingTalk derives them: key = Base64(aesKey + "="), IV = its first 16 bytes.
fn raw_encrypt(mut plain: Vec<u8>) -> String {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let key: [u8; 32] = LENIENT
        .decode(format!("{AES_KEY}="))
        .expect("valid key")
        .try_into()
        .expect("32 bytes");
    let iv: [u8; 16] = std::array::from_fn(|i| key[i]);
    let mut cipher = cbc::Encryptor::<Aes256>::new(&key.into(), &iv.into());
    for block in plain.chunks_exact_mut(16) {
        cipher.encrypt_block_mut(aes::Block::from_mut_slice(block));
    }
    STANDARD.encode(plain)
}

fn after_decrypt(plaintext: &str) {
    // What the gateway does with an authentic plaintext.
    let _ = ReceivedEvent::from_http_push_json(plaintext);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let crypto = crypto();
    if mode % 2 == 0 {
        // A whole push as the listener sees it: `query \n body`.
        let text = String::from_utf8_lossy(rest);
        let (query, body) = text.split_once('\n').unwrap_or((&text, ""));
        let Ok(params) = EventQuery::from_query(query) else {
            return;
        };
        let Ok(body) = serde_json::from_slice::<EncryptedBody>(body.as_bytes()) else {
            // Still decrypt the raw text: the ciphertext parser must not care how it came.
            if let Ok(plain) = crypto.decrypt(body) {
                after_decrypt(&plain);
            }
            return;
        };
        if let Ok(plain) = crypto.open(&params.signature, &params.timestamp, &params.nonce, &body.encrypt) {
            // Only a signature made with the token can open a push.
            assert_eq!(
                params.signature,
                crypto.signature(&params.timestamp, &params.nonce, &body.encrypt)
            );
            after_decrypt(&plain);
        }
    } else {
        // Arbitrary plaintext layout, made to whole AES blocks (the last input byte is kept
        // last, so the fuzzer controls the padding byte).
        let mut plain = rest.to_vec();
        if plain.is_empty() {
            return;
        }
        let last = *plain.last().expect("not empty");
        while plain.len() % 16 != 0 {
            plain.insert(plain.len() - 1, 0);
        }
        *plain.last_mut().expect("not empty") = last;
        let encrypt = raw_encrypt(plain);
        if let Ok(plain) = crypto.decrypt(&encrypt) {
            after_decrypt(&plain);
            let sealed = crypto.seal(&plain, "1767225600000", "nonce");
            assert_eq!(crypto.open_reply(&sealed).expect("our own seal opens"), plain);
        }
    }
});
