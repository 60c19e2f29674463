//! Routes of the milestone-2 features.

use std::sync::Arc;

use axum::Router;

use crate::state::Shared;

/// DingTalk endpoints (behind the fault middleware).
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
}

/// Other endpoints (chat page, download URLs).
pub(crate) fn extra_routes() -> Router<Arc<Shared>> {
    Router::new()
}
