//! Access tokens: issuing, checking and expiring them, and counting token requests.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use crate::ids;
use crate::model::App;

use super::State;

pub(crate) struct TokenEntry {
    pub app: String,
    pub expires_at: Instant,
}

#[derive(Default)]
pub(crate) struct Tokens {
    /// token → owner and expiry.
    pub live: HashMap<String, TokenEntry>,
    /// client id → token requests (`accessToken` + `gettoken`).
    pub requests: BTreeMap<String, u64>,
}

impl Tokens {
    /// Counts one token request by the app.
    pub fn count_request(&mut self, app: &str) {
        *self.requests.entry(app.to_owned()).or_default() += 1;
    }

    /// Issues (or re-issues and extends) the app's token.
    pub fn issue(&mut self, ttl: Duration, app: &str) -> String {
        let now = Instant::now();
        let expires_at = now + ttl;
        if let Some((token, entry)) = self
            .live
            .iter_mut()
            .find(|(_, e)| e.app == app && e.expires_at > now)
        {
            entry.expires_at = expires_at;
            return token.clone();
        }
        let token = ids::hex(32);
        self.live.insert(
            token.clone(),
            TokenEntry {
                app: app.to_owned(),
                expires_at,
            },
        );
        token
    }

    /// Expires every token of the app; returns how many.
    pub fn expire(&mut self, app: &str) -> usize {
        let now = Instant::now();
        let mut n = 0;
        for entry in self
            .live
            .values_mut()
            .filter(|e| e.app == app && e.expires_at > now)
        {
            entry.expires_at = now;
            n += 1;
        }
        n
    }
}

impl State {
    /// The app owning a live token.
    pub fn token_app(&self, token: &str) -> Option<App> {
        let entry = self.tokens.live.get(token)?;
        if entry.expires_at <= Instant::now() {
            return None;
        }
        self.apps.get(&entry.app).cloned()
    }
}
