//! `clawtalk sim`: the simulator as a long-running demo server.

use std::net::SocketAddr;

use crate::config::SimConfig;
use crate::error::Result;
use crate::simulator::Simulator;

/// Starts the simulator on `addr` with a seeded demo org, prints how to use it, and runs
/// until Ctrl-C.
pub async fn run_standalone(addr: SocketAddr, config: SimConfig) -> Result<()> {
    let sim = Simulator::start_on(addr, config).await?;
    let seed = sim.seed_demo()?;
    let base = sim.base_url();
    println!("DingTalk simulator listening on {base}");
    println!("  chat page:      {base}");
    println!("  control API:    {base}_sim/state");
    println!("  demo clientId:  {}", seed.client_id);
    println!("  demo secret:    {} (fake)", seed.client_secret);
    println!("  demo group:     {}", seed.group);
    println!("  custom robot:   {}", seed.custom_robot.webhook_url);
    if let Some(secret) = &seed.custom_robot.secret {
        println!("  robot secret:   {secret} (fake)");
    }
    println!("Point the gateway's DingTalk endpoints at {base}. Ctrl-C stops.");
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::error!(error = %e, "cannot listen for Ctrl-C");
    }
    sim.shutdown().await;
    Ok(())
}
