//! Rules both backends follow, so that SQLite and PostgreSQL agree by construction: each
//! backend does its own I/O and calls these for the decisions.

pub mod memory;
mod outbox;
mod pairing;
mod session;

pub use outbox::{distinct_parts, idempotency_key, may_plan};
pub use pairing::{fresh_codes, normalize_code};
pub use session::needs_new_generation;
