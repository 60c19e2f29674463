//! The outbox's rules, the same on every backend: the idempotency key of a part, one number
//! per part, and who may plan.

use std::collections::HashSet;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::model::{InboundId, InboundStatus, NewReplyPart, WorkerId};

/// Derived from the platform's message identity, not from local row ids, so the key is the
/// same whichever store (or restored backup) plans the reply, and is short and URL-safe
/// whatever characters the message id has.
pub fn idempotency_key(robot_code: &str, msg_id: &str, part: u32) -> String {
    let mut hash = Sha256::new();
    hash.update(robot_code.as_bytes());
    hash.update([0]);
    hash.update(msg_id.as_bytes());
    hash.update([0]);
    hash.update(part.to_be_bytes());
    let digest = hash.finalize();
    let mut key = String::from("ct");
    for byte in &digest[..15] {
        let _ = write!(key, "{byte:02x}");
    }
    key
}

/// Refuses a plan with a part number twice.
pub fn distinct_parts(parts: &[NewReplyPart]) -> Result<(), StoreError> {
    let mut seen = HashSet::new();
    match parts.iter().find(|p| !seen.insert(p.part)) {
        Some(dup) => Err(StoreError::Invalid(format!(
            "reply part {} planned twice",
            dup.part
        ))),
        None => Ok(()),
    }
}

/// Fencing: only the turn's lease holder (or the router, for a message it answers on the
/// spot before dispatching it) may plan; a cancelled (`/stop`) or reclaimed turn must not add
/// replies. `status`, `owner` and `incarnation` are the inbox row's.
pub fn may_plan(
    inbound_id: InboundId,
    status: &str,
    owner: Option<&str>,
    incarnation: Option<&str>,
    worker: &WorkerId,
) -> Result<(), StoreError> {
    let mine = owner == Some(worker.instance.as_str()) && incarnation == Some(worker.incarnation.as_str());
    match status.parse::<InboundStatus>()? {
        InboundStatus::Received => Ok(()),
        InboundStatus::Running if mine => Ok(()),
        _ => Err(StoreError::LeaseLost { id: inbound_id }),
    }
}

#[cfg(test)]
mod tests {
    use super::idempotency_key;

    #[test]
    fn idempotency_keys_are_stable_short_and_distinct() {
        let a = idempotency_key("ding1", "msgA==", 0);
        assert_eq!(a, idempotency_key("ding1", "msgA==", 0));
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, idempotency_key("ding1", "msgA==", 1));
        assert_ne!(a, idempotency_key("ding1", "msga==", 0));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(idempotency_key("ab", "c", 0), idempotency_key("a", "bc", 0));
    }
}
