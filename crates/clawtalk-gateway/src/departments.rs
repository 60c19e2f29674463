//! A sender's departments, for bindings that match on `department`: looked up through the
//! contacts API once per user and cached, so routing costs no API call per message.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dingtalk::ApiErrorKind;
use dingtalk::api::OpenApiClient;
use dingtalk::ids::StaffId;

/// How long a user's departments are trusted. Moves between departments are rare, and each
/// lookup counts against the app's API budget.
const FRESH_FOR: Duration = Duration::from_secs(10 * 60);
/// How long a failed lookup is not retried: DingTalk being down must not double every
/// message's cost, and routing falls back to the bindings without a department meanwhile.
const RETRY_FAILED_AFTER: Duration = Duration::from_secs(60);
/// A lookup waits this long at most: the message's frame stays unacknowledged meanwhile.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);
/// Users remembered per account, at most (expired entries are dropped first).
const MAX_ENTRIES: usize = 50_000;

struct Entry {
    departments: Vec<i64>,
    until: Instant,
}

/// Department lookups of one DingTalk app.
pub(crate) struct Departments {
    api: OpenApiClient,
    cache: Mutex<HashMap<StaffId, Entry>>,
    /// Set once the app was found to lack the contacts permission (logged once, not per
    /// message).
    permission_reported: std::sync::atomic::AtomicBool,
}

impl Departments {
    pub(crate) fn new(api: OpenApiClient) -> Self {
        Self {
            api,
            cache: Mutex::new(HashMap::new()),
            permission_reported: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The departments of `user`; empty when unknown (external user, lookup failed).
    pub(crate) async fn of(&self, user: &StaffId) -> Vec<i64> {
        let now = Instant::now();
        if let Some(entry) = self.lock().get(user).filter(|e| e.until > now) {
            return entry.departments.clone();
        }
        let looked_up = tokio::time::timeout(LOOKUP_TIMEOUT, self.api.user_departments(user)).await;
        let (departments, fresh_for) = match looked_up {
            Ok(Ok(departments)) => (departments, FRESH_FOR),
            // Not in the organisation (external contact): no department will ever match.
            Ok(Err(e)) if e.kind() == Some(ApiErrorKind::NotFound) => (Vec::new(), FRESH_FOR),
            Ok(Err(e)) if e.kind() == Some(ApiErrorKind::PermissionMissing) => {
                if !self
                    .permission_reported
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    tracing::warn!(error = %e, "department routing needs the contacts permission qyapi_get_member (通讯录成员信息读权限); grant it to the app in the DingTalk developer console. Until then, bindings with a department do not match");
                }
                (Vec::new(), RETRY_FAILED_AFTER)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot look up the sender's departments; routing without them");
                (Vec::new(), RETRY_FAILED_AFTER)
            }
            Err(_) => {
                tracing::warn!(timeout = ?LOOKUP_TIMEOUT, "department lookup timed out; routing without departments");
                (Vec::new(), RETRY_FAILED_AFTER)
            }
        };
        let mut cache = self.lock();
        if cache.len() >= MAX_ENTRIES {
            cache.retain(|_, e| e.until > now);
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(
            user.clone(),
            Entry {
                departments: departments.clone(),
                until: Instant::now() + fresh_for,
            },
        );
        departments
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StaffId, Entry>> {
        // A panic while holding the lock leaves a consistent map (inserts are single calls).
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dingtalk_sim::{AppSpec, SimConfig, Simulator, UserSpec};

    const APP: &str = "dingdeptsapp00000001";

    async fn sim_with_user(departments: Vec<i64>) -> (Simulator, Departments) {
        let sim = Simulator::start_with(SimConfig::default()).await.unwrap();
        sim.create_app(AppSpec::new(APP, "s")).unwrap();
        let mut user = UserSpec::new("u1", "User One");
        user.departments = departments;
        sim.create_user(user).unwrap();
        let api = OpenApiClient::builder(dingtalk::ids::ClientId::new(APP), "s".into())
            .endpoints(dingtalk::Endpoints::single(sim.base_url()))
            .build();
        (sim, Departments::new(api))
    }

    #[tokio::test]
    async fn looks_up_once_and_caches() {
        let (sim, departments) = sim_with_user(vec![7, 42]).await;
        let user = StaffId::new("u1");
        assert_eq!(departments.of(&user).await, vec![7, 42]);
        assert_eq!(departments.of(&user).await, vec![7, 42]);
        assert_eq!(sim.api_call_count(APP, "/topapi/v2/user/get"), 1);
    }

    #[tokio::test]
    async fn unknown_users_have_no_departments() {
        let (_sim, departments) = sim_with_user(vec![7]).await;
        assert!(departments.of(&StaffId::new("nobody")).await.is_empty());
    }

    #[tokio::test]
    async fn a_missing_permission_routes_without_departments() {
        let (sim, departments) = sim_with_user(vec![7]).await;
        sim.update_app(
            APP,
            &dingtalk_sim::AppPatch {
                permissions: Some(vec!["qyapi_robot_sendmsg".to_owned()]),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(departments.of(&StaffId::new("u1")).await.is_empty());
        assert!(
            departments
                .permission_reported
                .load(std::sync::atomic::Ordering::Relaxed),
            "the missing permission is recognised (and named in the log)"
        );
        assert!(departments.of(&StaffId::new("u1")).await.is_empty());
        assert_eq!(
            sim.api_call_count(APP, "/topapi/v2/user/get"),
            1,
            "a failed lookup is not retried for every message"
        );
    }
}
