//! The Stream client keeps its connection through 100 socket drops and 10 `disconnect`
//! rotations, and every injected message reaches the caller exactly once after dedup by msgId.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dingtalk::stream::StreamEvent;
use dingtalk_sim::{DeliveryStatus, InjectMessage, SimConfig};
use support::*;

const DROPS: usize = 100;
const ROTATIONS: usize = 10;
const MESSAGES_PER_FAULT: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_100_drops_and_10_rotations_with_every_message_exactly_once() {
    let config = SimConfig::fast()
        .with_ping_interval(Duration::from_millis(50))
        .with_redelivery_timeout(Duration::from_millis(250))
        .with_disconnect_grace(Duration::from_millis(60))
        .with_max_delivery_attempts(10_000);
    let (sim, group) = sim(config).await;
    let (handle, mut events) = spawn(fast_client(&sim));

    // The "gateway": dedup by (robotCode, msgId) before handling, then ACK.
    let handled: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let raw_frames = Arc::new(Mutex::new(0usize));
    let consumer = {
        let handled = Arc::clone(&handled);
        let raw_frames = Arc::clone(&raw_frames);
        tokio::spawn(async move {
            let mut seen = HashSet::new();
            while let Some(event) = events.recv().await {
                if let StreamEvent::Frame(delivery) = event {
                    *raw_frames.lock().unwrap() += 1;
                    let message = bot_message(&delivery);
                    let key = message.dedup_key();
                    if seen.insert(key.clone()) {
                        *handled
                            .lock()
                            .unwrap()
                            .entry(key.1.as_str().to_owned())
                            .or_default() += 1;
                    }
                    // An ACK onto a socket that just died is fine: DingTalk redelivers.
                    let _ = delivery.acker().ok();
                }
            }
        })
    };

    let mut injected = Vec::new();
    let (mut drops, mut rotations, mut round) = (0, 0, 0usize);
    while drops < DROPS || rotations < ROTATIONS {
        wait_for_live_connection(&sim).await;
        for k in 0..MESSAGES_PER_FAULT {
            let text = format!("round {round} message {k}");
            let message = if k % 2 == 0 {
                InjectMessage::dm_text(APP, ALICE, text)
            } else {
                InjectMessage::group_text(APP, BOB, &group, text, true)
            };
            injected.push(sim.inject_message(&message).unwrap().msg_id);
        }
        // Every 11th fault is a graceful rotation, the rest are abrupt drops.
        if round % 11 == 10 && rotations < ROTATIONS {
            if sim.send_disconnect(APP) > 0 {
                rotations += 1;
                // Let the client read the notice before the next drop: a drop landing first
                // would hide the notice (the client reconnects for the drop instead), which
                // a loaded machine makes likely.
                let seen = tokio::time::timeout(Duration::from_secs(5), async {
                    while handle.stats().disconnect_notices < rotations as u64 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                })
                .await;
                assert!(seen.is_ok(), "the client never saw disconnect notice {rotations}");
            }
        } else if drops < DROPS && sim.drop_connections(APP) > 0 {
            drops += 1;
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let expected: HashSet<String> = injected.iter().cloned().collect();
    assert_eq!(expected.len(), injected.len(), "msgIds are unique");
    let all_handled = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if handled.lock().unwrap().len() == expected.len() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let handled_now = handled.lock().unwrap().clone();
    let missing: Vec<_> = expected
        .iter()
        .filter(|id| !handled_now.contains_key(*id))
        .collect();
    assert!(
        all_handled.is_ok(),
        "{} of {} messages never arrived: {missing:?}",
        missing.len(),
        expected.len()
    );
    assert!(
        handled_now.values().all(|&n| n == 1),
        "a message was handled twice"
    );
    assert_eq!(handled_now.keys().cloned().collect::<HashSet<_>>(), expected);

    // The simulator saw every message acknowledged.
    for id in &injected {
        sim.wait_for_delivery(id, DeliveryStatus::Acked, Duration::from_secs(10))
            .await
            .unwrap();
    }
    let stats = handle.stats();
    assert!(stats.connects > (DROPS + ROTATIONS) as u64, "{stats:?}");
    assert_eq!(stats.disconnect_notices, ROTATIONS as u64);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    let raw = *raw_frames.lock().unwrap();
    eprintln!(
        "{} messages, {raw} frames received ({} redeliveries deduplicated), {} connections",
        expected.len(),
        raw - expected.len(),
        stats.connects
    );
    handle.shutdown().await;
    consumer.await.unwrap();
}

/// Waits until the app has an open connection that is not draining after a `disconnect`,
/// so that every fault hits the connection new pushes go to.
async fn wait_for_live_connection(sim: &dingtalk_sim::Simulator) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !sim.open_connections(APP).iter().any(|c| !c.draining) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the client reconnects");
}
