//! The cryptography DingTalk's HTTP surfaces use, implemented here independently of the
//! client crate: timestamp signatures (custom robots, HTTP-mode bot callbacks) and the
//! AES event-push envelope.

pub(crate) mod event_push;
pub(crate) mod sign;
