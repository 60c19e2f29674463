//! Conversations: DM conversation ids, sessionWebhooks (the per-message reply URLs) and the
//! log of what bots sent.

use tokio::time::Instant;

use crate::ids;
use crate::model::SentMessage;

use super::State;

pub(crate) struct SessionEntry {
    pub app: String,
    pub conversation_id: String,
    pub expires_at: Instant,
}

impl State {
    /// DM conversation id between an app's bot and a user, created on first use.
    pub fn dm_conversation(&mut self, app: &str, staff_id: &str) -> String {
        self.dm_conversations
            .entry((app.to_owned(), staff_id.to_owned()))
            .or_insert_with(ids::conversation_id)
            .clone()
    }

    /// The app and conversation a live sessionWebhook answers into.
    pub fn session_route(&self, session: &str) -> Option<(String, String)> {
        self.sessions
            .get(session)
            .filter(|s| s.expires_at > Instant::now())
            .map(|e| (e.app.clone(), e.conversation_id.clone()))
    }

    /// Expires a session now; accepts the token or the full URL. Returns whether it existed.
    pub fn expire_session(&mut self, session_or_url: &str) -> bool {
        let token = session_or_url
            .rsplit_once("session=")
            .map_or(session_or_url, |(_, t)| t)
            .split('&')
            .next()
            .unwrap_or_default();
        match self.sessions.get_mut(token) {
            Some(s) => {
                s.expires_at = Instant::now();
                true
            }
            None => false,
        }
    }

    pub fn push_sent(&mut self, mut msg: SentMessage) -> u64 {
        let seq = self.sent.len() as u64 + 1;
        msg.seq = seq;
        tracing::info!(seq, api = %msg.api, text = %msg.text, "bot sent a message");
        self.sent.push(msg);
        seq
    }
}
