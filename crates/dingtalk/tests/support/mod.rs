//! Shared set-up for tests that drive the Stream client against the simulator.

#![allow(dead_code)]

use std::time::Duration;

use dingtalk::ids::ClientId;
use dingtalk::model::{BotMessage, Inbound};
use dingtalk::stream::{
    Backoff, CloseReason, Delivery, StreamClient, StreamConfig, StreamEvent, StreamEvents, StreamHandle,
};
use dingtalk_sim::{AppSpec, GroupSpec, SimConfig, Simulator, UserSpec};

pub const APP: &str = "dingq7vxkt3mwz2hb8ns";
pub const SECRET: &str = "sim-secret-for-tests";
pub const ALICE: &str = "0312454236781234";
pub const BOB: &str = "0298765432109876";

/// A simulator with one app, two users and a group the bot is in.
pub async fn sim(config: SimConfig) -> (Simulator, String) {
    let sim = Simulator::start_with(config).await.expect("simulator starts");
    sim.create_app(AppSpec::new(APP, SECRET)).expect("app");
    sim.create_user(UserSpec::new(ALICE, "Alice Zhang"))
        .expect("alice");
    sim.create_user(UserSpec::new(BOB, "Bob Li")).expect("bob");
    let group = sim
        .create_group(GroupSpec::new("Gateway Test Group", [ALICE, BOB]).with_bot(APP))
        .expect("group");
    (sim, group.open_conversation_id)
}

/// Client settings scaled down to milliseconds.
pub fn fast_client(sim: &Simulator) -> StreamConfig {
    let mut config = StreamConfig::new(ClientId::new(APP), SECRET, sim.endpoints());
    config.ping_interval = Duration::from_millis(100);
    config.idle_timeout = Duration::from_millis(600);
    config.drain_timeout = Duration::from_millis(400);
    config.backoff = Backoff {
        initial: Duration::from_millis(5),
        max: Duration::from_millis(50),
        multiplier: 2.0,
        jitter: 0.2,
    };
    config.connect_timeout = Some(Duration::from_secs(5));
    config
}

pub fn spawn(config: StreamConfig) -> (StreamHandle, StreamEvents) {
    StreamClient::spawn(config)
}

/// Waits for the next frame, skipping connection events.
pub async fn next_frame(events: &mut StreamEvents, within: Duration) -> Box<Delivery> {
    tokio::time::timeout(within, async {
        loop {
            match events.recv().await.expect("client is running") {
                StreamEvent::Frame(delivery) => return delivery,
                _ => continue,
            }
        }
    })
    .await
    .expect("a frame arrives in time")
}

/// Waits for the next `Connected` event.
pub async fn next_connected(events: &mut StreamEvents, within: Duration) -> u64 {
    tokio::time::timeout(within, async {
        loop {
            if let StreamEvent::Connected { connection } = events.recv().await.expect("client is running") {
                return connection;
            }
        }
    })
    .await
    .expect("connects in time")
}

pub fn bot_message(delivery: &Delivery) -> BotMessage {
    match delivery.frame.classify().expect("frame classifies") {
        Inbound::BotMessage(message) => *message,
        other => panic!("expected a bot message, got {other:?}"),
    }
}

/// Waits for the next `Disconnected` event and returns its reason.
pub async fn next_disconnected(events: &mut StreamEvents, within: Duration) -> CloseReason {
    tokio::time::timeout(within, async {
        loop {
            if let StreamEvent::Disconnected { reason, .. } = events.recv().await.expect("client is running")
            {
                return reason;
            }
        }
    })
    .await
    .expect("a connection ends in time")
}
