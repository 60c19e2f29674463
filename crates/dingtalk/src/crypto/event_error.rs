//! Errors of the HTTP event-subscription crypto.

/// Why [`EventCrypto`](super::EventCrypto) could not be built or could not open a push.
///
/// Messages name what was wrong and what to check; they never contain the token, the AES key
/// or the expected signature. The owner key and the received `receiveId` are not secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The token is empty.
    #[error(
        "event subscription token is empty; copy the token from the app's event subscription \
         (HTTP push) settings in the developer console"
    )]
    EmptyToken,
    /// The owner key (AppKey / corpId / suiteKey) is empty.
    #[error(
        "owner key is empty; set it to the app's AppKey (clientId) for console-configured events, \
         the corpId for legacy callback registrations, or the suiteKey for third-party apps"
    )]
    EmptyOwnerKey,
    /// The aes_key does not have the 43 characters the console generates.
    #[error(
        "aes_key must be exactly 43 characters but has {len}; copy it again from the event \
         subscription settings without quotes, spaces or a trailing '='"
    )]
    AesKeyLength {
        /// Number of characters received.
        len: usize,
    },
    /// The aes_key contains a character outside `[A-Za-z0-9]`.
    #[error(
        "aes_key may only contain A-Z, a-z and 0-9, but character {position} (counting from 1) is \
         something else; copy it again from the event subscription settings"
    )]
    AesKeyCharacter {
        /// 1-based position of the first bad character.
        position: usize,
    },
    /// The aes_key is not Base64 of a 32-byte key (cannot happen for 43 alphanumerics; kept so
    /// key decoding has no panicking path).
    #[error("aes_key is not the Base64 text of a 32-byte AES key; copy it again from the console")]
    AesKeyDecode,
    /// A query parameter the request must carry is missing.
    #[error(
        "event push query lacks `{name}`; DingTalk sends msg_signature (or signature), timestamp (or timeStamp) and nonce"
    )]
    MissingQueryParam {
        /// The canonical parameter name.
        name: &'static str,
    },
    /// `msg_signature` is not SHA1 over the sorted token, timestamp, nonce and encrypt.
    #[error(
        "msg_signature does not match token, timestamp, nonce and encrypt; check that the token \
         equals the console's and that the query and body are passed on unmodified"
    )]
    SignatureMismatch,
    /// `encrypt` is not valid Base64.
    #[error("`encrypt` is not valid Base64 ({detail}); pass the body's `encrypt` field unmodified")]
    NotBase64 {
        /// What the decoder reported (offsets and symbols of the ciphertext, nothing secret).
        detail: String,
    },
    /// The decoded ciphertext cannot be AES-CBC output.
    #[error("ciphertext is {len} bytes, but AES-CBC output is a non-zero multiple of 16 bytes")]
    CiphertextLength {
        /// Length of the decoded ciphertext in bytes.
        len: usize,
    },
    /// The padding byte is outside 1..=32 or longer than the plaintext.
    #[error(
        "padding byte is {pad}, but PKCS#7 with 32-byte blocks allows 1..=32 within the message; \
         the aes_key probably differs from the one configured in the console"
    )]
    BadPadding {
        /// The last byte of the decrypted buffer.
        pad: u8,
    },
    /// The unpadded plaintext is shorter than the 16-byte random prefix plus the 4-byte length.
    #[error(
        "decrypted message is {len} bytes, shorter than its 20-byte header; the aes_key probably \
         differs from the one configured in the console"
    )]
    Truncated {
        /// Length of the unpadded plaintext in bytes.
        len: usize,
    },
    /// The length field promises more message bytes than there are.
    #[error(
        "length field says the message has {declared} bytes but only {available} follow; the \
         aes_key probably differs from the one configured in the console"
    )]
    LengthOutOfRange {
        /// The big-endian length field.
        declared: u32,
        /// Bytes after the header.
        available: usize,
    },
    /// The message was encrypted for a different app, corp or suite.
    #[error(
        "message is addressed to receiveId {received:?} but this endpoint expects {expected:?}; set \
         the owner key to the AppKey (clientId) for console-configured events, the corpId for \
         legacy callback registrations, or the suiteKey for third-party apps"
    )]
    OwnerMismatch {
        /// The `receiveId` found in the message (lossily decoded, at most 64 characters).
        received: String,
        /// The owner key this endpoint was configured with.
        expected: String,
    },
    /// The message bytes are not UTF-8.
    #[error("decrypted message is not valid UTF-8 (invalid byte at offset {valid_up_to})")]
    MessageNotUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
}
