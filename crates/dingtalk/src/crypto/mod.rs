//! Signatures and encryption DingTalk uses around HTTP callbacks and webhooks.
//!
//! # Three HMAC-SHA256 signature schemes
//!
//! All are `Base64(HMAC-SHA256(key = secret, msg))`, compared in constant time:
//!
//! - **Custom robot webhooks** (outbound): `msg = "{timestamp_ms}\n{secret}"` with the robot's
//!   `SEC…` secret; `timestamp` and `sign` go into the webhook's query string
//!   ([`robot_sign`], [`signed_webhook_url`]).
//! - **HTTP-mode bot callbacks and outgoing-robot callbacks** (inbound): the same message, keyed
//!   with the app secret, sent in the `timestamp` and `sign` headers; the timestamp must be within
//!   one hour of our clock ([`verify_timestamped_sign`]).
//! - **Card callbacks over HTTP** (inbound): `msg = x-ddpaas-signature-timestamp`, keyed with the
//!   `apiSecret` registered for the callback route, sent as `x-ddpaas-signature`
//!   ([`card_callback_signature`], [`verify_fresh_card_callback`], which also bounds the
//!   timestamp to the same hour).
//!
//! # Event-subscription crypto ([`EventCrypto`])
//!
//! HTTP event pushes arrive as `POST ?msg_signature&timestamp&nonce` with body
//! `{"encrypt": Base64(AES-256-CBC(plaintext))}`:
//!
//! - key = `Base64Decode(aes_key + "=")` (32 bytes), IV = the key's first 16 bytes;
//! - plaintext = `random(16) | be32(len) | message | receiveId`, PKCS#7-padded to **32**-byte blocks;
//! - `msg_signature` = hex SHA1 of `[token, timestamp, nonce, encrypt]` sorted and concatenated;
//! - every push must be answered with an encrypted `success` ([`EncryptedReply`]).
//!
//! Nothing here panics on untrusted input, and no error message contains a secret.

mod event_crypto;
mod event_error;
mod event_layout;
mod event_wire;
mod sign;

pub use event_crypto::EventCrypto;
pub use event_error::CryptoError;
pub use event_wire::{EncryptedBody, EncryptedReply, EventQuery};
pub use sign::{
    MAX_TIMESTAMP_SKEW_MS, SignError, card_callback_signature, robot_sign, signed_webhook_url,
    verify_card_callback_signature, verify_fresh_card_callback, verify_timestamped_sign,
};
