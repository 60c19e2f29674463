//! A demo organisation for `clawtalk sim` and manual testing.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::{AppSpec, CustomRobot, CustomRobotSpec, GroupSpec, UserSpec};

use super::Simulator;

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
