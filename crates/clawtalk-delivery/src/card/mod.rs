//! AI card replies (`messageType: "card"`): streamed within DingTalk's QPS limits and the
//! user's API quota, finalized with the exact answer, continued in a second card when long.
//!
//! - [`budget`]: the per-app permits every conversation shares, and the pause after `QpsLimit`;
//!   `gate.rs` orders the calls waiting for one (first text, then finishing, then the rest).
//! - [`throttle`]: when one card may be updated again (tokens and time).
//! - [`split`]: card-sized pieces that join back to exactly the answer.
//! - [`account`]: the per-account client, budget and degrade-to-markdown switch.
//! - [`stream`]: one turn's card(s).

pub mod account;
pub mod budget;
mod gate;
pub mod split;
pub mod stream;
pub mod throttle;

pub use account::{CardAccount, CardSpace, CardStats, FIRST_TEXT_SAMPLES, is_permission_error};
pub use budget::{CardApi, CardBudget, Class};
pub use stream::{CardPart, CardTurn, WAITING, new_out_track_id, plan_fresh};
