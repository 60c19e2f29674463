//! Fault suite, replicas: two gateway processes share one store (SQLite in WAL mode, or
//! PostgreSQL when `CLAWTALK_TEST_PG` is set; leased turns); one is SIGKILLed under load. The survivor takes over the dead one's turns once
//! their leases lapse, DingTalk redelivers what the dead one had not acknowledged, and every
//! message is answered exactly once, and an AI card the dead one was streaming is finished
//! by the survivor: one card per message, never a second one or one left "typing".

mod support;

use clawtalk_core::clock::EpochMs;
use clawtalk_core::ids::AccountId;
use std::time::Duration;

use clawtalk_config::Config;
use clawtalk_core::clock::{Clock, SystemClock};
use clawtalk_core::inbound::{InboundMessage, Transport};
use clawtalk_store::{InboundRecord, InboxStore, RecordOutcome, SqliteStore, Store};
use dingtalk::ids::RobotCode;
use dingtalk::model::BotMessage;
use dingtalk_sim::{Card, CardStatus};
use llm_mock::Script;
use support::faults::{self, Asked, Expect, StoreProbe};
use support::process::GatewayProcess;
use support::world::{ALICE, APP1, ConfigExtras, OPEN};
use support::{TIMEOUT, World, WorldOptions, pg, wait_until, wait_until_async};

const REPLICAS: [&str; 2] = ["replica-a", "replica-b"];

async fn launch(world: &World, config: &std::path::Path, instance: &str) -> GatewayProcess {
    let env = [("CLAWTALK_INSTANCE".to_owned(), instance.to_owned())];
    world.launch(Some(config), &env, &[APP1]).await
}

/// `text` with a state directory of the replica's own (a gateway locks its state directory),
/// written to `<home>/<replica>.json`.
fn replica_config(world: &World, text: &str, replica: &str) -> std::path::PathBuf {
    let state = world.state_dir().display().to_string();
    let own = world.home().join(replica);
    let path = world.home().join(format!("{replica}.json"));
    let shared = format!("stateDir: \"{state}\"");
    assert!(text.contains(&shared), "the config names the shared state dir");
    let text = text.replace(
        &shared,
        &format!("stateDir: {}", serde_json::json!(own.display().to_string())),
    );
    std::fs::write(&path, text).expect("write the replica's config");
    path
}

/// Two replicas sharing the store of `store_top` (`store: {…}`), each in a state directory of
/// its own (a gateway locks its state directory); one is killed while both hold turns.
async fn kill_one_replica_under_load(world: &World, store_top: &str, store: StoreProbe<'_>) {
    let text = world.config_with(&ConfigExtras {
        channels: OPEN,
        gateway: "turnLeaseSeconds: 3,",
        top: store_top,
        ..ConfigExtras::default()
    });
    let mut victim = launch(world, &replica_config(world, &text, REPLICAS[0]), REPLICAS[0]).await;
    let mut survivor = launch(world, &replica_config(world, &text, REPLICAS[1]), REPLICAS[1]).await;

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
    let mut asked = faults::ask_many(world, "load", 0, n);
    // The sim spreads the pushes over both connections at random: wait until both replicas
    // hold turns, and all are at the model.
    wait_until_async("both replicas to run turns", TIMEOUT, || {
        let all_asked = asked.iter().all(|a| !world.requests_for(&a.tag).is_empty());
        async move {
            let owners = store.running_by_owner().await;
            let both = REPLICAS.iter().all(|r| owners.get(*r).copied().unwrap_or(0) > 0);
            (all_asked && both).then_some(())
        }
    })
    .await;
    assert!(world.sim.sent_messages().is_empty(), "nothing answered yet");
    victim.kill();
    let orphaned = store.running_by_owner().await[REPLICAS[0]];

    // The load goes on: everything now reaches the survivor.
    asked.extend(faults::ask_many(world, "after", 0, 6));
    faults::assert_settled_once(world, store, &asked, TIMEOUT * 2, |_| Expect::Answer).await;
    survivor.assert_running();
    assert!(orphaned > 0, "the victim died holding turns");
    assert!(survivor.log().contains("turn answered"), "the survivor answered");
}

fn slow_world() -> WorldOptions {
    WorldOptions {
        model_delays: true,
        ..WorldOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_under_load_is_taken_over_and_every_message_answered_once() {
    let world = World::start_with(slow_world()).await;
    let db = world.state_dir().join("clawtalk.db");
    let store_top = format!(
        "store: {{ url: {} }},",
        serde_json::json!(format!("sqlite://{}", db.display()))
    );
    kill_one_replica_under_load(&world, &store_top, StoreProbe::from(&db)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_replica_killed_under_load_is_taken_over_and_every_message_answered_once() {
    let Some(schema) = pg::TestSchema::create("faults_replicas_kill_on_postgres").await else {
        return;
    };
    let world = World::start_with(slow_world()).await;
    let store_top = format!("store: {{ url: {} }},", serde_json::json!(schema.url()));
    let pool = schema.pool().await;
    kill_one_replica_under_load(&world, &store_top, StoreProbe::from(&pool)).await;
}

/// What a replica that died right after acknowledging `a` left behind: the inbox row, stored
/// `age_ms` ago, never decided.
async fn seed_undecided(
    world: &World,
    config_text: &str,
    a: &Asked,
    payload: serde_json::Value,
    age_ms: i64,
) {
    let home = world.home().display().to_string();
    let config = Config::from_json5(config_text, &|name: &str| (name == "HOME").then(|| home.clone()))
        .expect("the test config loads")
        .config;
    let account = config.account("default").expect("the default account");
    let received = SystemClock.now_ms() - age_ms;
    let message = BotMessage::from_value(payload).expect("a bot payload");
    let inbound = InboundMessage::from_bot_message(
        &AccountId::new(account.id.as_str()),
        &RobotCode::new(account.robot_code.clone()),
        Transport::Stream,
        &message,
        EpochMs::from_millis(received),
    );
    let session_key = clawtalk_config::routing::route(&config, account, &inbound, &[]).to_string();
    let store = SqliteStore::open(world.state_dir().join("clawtalk.db"))
        .await
        .expect("open the shared store");
    let outcome = store
        .record_inbound(InboundRecord {
            account_id: AccountId::new(account.id.as_str()),
            robot_code: inbound.robot_code.clone(),
            msg_id: inbound.msg_id.clone(),
            conversation_id: inbound.conversation_id.clone(),
            sender_staff_id: inbound.sender.staff_id.clone(),
            session_key,
            received_at_ms: EpochMs::from_millis(received),
            raw_payload_json: serde_json::to_string(&inbound).expect("serialise"),
            text: inbound.text.clone(),
        })
        .await
        .expect("record");
    assert!(matches!(outcome, RecordOutcome::New(_)), "{}: {outcome:?}", a.tag);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_a_dead_replica_stored_but_never_decided_is_answered_by_the_survivor() {
    let world = World::start().await;
    let text = world.config_with(&ConfigExtras {
        channels: OPEN,
        gateway: "turnLeaseSeconds: 3,",
        ..ConfigExtras::default()
    });
    let config = world.write_config(&text);
    let survivor = launch(&world, &config, REPLICAS[1]).await;
    // Hold the frames back from the survivor while the "dead replica" stores them.
    assert_eq!(world.sim.set_zombie(APP1, true), 1);
    let asked = faults::ask_many(&world, "orphan", 0, 3);
    for a in &asked {
        let payload = world
            .sim
            .deliveries()
            .into_iter()
            .find(|d| d.key == a.msg_id)
            .and_then(|d| serde_json::from_str(&d.data).ok())
            .expect("the pushed payload");
        seed_undecided(&world, &text, a, payload, 10_000).await;
    }
    world.sim.set_zombie(APP1, false);
    // The redelivery reaches the survivor, which knows the msgId: acknowledged, not redone.
    faults::wait_all_acked(&world, &asked, "the frames to be acknowledged as duplicates").await;
    let db = world.state_dir().join("clawtalk.db");
    faults::assert_settled_once(&world, &db, &asked, TIMEOUT, |_| Expect::Answer).await;
    assert!(
        survivor
            .log()
            .contains("settling messages stored but never decided"),
        "the sweep, not a restart, decided them"
    );
}

/// The simulator's cards in `user`'s DM.
fn cards_of(world: &World, user: &str) -> Vec<Card> {
    world
        .sim
        .cards()
        .into_iter()
        .filter(|c| c.spaces.iter().any(|s| s.space_id == user))
        .collect()
}

fn content(card: &Card) -> &str {
    card.card_data.get("content").map_or("", String::as_str)
}

/// One replica streams an answer into an AI card; a second replica starting meanwhile leaves
/// that card alone; the first is SIGKILLed mid-answer, and the second takes the turn over in
/// the same card: one card for the message, finished with the whole answer, no second answer.
async fn a_card_outlives_its_replica(world: &World, store_top: &str, store: StoreProbe<'_>) {
    const CARDS: &str =
        r#"messageType: "card", streaming: true, cardStreamInterval: 200, cardUpdateTokens: 1,"#;
    let channels = format!("{OPEN} {CARDS}");
    let text = world.config_with(&ConfigExtras {
        channels: &channels,
        gateway: "turnLeaseSeconds: 3,",
        top: store_top,
        ..ConfigExtras::default()
    });
    let mut victim = launch(world, &replica_config(world, &text, REPLICAS[0]), REPLICAS[0]).await;
    let tag = "[takeover]";
    let slow: Vec<String> = (0..600).map(|i| format!("slow{i} ")).collect();
    world.model.push(
        Script::chunks(slow)
            .delay(Duration::ZERO, Duration::from_millis(25))
            .when_last_user_contains(tag),
    );
    let answer = "The whole answer, written by the replica that took the turn over.";
    world
        .model
        .push(Script::text(answer).when_last_user_contains(tag));
    let asked = world.dm(APP1, ALICE, &format!("{tag} a long question"));
    let streaming = || {
        cards_of(world, ALICE)
            .first()
            .is_some_and(|c| content(c).starts_with("slow0"))
            .then_some(())
    };
    wait_until("the victim to stream into the card", TIMEOUT, streaming).await;

    // A replica starting now closes cards a crash left open, but not this one: its turn has
    // a live owner.
    let mut survivor = launch(world, &replica_config(world, &text, REPLICAS[1]), REPLICAS[1]).await;
    // Connected means started: the start-up's card sweep ran before the connection opened.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cards = cards_of(world, ALICE);
    assert_eq!(cards.len(), 1, "one card");
    assert_eq!(
        cards[0].status,
        CardStatus::Streaming,
        "still streaming: {cards:?}"
    );
    assert!(
        cards[0].stream_history.iter().all(|u| !u.is_finalize),
        "the starting replica did not close a card a live replica streams into"
    );
    assert_eq!(cards[0].flow_status.last().map(String::as_str), Some("2"));

    victim.kill();
    let card = wait_until("the card to be finished", TIMEOUT * 2, || {
        cards_of(world, ALICE)
            .into_iter()
            .find(|c| c.status != CardStatus::Streaming && c.flow_status.last().is_some_and(|f| f != "2"))
    })
    .await;
    assert_eq!(
        content(&card),
        answer,
        "the whole answer, in the card the victim opened"
    );
    assert_eq!(card.status, CardStatus::Finished);
    assert_eq!(
        card.flow_status.last().map(String::as_str),
        Some("3"),
        "shown finished"
    );
    assert!(
        survivor.log().contains("took over the AI card"),
        "the survivor adopted the card"
    );
    let violations = world.sim.violations();
    assert!(violations.is_empty(), "{violations:#?}");
    // One bot message in the conversation: the card (no second card, no markdown answer).
    let asked = [Asked {
        tag: tag.to_owned(),
        user: ALICE.to_owned(),
        conversation_id: asked.conversation_id,
        msg_id: asked.msg_id,
    }];
    faults::assert_settled_once(world, store, &asked, TIMEOUT, |_| Expect::OneMessage).await;
    assert_eq!(cards_of(world, ALICE).len(), 1, "one card");
    survivor.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_card_a_killed_replica_streamed_is_finished_once_by_the_survivor() {
    let Some(schema) = pg::TestSchema::create("faults_replicas_card_takeover").await else {
        return;
    };
    let world = World::start_with(slow_world()).await;
    let store_top = format!("store: {{ url: {} }},", serde_json::json!(schema.url()));
    let pool = schema.pool().await;
    a_card_outlives_its_replica(&world, &store_top, StoreProbe::from(&pool)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_a_killed_replica_streamed_is_finished_once_by_the_survivor() {
    let world = World::start_with(slow_world()).await;
    let db = world.state_dir().join("clawtalk.db");
    let store_top = format!(
        "store: {{ url: {} }},",
        serde_json::json!(format!("sqlite://{}", db.display()))
    );
    a_card_outlives_its_replica(&world, &store_top, StoreProbe::from(&db)).await;
}
