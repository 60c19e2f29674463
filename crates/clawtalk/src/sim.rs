//! `clawtalk sim`: the offline DingTalk simulator for people, seeded with a demo organisation.

use std::net::SocketAddr;

use anyhow::Context;
use dingtalk_sim::SimConfig;

/// Runs the simulator with its demo organisation until Ctrl-C.
pub async fn run(addr: SocketAddr) -> anyhow::Result<()> {
    dingtalk_sim::run_standalone(addr, SimConfig::default())
        .await
        .with_context(|| {
            format!("running the simulator on {addr} (is the port free? choose another with --addr)")
        })
}
