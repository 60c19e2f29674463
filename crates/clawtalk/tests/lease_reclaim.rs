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
    wait_until_asked(&model, "the model was never asked").await;
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
    let gateway = start_on_postgres(&sim, &model, dir.path(), &schema, "lease-test").await;
    sim.wait_for_connections(APP, 1, Duration::from_secs(10))
        .await
        .expect("connected");

    let mut holder = hold_table(&schema, "sessions").await;
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
    release_past_the_lease_then_expect_one_answer(&mut holder, &mut reader, &sim, &model, 1, 1).await;
    gateway.shutdown(Duration::from_secs(5)).await;
}

/// A turn taken over from a replica that stopped mid-run first reads what that run left in
/// the outbox. The read can wait longer than a lease (here the outbox is held, as a burst's
/// writes can hold it); the turn renews its lease meanwhile. Left unrenewed, the lease was
/// found lapsing once the read came back, and the turn was given up before it had done
/// anything, to be claimed a third time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_over_turn_kept_waiting_longer_than_its_lease_to_read_its_earlier_run_keeps_the_lease() {
    let Some(schema) = pg::TestSchema::create("lease_while_resuming").await else {
        return;
    };
    let (sim, model) = sim_and_model().await;
    // The first replica stops before this answer comes.
    model.push(Script::text("never shown").delay(Duration::from_secs(60), Duration::ZERO));
    model.push(Script::text("the one answer"));
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    );
    let first = start_on_postgres(&sim, &model, dir_a.path(), &schema, "replica-a").await;
    sim.wait_for_connections(APP, 1, Duration::from_secs(10))
        .await
        .expect("connected");
    sim.inject_message(&InjectMessage::dm_text(APP, USER, "hello"))
        .expect("inject");
    let mut reader = PgConnection::connect(&schema.url()).await.expect("connect");
    wait_until_asked(&model, "the first replica never asked the model").await;
    // Its turn stays running under its lease, as a replica that died leaves it; the lease is
    // stretched so that the second replica only takes the turn over once told to.
    first.shutdown(Duration::from_millis(100)).await;
    set_running_lease(&mut reader, 60_000).await;

    let second = start_on_postgres(&sim, &model, dir_b.path(), &schema, "replica-b").await;
    // Its start and first sweep read the outbox; then the outbox is held, and the lease
    // lapses for its next sweep to find.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut holder = hold_table(&schema, "outbox").await;
    set_running_lease(&mut reader, -1).await;
    let taken_over = tokio::time::timeout(Duration::from_secs(15), async {
        while claims_of_running(&mut reader).await != Some(2) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(taken_over.is_ok(), "the second replica never took the turn over");
    release_past_the_lease_then_expect_one_answer(&mut holder, &mut reader, &sim, &model, 2, 2).await;
    second.shutdown(Duration::from_secs(5)).await;
}

/// How many times the running turn was claimed, if one runs.
async fn claims_of_running(reader: &mut PgConnection) -> Option<i64> {
    sqlx::query_scalar("SELECT max(attempts) FROM inbox WHERE status = 'running'")
        .fetch_one(reader)
        .await
        .expect("read the inbox")
}

/// Sets the running turn's lease to expire `from_now_ms` after now.
async fn set_running_lease(conn: &mut PgConnection, from_now_ms: i64) {
    sqlx::query(
        "UPDATE inbox SET lease_expires_at_ms = (extract(epoch FROM clock_timestamp()) * 1000)::bigint + $1 \
         WHERE status = 'running'",
    )
    .bind(from_now_ms)
    .execute(conn)
    .await
    .expect("set the lease");
}

/// Keeps `holder`'s lock until well past the 3-second lease the running turn's claim stored,
/// releases it, and expects the one answer, sent once, by a turn claimed `claims` times in
/// all, with the model asked `asked` times in all.
async fn release_past_the_lease_then_expect_one_answer(
    holder: &mut PgConnection,
    reader: &mut PgConnection,
    sim: &Simulator,
    model: &MockModel,
    claims: i64,
    asked: u64,
) {
    tokio::time::sleep(Duration::from_secs(5)).await;
    sqlx::query("ROLLBACK")
        .execute(&mut *holder)
        .await
        .expect("release");
    let sent = sim
        .wait_for_sent(1, Duration::from_secs(20))
        .await
        .expect("the answer");
    assert!(sent[0].text.contains("the one answer"), "{}", sent[0].text);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let most: i64 = sqlx::query_scalar("SELECT max(attempts) FROM inbox")
        .fetch_one(reader)
        .await
        .expect("read the inbox");
    assert_eq!(most, claims, "the turn was given up and claimed again");
    assert_eq!(model.request_count(), asked, "the model was asked again");
    assert_eq!(
        sim.sent_count(),
        1,
        "answered more than once: {:?}",
        sim.sent_messages()
    );
}

/// A gateway named `worker` on the PostgreSQL schema, with the system clock.
async fn start_on_postgres(
    sim: &Simulator,
    model: &MockModel,
    state: &std::path::Path,
    schema: &pg::TestSchema,
    worker: &str,
) -> Gateway {
    let store: Arc<dyn Store> = Arc::new(PgStore::open(&schema.url()).await.expect("store"));
    Gateway::start_at(
        config(sim, model, state),
        store,
        worker,
        None,
        Arc::new(SystemClock),
    )
    .await
    .expect("gateway")
}

/// Waits (up to 10 s) for the model's first request; `never` says what failed otherwise.
async fn wait_until_asked(model: &MockModel, never: &str) {
    let asked = tokio::time::timeout(Duration::from_secs(10), async {
        while model.request_count() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(asked.is_ok(), "{never}");
}

/// A connection holding `table` (one of this file's literal names) locked against every other
/// statement, reads included, until it rolls back.
async fn hold_table(schema: &pg::TestSchema, table: &'static str) -> PgConnection {
    let mut holder = PgConnection::connect(&schema.url()).await.expect("connect");
    sqlx::query("BEGIN").execute(&mut holder).await.expect("begin");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut holder)
    .await
    .unwrap_or_else(|e| panic!("hold {table}: {e}"));
    holder
}
