//! AES-256-CBC encryption and SHA1 signatures of HTTP event-subscription pushes.

use std::fmt;

use aes::Aes256;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use rand::Rng as _;
use rand::distr::Alphanumeric;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use super::event_layout::{self, RANDOM_LEN};
use super::{CryptoError, EncryptedReply};

/// Length of the console's `aes_key`: Base64 of 32 bytes without the trailing `=`.
const AES_KEY_TEXT_LEN: usize = 43;

const AES_BLOCK: usize = 16;

/// 43 Base64 characters carry 258 bits for a 256-bit key; the console does not zero the two
/// spare bits (both published keys set them), so the decoder must ignore them.
const AES_KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The crypto of one HTTP event subscription: token, AES key and owner key (AppKey, corpId or suiteKey).
///
/// Inbound: [`open`](Self::open) checks `msg_signature` and decrypts. Outbound:
/// [`success_reply`](Self::success_reply) builds the mandatory encrypted `success` answer.
/// `Debug` shows only the owner key.
#[derive(Clone)]
pub struct EventCrypto {
    token: String,
    key: [u8; 32],
    iv: [u8; 16],
    owner_key: String,
}

impl fmt::Debug for EventCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventCrypto")
            .field("owner_key", &self.owner_key)
            .field("token", &"<redacted>")
            .field("aes_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl EventCrypto {
    /// Builds the crypto from the console's `token` and 43-character `aes_key`, and the
    /// `owner_key` every message must be addressed to: the AppKey (clientId) for events
    /// configured in the developer console, the corpId for legacy callback registrations,
    /// the suiteKey for third-party apps.
    ///
    /// # Errors
    /// [`CryptoError::EmptyToken`] or [`CryptoError::EmptyOwnerKey`] for an empty token or owner key;
    /// [`CryptoError::AesKeyLength`] or [`CryptoError::AesKeyCharacter`] when `aes_key` is not 43
    /// ASCII alphanumerics.
    pub fn new(token: &str, aes_key: &str, owner_key: &str) -> Result<Self, CryptoError> {
        if token.is_empty() {
            return Err(CryptoError::EmptyToken);
        }
        if owner_key.is_empty() {
            return Err(CryptoError::EmptyOwnerKey);
        }
        let key = decode_aes_key(aes_key)?;
        Ok(Self {
            token: token.to_owned(),
            key,
            // DingTalk derives the IV from the key instead of sending one.
            iv: std::array::from_fn(|i| key[i]),
            owner_key: owner_key.to_owned(),
        })
    }

    /// The owner key messages must be addressed to.
    #[must_use]
    pub fn owner_key(&self) -> &str {
        &self.owner_key
    }

    /// `msg_signature`: lower-case hex SHA1 of token, timestamp, nonce and encrypt, sorted
    /// bytewise and concatenated without separator.
    #[must_use]
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        let mut parts = [self.token.as_str(), timestamp, nonce, encrypt];
        parts.sort_unstable();
        let mut sha1 = Sha1::new();
        for part in parts {
            sha1.update(part.as_bytes());
        }
        to_lower_hex(&sha1.finalize())
    }

    /// Checks `signature` against [`signature`](Self::signature) in constant time.
    ///
    /// # Errors
    /// [`CryptoError::SignatureMismatch`] when `signature` is not the expected one.
    pub fn verify_signature(
        &self,
        signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<(), CryptoError> {
        let expected = self.signature(timestamp, nonce, encrypt);
        if bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
            Ok(())
        } else {
            Err(CryptoError::SignatureMismatch)
        }
    }

    /// Decrypts the body's `encrypt` field and returns the message (UTF-8, usually JSON).
    ///
    /// Checks every length and that the message is addressed to the owner key. AES-CBC has no
    /// integrity of its own, so call this only after [`verify_signature`](Self::verify_signature),
    /// or use [`open`](Self::open), which does both.
    ///
    /// # Errors
    /// [`CryptoError::NotBase64`] or [`CryptoError::CiphertextLength`] for input that is not AES-CBC
    /// output; [`CryptoError::BadPadding`], [`CryptoError::Truncated`] or
    /// [`CryptoError::LengthOutOfRange`] when the plaintext layout is broken (usually a different
    /// `aes_key`); [`CryptoError::OwnerMismatch`] when addressed to another owner key;
    /// [`CryptoError::MessageNotUtf8`] when the message is not UTF-8.
    pub fn decrypt(&self, encrypt_b64: &str) -> Result<String, CryptoError> {
        let buffer = self.decrypt_to_buffer(encrypt_b64)?;
        let parts = event_layout::parse(&buffer)?;
        if !bool::from(parts.receive_id.ct_eq(self.owner_key.as_bytes())) {
            return Err(CryptoError::OwnerMismatch {
                received: String::from_utf8_lossy(parts.receive_id)
                    .chars()
                    .take(64)
                    .collect(),
                expected: self.owner_key.clone(),
            });
        }
        std::str::from_utf8(parts.message)
            .map(str::to_owned)
            .map_err(|e| CryptoError::MessageNotUtf8 {
                valid_up_to: e.valid_up_to(),
            })
    }

    /// Encrypts `plaintext` for the owner key with a fresh random prefix of 16 ASCII alphanumerics.
    ///
    /// # Panics
    ///
    /// If `plaintext` is longer than `u32::MAX` bytes, which the protocol's length field cannot express.
    #[must_use]
    pub fn encrypt(&self, plaintext: &str) -> String {
        let mut rng = rand::rng();
        let random: [u8; RANDOM_LEN] = std::array::from_fn(|_| rng.sample(Alphanumeric));
        self.encrypt_with_random(plaintext, &random)
    }

    /// [`encrypt`](Self::encrypt) with a caller-chosen random prefix, for reproducible output in tests.
    ///
    /// # Panics
    ///
    /// If `plaintext` is longer than `u32::MAX` bytes.
    #[must_use]
    pub fn encrypt_with_random(&self, plaintext: &str, random16: &[u8; 16]) -> String {
        let buffer = event_layout::compose(random16, plaintext.as_bytes(), self.owner_key.as_bytes());
        self.encrypt_buffer(buffer)
    }

    /// Verifies `signature` over the other three and the token, then decrypts `encrypt`.
    ///
    /// # Errors
    /// [`CryptoError::SignatureMismatch`] first, then the errors of [`decrypt`](Self::decrypt).
    pub fn open(
        &self,
        signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<String, CryptoError> {
        self.verify_signature(signature, timestamp, nonce, encrypt)?;
        self.decrypt(encrypt)
    }

    /// [`open`](Self::open) for a sealed reply, e.g. when the simulator checks the gateway's answer.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_reply(&self, reply: &EncryptedReply) -> Result<String, CryptoError> {
        self.open(
            &reply.msg_signature,
            &reply.timestamp,
            &reply.nonce,
            &reply.encrypt,
        )
    }

    /// Encrypts `plaintext` and signs it with `timestamp` and `nonce`.
    ///
    /// # Panics
    ///
    /// If `plaintext` is longer than `u32::MAX` bytes.
    #[must_use]
    pub fn seal(&self, plaintext: &str, timestamp: &str, nonce: &str) -> EncryptedReply {
        let encrypt = self.encrypt(plaintext);
        EncryptedReply {
            msg_signature: self.signature(timestamp, nonce, &encrypt),
            timestamp: timestamp.to_owned(),
            nonce: nonce.to_owned(),
            encrypt,
        }
    }

    /// The answer every event push needs: the encrypted text `success`. Pass the current time
    /// as `timestamp` and any random string as `nonce`.
    #[must_use]
    pub fn success_reply(&self, timestamp: &str, nonce: &str) -> EncryptedReply {
        self.seal("success", timestamp, nonce)
    }

    /// Base64-decodes and AES-decrypts without interpreting the plaintext.
    pub(crate) fn decrypt_to_buffer(&self, encrypt_b64: &str) -> Result<Vec<u8>, CryptoError> {
        let mut buffer = STANDARD.decode(encrypt_b64).map_err(|e| CryptoError::NotBase64 {
            detail: e.to_string(),
        })?;
        if buffer.is_empty() || buffer.len() % AES_BLOCK != 0 {
            return Err(CryptoError::CiphertextLength { len: buffer.len() });
        }
        let mut cipher = cbc::Decryptor::<Aes256>::new(&self.key.into(), &self.iv.into());
        for block in buffer.chunks_exact_mut(AES_BLOCK) {
            cipher.decrypt_block_mut(aes::Block::from_mut_slice(block));
        }
        Ok(buffer)
    }

    /// AES-encrypts an already padded buffer and Base64-encodes it.
    pub(crate) fn encrypt_buffer(&self, mut buffer: Vec<u8>) -> String {
        debug_assert_eq!(buffer.len() % AES_BLOCK, 0, "caller pads to whole blocks");
        let mut cipher = cbc::Encryptor::<Aes256>::new(&self.key.into(), &self.iv.into());
        for block in buffer.chunks_exact_mut(AES_BLOCK) {
            cipher.encrypt_block_mut(aes::Block::from_mut_slice(block));
        }
        STANDARD.encode(buffer)
    }
}

fn decode_aes_key(aes_key: &str) -> Result<[u8; 32], CryptoError> {
    let len = aes_key.chars().count();
    if len != AES_KEY_TEXT_LEN {
        return Err(CryptoError::AesKeyLength { len });
    }
    if let Some(index) = aes_key.chars().position(|c| !c.is_ascii_alphanumeric()) {
        return Err(CryptoError::AesKeyCharacter { position: index + 1 });
    }
    let bytes = AES_KEY_BASE64
        .decode(format!("{aes_key}="))
        .map_err(|_| CryptoError::AesKeyDecode)?;
    bytes.try_into().map_err(|_: Vec<u8>| CryptoError::AesKeyDecode)
}

fn to_lower_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TOKEN: &str = "mryue";
    const AES_KEY: &str = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";
    const OWNER: &str = "ding6ccabc44d2c8d38b";

    fn crypto() -> EventCrypto {
        EventCrypto::new(TOKEN, AES_KEY, OWNER).expect("valid config")
    }

    fn vector(name: &str) -> serde_json::Value {
        let all: serde_json::Value =
            serde_json::from_str(include_str!("../../fixtures/crypto-vectors.json")).expect("vectors parse");
        all[name].clone()
    }

    fn text<'a>(value: &'a serde_json::Value, key: &str) -> &'a str {
        value[key]
            .as_str()
            .unwrap_or_else(|| panic!("vector field {key} missing"))
    }

    /// Decrypts and returns (random prefix, pad byte, decrypted length, message, receiveId).
    fn decrypted_parts(crypto: &EventCrypto, encrypt: &str) -> (Vec<u8>, u8, usize, String, String) {
        let buffer = crypto.decrypt_to_buffer(encrypt).expect("decrypt");
        let parts = event_layout::parse(&buffer).expect("parse");
        (
            parts.random.to_vec(),
            parts.pad,
            buffer.len(),
            String::from_utf8(parts.message.to_vec()).expect("utf8"),
            String::from_utf8(parts.receive_id.to_vec()).expect("utf8"),
        )
    }

    #[test]
    fn official_decrypt_vector_parts() {
        let v = vector("event_http_push_decrypt_official");
        let crypto =
            EventCrypto::new(text(&v, "token"), text(&v, "aes_key"), text(&v, "owner_key")).expect("new");
        let (random, pad, len, message, receive_id) = decrypted_parts(&crypto, text(&v["body"], "encrypt"));
        assert_eq!(random, text(&v, "expected_random16").as_bytes());
        assert_eq!(u64::from(pad), v["expected_pad_byte"].as_u64().expect("pad"));
        assert_eq!(len as u64, v["decrypted_block_len"].as_u64().expect("len"));
        assert_eq!(message, text(&v, "expected_plaintext"));
        assert_eq!(receive_id, text(&v, "owner_key"));
    }

    #[test]
    fn faq_decrypt_vector_parts() {
        let v = vector("event_http_push_decrypt_official_2");
        let crypto =
            EventCrypto::new(text(&v, "token"), text(&v, "aes_key"), text(&v, "owner_key")).expect("new");
        let (_, pad, _, message, receive_id) = decrypted_parts(&crypto, text(&v, "encrypt"));
        assert_eq!(u64::from(pad), v["expected_pad_byte"].as_u64().expect("pad"));
        assert_eq!(message, text(&v, "expected_plaintext"));
        assert_eq!(receive_id, text(&v, "owner_key"));
    }

    #[test]
    fn computed_encrypt_vector_pads_to_32() {
        let v = vector("event_http_push_encrypt_success_computed");
        let random: [u8; 16] = text(&v, "random16").as_bytes().try_into().expect("16 bytes");
        let encrypt = crypto().encrypt_with_random(text(&v, "plaintext"), &random);
        let (_, pad, len, _, _) = decrypted_parts(&crypto(), &encrypt);
        // 16 + 4 + 7 ("success") + 20 (owner) = 47 → 17 bytes of padding to 64.
        assert_eq!((pad, len), (17, 64));
    }

    #[test]
    fn debug_hides_token_and_key() {
        let debug = format!("{:?}", crypto());
        assert!(debug.contains(OWNER), "{debug}");
        assert!(!debug.contains(TOKEN) && !debug.contains(AES_KEY), "{debug}");
        assert!(!debug.contains("key: ["), "{debug}");
    }

    #[test]
    fn constructor_rejects_bad_configuration() {
        let cases: [(&str, &str, &str, CryptoError); 7] = [
            ("", AES_KEY, OWNER, CryptoError::EmptyToken),
            (TOKEN, AES_KEY, "", CryptoError::EmptyOwnerKey),
            (
                TOKEN,
                &AES_KEY[..42],
                OWNER,
                CryptoError::AesKeyLength { len: 42 },
            ),
            (TOKEN, "", OWNER, CryptoError::AesKeyLength { len: 0 }),
            (
                TOKEN,
                "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7=",
                OWNER,
                CryptoError::AesKeyLength { len: 44 },
            ),
            (
                TOKEN,
                "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ec+7",
                OWNER,
                CryptoError::AesKeyCharacter { position: 42 },
            ),
            (
                TOKEN,
                "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecdé",
                OWNER,
                CryptoError::AesKeyCharacter { position: 43 },
            ),
        ];
        for (token, aes_key, owner, expected) in cases {
            assert_eq!(
                EventCrypto::new(token, aes_key, owner).map(|_| ()),
                Err(expected),
                "{aes_key:?}"
            );
        }
    }

    #[test]
    fn decrypt_rejects_malformed_ciphertext() {
        let crypto = crypto();
        let with_plaintext = |buffer: Vec<u8>| crypto.encrypt_buffer(buffer);
        let mut pad_zero = event_layout::compose(b"abcdefghijklmnop", b"x", OWNER.as_bytes());
        *pad_zero.last_mut().expect("non-empty") = 0;
        let mut pad_33 = event_layout::compose(b"abcdefghijklmnop", b"x", OWNER.as_bytes());
        *pad_33.last_mut().expect("non-empty") = 33;
        let mut length_too_big = event_layout::compose(b"abcdefghijklmnop", b"hello", OWNER.as_bytes());
        length_too_big[16..20].copy_from_slice(&1000_u32.to_be_bytes());

        let cases: Vec<(&str, String, CryptoError)> = vec![
            (
                "bad base64",
                "not base64!".into(),
                CryptoError::NotBase64 {
                    detail: String::new(),
                },
            ),
            ("0 bytes", String::new(), CryptoError::CiphertextLength { len: 0 }),
            (
                "15 bytes",
                STANDARD.encode([0_u8; 15]),
                CryptoError::CiphertextLength { len: 15 },
            ),
            (
                "33 bytes",
                STANDARD.encode([0_u8; 33]),
                CryptoError::CiphertextLength { len: 33 },
            ),
            (
                "pad byte 0",
                with_plaintext(pad_zero),
                CryptoError::BadPadding { pad: 0 },
            ),
            (
                "pad byte 33",
                with_plaintext(pad_33),
                CryptoError::BadPadding { pad: 33 },
            ),
            (
                "length field past end",
                with_plaintext(length_too_big),
                CryptoError::LengthOutOfRange {
                    declared: 1000,
                    available: 25,
                },
            ),
            (
                "invalid UTF-8",
                with_plaintext(event_layout::compose(
                    b"abcdefghijklmnop",
                    b"ok\xff",
                    OWNER.as_bytes(),
                )),
                CryptoError::MessageNotUtf8 { valid_up_to: 2 },
            ),
        ];
        for (name, encrypt, expected) in cases {
            let result = crypto.decrypt(&encrypt);
            match (&result, &expected) {
                (Err(CryptoError::NotBase64 { .. }), CryptoError::NotBase64 { .. }) => {}
                _ => assert_eq!(result, Err(expected), "{name}"),
            }
        }
    }

    #[test]
    fn decrypt_rejects_other_owner() {
        let other = EventCrypto::new(TOKEN, AES_KEY, "dingOTHERAPPKEY").expect("new");
        let sealed = other.encrypt("{}");
        assert_eq!(
            crypto().decrypt(&sealed),
            Err(CryptoError::OwnerMismatch {
                received: "dingOTHERAPPKEY".into(),
                expected: OWNER.into()
            })
        );
        // A prefix of the owner key must not pass either.
        let prefix = EventCrypto::new(TOKEN, AES_KEY, &OWNER[..10]).expect("new");
        assert!(matches!(
            crypto().decrypt(&prefix.encrypt("{}")),
            Err(CryptoError::OwnerMismatch { .. })
        ));
    }

    #[test]
    fn wrong_key_is_rejected() {
        let other_key =
            EventCrypto::new(TOKEN, "1234567890123456789012345678901234567890123", OWNER).expect("new");
        let reply = other_key.success_reply("1", "n");
        assert!(crypto().decrypt(&reply.encrypt).is_err());
    }

    #[test]
    fn random_prefix_is_alphanumeric_and_fresh() {
        let crypto = crypto();
        let first = crypto.encrypt("success");
        let second = crypto.encrypt("success");
        assert_ne!(first, second);
        let (random, ..) = decrypted_parts(&crypto, &first);
        assert!(random.iter().all(u8::is_ascii_alphanumeric), "{random:?}");
    }

    #[test]
    fn signature_sorts_bytewise() {
        // "B" (0x42) sorts before "a" (0x61) bytewise, unlike a case-insensitive sort.
        let crypto = EventCrypto::new("a", AES_KEY, OWNER).expect("new");
        let mut sha1 = Sha1::new();
        sha1.update(b"BZaz");
        assert_eq!(crypto.signature("z", "B", "Z"), to_lower_hex(&sha1.finalize()));
    }

    fn utf8_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            prop::collection::vec(any::<char>(), 0..3000).prop_map(String::from_iter),
        ]
    }

    proptest! {
        #[test]
        fn encrypt_then_decrypt_is_identity(plaintext in utf8_text()) {
            let crypto = crypto();
            prop_assert_eq!(crypto.decrypt(&crypto.encrypt(&plaintext)), Ok(plaintext.clone()));
            let reply = crypto.seal(&plaintext, "1608001896900", "nonce123");
            prop_assert_eq!(crypto.open_reply(&reply), Ok(plaintext));
        }

        #[test]
        fn open_rejects_any_flipped_ciphertext_bit(
            plaintext in utf8_text(),
            index in any::<prop::sample::Index>(),
            bit in 0_u8..8,
        ) {
            let crypto = crypto();
            let reply = crypto.seal(&plaintext, "1608001896900", "nonce123");
            let mut bytes = STANDARD.decode(&reply.encrypt).expect("own output decodes");
            let at = index.index(bytes.len());
            if let Some(byte) = bytes.get_mut(at) {
                *byte ^= 1 << bit;
            }
            let tampered = STANDARD.encode(&bytes);
            // Without a MAC, decrypt alone may accept garbage; it just must not panic.
            let _ = crypto.decrypt(&tampered);
            prop_assert_eq!(
                crypto.open(&reply.msg_signature, &reply.timestamp, &reply.nonce, &tampered),
                Err(CryptoError::SignatureMismatch)
            );
        }

        #[test]
        fn open_rejects_any_flipped_encrypt_or_signature_char(
            plaintext in utf8_text(),
            in_signature in any::<bool>(),
            index in any::<prop::sample::Index>(),
            bit in 0_u8..7,
        ) {
            let crypto = crypto();
            let reply = crypto.seal(&plaintext, "1608001896900", "nonce123");
            let mut signature = reply.msg_signature.clone().into_bytes();
            let mut encrypt = reply.encrypt.clone().into_bytes();
            let target = if in_signature { &mut signature } else { &mut encrypt };
            let at = index.index(target.len());
            if let Some(byte) = target.get_mut(at) {
                *byte ^= 1 << bit;
            }
            // Bits 0..7 of an ASCII byte keep it ASCII.
            let signature = String::from_utf8(signature).expect("ascii");
            let encrypt = String::from_utf8(encrypt).expect("ascii");
            let _ = crypto.decrypt(&encrypt);
            prop_assert_eq!(
                crypto.open(&signature, &reply.timestamp, &reply.nonce, &encrypt),
                Err(CryptoError::SignatureMismatch)
            );
        }

        #[test]
        fn decrypt_never_panics_on_arbitrary_input(encrypt in "[A-Za-z0-9+/=]{0,200}") {
            let _ = crypto().decrypt(&encrypt);
        }

        #[test]
        fn decrypt_never_panics_on_arbitrary_ciphertext(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = crypto().decrypt(&STANDARD.encode(bytes));
        }
    }
}
