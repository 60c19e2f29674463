//! Interactive and AI card instances as the card APIs left them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Lifecycle of a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardStatus {
    /// Created, nothing streamed yet.
    Created,
    /// Streaming in progress ("inputting").
    Streaming,
    /// `isFinalize: true` received.
    Finished,
    /// `isError: true` received.
    Failed,
}

/// One space a card was delivered to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardSpace {
    /// `IM_GROUP` or `IM_ROBOT`.
    pub space_type: String,
    /// openConversationId or staff id.
    pub space_id: String,
    /// carrierId (processQueryKey).
    pub carrier_id: String,
}

/// One `PUT /v1.0/card/streaming` call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamUpdate {
    /// Monotonic ms since sim start.
    pub at_ms: u64,
    /// Variable.
    pub key: String,
    /// Content sent.
    pub content: String,
    /// `guid`.
    pub guid: String,
    /// `isFull`.
    pub is_full: bool,
    /// `isFinalize`.
    pub is_finalize: bool,
    /// `isError`.
    pub is_error: bool,
    /// The variable's value after this call.
    pub value_after: String,
}

/// A card instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Card {
    /// outTrackId.
    pub out_track_id: String,
    /// Owning app.
    pub app: String,
    /// cardTemplateId.
    pub template_id: String,
    /// `STREAM` or `HTTP`.
    pub callback_type: Option<String>,
    /// `callbackRouteKey` of an `HTTP` card: presses go to the URL registered under it.
    #[serde(default)]
    pub callback_route_key: Option<String>,
    /// Where it was delivered.
    pub spaces: Vec<CardSpace>,
    /// Current public data (`cardParamMap`).
    pub card_data: BTreeMap<String, String>,
    /// Current private data per user.
    pub private_data: BTreeMap<String, BTreeMap<String, String>>,
    /// Lifecycle.
    pub status: CardStatus,
    /// Every streaming call.
    pub stream_history: Vec<StreamUpdate>,
    /// Every `PUT /v1.0/card/instances` body and callback response applied, in order.
    pub update_history: Vec<Value>,
    /// Every `flowStatus` the card was given (at creation, by instance updates, by callback
    /// responses), in order. AI card templates draw their state from this variable: 1
    /// processing, 2 inputting, 3 finished, 4 executing, 5 failed (`AICardStatus` in
    /// open-dingtalk/dingtalk-stream-sdk-python `dingtalk_stream/card_replier.py`). Streaming
    /// with `isFinalize` does not set it: that SDK's `AICardReplier.finish`/`fail` and the
    /// OpenClaw DingTalk plugins (soimy/openclaw-channel-dingtalk `finishAICard`) put it with
    /// an instance update after the last streaming call, or the template keeps showing
    /// "typing".
    #[serde(default)]
    pub flow_status: Vec<String>,
    /// Created (monotonic ms).
    pub created_at_ms: u64,
    /// Delivery `extension` as JSON text (from the deliver models).
    pub extension: Option<String>,
}

/// A card callback route an app registered with `POST /v1.0/card/callbacks/register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardCallbackRoute {
    /// Owning app (route keys are per app here; DingTalk does not say whether they are global).
    pub app: String,
    /// `callbackRouteKey`.
    pub route_key: String,
    /// `callbackUrl`.
    pub url: String,
    /// `apiSecret`; `None` = callbacks go out unsigned.
    pub api_secret: Option<String>,
    /// How many registration calls changed the binding (1 after the first).
    pub updates: u32,
}
