//! Fault suite, Stream connection: sockets cut mid-frame or before the ACK, a zombie socket,
//! a storm of server `disconnect` notices with refused reconnects. Each injects messages during the fault and ends
//! with every message answered exactly once (the offline model echoes each message's tag).

mod support;

use std::collections::HashSet;
use std::time::Duration;

use dingtalk_sim::{FrameCut, PushOutcome};
use support::faults::{self, Expect};
use support::world::{APP1, OPEN};
use support::{TIMEOUT, World, wait_until};

/// Connection ids the simulator ever saw for APP1.
fn connection_ids(world: &World) -> HashSet<String> {
    world
        .sim
        .connections()
        .into_iter()
        .filter(|c| c.app == APP1)
        .map(|c| c.connection_id)
        .collect()
}

/// Waits until APP1 has an open connection that is not in `old`.
async fn wait_new_connection(world: &World, old: &HashSet<String>, what: &str) {
    wait_until(what, TIMEOUT, || {
        world
            .sim
            .open_connections(APP1)
            .into_iter()
            .find(|c| !old.contains(&c.connection_id) && !c.zombie && !c.draining)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_cut_mid_frame_or_before_the_ack_is_redelivered_and_answered_once() {
    let world = World::start().await;
    let config = world.write_config(&world.config(OPEN, ""));
    let gateway = world.start_gateway(&config).await;
    let mut asked = Vec::new();
    let mut cut = Vec::new();
    for round in 0..6 {
        let how = if round % 2 == 0 {
            FrameCut::AfterFrame
        } else {
            FrameCut::MidFrame
        };
        let before = connection_ids(&world);
        assert_eq!(world.sim.cut_next_frame(APP1, how), 1, "one connection to cut");
        let a = faults::ask(&world, "cut", 2 * round);
        cut.push((a.clone(), how));
        asked.push(a);
        wait_new_connection(&world, &before, "the gateway to reconnect after the cut").await;
        // And one on the fresh connection, which must flow normally.
        asked.push(faults::ask(&world, "cut", 2 * round + 1));
    }
    let db = world.state_dir().join("clawtalk.db");
    faults::assert_settled_once(&world, &db, &asked, TIMEOUT, |_| Expect::Answer).await;
    for (a, how) in &cut {
        let d = world.sim.delivery(&a.msg_id).expect("the delivery is recorded");
        assert_eq!(
            d.pushes[0].outcome,
            PushOutcome::ConnectionClosed,
            "{} ({how:?}): the first push died with its socket: {d:#?}",
            a.tag
        );
        assert!(d.pushes.len() >= 2, "{}: redelivered: {d:#?}", a.tag);
    }
    for a in &asked {
        assert_eq!(
            world.requests_for(&a.tag).len(),
            1,
            "{}: one turn per message, however often it was delivered",
            a.tag
        );
    }
    // A frame that arrived whole before the cut was stored, and its redelivery recognised.
    assert!(
        gateway.log().contains("duplicate delivery acknowledged"),
        "the msgId dedup was exercised"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zombie_socket_is_replaced_and_what_it_swallowed_is_answered_once() {
    let world = World::start().await;
    let extra = format!("{OPEN} streamIdleTimeoutSeconds: 3,");
    let config = world.write_config(&world.config(&extra, ""));
    let mut gateway = world.start_gateway(&config).await;
    let mut asked = faults::ask_many(&world, "zombie", 0, 2);
    faults::wait_all_replied(&world, &asked, TIMEOUT).await;

    let before = connection_ids(&world);
    assert_eq!(world.sim.set_zombie(APP1, true), 1);
    // Swallowed by the zombie: no frame reaches the gateway until it reconnects.
    asked.extend(faults::ask_many(&world, "zombie", 2, 5));
    wait_new_connection(&world, &before, "the gateway to give up on the silent socket").await;
    gateway.assert_running();
    asked.extend(faults::ask_many(&world, "zombie", 7, 3));

    let db = world.state_dir().join("clawtalk.db");
    faults::assert_settled_once(&world, &db, &asked, TIMEOUT, |_| Expect::Answer).await;
    for a in &asked[2..7] {
        let d = world.sim.delivery(&a.msg_id).expect("the delivery is recorded");
        assert_eq!(
            d.pushes[0].outcome,
            PushOutcome::TimedOut,
            "{}: the zombie swallowed the first push: {d:#?}",
            a.tag
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_disconnect_notices_loses_and_duplicates_nothing() {
    let world = World::start().await;
    let config = world.write_config(&world.config(OPEN, ""));
    let mut gateway = world.start_gateway(&config).await;
    let mut asked = Vec::new();
    let mut notices = 0;
    for i in 0..12 {
        if i == 6 {
            // Halfway, reconnecting fails too for a while.
            world.sim.fail_next_opens(2, 503);
        }
        notices += world.sim.send_disconnect(APP1);
        asked.push(faults::ask(&world, "storm", i));
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    gateway.assert_running();
    let db = world.state_dir().join("clawtalk.db");
    faults::assert_settled_once(&world, &db, &asked, TIMEOUT, |_| Expect::Answer).await;
    assert!(notices >= 4, "the storm reached several connections ({notices})");
    let opened = connection_ids(&world).len();
    assert!(
        opened > notices / 2,
        "the gateway kept reconnecting ({opened} connections)"
    );
    assert!(world.sim.violations().is_empty(), "{:#?}", world.sim.violations());
    let log = gateway.log();
    assert!(
        log.contains("cannot connect to DingTalk") && log.contains("keeps retrying"),
        "the refused reconnects happened and were logged as passing trouble"
    );
}
