//! HTTP push of events (encrypted) and HTTP-mode bot callbacks.

use std::sync::Arc;

use crate::inject::InjectEvent;
use crate::state::Shared;

/// Pushes an injected event to the app's HTTP callback URL, if one is registered.
pub(crate) fn after_event_injected(_shared: &Arc<Shared>, _req: &InjectEvent, _event_id: &str) {}
