//! Custom (group webhook) robots and their rolling send windows.

use std::collections::VecDeque;

use tokio::time::Instant;

use crate::error::{Result, SimError};
use crate::ids;
use crate::model::{CustomRobot, CustomRobotSpec};

use super::{Shared, State};

/// Path of the custom robot webhook; a robot's URL is this plus `?access_token=…`.
pub(crate) const ROBOT_SEND: &str = "/robot/send";

pub(crate) struct RobotEntry {
    pub robot: CustomRobot,
    pub accepted: VecDeque<Instant>,
    pub banned_until: Option<Instant>,
}

impl State {
    pub fn create_custom_robot(&mut self, shared: &Shared, spec: CustomRobotSpec) -> Result<CustomRobot> {
        self.group(&spec.group)?;
        let token = spec.access_token.unwrap_or_else(|| ids::hex(64));
        if self.custom_robots.contains_key(&token) {
            return Err(SimError::Duplicate(format!("custom robot {token}")));
        }
        let secret = spec.secret.map(|s| {
            if s.is_empty() {
                format!("SEC{}", ids::hex(64))
            } else {
                s
            }
        });
        let robot = CustomRobot {
            webhook_url: shared.url(&format!("{ROBOT_SEND}?access_token={token}")),
            access_token: token.clone(),
            secret,
            keywords: spec.keywords,
            group: spec.group,
            name: spec.name.unwrap_or_else(|| "Webhook".to_owned()),
        };
        self.custom_robots.insert(
            token,
            RobotEntry {
                robot: robot.clone(),
                accepted: VecDeque::new(),
                banned_until: None,
            },
        );
        Ok(robot)
    }
}
