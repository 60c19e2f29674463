//! An offline DingTalk Open Platform simulator for tests and demos.
//!
//! One axum server on `127.0.0.1:<port>` serves the OpenAPI (`/v1.0/…`), the legacy API
//! (`/gettoken`, `/media/upload`, `/robot/…`), the Stream gateway (`connections/open` and
//! the WebSocket at `/connect`), a control API under `/_sim/…` and a small chat page at `/`.
//!
//! The wire protocol is implemented here independently of the `dingtalk` client crate (raw
//! `serde_json`), so a bug in the client cannot be cancelled out by the same bug here.
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

mod body;
mod cards;
mod chat_page;
mod config;
mod control;
mod control_ext;
mod custom_robot;
mod delivery;
mod directory;
mod error;
mod evcrypto;
mod faults;
mod http_push;
mod ids;
mod inject;
mod media;
mod model;
mod oauth;
mod robot_api;
mod server;
mod server_ext;
mod session_webhook;
mod sign;
mod simulator;
mod simulator_ext;
mod standalone;
mod state;
mod state_ext;
mod stream_gateway;

pub use cards::{Card, CardSpace, CardStatus, StreamUpdate};
pub use config::SimConfig;
pub use custom_robot::{CustomRobot, CustomRobotSpec};
pub use directory::AppPatch;
pub use error::{Result, SimError};
pub use faults::ApiFault;
pub use http_push::{HttpPushRecord, HttpPushSpec};
pub use inject::{
    InjectCardCallback, InjectEvent, InjectMessage, Injected, MediaSpec, MessageSpec, RichSegment,
    TOPIC_BOT_MESSAGE, TOPIC_CARD_CALLBACK,
};
pub use model::*;
pub use simulator::{ApiCallCount, Simulator};
pub use simulator_ext::DemoSeed;
pub use standalone::run_standalone;

/// Event-push crypto for fake receivers in tests (the sim's own, independent implementation).
pub mod push_crypto {
    pub use crate::evcrypto::{open_push, seal_reply};
}
