//! Control endpoints of the milestone-2 features.

use std::sync::Arc;

use axum::Router;

use crate::state::Shared;

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
}
