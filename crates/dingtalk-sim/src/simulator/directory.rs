//! The simulated organisation: apps, users, groups, DM conversations and custom robots.

use crate::error::Result;
use crate::model::{App, AppPatch, AppSpec, CustomRobot, CustomRobotSpec, Group, GroupSpec, User, UserSpec};

use super::Simulator;

impl Simulator {
    /// Creates an app with its bot.
    pub fn create_app(&self, spec: AppSpec) -> Result<App> {
        let corp = self.shared.config.corp_id.clone();
        self.shared.mutate(|st| st.create_app(&corp, spec))
    }

    /// Changes flags, permissions or the secret of an app.
    pub fn update_app(&self, client_id: &str, patch: &AppPatch) -> Result<App> {
        self.shared.mutate(|st| st.update_app(client_id, patch))
    }

    /// Creates a user.
    pub fn create_user(&self, spec: UserSpec) -> Result<User> {
        let corp = self.shared.config.corp_id.clone();
        self.shared.mutate(|st| st.create_user(&corp, spec))
    }

    /// Creates a group.
    pub fn create_group(&self, spec: GroupSpec) -> Result<Group> {
        self.shared.mutate(|st| st.create_group(spec))
    }

    /// Puts an app's bot into a group.
    pub fn add_bot_to_group(&self, open_conversation_id: &str, client_id: &str) -> Result<Group> {
        self.shared
            .mutate(|st| st.add_bot_to_group(open_conversation_id, client_id))
    }

    /// Removes an app's bot from a group.
    pub fn remove_bot_from_group(&self, open_conversation_id: &str, client_id: &str) -> Result<Group> {
        self.shared
            .mutate(|st| st.remove_bot_from_group(open_conversation_id, client_id))
    }

    /// Adds a user to a group.
    pub fn add_group_member(&self, open_conversation_id: &str, staff_id: &str) -> Result<Group> {
        self.shared
            .mutate(|st| st.add_member(open_conversation_id, staff_id))
    }

    /// All apps.
    #[must_use]
    pub fn apps(&self) -> Vec<App> {
        self.shared.read(|st| st.apps.values().cloned().collect())
    }

    /// All users.
    #[must_use]
    pub fn users(&self) -> Vec<User> {
        self.shared.read(|st| st.users.values().cloned().collect())
    }

    /// All groups.
    #[must_use]
    pub fn groups(&self) -> Vec<Group> {
        self.shared.read(|st| st.groups.values().cloned().collect())
    }

    /// The DM conversation id between an app's bot and a user (created on first use).
    #[must_use]
    pub fn dm_conversation_id(&self, client_id: &str, staff_id: &str) -> String {
        self.shared.mutate(|st| st.dm_conversation(client_id, staff_id))
    }

    /// Creates a custom (webhook) robot in a group.
    pub fn create_custom_robot(&self, spec: CustomRobotSpec) -> Result<CustomRobot> {
        self.shared
            .mutate(|st| st.create_custom_robot(&self.shared, spec))
    }
}
