//! When a session starts a new generation, the same on every backend.

use clawtalk_core::clock::EpochMs;

use crate::model::{NewGeneration, Session};

/// Whether an existing session starts a new generation now.
pub fn needs_new_generation(
    session: &Session,
    agent_id: &str,
    now: EpochMs,
    idle_reset_ms: Option<i64>,
) -> Option<NewGeneration> {
    if session.agent_id != agent_id {
        // Another agent must not inherit this agent's history.
        Some(NewGeneration::AgentChanged)
    } else if idle_reset_ms
        .is_some_and(|idle| now.as_millis().saturating_sub(session.last_active_ms.as_millis()) > idle)
    {
        Some(NewGeneration::IdleReset)
    } else {
        None
    }
}
