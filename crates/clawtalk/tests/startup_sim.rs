//! When start-up is over: `Gateway::first_connections_done` resolves once every Stream
//! account's first connection attempt ended, whether it connected or failed, and not before.
//! The gateway releases its start-up pages then (`memory::release_startup_pages`).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clawtalk_gateway::Gateway;
use clawtalk_store::{SqliteStore, Store};
use dingtalk_sim::{AppSpec, SimConfig, Simulator};
use llm_mock::MockModel;
use support::in_process;

const APP: &str = "dingstartupbot0000001";
const SECRET: &str = "startup-secret-not-real";
/// Far longer than any attempt here takes: resolving near it would mean it timed out.
const LIMIT: Duration = Duration::from_secs(20);

/// A simulator with the bot's app, a mock model and a state directory.
async fn world() -> (Simulator, MockModel, tempfile::TempDir) {
    let sim = Simulator::start_with(SimConfig::default()).await.unwrap();
    sim.create_app(AppSpec::new(APP, SECRET)).unwrap();
    let model = MockModel::builder().start().await.unwrap();
    (sim, model, tempfile::tempdir().unwrap())
}

async fn gateway(sim: &Simulator, model: &MockModel, secret: &str, dir: &tempfile::TempDir) -> Gateway {
    let config = in_process::config(&in_process::config_text(
        sim,
        model,
        (APP, secret),
        dir.path(),
        "",
    ));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
    Gateway::start(config, store, "startup-test").await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_ends_when_the_stream_is_connected() {
    let (sim, model, dir) = world().await;
    // The first open waits, so the attempt is still going when the wait starts.
    sim.set_api_latency("/v1.0/gateway/connections/open", Duration::from_millis(1_000));
    let gateway = gateway(&sim, &model, SECRET, &dir).await;
    let started = Instant::now();
    gateway.first_connections_done(LIMIT).await;
    let waited = started.elapsed();
    assert_eq!(sim.open_connections(APP).len(), 1, "connected when it resolved");
    assert!(
        waited >= Duration::from_millis(300) && waited < LIMIT / 2,
        "waited for the connection, not the limit: {waited:?}"
    );
    gateway.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_ends_when_the_first_connection_fails() {
    let (sim, model, dir) = world().await;
    let gateway = gateway(&sim, &model, "not-the-secret", &dir).await;
    let started = Instant::now();
    gateway.first_connections_done(LIMIT).await;
    let waited = started.elapsed();
    assert!(sim.open_connections(APP).is_empty());
    assert!(
        waited < LIMIT / 2,
        "a refused connection ends start-up too: {waited:?}"
    );
    gateway.shutdown(Duration::from_secs(5)).await;
}
