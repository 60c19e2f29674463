//! An offline DingTalk Open Platform simulator for tests and demos.
//!
//! One axum server on `127.0.0.1:<port>` serves the OpenAPI (`/v1.0/…`), the legacy API
//! (`/gettoken`, `/media/upload`, `/robot/…`), the Stream gateway (`connections/open` and
//! the WebSocket at `/connect`), a control API under `/_sim/…` and a small chat page at `/`.
//!
//! The wire protocol is implemented here independently of the `dingtalk` client crate (raw
//! `serde_json`), so a bug in the client cannot be cancelled out by the same bug here.
//!
//! # Endpoints
//!
//! DingTalk: `POST /v1.0/oauth2/accessToken`, `GET /gettoken`, `POST /v1.0/gateway/connections/open`,
//! `GET /connect?ticket=` (WebSocket), `POST /v1.0/robot/oToMessages/batchSend`,
//! `POST /v1.0/robot/groupMessages/send`, `POST /v1.0/robot/otoMessages/batchRecall`,
//! `POST /v1.0/robot/groupMessages/recall`, `POST /v1.0/robot/messageFiles/download` (→ `GET /_download/{token}`),
//! `POST /media/upload`, `POST /topapi/v2/user/get`, `POST /robot/sendBySession?session=`, `POST /robot/send?access_token=`,
//! `POST /v1.0/card/instances/createAndDeliver`, `PUT /v1.0/card/streaming`, `PUT /v1.0/card/instances`,
//! `POST /v1.0/card/callbacks/register`.
//! Outbound, to the app's own URLs: encrypted HTTP event push (with the `check_url` handshake),
//! signed HTTP-mode bot callbacks, and presses on `callbackType: HTTP` cards signed with the
//! registered route's `apiSecret` (the answer updates the card).
//!
//! Control (JSON, snake_case): `GET /_sim/state`, `POST /_sim/apps`, `POST /_sim/apps/update`,
//! `POST /_sim/apps/expire_tokens`, `POST /_sim/users`, `POST /_sim/groups`, `POST|DELETE /_sim/groups/bots`,
//! `POST /_sim/groups/members`, `GET /_sim/dm?app=&staff_id=`, `POST /_sim/inject/{message,event,card_callback}`,
//! `POST /_sim/action_cards/press`, `POST /_sim/media`, `GET /_sim/{sent?since=&conversation=,
//! user_messages?conversation=, deliveries, connections, pings, violations, opens, stats, cards?out_track_id=,
//! custom_robots, http_push/log, card_callback_routes}`,
//! `POST /_sim/faults/{drop_connections, disconnect, zombie, cut_next_frame, fail_next_opens, api, qps, clear}`,
//! `POST /_sim/sessions/expire`, `POST /_sim/custom_robots`, `POST /_sim/http_push`, `POST /_sim/http_push/check_url`,
//! `POST /_sim/http_bot`. Every one has a twin method on [`Simulator`].
//!
//! # Layout
//!
//! Bottom up, each module using only those above it in this list:
//! - `model` (every public data type), `ids`, `config`, `error`, `crypto`;
//! - `state`: the in-memory state, one file per feature;
//! - `api`: one file per DingTalk surface, inbound and outbound;
//! - `inject`: what users and the platform do (messages, events, card clicks, button presses);
//! - `control`: the `/_sim` API, one file per group of endpoints;
//! - `server`: the router;
//! - `simulator`: the public handle, its methods split by concept like `control`;
//! - `standalone`.
//!
//! # Rejections
//!
//! In DingTalk's observed shapes: a missing, expired or revoked token on the OpenAPI is HTTP 400
//! `InvalidAuthentication` "不合法的access_token" (satorijs/satori#240), on the legacy host HTTP
//! 200 with errcode 40014 (same report); wrong credentials on `connections/open` are HTTP 401
//! `authFailed` "鉴权失败" (zfanswer/dify-on-dingtalk#28). An ACK whose `data` is not JSON text
//! is recorded as an `ack_data_not_json_text` violation. SYSTEM pings are optional
//! ([`SimConfig::ping_interval`] zero: none); WebSocket pings from the client are always
//! answered and counted.
//!
//! ```no_run
//! # async fn demo() -> dingtalk_sim::Result<()> {
//! use dingtalk_sim::{AppSpec, InjectMessage, SimConfig, Simulator, UserSpec};
//! let sim = Simulator::start_with(SimConfig::fast()).await?;
//! sim.create_app(AppSpec::new("dingclient", "secret"))?;
//! sim.create_user(UserSpec::new("0312", "Alice"))?;
//! let injected = sim.inject_message(&InjectMessage::dm_text("dingclient", "0312", "hi"))?;
//! println!("{} via {}", injected.msg_id, sim.base_url());
//! # Ok(()) }
//! ```

mod api;
mod config;
mod control;
mod crypto;
mod error;
mod ids;
mod inject;
mod model;
mod server;
mod simulator;
mod standalone;
mod state;

pub use config::SimConfig;
pub use error::{Result, SimError};
pub use inject::buttons_of;
pub use model::*;
pub use simulator::{ApiCallCount, DemoSeed, Simulator};
pub use standalone::run_standalone;

/// Event-push crypto for fake receivers in tests (the sim's own, independent implementation).
pub mod push_crypto {
    pub use crate::crypto::event_push::{open_push, seal_reply};
}
