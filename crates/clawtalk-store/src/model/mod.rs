//! Domain types shared by every store backend.
//!
//! Times are [`EpochMs`](clawtalk_core::clock::EpochMs) passed in by the caller, so tests control the clock
//! and the store never reads one. Ids from DingTalk keep their exact bytes and case.

mod approvals;
mod callback_sign;
mod cards;
mod cron;
mod inbox;
mod memory;
mod outbox;
mod pairing;
mod session;
mod usage;

pub use approvals::*;
pub use callback_sign::*;
pub use cards::*;
pub use cron::*;
pub use inbox::*;
pub use memory::*;
pub use outbox::*;
pub use pairing::*;
pub use session::*;
pub use usage::*;
