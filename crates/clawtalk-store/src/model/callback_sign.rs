//! Signed HTTP-mode callbacks: which message a `timestamp`/`sign` pair carried.

/// What a callback's `timestamp`/`sign` pair has carried before
/// ([`crate::CallbackSignStore::callback_sign_use`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignUse {
    /// Never seen: the pair now belongs to this message.
    First,
    /// Seen with this very message (DingTalk delivering it again): the inbox dedups it.
    Again,
    /// Seen with another message: a replay of a captured pair with another body, or a second
    /// message DingTalk signed in the same millisecond; the two cannot be told apart.
    Taken,
}
