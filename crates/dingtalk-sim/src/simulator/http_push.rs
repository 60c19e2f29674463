//! HTTP mode: encrypted event push with the `check_url` handshake, and HTTP-mode bots.

use crate::api::http_push;
use crate::error::Result;
use crate::model::{HttpPushRecord, HttpPushSpec};

use super::Simulator;

impl Simulator {
    /// Configures encrypted HTTP event push for an app.
    pub fn register_http_push(&self, client_id: &str, spec: HttpPushSpec) -> Result<()> {
        self.shared.mutate(|st| st.register_http_push(client_id, spec))
    }

    /// Sends the `check_url` handshake and validates the encrypted `success` reply.
    pub async fn check_url(&self, client_id: &str) -> Result<HttpPushRecord> {
        http_push::check_url(&self.shared, client_id).await
    }

    /// Switches the app's bot to HTTP mode (`Some(url)`) or back to Stream (`None`).
    pub fn set_http_bot_callback(&self, client_id: &str, url: Option<String>) -> Result<()> {
        self.shared.mutate(|st| st.register_http_bot(client_id, url))
    }

    /// Every HTTP push attempt.
    #[must_use]
    pub fn http_push_log(&self) -> Vec<HttpPushRecord> {
        self.shared.read(|st| st.http_push.log.clone())
    }
}
