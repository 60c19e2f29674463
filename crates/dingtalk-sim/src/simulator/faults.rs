//! Faults: Stream connection faults, API failures, latency and QPS limits, and making
//! tokens and sessionWebhooks expire early.

use std::time::Duration;

use crate::api::stream_open::OPEN_PATH;
use crate::model::{ApiFault, FrameCut};
use crate::state::ConnCmd;

use super::Simulator;

impl Simulator {
    /// Expires every live token of the app; returns how many.
    pub fn expire_tokens(&self, client_id: &str) -> usize {
        self.shared.mutate(|st| st.tokens.expire(client_id))
    }

    /// Expires a sessionWebhook now (token or full URL). Returns whether it existed.
    pub fn expire_session_webhook(&self, session_or_url: &str) -> bool {
        self.shared.mutate(|st| st.expire_session(session_or_url))
    }

    /// Drops every open connection of the app without a close frame; returns how many.
    pub fn drop_connections(&self, client_id: &str) -> usize {
        self.shared
            .mutate(|st| st.stream.command_app_connections(client_id, || ConnCmd::Drop))
    }

    /// Sends SYSTEM disconnect (`connection is expired`) on every open connection of the app;
    /// each closes after the grace period. Returns how many.
    pub fn send_disconnect(&self, client_id: &str) -> usize {
        let now = self.shared.now_ms();
        self.shared
            .mutate(|st| st.stream.send_disconnect(now, client_id, "connection is expired"))
    }

    /// Turns the app's open connections into zombies (no frames, no pings, no pongs) or back.
    pub fn set_zombie(&self, client_id: &str, on: bool) -> usize {
        self.shared.mutate(|st| st.stream.set_zombie(client_id, on))
    }

    /// Cuts each open connection of the app at its next pushed frame (see [`FrameCut`]): the
    /// push is redelivered once the client reconnects. Returns how many connections.
    pub fn cut_next_frame(&self, client_id: &str, how: FrameCut) -> usize {
        self.shared
            .mutate(|st| st.stream.command_app_connections(client_id, || ConnCmd::Cut(how)))
    }

    /// The next `n` `connections/open` calls fail with `status` (e.g. 503 or 400).
    pub fn fail_next_opens(&self, n: u32, status: u16) {
        self.add_api_fault(&ApiFault {
            path_prefix: OPEN_PATH.into(),
            fail_next: Some(n),
            status: Some(status),
            ..ApiFault::default()
        });
    }

    /// Adds a path fault.
    pub fn add_api_fault(&self, fault: &ApiFault) {
        self.shared.mutate(|st| st.faults.add(fault));
    }

    /// Adds latency to every call under `path_prefix`.
    pub fn set_api_latency(&self, path_prefix: &str, latency: Duration) {
        self.add_api_fault(&ApiFault {
            path_prefix: path_prefix.into(),
            latency_ms: Some(u64::try_from(latency.as_millis()).unwrap_or(u64::MAX)),
            ..ApiFault::default()
        });
    }

    /// The next `n` calls under `path_prefix` fail with `status` and `body`
    /// (default: a DingTalk-shaped error for the status).
    pub fn fail_next_api(&self, path_prefix: &str, n: u32, status: u16, body: Option<serde_json::Value>) {
        self.add_api_fault(&ApiFault {
            path_prefix: path_prefix.into(),
            fail_next: Some(n),
            status: Some(status),
            body,
            ..ApiFault::default()
        });
    }

    /// Sets the app's QPS limit for one API path (0 = unlimited).
    pub fn set_qps_limit(&self, client_id: &str, api: &str, limit: u32) {
        self.shared.mutate(|st| {
            st.faults
                .qps_limits
                .insert((client_id.to_owned(), api.to_owned()), limit);
        });
    }

    /// Removes every path fault and QPS override.
    pub fn clear_faults(&self) {
        self.shared.mutate(|st| st.faults.clear());
    }
}
