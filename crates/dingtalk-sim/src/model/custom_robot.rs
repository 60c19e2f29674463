//! Custom (group webhook) robots.

use serde::{Deserialize, Serialize};

/// What to create a custom robot from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CustomRobotSpec {
    /// Group the robot posts into.
    pub group: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Webhook access token; generated when absent.
    #[serde(default)]
    pub access_token: Option<String>,
    /// Signing secret (`SEC…`); `Some("")` generates one, `None` disables signing.
    #[serde(default)]
    pub secret: Option<String>,
    /// Security keywords (at least one must appear in the message); empty disables the check.
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// A custom robot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomRobot {
    /// Webhook access token.
    pub access_token: String,
    /// Signing secret.
    pub secret: Option<String>,
    /// Keywords.
    pub keywords: Vec<String>,
    /// Group.
    pub group: String,
    /// Display name.
    pub name: String,
    /// `…/robot/send?access_token=…` on the simulator.
    pub webhook_url: String,
}
