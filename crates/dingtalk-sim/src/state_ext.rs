//! State of the milestone-2 features, kept apart from the core state.

use std::collections::{BTreeMap, HashMap};

use crate::cards::Card;

#[derive(Default)]
pub(crate) struct StateExt {
    /// outTrackId → card.
    pub cards: BTreeMap<String, Card>,
    /// media_id → uploaded media.
    pub uploads: HashMap<String, crate::state::Blob>,
}
