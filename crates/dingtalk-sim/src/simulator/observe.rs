//! What happened: messages sent and posted, Stream deliveries, connections, pings,
//! violations, `connections/open` calls, call counters, cards and uploads.

use crate::model::{
    Card, CardCallbackRoute, CardStatus, ConnectionInfo, Delivery, OpenRecord, PingRecord, SentMessage,
    UserMessage, Violation,
};

use super::Simulator;

/// Calls of one API by one app.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiCallCount {
    /// Client id, or `-` when the token was invalid.
    pub app: String,
    /// Path.
    pub path: String,
    /// Calls.
    pub count: u64,
}

impl Simulator {
    /// Token requests (`accessToken` + `gettoken`) made by the app.
    #[must_use]
    pub fn token_calls(&self, client_id: &str) -> u64 {
        self.shared
            .read(|st| st.tokens.requests.get(client_id).copied().unwrap_or(0))
    }

    /// Calls per app and API path.
    #[must_use]
    pub fn api_calls(&self) -> Vec<ApiCallCount> {
        self.shared.read(|st| {
            st.api_calls
                .iter()
                .map(|((app, path), count)| ApiCallCount {
                    app: app.clone(),
                    path: path.clone(),
                    count: *count,
                })
                .collect()
        })
    }

    /// Calls of `path` by the app.
    #[must_use]
    pub fn api_call_count(&self, client_id: &str, path: &str) -> u64 {
        self.shared.read(|st| {
            st.api_calls
                .get(&(client_id.to_owned(), path.to_owned()))
                .copied()
                .unwrap_or(0)
        })
    }

    /// Calls of `path` answered with the QPS error.
    #[must_use]
    pub fn qps_rejections(&self, client_id: &str, path: &str) -> u64 {
        self.shared.read(|st| {
            st.faults
                .qps_rejections
                .get(&(client_id.to_owned(), path.to_owned()))
                .copied()
                .unwrap_or(0)
        })
    }

    /// Everything the bots sent, in order.
    #[must_use]
    pub fn sent_messages(&self) -> Vec<SentMessage> {
        self.shared.read(|st| st.sent.clone())
    }

    /// How many messages the bots sent; unlike [`Simulator::sent_messages`] it copies
    /// nothing, so a benchmark can poll it without its own cost growing with the log.
    #[must_use]
    pub fn sent_count(&self) -> usize {
        self.shared.read(|st| st.sent.len())
    }

    /// Everything simulated users posted, delivered or not.
    #[must_use]
    pub fn user_messages(&self) -> Vec<UserMessage> {
        self.shared.read(|st| st.user_messages.clone())
    }

    /// Every Stream delivery with its pushes.
    #[must_use]
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.read(|st| st.deliveries.clone())
    }

    /// The delivery of a msgId / eventId / card-callback key.
    #[must_use]
    pub fn delivery(&self, key: &str) -> Option<Delivery> {
        self.shared
            .read(|st| st.deliveries.iter().find(|d| d.key == key).cloned())
    }

    /// Every Stream connection, in order of opening.
    #[must_use]
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.shared.read(|st| st.stream.infos())
    }

    /// Open Stream connections of an app.
    #[must_use]
    pub fn open_connections(&self, client_id: &str) -> Vec<ConnectionInfo> {
        self.connections()
            .into_iter()
            .filter(|c| c.app == client_id && c.is_open())
            .collect()
    }

    /// Every SYSTEM ping sent.
    #[must_use]
    pub fn pings(&self) -> Vec<PingRecord> {
        self.shared.read(|st| st.stream.pings.clone())
    }

    /// Protocol violations seen.
    #[must_use]
    pub fn violations(&self) -> Vec<Violation> {
        self.shared.read(|st| st.violations.clone())
    }

    /// Every `connections/open` call.
    #[must_use]
    pub fn open_log(&self) -> Vec<OpenRecord> {
        self.shared.read(|st| st.stream.open_log.clone())
    }

    /// A card by outTrackId.
    #[must_use]
    pub fn card(&self, out_track_id: &str) -> Option<Card> {
        self.shared.read(|st| st.cards.get(out_track_id).cloned())
    }

    /// Every card.
    #[must_use]
    pub fn cards(&self) -> Vec<Card> {
        self.shared.read(|st| st.cards.values().cloned().collect())
    }

    /// Every card callback route apps registered (`POST /v1.0/card/callbacks/register`).
    #[must_use]
    pub fn card_callback_routes(&self) -> Vec<CardCallbackRoute> {
        self.shared.read(|st| st.card_routes.values().cloned().collect())
    }

    /// How many cards are in each state, without copying them (cheap enough to poll while
    /// thousands stream).
    #[must_use]
    pub fn card_status_counts(&self) -> Vec<(CardStatus, usize)> {
        self.shared.read(|st| {
            let mut counts: Vec<(CardStatus, usize)> = Vec::new();
            for card in st.cards.values() {
                match counts.iter_mut().find(|(s, _)| *s == card.status) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((card.status, 1)),
                }
            }
            counts
        })
    }

    /// Calls answered with the QPS error, per app and API path.
    #[must_use]
    pub fn qps_rejection_counts(&self) -> Vec<ApiCallCount> {
        self.shared.read(|st| {
            st.faults
                .qps_rejections
                .iter()
                .map(|((app, path), count)| ApiCallCount {
                    app: app.clone(),
                    path: path.clone(),
                    count: *count,
                })
                .collect()
        })
    }

    /// How many uploads `media/upload` took: a client that resumes a send after a crash
    /// must not upload the same file again.
    #[must_use]
    pub fn upload_count(&self) -> usize {
        self.shared.read(|st| st.media.uploads.len())
    }

    /// Content and MIME type of an uploaded `media_id`.
    #[must_use]
    pub fn uploaded_media(&self, media_id: &str) -> Option<(Vec<u8>, String)> {
        self.shared.read(|st| {
            st.media
                .uploads
                .get(media_id)
                .map(|b| (b.bytes.to_vec(), b.content_type.clone()))
        })
    }
}
