//! HTTP-push event crypto (AES-256-CBC, 32-byte PKCS#7, SHA-1 signature), implemented here
//! independently of the client crate and checked against the published vectors in
//! `crates/dingtalk/fixtures/crypto-vectors.json`.

use aes::Aes256;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _};
use sha1::{Digest as _, Sha1};

const BLOCK: usize = 32;

/// Key material from the console's 43-character `aes_key`.
#[derive(Clone)]
pub(crate) struct EventKey {
    key: [u8; 32],
}

impl EventKey {
    pub fn new(aes_key: &str) -> Result<Self, String> {
        if aes_key.len() != 43 {
            return Err(format!("aes_key must have 43 characters, got {}", aes_key.len()));
        }
        // The 43 characters leave 4 trailing bits that are not always zero: decode leniently.
        let lenient = GeneralPurpose::new(
            &alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        let raw = lenient
            .decode(format!("{aes_key}="))
            .map_err(|e| format!("aes_key is not base64: {e}"))?;
        let key: [u8; 32] = raw
            .try_into()
            .map_err(|_| "aes_key does not decode to 32 bytes".to_owned())?;
        Ok(Self { key })
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }

    /// `random16 | be32(len) | msg | owner`, padded to 32 bytes, encrypted, Base64.
    pub fn encrypt(&self, random16: &[u8; 16], msg: &str, owner: &str) -> String {
        let mut buf = Vec::with_capacity(16 + 4 + msg.len() + owner.len() + BLOCK);
        buf.extend_from_slice(random16);
        buf.extend_from_slice(&u32::try_from(msg.len()).unwrap_or(u32::MAX).to_be_bytes());
        buf.extend_from_slice(msg.as_bytes());
        buf.extend_from_slice(owner.as_bytes());
        let pad = BLOCK - buf.len() % BLOCK;
        buf.extend(std::iter::repeat_n(u8::try_from(pad).unwrap_or(32), pad));
        let len = buf.len();
        let enc = cbc::Encryptor::<Aes256>::new(&self.key.into(), &self.iv().into());
        match enc.encrypt_padded_mut::<NoPadding>(&mut buf, len) {
            Ok(ct) => STANDARD.encode(ct),
            Err(_) => String::new(),
        }
    }

    /// Decrypts and returns `(msg, owner)`.
    pub fn decrypt(&self, encrypt: &str) -> Result<(String, String), String> {
        let mut buf = STANDARD
            .decode(encrypt)
            .map_err(|e| format!("encrypt is not base64: {e}"))?;
        if buf.is_empty() || buf.len() % 16 != 0 {
            return Err("ciphertext length is not a multiple of 16".into());
        }
        let dec = cbc::Decryptor::<Aes256>::new(&self.key.into(), &self.iv().into());
        let plain = dec
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| "decryption failed".to_owned())?;
        let pad = usize::from(*plain.last().unwrap_or(&0));
        if !(1..=BLOCK).contains(&pad) || pad > plain.len() {
            return Err(format!("bad padding byte {pad}"));
        }
        let body = &plain[..plain.len() - pad];
        if body.len() < 20 {
            return Err("plaintext too short".into());
        }
        let mut len_bytes = [0u8; 4];
        len_bytes.copy_from_slice(&body[16..20]);
        let len = usize::try_from(u32::from_be_bytes(len_bytes)).unwrap_or(usize::MAX);
        let rest = &body[20..];
        if len > rest.len() {
            return Err("length prefix exceeds the plaintext".into());
        }
        let msg = String::from_utf8(rest[..len].to_vec()).map_err(|_| "message is not UTF-8".to_owned())?;
        let owner = String::from_utf8_lossy(&rest[len..]).into_owned();
        Ok((msg, owner))
    }
}

/// `hex(SHA1(sorted(token, timestamp, nonce, encrypt) concatenated))`.
pub(crate) fn signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypt];
    parts.sort_unstable();
    let digest = Sha1::digest(parts.concat().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Verifies and decrypts an HTTP push as a receiver would: returns `(plaintext, receiveId)`.
/// Public so tests can build fake receivers; the sim's own push code uses the same functions.
pub fn open_push(
    token: &str,
    aes_key: &str,
    msg_signature: &str,
    timestamp: &str,
    nonce: &str,
    encrypt: &str,
) -> Result<(String, String), String> {
    if signature(token, timestamp, nonce, encrypt) != msg_signature {
        return Err("msg_signature does not match".into());
    }
    EventKey::new(aes_key)?.decrypt(encrypt)
}

/// Builds the receiver's reply `{msg_signature, timeStamp, nonce, encrypt}` for `plaintext`
/// (normally `success`).
pub fn seal_reply(
    token: &str,
    aes_key: &str,
    owner: &str,
    plaintext: &str,
) -> Result<serde_json::Value, String> {
    let key = EventKey::new(aes_key)?;
    let mut random = [0u8; 16];
    random.copy_from_slice(crate::ids::alnum(16).as_bytes());
    let encrypt = key.encrypt(&random, plaintext, owner);
    let ts = crate::ids::epoch_ms().to_string();
    let nonce = crate::ids::alnum(8);
    Ok(serde_json::json!({
        "msg_signature": signature(token, &ts, &nonce, &encrypt),
        "timeStamp": ts,
        "nonce": nonce,
        "encrypt": encrypt,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decrypts_the_official_vector() {
        let k = EventKey::new("Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7").unwrap();
        let enc = "0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyDCYxxOK+HZeKju4yhELOFchzNukR+t8SB/qk4ROMu3";
        let (msg, owner) = k.decrypt(enc).unwrap();
        assert_eq!(msg, "{\"EventType\":\"check_url\"}");
        assert_eq!(owner, "ding6ccabc44d2c8d38b");
        assert_eq!(
            signature("mryue", "1608001896814", "WL4PK6yA", enc),
            "03044561471240d4a14bb09372dfcfd4fd0e40cb"
        );
    }

    #[test]
    fn decrypts_the_second_official_vector() {
        let k = EventKey::new("1234567890123456789012345678901234567890123").unwrap();
        let enc = "YvkvaGe4hQxd3VxRmEty0dVlnCOAqwf56xwTRHDHoOURqhalbmBJQk5FNcRk42Gl5T0YQXZNwpwWSm1xAFJ5ZA==";
        assert_eq!(
            k.decrypt(enc).unwrap(),
            ("success".into(), "dingsnotzck6pm5veliw".into())
        );
        assert_eq!(
            signature("123456", "1614767836", "A7Co0cJLMzIDtMMI", enc),
            "9a95a004dd16f5c307e849b994173f76aa26e5eb"
        );
    }

    #[test]
    fn encrypts_like_the_computed_vector() {
        let k = EventKey::new("Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7").unwrap();
        let enc = k.encrypt(b"abcdefghijklmnop", "success", "ding6ccabc44d2c8d38b");
        assert_eq!(
            enc,
            "QjFVo6WtpzPr7RoyTeB2RiaR3xB2mMl8rk8y7ok0+3p4lanNu72WYgTGf2dCORsQrs6Yz+FV+5t9cYo8A/nGsg=="
        );
        assert_eq!(
            signature("mryue", "1608001896900", "nonce123", &enc),
            "c5c2323b2699febc49d26300a83bdc2b36f8c0d8"
        );
    }
}
