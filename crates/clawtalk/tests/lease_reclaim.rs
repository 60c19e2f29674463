//! A turn whose lease lapses while this very process still runs it: under a burst its lease
//! renewals can wait behind thousands of store writes, and the sweep then finds the turn
//! "orphaned". It must leave the turn to the run under way: a second run would ask the model
//! again and answer twice (in card mode, a second card while the first keeps typing).
//! And a turn whose first steps wait longer than a lease keeps its lease all the while.

use std::sync::Arc;
use std::time::Duration;

use clawtalk_config::Config;
use clawtalk_core::clock::{Clock, ManualClock, SystemClock};
use clawtalk_gateway::Gateway;
use clawtalk_store::{PgStore, SqliteStore, Store};
use dingtalk_sim::{AppSpec, InjectMessage, SimConfig, Simulator, UserSpec};
use llm_mock::{MockModel, Script};
use sqlx::{Connection as _, PgConnection};

#[path = "../../clawtalk-store/tests/support/pg.rs"]
#[allow(dead_code)] // Helpers for the store's own tests too.
mod pg;

const APP: &str = "dinglease0000000001";
const SECRET: &str = "lease-secret";
const USER: &str = "0456123456789012";

/// The simulator with the bot's app and one user, and the mock model.
async fn sim_and_model() -> (Simulator, MockModel) {
    let sim = Simulator::start_with(SimConfig::fast()).await.expect("simulator");
    sim.create_app(AppSpec::new(APP, SECRET)).expect("app");
    sim.create_user(UserSpec::new(USER, "User")).expect("user");
    let model = MockModel::start().await.expect("mock model");
    (sim, model)
}

/// An open DM policy and a 3-second lease, the shortest the configuration allows.
fn config(sim: &Simulator, model: &MockModel, state: &std::path::Path) -> Arc<Config> {
    let text = format!(
        r#"{{
          agents: {{ list: [ {{ id: "main", model: "mock/m" }} ] }},
          models: {{ providers: {{ mock: {{ baseUrl: "{}", apiKey: "k" }} }} }},
          channels: {{ dingtalk: {{ clientId: "{APP}", clientSecret: "{SECRET}", endpoints: "{}",
                                    dmPolicy: "open", allowFrom: ["*"] }} }},
          gateway: {{ turnLeaseSeconds: 3, stateDir: "{}" }},
        }}"#,
        model.base_url(),
        sim.base_url(),
        state.display()
    );
    let env = |name: &str| (name == "HOME").then(|| "/nonexistent".to_owned());
    Arc::new(Config::from_json5(&text, &env).expect("config").config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_leaves_a_turn_this_process_still_runs_to_that_run() {
    let (sim, model) = sim_and_model().await;
    model.push(Script::text("the one answer").delay(Duration::from_secs(4), Duration::ZERO));
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(&sim, &model, dir.path());
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(dir.path().join("state.db"))
            .await
            .expect("store"),
    );
    let clock = Arc::new(ManualClock::at(SystemClock.now()));
    let gateway = Gateway::start_at(
        config,
        store,
        "lease-test",
        None,
        Arc::clone(&clock) as Arc<dyn Clock>,
    )
    .await
    .expect("gateway");
    sim.wait_for_connections(APP, 1, Duration::from_secs(10))
        .await
        .expect("connected");

    sim.inject_message(&InjectMessage::dm_text(APP, USER, "hello"))
        .expect("inject");
    let asked = tokio::time::timeout(Duration::from_secs(10), async {
        while model.request_count() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(asked.is_ok(), "the model was never asked");
    // As the store sees it, time races (5 s every 50 ms): whenever the sweep looks (every
    // 1.5 s with a 3-second lease), the last renewal is long past, as when renewals wait
    // behind a burst of writes, while the model is still answering.
    let racing = {
        let clock = Arc::clone(&clock);
        tokio::spawn(async move {
            loop {
                clock.advance(Duration::from_secs(5));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let sent = sim
        .wait_for_sent(1, Duration::from_secs(20))
        .await
        .expect("the answer");
    assert!(sent[0].text.contains("the one answer"), "{}", sent[0].text);
    tokio::time::sleep(Duration::from_secs(3)).await;
    racing.abort();
    assert_eq!(
        model.request_count(),
        1,
        "the model was asked again for the same message"
    );
    assert_eq!(
        sim.sent_count(),
        1,
        "answered more than once: {:?}",
        sim.sent_messages()
    );
    gateway.shutdown(Duration::from_secs(5)).await;
}

/// The session's table is held for longer than a lease (as a burst's writes, or an operator's
/// long statement, can hold it) while a claimed turn opens its session. The turn renews its
/// lease meanwhile, as it does while the model answers: left to lapse, the lease would be
/// given up the moment the session opened, and the turn claimed and run a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_kept_waiting_longer_than_its_lease_to_open_its_session_keeps_the_lease() {
    let Some(schema) = pg::TestSchema::create("lease_while_preparing").await else {
        return;
    };
    let (sim, model) = sim_and_model().await;
    model.push(Script::text("the one answer"));
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(&sim, &model, dir.path());
    let store: Arc<dyn Store> = Arc::new(PgStore::open(&schema.url()).await.expect("store"));
    let gateway = Gateway::start_at(config, store, "lease-test", None, Arc::new(SystemClock))
        .await
        .expect("gateway");
    sim.wait_for_connections(APP, 1, Duration::from_secs(10))
        .await
        .expect("connected");

    let mut holder = PgConnection::connect(&schema.url()).await.expect("connect");
    sqlx::query("BEGIN").execute(&mut holder).await.expect("begin");
    sqlx::query("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .expect("hold the sessions table");
    sim.inject_message(&InjectMessage::dm_text(APP, USER, "hello"))
        .expect("inject");
    let mut reader = PgConnection::connect(&schema.url()).await.expect("connect");
    let claimed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let running: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox WHERE status = 'running'")
                .fetch_one(&mut reader)
                .await
                .expect("read the inbox");
            if running == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(claimed.is_ok(), "the message was never claimed");
    // Well past the 3-second lease the claim stored.
    tokio::time::sleep(Duration::from_secs(5)).await;
    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("release");

    let sent = sim
        .wait_for_sent(1, Duration::from_secs(20))
        .await
        .expect("the answer");
    assert!(sent[0].text.contains("the one answer"), "{}", sent[0].text);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let attempts: i64 = sqlx::query_scalar("SELECT max(attempts) FROM inbox")
        .fetch_one(&mut reader)
        .await
        .expect("read the inbox");
    assert_eq!(attempts, 1, "the turn was given up and claimed again");
    assert_eq!(model.request_count(), 1, "the model was asked again");
    assert_eq!(
        sim.sent_count(),
        1,
        "answered more than once: {:?}",
        sim.sent_messages()
    );
    gateway.shutdown(Duration::from_secs(5)).await;
}
