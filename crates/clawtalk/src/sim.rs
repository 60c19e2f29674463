//! `clawtalk sim`: the offline DingTalk simulator for people, seeded with a demo organisation.

use std::net::SocketAddr;

use anyhow::Context;
use dingtalk_sim::{AppSpec, GroupSpec, SimConfig, Simulator, UserSpec};

/// The demo bot's credentials. They only exist inside the simulator.
pub const DEMO_CLIENT_ID: &str = "dingdemoclawtalkbot01";
pub const DEMO_CLIENT_SECRET: &str = "demo-secret-only-valid-in-the-simulator";

/// Creates the demo bot, three colleagues and a group the bot is in.
pub fn seed_demo(sim: &Simulator) -> anyhow::Result<String> {
    sim.create_app(AppSpec::new(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET).name("ClawTalk"))
        .context("creating the demo app")?;
    let people = [
        ("0312454236781234", "Alice Zhang"),
        ("0298765432109876", "Bob Li"),
        ("0377001122334455", "Chen Wei"),
    ];
    for (staff_id, nick) in people {
        sim.create_user(UserSpec::new(staff_id, nick))
            .with_context(|| format!("creating user {nick}"))?;
    }
    let group = sim
        .create_group(
            GroupSpec::new("ClawTalk Demo Group", people.map(|(id, _)| id)).with_bot(DEMO_CLIENT_ID),
        )
        .context("creating the demo group")?;
    Ok(group.open_conversation_id)
}

pub async fn run(addr: SocketAddr) -> anyhow::Result<()> {
    let sim = Simulator::start_on(addr, SimConfig::default())
        .await
        .with_context(|| format!("starting the simulator on {addr} (is the port free? use --addr)"))?;
    let group = seed_demo(&sim)?;
    let base = sim.base_url();
    println!("DingTalk simulator running at {base}");
    println!("  chat page:        {base}");
    println!("  control API:      {base}_sim/");
    // Simulator-only credentials: printing them is how people connect a client to the demo.
    println!("  demo bot:         clientId {DEMO_CLIENT_ID}, clientSecret {DEMO_CLIENT_SECRET}");
    println!("  demo group:       {group}");
    println!("Point a Stream client at {base} (it serves api and oapi). Ctrl-C stops.");
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    sim.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn demo_seed_gives_a_bot_in_a_group() {
        let sim = Simulator::start().await.unwrap();
        let group = seed_demo(&sim).unwrap();
        let groups = sim.groups();
        let demo = groups.iter().find(|g| g.open_conversation_id == group).unwrap();
        assert_eq!(demo.members.len(), 3);
        assert!(demo.bots.iter().any(|b| b == DEMO_CLIENT_ID));
        sim.shutdown().await;
    }
}
