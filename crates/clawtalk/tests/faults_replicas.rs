//! Fault suite, replicas: two gateway processes share one store (SQLite in WAL mode, leased
//! turns); one is SIGKILLed under load. The survivor takes over the dead one's turns once
//! their leases lapse, DingTalk redelivers what the dead one had not acknowledged, and every
//! message is answered exactly once.

mod support;

use std::time::Duration;

use llm_mock::Script;
use support::faults::{self, Expect};
use support::process::GatewayProcess;
use support::world::{APP1, ConfigExtras, OPEN};
use support::{TIMEOUT, World, WorldOptions, db, wait_until_async};

const REPLICAS: [&str; 2] = ["replica-a", "replica-b"];

async fn launch(world: &World, config: &std::path::Path, instance: &str) -> GatewayProcess {
    let env = [("CLAWTALK_INSTANCE".to_owned(), instance.to_owned())];
    world.launch(Some(config), &env, &[APP1]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_under_load_is_taken_over_and_every_message_answered_once() {
    let world = World::start_with(WorldOptions {
        model_delays: true,
        ..WorldOptions::default()
    })
    .await;
    let config = world.write_config(&world.config_with(&ConfigExtras {
        channels: OPEN,
        gateway: "turnLeaseSeconds: 3,",
        ..ConfigExtras::default()
    }));
    let mut victim = launch(&world, &config, REPLICAS[0]).await;
    let mut survivor = launch(&world, &config, REPLICAS[1]).await;
    let db = world.state_dir().join("clawtalk.db");

    // Slow answers: every turn is still at the model when the victim dies, so nothing is
    // half sent (a kill between DingTalk's "ok" and the store's record is the one window
    // where exactly-once cannot be promised; see e2e_crash).
    let n = 16;
    for i in 0..n {
        let tag = faults::tag("load", i);
        world.model.push(
            Script::text(format!("The answer to {tag}."))
                .delay(Duration::from_secs(4), Duration::ZERO)
                .when_last_user_contains(tag),
        );
    }
    let mut asked = faults::ask_many(&world, "load", 0, n);
    // The sim spreads the pushes over both connections at random: wait until both replicas
    // hold turns, and all are at the model.
    wait_until_async("both replicas to run turns", TIMEOUT, || {
        let db = db.clone();
        let all_asked = asked.iter().all(|a| !world.requests_for(&a.tag).is_empty());
        async move {
            let owners = db::running_by_owner(&db).await;
            let both = REPLICAS.iter().all(|r| owners.get(*r).copied().unwrap_or(0) > 0);
            (all_asked && both).then_some(())
        }
    })
    .await;
    assert!(world.sim.sent_messages().is_empty(), "nothing answered yet");
    victim.kill();
    let orphaned = db::running_by_owner(&db).await[REPLICAS[0]];

    // The load goes on: everything now reaches the survivor.
    asked.extend(faults::ask_many(&world, "after", 0, 6));
    faults::assert_settled_once(&world, &db, &asked, TIMEOUT * 2, |_| Expect::Answer).await;
    survivor.assert_running();
    assert!(orphaned > 0, "the victim died holding turns");
    assert!(survivor.log().contains("turn answered"), "the survivor answered");
}
