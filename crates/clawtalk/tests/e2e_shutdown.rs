//! End to end, graceful shutdown: SIGTERM while turns run. Running turns finish (or, past
//! the grace period, are left to resume), queued turns wait for the next start, and every
//! message is answered exactly once.

mod support;

use std::time::{Duration, Instant};

use llm_mock::Script;
use support::world::{ALICE, APP1, BOB, OPEN};
use support::{TIMEOUT, World, WorldOptions, db, wait_until_async};

/// `SHUTDOWN_GRACE` of `gateway/serve.rs`.
const GRACE: Duration = Duration::from_secs(10);

fn slow_world() -> WorldOptions {
    WorldOptions {
        model_delays: true,
        ..WorldOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_running_turn_finish_and_queued_turns_resume_after_restart() {
    let world = World::start_with(slow_world()).await;
    world.model.push(
        Script::text("GRACEFUL ANSWER [t1]")
            .delay(Duration::from_secs(2), Duration::ZERO)
            .when_last_user_contains("[t1]"),
    );
    let config = world.write_config(&world.config(OPEN, ""));
    let mut gateway = world.start_gateway(&config).await;
    let db = world.state_dir().join("clawtalk.db");

    let dm = world.dm(APP1, ALICE, "a task that takes a while [t1]");
    world.dm(APP1, ALICE, "and one more after it [t2]");
    world.wait_request_for("[t1]").await;
    wait_until_async("[t2] to be queued behind [t1]", TIMEOUT, || {
        let db = db.clone();
        async move { (db::count(&db, "inbox", "queued").await == 1).then_some(()) }
    })
    .await;

    let stopping = Instant::now();
    gateway.terminate();
    let status = gateway.wait_exit(GRACE + Duration::from_secs(5)).await;
    let took = stopping.elapsed();
    assert!(status.success(), "clean exit: {status}\n{}", gateway.log());
    assert!(took < GRACE, "drained within the grace period: {took:?}");
    let replies = world.replies(&dm.conversation_id);
    assert_eq!(
        replies.len(),
        1,
        "the running turn was answered before exit: {replies:#?}"
    );
    assert!(replies[0].text.contains("GRACEFUL ANSWER [t1]"));
    assert!(
        world.requests_for("[t2]").is_empty(),
        "no new turn starts while stopping"
    );

    let _gateway = world.start_gateway(&config).await;
    world.wait_reply_containing(&dm.conversation_id, "[t2]").await;
    assert_eq!(world.replies(&dm.conversation_id).len(), 2, "one reply each");
    assert_eq!(world.requests_for("[t1]").len(), 1, "[t1] was not asked again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_longer_than_the_grace_period_resumes_after_restart() {
    let world = World::start_with(slow_world()).await;
    world.model.push(
        Script::text("TOO LATE [t3]")
            .delay(GRACE + Duration::from_secs(20), Duration::ZERO)
            .when_last_user_contains("[t3]"),
    );
    let config = world.write_config(&world.config(OPEN, ""));
    let mut gateway = world.start_gateway(&config).await;

    let dm = world.dm(APP1, BOB, "a very long task [t3]");
    world.wait_request_for("[t3]").await;
    let stopping = Instant::now();
    gateway.terminate();
    let status = gateway.wait_exit(GRACE + Duration::from_secs(5)).await;
    let took = stopping.elapsed();
    assert!(status.success(), "clean exit: {status}\n{}", gateway.log());
    assert!(
        took >= GRACE - Duration::from_millis(500) && took < GRACE + Duration::from_secs(3),
        "waited for the grace period, not longer: {took:?}"
    );
    assert!(world.replies(&dm.conversation_id).is_empty());
    assert!(
        gateway.log().contains("resume at the next start"),
        "{}",
        gateway.log()
    );

    // The restarted gateway takes the turn over and asks again (the offline model answers).
    let _gateway = world.start_gateway(&config).await;
    let reply = world.wait_reply_containing(&dm.conversation_id, "[t3]").await;
    assert!(!reply.text.contains("TOO LATE"), "{reply:?}");
    assert_eq!(world.requests_for("[t3]").len(), 2);
    let db = world.state_dir().join("clawtalk.db");
    wait_until_async("the turn to finish", TIMEOUT, || {
        let db = db.clone();
        async move { (db::count(&db, "inbox", "replied").await == 1).then_some(()) }
    })
    .await;
    assert_eq!(world.replies(&dm.conversation_id).len(), 1, "exactly one reply");
}
