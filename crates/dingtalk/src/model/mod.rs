//! Typed wire models. No I/O lives here.
//!
//! Unknown fields are ignored (or kept in `extra` maps) and unknown message types are kept
//! raw, so DingTalk adding something never breaks parsing of what we already understand.

pub mod frame;
pub mod outbound;

pub use frame::*;
