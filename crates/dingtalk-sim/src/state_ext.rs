//! State of the milestone-2 features, kept apart from the core state.

use std::collections::{BTreeMap, HashMap};

use crate::cards::Card;
use crate::custom_robot::RobotEntry;
use crate::http_push::{HttpPushRecord, HttpPushSpec, Outgoing};

#[derive(Default)]
pub(crate) struct StateExt {
    /// outTrackId → card.
    pub cards: BTreeMap<String, Card>,
    /// media_id → uploaded media.
    pub uploads: HashMap<String, crate::state::Blob>,
    /// webhook access token → custom robot.
    pub custom_robots: BTreeMap<String, RobotEntry>,
    /// client id → HTTP event push config.
    pub http_push: HashMap<String, HttpPushSpec>,
    /// client id → HTTP-mode bot callback URL.
    pub http_bot: HashMap<String, String>,
    /// Work queued for [`crate::http_push::flush_outbox`].
    pub outbox: Vec<Outgoing>,
    /// Every HTTP push attempt.
    pub http_push_log: Vec<HttpPushRecord>,
}
