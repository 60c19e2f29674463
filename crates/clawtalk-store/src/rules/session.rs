//! When a session starts a new generation, the same on every backend.

use crate::model::{NewGeneration, Session};

/// Whether an existing session starts a new generation now.
pub fn needs_new_generation(
    session: &Session,
    agent_id: &str,
    now_ms: i64,
    idle_reset_ms: Option<i64>,
) -> Option<NewGeneration> {
    if session.agent_id != agent_id {
        // Another agent must not inherit this agent's history.
        Some(NewGeneration::AgentChanged)
    } else if idle_reset_ms.is_some_and(|idle| now_ms.saturating_sub(session.last_active_ms) > idle) {
        Some(NewGeneration::IdleReset)
    } else {
        None
    }
}
