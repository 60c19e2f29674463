//! The domain every other clawtalk crate shares, without I/O: the one message type every
//! transport produces ([`inbound`]), the ids of accounts, agents and sessions ([`ids`]), whom
//! a reply is for ([`target`]), the one reply model every layer shares ([`reply`]), the chat
//! commands ([`commands`]), what a running turn reports ([`events`]), DingTalk's limits on
//! replies ([`limits`]), custom-robot keyword rules ([`keywords`]), the clock ([`clock`]),
//! every line clawtalk writes into a chat ([`notices`]) and the masking of secrets in
//! anything shown to people ([`mask`]).

pub mod clock;
pub mod commands;
pub mod events;
pub mod ids;
pub mod inbound;
pub mod keywords;
pub mod limits;
pub mod mask;
pub mod notices;
pub mod reply;
pub mod target;
