//! PostgreSQL only: a running turn's own writes never wait behind takes from a shared send
//! budget that are blocked on its lock (another replica taking).

use std::sync::Arc;
use std::time::Duration;

use clawtalk_store::*;
use sqlx::Connection;

use super::{LEASE, PgDb, at, card, part, record_queued};

/// Budget key the blocked takes wait on.
const BUDGET: &str = "card:dingbot:Stream";

/// Longest a turn's write may take while every take waits: far below any lease.
const WRITE_BOUND: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_keeps_its_lease_while_budget_takes_wait_on_another_replica() {
    let Some(db) = PgDb::create("turn_writes_beside_blocked_takes").await else {
        return;
    };
    let options = PgOptions {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(30),
        ..PgOptions::default()
    };
    let store: Arc<dyn Store> = Arc::new(PgStore::open_with(&db.schema.url(), options).await.unwrap());
    let me = WorkerId::new("gw");
    let id = record_queued(&store, "m1", "s1").await;
    let turn = store
        .claim_next_turn(ClaimScope::Any, &me, LEASE, at(2_000))
        .await
        .unwrap()
        .expect("claimed");
    assert_eq!(turn.id, id);
    let parts = store
        .plan_reply(id, vec![part(0, "answer")], &me, LEASE, at(2_001))
        .await
        .unwrap();
    store.card_open(card("c1", "default"), at(2_002)).await.unwrap();

    // Another replica holds the budget's lock (the key the store locks on), so every take
    // from that budget here waits; more of them than the store has connections.
    let mut other = db.connect().await;
    sqlx::query("SELECT pg_advisory_lock(x'52617465'::int, hashtext($1))")
        .bind(BUDGET)
        .execute(&mut other)
        .await
        .unwrap();
    let budget = store.shared_rate_budget().expect("PostgreSQL shares budgets");
    let takes: Vec<_> = (0..6)
        .map(|_| {
            let budget = Arc::clone(&budget);
            tokio::spawn(async move { budget.rate_take(BUDGET, 20, 1_100, at(2_003)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        takes.iter().all(|t| !t.is_finished()),
        "the takes wait on the lock"
    );

    let bounded = |what: &'static str| {
        move |outcome: Result<StoreResult<()>, tokio::time::error::Elapsed>| match outcome {
            Ok(result) => result.unwrap_or_else(|e| panic!("{what}: {e}")),
            Err(_) => panic!("{what} waited over {WRITE_BOUND:?} behind blocked budget takes"),
        }
    };
    let renew = store.renew_lease(id, &me, LEASE, at(3_000));
    bounded("renewing the lease")(tokio::time::timeout(WRITE_BOUND, renew).await);
    let sent = SendReceipt {
        process_query_key: None,
        response_json: None,
    };
    let mark = store.mark_reply_sent(parts[0].id, sent, at(3_001));
    bounded("marking the part sent")(tokio::time::timeout(WRITE_BOUND, mark).await);
    let close = store.card_close("c1", CardStatus::Finished, "answer", at(3_002));
    bounded("closing the card")(tokio::time::timeout(WRITE_BOUND, close).await);
    let finish = store.finish_turn(id, &me, TurnOutcome::Replied, at(3_003));
    bounded("finishing the turn")(tokio::time::timeout(WRITE_BOUND, finish).await);

    // The lock goes: every take goes through, within the budget.
    other.close().await.unwrap();
    for take in takes {
        assert_eq!(take.await.unwrap().unwrap(), None);
    }
    store.close().await;
}
