//! `POST /v1.0/gateway/connections/open`: registering for a Stream ticket.

use serde::{Deserialize, Serialize};

use crate::model::frame::{TOPIC_BOT_MESSAGE, TOPIC_CARD_CALLBACK};

/// Which pushes the server should send on the connection; it sends nothing that is not listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// `EVENT` or `CALLBACK`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A callback topic, or `*` for events (the only accepted event topic).
    pub topic: String,
}

impl Subscription {
    /// Bot messages (`CALLBACK /v1.0/im/bot/messages/get`).
    #[must_use]
    pub fn bot_messages() -> Self {
        Self {
            kind: "CALLBACK".into(),
            topic: TOPIC_BOT_MESSAGE.into(),
        }
    }

    /// Card callbacks (`CALLBACK /v1.0/card/instances/callback`).
    #[must_use]
    pub fn card_callbacks() -> Self {
        Self {
            kind: "CALLBACK".into(),
            topic: TOPIC_CARD_CALLBACK.into(),
        }
    }

    /// All events ticked in the developer console (`EVENT *`).
    #[must_use]
    pub fn all_events() -> Self {
        Self {
            kind: "EVENT".into(),
            topic: "*".into(),
        }
    }

    /// The three subscriptions a gateway wants.
    #[must_use]
    pub fn gateway_defaults() -> Vec<Self> {
        vec![Self::all_events(), Self::bot_messages(), Self::card_callbacks()]
    }
}

/// Request body of `connections/open`. Holds the client secret, so it has no `Debug`.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenConnectionRequest<'a> {
    /// AppKey.
    pub client_id: &'a str,
    /// AppSecret.
    pub client_secret: &'a str,
    /// What to push.
    pub subscriptions: &'a [Subscription],
    /// Free-form client id, e.g. `clawtalk/0.1.0`.
    pub ua: &'a str,
    /// Diagnostics only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_ip: Option<&'a str>,
}

/// Response of `connections/open`.
#[derive(Clone, Deserialize)]
pub struct OpenConnectionResponse {
    /// WebSocket base URL, e.g. `wss://wss-open-connection.dingtalk.com:443/connect`.
    pub endpoint: String,
    /// Single-use ticket valid for about 90 seconds: never cache it.
    pub ticket: String,
}

impl std::fmt::Debug for OpenConnectionResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenConnectionResponse")
            .field("endpoint", &self.endpoint)
            .field("ticket", &"***")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_matches_the_fixture() {
        let subs = Subscription::gateway_defaults();
        let req = OpenConnectionRequest {
            client_id: "dingq7vxkt3mwz2hb8ns",
            client_secret: "<client-secret>",
            subscriptions: &subs,
            ua: "example-gateway/0.1.0",
            local_ip: Some("10.0.0.5"),
        };
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../fixtures/connections-open-request.json")).unwrap();
        assert_eq!(serde_json::to_value(&req).unwrap(), fixture);
    }

    #[test]
    fn response_parses_the_fixture() {
        let r: OpenConnectionResponse =
            serde_json::from_str(include_str!("../../fixtures/connections-open-response.json")).unwrap();
        assert!(r.endpoint.starts_with("wss://"));
        assert!(!format!("{r:?}").contains(&r.ticket));
    }
}
