//! Users and groups (with their members and bots).

use crate::error::{Result, SimError};
use crate::ids;
use crate::model::{Group, GroupSpec, User, UserSpec};

use super::State;

impl State {
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

    pub fn user(&self, staff_id: &str) -> Result<&User> {
        self.users
            .get(staff_id)
            .ok_or_else(|| SimError::UnknownUser(staff_id.to_owned()))
    }

    pub fn group(&self, cid: &str) -> Result<&Group> {
        self.groups
            .get(cid)
            .ok_or_else(|| SimError::UnknownGroup(cid.to_owned()))
    }
}
