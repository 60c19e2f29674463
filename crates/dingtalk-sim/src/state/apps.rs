//! Apps and their bots.

use crate::error::{Result, SimError};
use crate::ids;
use crate::model::{ALL_SCOPES, App, AppPatch, AppSpec};

use super::State;

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

    pub fn app(&self, client_id: &str) -> Result<&App> {
        self.apps
            .get(client_id)
            .ok_or_else(|| SimError::UnknownApp(client_id.to_owned()))
    }
}
