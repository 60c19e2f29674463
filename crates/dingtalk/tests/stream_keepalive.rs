//! Keepalive of the Stream client under paused time, with the client's default timings (ping
//! after 20 s of silence, dead after 30 s): a server that answers pings keeps one connection
//! for an hour, whether or not it sends SYSTEM pings of its own (DingTalk does not document
//! whether or how often it does); a server that stops answering is replaced within the idle
//! timeout.

mod support;

use std::time::Duration;

use dingtalk::ids::ClientId;
use dingtalk::stream::{Backoff, CloseReason, StreamConfig, StreamEvent, StreamEvents};
use dingtalk_sim::SimConfig;
use support::*;
use tokio::time::Instant;

const HOUR: Duration = Duration::from_secs(3600);

/// The library defaults, with nothing that could let paused time jump ahead while a request
/// waits on I/O (a connect timeout is a pending timer).
fn default_client(sim: &dingtalk_sim::Simulator) -> StreamConfig {
    let mut config = StreamConfig::new(ClientId::new(APP), SECRET, sim.endpoints());
    config.connect_timeout = None;
    config.backoff = Backoff {
        initial: Duration::from_millis(5),
        max: Duration::from_millis(50),
        multiplier: 2.0,
        jitter: 0.2,
    };
    config
}

/// Runs an idle hour against a sim sending SYSTEM pings every `system_pings` (zero: never) and
/// checks that the first connection lived through it.
async fn idles_an_hour(system_pings: Duration) {
    let (sim, _) = sim(SimConfig::fast().with_ping_interval(system_pings)).await;
    let (handle, mut events) = spawn(default_client(&sim));
    next_connected(&mut events, Duration::from_secs(60)).await;

    tokio::time::sleep(HOUR).await;

    let stats = handle.stats();
    assert_eq!((stats.connects, stats.zombies), (1, 0), "{stats:?}");
    assert_eq!(sim.open_log().len(), 1, "reconnected: {:?}", sim.open_log());
    let connections = sim.connections();
    assert_eq!(connections.len(), 1, "{connections:?}");
    assert!(connections[0].is_open(), "{:?}", connections[0]);
    if system_pings.is_zero() {
        // Kept alive by its own pings alone: at least one per 20 s of silence.
        assert!(connections[0].ws_pings_received >= 170, "{:?}", connections[0]);
        assert_eq!(connections[0].pings_sent, 0);
    } else {
        assert!(connections[0].pings_echoed > 0, "{:?}", connections[0]);
    }
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    handle.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_responsive_server_without_system_pings_keeps_one_connection_for_an_hour() {
    idles_an_hour(Duration::ZERO).await;
}

#[tokio::test(start_paused = true)]
async fn a_responsive_server_with_sparse_system_pings_keeps_one_connection_for_an_hour() {
    // Sparser than the idle timeout: the client's own pings still carry the connection.
    idles_an_hour(Duration::from_secs(45)).await;
}

#[tokio::test(start_paused = true)]
async fn a_responsive_server_with_frequent_system_pings_keeps_one_connection_for_an_hour() {
    idles_an_hour(Duration::from_secs(10)).await;
}

#[tokio::test(start_paused = true)]
async fn a_server_that_stops_answering_is_replaced_within_the_idle_timeout() {
    let (sim, _) = sim(SimConfig::fast().with_ping_interval(Duration::ZERO)).await;
    let config = default_client(&sim);
    let idle_timeout = config.idle_timeout;
    let (handle, mut events) = spawn(config);
    next_connected(&mut events, Duration::from_secs(60)).await;
    // Healthy for a while, then silent: no frames, no pongs.
    tokio::time::sleep(Duration::from_secs(95)).await;
    assert_eq!(sim.set_zombie(APP, true), 1);
    let silent_from = Instant::now();

    let reason = next_close(&mut events).await;
    let after = silent_from.elapsed();
    assert_eq!(reason, CloseReason::Zombie);
    assert!(
        after <= idle_timeout,
        "declared dead {after:?} after it went silent"
    );
    next_connected(&mut events, Duration::from_secs(60)).await;
    let stats = handle.stats();
    assert_eq!((stats.connects, stats.zombies), (2, 1), "{stats:?}");
    handle.shutdown().await;
}

async fn next_close(events: &mut StreamEvents) -> CloseReason {
    loop {
        if let StreamEvent::Disconnected { reason, .. } = events.recv().await.expect("client is running") {
            return reason;
        }
    }
}
