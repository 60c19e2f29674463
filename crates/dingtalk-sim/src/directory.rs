//! Apps, users and groups.

use crate::error::{Result, SimError};
use crate::ids;
use crate::model::{ALL_SCOPES, App, AppSpec, Group, GroupSpec, User, UserSpec};
use crate::state::State;

impl State {
    pub fn create_app(&mut self, corp_id: &str, spec: AppSpec) -> Result<App> {
        if spec.client_id.is_empty() || spec.client_secret.is_empty() {
            return Err(SimError::Invalid(
                "client_id and client_secret must not be empty".into(),
            ));
        }
        if self.apps.contains_key(&spec.client_id) {
            return Err(SimError::Duplicate(format!("app {}", spec.client_id)));
        }
        let app = App {
            robot_code: spec.robot_code.unwrap_or_else(|| spec.client_id.clone()),
            name: spec.name.unwrap_or_else(|| "SimBot".to_owned()),
            stream_enabled: spec.stream_enabled,
            published: spec.published,
            permissions: spec
                .permissions
                .unwrap_or_else(|| ALL_SCOPES.iter().map(|s| (*s).to_owned()).collect()),
            app_id: ids::uuid(),
            unified_app_id: ids::uuid(),
            chatbot_user_id: ids::dingtalk_id(),
            corp_id: corp_id.to_owned(),
            client_id: spec.client_id,
            client_secret: spec.client_secret,
        };
        self.apps.insert(app.client_id.clone(), app.clone());
        tracing::info!(client_id = %app.client_id, "app created");
        Ok(app)
    }

    pub fn update_app(&mut self, client_id: &str, patch: &AppPatch) -> Result<App> {
        let app = self
            .apps
            .get_mut(client_id)
            .ok_or_else(|| SimError::UnknownApp(client_id.to_owned()))?;
        if let Some(v) = patch.stream_enabled {
            app.stream_enabled = v;
        }
        if let Some(v) = patch.published {
            app.published = v;
        }
        if let Some(v) = &patch.permissions {
            app.permissions = v.iter().cloned().collect();
        }
        if let Some(v) = &patch.client_secret {
            app.client_secret.clone_from(v);
        }
        Ok(app.clone())
    }

    pub fn create_user(&mut self, corp_id: &str, spec: UserSpec) -> Result<User> {
        if spec.staff_id.is_empty() {
            return Err(SimError::Invalid("staff_id must not be empty".into()));
        }
        if self.users.contains_key(&spec.staff_id) {
            return Err(SimError::Duplicate(format!("user {}", spec.staff_id)));
        }
        let user = User {
            union_id: spec.union_id.unwrap_or_else(|| format!("{}iE", ids::alnum(26))),
            nick: spec.nick,
            dingtalk_id: ids::dingtalk_id(),
            corp_id: spec.corp_id.unwrap_or_else(|| corp_id.to_owned()),
            departments: spec.departments,
            is_admin: spec.is_admin,
            staff_id: spec.staff_id,
        };
        self.users.insert(user.staff_id.clone(), user.clone());
        Ok(user)
    }

    pub fn create_group(&mut self, spec: GroupSpec) -> Result<Group> {
        for m in &spec.members {
            self.user(m)?;
        }
        for b in &spec.bots {
            self.app(b)?;
        }
        let id = spec.open_conversation_id.unwrap_or_else(ids::conversation_id);
        if self.groups.contains_key(&id) {
            return Err(SimError::Duplicate(format!("group {id}")));
        }
        let group = Group {
            open_conversation_id: id.clone(),
            title: spec.title,
            members: spec.members,
            bots: spec.bots,
        };
        self.groups.insert(id, group.clone());
        Ok(group)
    }

    pub fn add_bot_to_group(&mut self, cid: &str, app: &str) -> Result<Group> {
        self.app(app)?;
        let g = self
            .groups
            .get_mut(cid)
            .ok_or_else(|| SimError::UnknownGroup(cid.to_owned()))?;
        if !g.bots.iter().any(|b| b == app) {
            g.bots.push(app.to_owned());
        }
        Ok(g.clone())
    }

    pub fn remove_bot_from_group(&mut self, cid: &str, app: &str) -> Result<Group> {
        let g = self
            .groups
            .get_mut(cid)
            .ok_or_else(|| SimError::UnknownGroup(cid.to_owned()))?;
        g.bots.retain(|b| b != app);
        Ok(g.clone())
    }

    pub fn add_member(&mut self, cid: &str, staff_id: &str) -> Result<Group> {
        self.user(staff_id)?;
        let g = self
            .groups
            .get_mut(cid)
            .ok_or_else(|| SimError::UnknownGroup(cid.to_owned()))?;
        if !g.members.iter().any(|m| m == staff_id) {
            g.members.push(staff_id.to_owned());
        }
        Ok(g.clone())
    }
}

/// Changes to an existing app.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct AppPatch {
    /// Stream receive mode.
    #[serde(default)]
    pub stream_enabled: Option<bool>,
    /// Published.
    #[serde(default)]
    pub published: Option<bool>,
    /// Replace the granted scopes.
    #[serde(default)]
    pub permissions: Option<Vec<String>>,
    /// Rotate the secret.
    #[serde(default)]
    pub client_secret: Option<String>,
}
