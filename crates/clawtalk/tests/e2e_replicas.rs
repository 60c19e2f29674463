//! End to end, two replicas: two `clawtalk gateway run` processes on one PostgreSQL database
//! and one DingTalk app. The simulator hands each delivery to a random open connection, so
//! both replicas receive messages of the same conversations; every message must still be
//! answered exactly once, and each conversation's answers in the order it wrote them.
//!
//! Needs `CLAWTALK_TEST_PG`; skipped (with a message) without it.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use dingtalk_sim::UserSpec;
use support::pg::TestSchema;
use support::replicas::{recorded, start_replica, turns_by_replica, unfinished};
use support::world::{APP1, OPEN};
use support::{TIMEOUT, World, wait_until, wait_until_async};

const USERS: usize = 20;
const ROUNDS: usize = 5;

fn user(i: usize) -> String {
    format!("07{i:02}1234567890")
}

fn tag(user: usize, round: usize) -> String {
    format!("[u{user:02}r{round}]")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_answer_every_message_once_and_in_order() {
    let Some(schema) = TestSchema::create("two_replicas_answer_every_message_once_and_in_order").await else {
        return;
    };
    let world = World::start().await;
    for i in 0..USERS {
        world
            .sim
            .create_user(UserSpec::new(user(i), format!("User {i:02}")))
            .expect("create a user");
    }
    let url = schema.url();
    // The first start migrates the schema; the second finds it done.
    let a = start_replica(&world, "replica-a", OPEN, &url).await;
    let b = start_replica(&world, "replica-b", OPEN, &url).await;
    let pool = schema.pool().await;

    let started = Instant::now();
    // conversation → tags in the order its user wrote them.
    let mut written: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for round in 0..ROUNDS {
        for i in 0..USERS {
            let t = tag(i, round);
            let dm = world.dm(APP1, &user(i), &format!("{t} message {round} from user {i}"));
            written.entry(dm.conversation_id).or_default().push(t);
        }
        // The next round only once this one is stored: then "in order" has one meaning
        // (arrival at the store), whichever replica each delivery went to.
        let stored = i64::try_from((round + 1) * USERS).unwrap();
        wait_until_async("the round to be stored", TIMEOUT, || {
            let pool = pool.clone();
            async move { (recorded(&pool).await >= stored).then_some(()) }
        })
        .await;
    }
    let total = USERS * ROUNDS;
    wait_until("every message to be answered", TIMEOUT * 4, || {
        written
            .iter()
            .all(|(cid, tags)| {
                let replies = world.replies(cid);
                tags.iter()
                    .all(|t| replies.iter().any(|m| m.text.contains(t.as_str())))
            })
            .then_some(())
    })
    .await;
    let wall = started.elapsed();
    // Quiescence: nothing left to run or send, so no late duplicate can follow.
    wait_until_async("the store to settle", TIMEOUT, || {
        let pool = pool.clone();
        async move { (unfinished(&pool).await == (0, 0)).then_some(()) }
    })
    .await;

    let all = world.sim.sent_messages();
    assert_eq!(all.len(), total, "one reply per message, nothing else");
    for (cid, tags) in &written {
        let replies = world.replies(cid);
        let order: Vec<&str> = replies
            .iter()
            .map(|m| {
                let matching: Vec<&String> = tags.iter().filter(|t| m.text.contains(t.as_str())).collect();
                assert_eq!(matching.len(), 1, "{cid}: a reply answers one message: {m:#?}");
                matching[0].as_str()
            })
            .collect();
        let expected: Vec<&str> = tags.iter().map(String::as_str).collect();
        assert_eq!(order, expected, "{cid}: answers in the order the user wrote");
    }
    let turns = turns_by_replica(&pool).await;
    assert_eq!(
        turns.values().sum::<i64>(),
        i64::try_from(total).unwrap(),
        "{turns:?}"
    );
    let replicas: BTreeSet<&str> = turns.keys().map(String::as_str).collect();
    assert_eq!(
        replicas,
        BTreeSet::from(["replica-a", "replica-b"]),
        "both replicas ran turns: {turns:?}"
    );
    let receivers = world
        .sim
        .deliveries()
        .iter()
        .flat_map(|d| d.pushes.iter().map(|p| p.connection_id.clone()))
        .collect::<BTreeSet<_>>();
    assert!(
        receivers.len() >= 2,
        "deliveries went to both connections: {receivers:?}"
    );
    println!(
        "two replicas: {total} messages over {USERS} conversations, turns per replica {turns:?}, \
         duplicates 0, wall {:.1}s",
        wall.as_secs_f64()
    );
    drop((a, b));
    pool.close().await;
    // Let the killed processes' connections go before the schema is dropped.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_the_postgres_store_and_never_its_password() {
    let Some(schema) = TestSchema::create("doctor_names_the_postgres_store_and_never_its_password").await
    else {
        return;
    };
    let world = World::start().await;
    // The test server trusts local connections, so the password is never asked for; it must
    // still never be printed.
    let mut url = url::Url::parse(&schema.url()).expect("CLAWTALK_TEST_PG is a URL");
    url.set_password(Some("doctor-pg-password"))
        .expect("a URL with a user");
    let (user, url) = (url.username().to_owned(), url.to_string());
    let config = support::replicas::write_replica_config(&world, "doctor", OPEN, &url);
    let out = support::process::run_cli(
        world.home(),
        &["doctor", "--config", &config.display().to_string()],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let store_line = stdout
        .lines()
        .find(|l| l.contains("store"))
        .unwrap_or_else(|| panic!("no store line in:\n{stdout}\n{stderr}"));
    assert!(
        store_line.contains(&format!("PostgreSQL postgres://{user}:***@"))
            && store_line.contains("reachable, schema up to date"),
        "{store_line}"
    );
    assert!(
        !stdout.contains("doctor-pg-password") && !stderr.contains("doctor-pg-password"),
        "{stdout}\n{stderr}"
    );
}
