//! The domain every other clawtalk crate shares, without I/O: the one message type every
//! transport produces ([`inbound`]), whom a reply is for ([`target`]), the chat commands
//! ([`commands`]), what a running turn reports ([`events`]), DingTalk's limits on replies
//! ([`limits`]), custom-robot keyword rules ([`keywords`]), the clock ([`clock`]), the
//! masking of secrets in anything shown to people ([`mask`]) and the one reply model every
//! layer shares ([`reply`]).

pub mod clock;
pub mod commands;
pub mod events;
pub mod inbound;
pub mod keywords;
pub mod limits;
pub mod mask;
pub mod reply;
pub mod target;
