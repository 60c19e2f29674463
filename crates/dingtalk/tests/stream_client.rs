//! The Stream client against the simulator: ACKs, pings, rotation, zombies, redelivery, backoff.

mod support;

use std::time::Duration;

use dingtalk::model::Inbound;
use dingtalk::stream::{CloseReason, StreamEvent};
use dingtalk_sim::{DeliveryStatus, InjectEvent, InjectMessage, PushOutcome, SimConfig};
use support::*;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn callback_is_acked_on_the_connection_that_carried_it() {
    let (sim, _) = sim(SimConfig::fast()).await;
    let (handle, mut events) = spawn(fast_client(&sim));
    next_connected(&mut events, WAIT).await;
    sim.wait_for_connections(APP, 1, WAIT).await.unwrap();

    let injected = sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "hello bot"))
        .unwrap();
    let delivery = next_frame(&mut events, WAIT).await;
    let message = bot_message(&delivery);
    assert_eq!(message.msg_id.as_str(), injected.msg_id);
    assert_eq!(message.plain_text(), "hello bot");

    // Nothing is acknowledged until the caller says so.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        sim.delivery(&injected.msg_id).unwrap().status,
        DeliveryStatus::InFlight
    );

    delivery.acker().ok().unwrap();
    let acked = sim
        .wait_for_delivery(&injected.msg_id, DeliveryStatus::Acked, WAIT)
        .await
        .unwrap();
    assert_eq!(acked.pushes.len(), 1);
    assert_eq!(acked.pushes[0].ack_code, Some(200));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    handle.shutdown().await;
}

#[tokio::test]
async fn events_are_acked_with_success_status() {
    let (sim, _) = sim(SimConfig::fast()).await;
    let (handle, mut events) = spawn(fast_client(&sim));
    sim.wait_for_connections(APP, 1, WAIT).await.unwrap();
    let data =
        serde_json::json!({"processInstanceId": "p1", "type": "finish", "result": "agree", "staffId": ALICE});
    let key = sim
        .inject_event(&InjectEvent::new(APP, "bpms_instance_change", data))
        .unwrap();
    let delivery = next_frame(&mut events, WAIT).await;
    match delivery.frame.classify().unwrap() {
        Inbound::Event(event) => assert_eq!(
            event.envelope.event_id.as_ref().map(|id| id.as_str()),
            Some(key.as_str())
        ),
        other => panic!("expected an event, got {other:?}"),
    }
    delivery.acker().ok().unwrap();
    let acked = sim
        .wait_for_delivery(&key, DeliveryStatus::Acked, WAIT)
        .await
        .unwrap();
    let data: serde_json::Value = serde_json::from_str(acked.pushes[0].ack_data.as_deref().unwrap()).unwrap();
    assert_eq!(data["status"], "SUCCESS");
    handle.shutdown().await;
}

#[tokio::test]
async fn pings_are_echoed() {
    let (sim, _) = sim(SimConfig::fast().with_ping_interval(Duration::from_millis(30))).await;
    let (handle, _events) = spawn(fast_client(&sim));
    sim.wait_for_connections(APP, 1, WAIT).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pings = sim.pings();
    let echoed = pings.iter().filter(|p| p.echoed == Some(true)).count();
    assert!(echoed >= 5, "only {echoed} of {} pings echoed", pings.len());
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    assert!(handle.stats().pings >= 5);
    handle.shutdown().await;
}

#[tokio::test]
async fn disconnect_opens_the_replacement_before_the_old_socket_closes() {
    let (sim, _) = sim(SimConfig::fast().with_disconnect_grace(Duration::from_millis(300))).await;
    let (handle, mut events) = spawn(fast_client(&sim));
    next_connected(&mut events, WAIT).await;
    let first = sim.wait_for_connections(APP, 1, WAIT).await.unwrap().remove(0);

    assert_eq!(sim.send_disconnect(APP), 1);
    next_connected(&mut events, WAIT).await;
    let closed = sim.wait_for_close(&first.connection_id, WAIT).await.unwrap();
    let second = sim
        .connections()
        .into_iter()
        .find(|c| c.connection_id != first.connection_id)
        .expect("a replacement connection");
    assert!(
        closed.disconnect_acked,
        "the disconnect frame must be acknowledged"
    );
    // With JSON text in `data`, like every ACK (the sim flags an empty or non-JSON `data`).
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    assert!(
        second.opened_at_ms < closed.closed_at_ms.unwrap(),
        "replacement opened at {} ms, old closed at {} ms",
        second.opened_at_ms,
        closed.closed_at_ms.unwrap()
    );
    // Two tickets were used: one per connection.
    assert_eq!(sim.open_log().len(), 2);

    // Messages flow on the new connection.
    let injected = sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "after rotation"))
        .unwrap();
    let delivery = next_frame(&mut events, WAIT).await;
    assert_eq!(bot_message(&delivery).msg_id.as_str(), injected.msg_id);
    delivery.acker().ok().unwrap();
    sim.wait_for_delivery(&injected.msg_id, DeliveryStatus::Acked, WAIT)
        .await
        .unwrap();
    handle.shutdown().await;
}

#[tokio::test]
async fn a_silent_socket_is_detected_and_replaced() {
    let (sim, _) = sim(SimConfig::fast().with_ping_interval(Duration::from_secs(3600))).await;
    let (handle, mut events) = spawn(fast_client(&sim));
    next_connected(&mut events, WAIT).await;
    let first = sim.wait_for_connections(APP, 1, WAIT).await.unwrap().remove(0);
    assert_eq!(sim.set_zombie(APP, true), 1);

    let reason = next_disconnected(&mut events, WAIT).await;
    assert_eq!(reason, CloseReason::Zombie);
    next_connected(&mut events, WAIT).await;
    assert_eq!(handle.stats().zombies, 1);

    // A message injected now reaches the fresh connection, not the zombie.
    let injected = sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "still there?"))
        .unwrap();
    let delivery = next_frame(&mut events, WAIT).await;
    assert_eq!(bot_message(&delivery).msg_id.as_str(), injected.msg_id);
    let pushed_to = &sim.delivery(&injected.msg_id).unwrap().pushes[0].connection_id;
    assert_ne!(pushed_to, &first.connection_id);
    handle.shutdown().await;
}

#[tokio::test]
async fn an_unacked_callback_is_redelivered_with_a_new_message_id_and_the_same_msg_id() {
    let (sim, _) = sim(SimConfig::fast().with_redelivery_timeout(Duration::from_millis(150))).await;
    let (handle, mut events) = spawn(fast_client(&sim));
    sim.wait_for_connections(APP, 1, WAIT).await.unwrap();
    let injected = sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "ack me later"))
        .unwrap();

    let first = next_frame(&mut events, WAIT).await;
    drop(first); // never acknowledged
    let second = next_frame(&mut events, WAIT).await;
    assert_eq!(bot_message(&second).msg_id.as_str(), injected.msg_id);
    second.acker().ok().unwrap();

    let delivery = sim
        .wait_for_delivery(&injected.msg_id, DeliveryStatus::Acked, WAIT)
        .await
        .unwrap();
    let ids = delivery.message_ids();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert_eq!(delivery.pushes[0].outcome, PushOutcome::TimedOut);
    assert_eq!(delivery.pushes[1].outcome, PushOutcome::Acked);
    assert_eq!(second.frame.headers.message_id.as_ref().unwrap().as_str(), ids[1]);
    handle.shutdown().await;
}

#[tokio::test]
async fn ack_after_the_socket_died_fails_and_the_frame_comes_back() {
    let (sim, _) = sim(SimConfig::fast()).await;
    let (handle, mut events) = spawn(fast_client(&sim));
    sim.wait_for_connections(APP, 1, WAIT).await.unwrap();
    let injected = sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "racing a drop"))
        .unwrap();
    let first = next_frame(&mut events, WAIT).await;
    sim.drop_connections(APP);
    // Wait until the client has noticed, then the late ACK has nowhere to go.
    next_disconnected(&mut events, WAIT).await;
    assert!(first.acker().ok().is_err());
    let again = next_frame(&mut events, WAIT).await;
    assert_eq!(bot_message(&again).msg_id.as_str(), injected.msg_id);
    again.acker().ok().unwrap();
    sim.wait_for_delivery(&injected.msg_id, DeliveryStatus::Acked, WAIT)
        .await
        .unwrap();
    handle.shutdown().await;
}

#[tokio::test]
async fn wrong_secret_is_reported_and_retried_with_backoff() {
    let (sim, _) = sim(SimConfig::fast()).await;
    let mut config = fast_client(&sim);
    config.client_secret = "not-the-secret".into();
    let (handle, mut events) = spawn(config);
    let error = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(StreamEvent::ConnectFailed {
                error, failures: 2, ..
            }) = events.recv().await
            {
                return error;
            }
        }
    })
    .await
    .unwrap();
    // DingTalk's answer is HTTP 401 `authFailed` (zfanswer/dify-on-dingtalk#28).
    assert!(error.is_wrong_credentials(), "{error}");
    let text = error.to_string();
    assert!(text.contains("HTTP 401") && text.contains("authFailed"), "{text}");
    assert!(text.contains("Wrong Client ID / Client Secret"), "{text}");
    assert!(!text.contains("not-the-secret"), "secret leaked: {text}");
    handle.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn failed_opens_back_off_exponentially_under_paused_time() {
    let (sim, _) = sim(SimConfig::fast().with_ping_interval(Duration::from_secs(3600))).await;
    sim.fail_next_opens(6, 503);
    let mut config = fast_client(&sim);
    config.backoff = dingtalk::stream::Backoff::default();
    // Any pending timer lets paused time jump ahead while a request waits on I/O.
    config.connect_timeout = None;
    config.idle_timeout = Duration::from_secs(3600);
    config.ping_interval = Duration::from_secs(3600);
    let (handle, mut events) = spawn(config);

    let started = tokio::time::Instant::now();
    let mut retries = Vec::new();
    loop {
        match events.recv().await.unwrap() {
            StreamEvent::ConnectFailed {
                failures, retry_in, ..
            } => {
                retries.push((failures, retry_in, started.elapsed()));
            }
            StreamEvent::Connected { .. } => break,
            _ => {}
        }
    }
    assert_eq!(retries.len(), 6);
    let mut slept = Duration::ZERO;
    for (i, (failures, retry_in, at)) in retries.iter().enumerate() {
        let n = u32::try_from(i + 1).unwrap();
        assert_eq!(*failures, n);
        let base = 2f64.powi(i32::try_from(i).unwrap()).min(60.0);
        let secs = retry_in.as_secs_f64();
        assert!(
            (base * 0.8..=base * 1.2).contains(&secs),
            "attempt {n}: {secs}s not within ±20% of {base}s"
        );
        // Each failure happens after the previous delay really elapsed.
        assert!(
            *at >= slept,
            "failure {n} at {at:?} before the {slept:?} of backoff so far"
        );
        slept += *retry_in;
    }
    assert!(
        started.elapsed() >= slept,
        "connected after {:?}, backoff total {slept:?}",
        started.elapsed()
    );
    handle.shutdown().await;
}
