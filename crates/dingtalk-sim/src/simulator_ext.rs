//! [`Simulator`] methods of the milestone-2 features, and the demo seed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cards::Card;
use crate::custom_robot::{CustomRobot, CustomRobotSpec};
use crate::error::Result;
use crate::http_push::{HttpPushRecord, HttpPushSpec};
use crate::model::{AppSpec, GroupSpec, UserSpec};
use crate::simulator::Simulator;

/// What [`Simulator::seed_demo`] created (all credentials are fake).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoSeed {
    /// Client id of the demo app.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// Staff ids of the demo users.
    pub users: Vec<String>,
    /// openConversationId of the demo group.
    pub group: String,
    /// The demo group's custom robot.
    pub custom_robot: CustomRobot,
}

impl Simulator {
    /// A card by outTrackId.
    #[must_use]
    pub fn card(&self, out_track_id: &str) -> Option<Card> {
        self.shared.read(|st| st.ext.cards.get(out_track_id).cloned())
    }

    /// Every card.
    #[must_use]
    pub fn cards(&self) -> Vec<Card> {
        self.shared.read(|st| st.ext.cards.values().cloned().collect())
    }

    /// Expires a sessionWebhook now (token or full URL). Returns whether it existed.
    pub fn expire_session_webhook(&self, session_or_url: &str) -> bool {
        self.shared.mutate(|st| st.expire_session(session_or_url))
    }

    /// Creates a custom (webhook) robot in a group.
    pub fn create_custom_robot(&self, spec: CustomRobotSpec) -> Result<CustomRobot> {
        self.shared
            .mutate(|st| st.create_custom_robot(&self.shared, spec))
    }

    /// Configures encrypted HTTP event push for an app.
    pub fn register_http_push(&self, client_id: &str, spec: HttpPushSpec) -> Result<()> {
        self.shared.mutate(|st| st.register_http_push(client_id, spec))
    }

    /// Sends the `check_url` handshake and validates the encrypted `success` reply.
    pub async fn check_url(&self, client_id: &str) -> Result<HttpPushRecord> {
        crate::http_push::check_url(&self.shared, client_id).await
    }

    /// Switches the app's bot to HTTP mode (`Some(url)`) or back to Stream (`None`).
    pub fn set_http_bot_callback(&self, client_id: &str, url: Option<String>) -> Result<()> {
        self.shared.mutate(|st| st.register_http_bot(client_id, url))
    }

    /// Every HTTP push attempt.
    #[must_use]
    pub fn http_push_log(&self) -> Vec<HttpPushRecord> {
        self.shared.read(|st| st.ext.http_push_log.clone())
    }

    /// Waits until at least `n` HTTP pushes were recorded.
    pub async fn wait_for_http_pushes(&self, n: usize, timeout: Duration) -> Result<Vec<HttpPushRecord>> {
        self.shared
            .wait_for(&format!("{n} HTTP push(es)"), timeout, |st| {
                (st.ext.http_push_log.len() >= n).then(|| st.ext.http_push_log.clone())
            })
            .await
    }

    /// Registers downloadable bytes for an app; returns the downloadCode.
    pub fn register_download(
        &self,
        client_id: &str,
        bytes: Vec<u8>,
        content_type: &str,
        file_name: Option<&str>,
    ) -> String {
        self.shared.mutate(|st| {
            st.register_download(
                client_id,
                bytes,
                content_type.to_owned(),
                file_name.map(str::to_owned),
            )
        })
    }

    /// Content and MIME type of an uploaded `media_id`.
    #[must_use]
    pub fn uploaded_media(&self, media_id: &str) -> Option<(Vec<u8>, String)> {
        self.shared.read(|st| {
            st.ext
                .uploads
                .get(media_id)
                .map(|b| (b.bytes.to_vec(), b.content_type.clone()))
        })
    }

    /// Seeds a demo app (`dingdemoclawtalk01`), three users, a group with the bot and a signed
    /// custom robot. Credentials are fake.
    pub fn seed_demo(&self) -> Result<DemoSeed> {
        let client_id = "dingdemoclawtalk01".to_owned();
        let client_secret = "demo-secret-not-a-real-credential".to_owned();
        self.create_app(AppSpec::new(&client_id, &client_secret).name("ClawBot"))?;
        let people = [
            ("0312454236781234", "Alice Zhang"),
            ("0298765432109876", "Bob Li"),
            ("0456123498761234", "Carol Wang"),
        ];
        for (id, nick) in people {
            self.create_user(UserSpec::new(id, nick))?;
        }
        let users: Vec<String> = people.iter().map(|(id, _)| (*id).to_owned()).collect();
        let group = self.create_group(GroupSpec::new("Demo Group", users.clone()).with_bot(&client_id))?;
        let custom_robot = self.create_custom_robot(CustomRobotSpec {
            group: group.open_conversation_id.clone(),
            name: Some("Alerts".into()),
            secret: Some(String::new()),
            ..CustomRobotSpec::default()
        })?;
        Ok(DemoSeed {
            client_id,
            client_secret,
            users,
            group: group.open_conversation_id,
            custom_robot,
        })
    }
}
