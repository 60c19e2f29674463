//! PostgreSQL only: the calls each replica has queued for a shared budget add up across
//! replicas, and a replica that stopped reporting (stopped, killed) stops counting.

use super::{Db, PgDb, at};

const KEY: &str = "card:dingbot";
const FRESH_MS: i64 = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_see_each_others_queued_calls_until_a_report_goes_stale() {
    let Some(db) = PgDb::create("rate_backlogs_add_up").await else {
        return;
    };
    let a = db.open_budget().await;
    let b = db.open_budget().await;
    let c = db.open_budget().await;
    assert_eq!(
        a.rate_backlog(KEY, "a", 40, at(10_000), FRESH_MS).await.unwrap(),
        0
    );
    assert_eq!(
        b.rate_backlog(KEY, "b", 25, at(10_100), FRESH_MS).await.unwrap(),
        40
    );
    assert_eq!(
        c.rate_backlog(KEY, "c", 0, at(10_200), FRESH_MS).await.unwrap(),
        65,
        "both others, not itself"
    );
    assert_eq!(
        a.rate_backlog("card:other", "a", 7, at(10_300), FRESH_MS)
            .await
            .unwrap(),
        0,
        "per budget"
    );
    // A report replaces the owner's last one.
    assert_eq!(
        a.rate_backlog(KEY, "a", 3, at(12_000), FRESH_MS).await.unwrap(),
        25
    );
    assert_eq!(
        c.rate_backlog(KEY, "c", 0, at(12_100), FRESH_MS).await.unwrap(),
        28
    );
    // "b" stops reporting: five seconds after its report it no longer counts.
    assert_eq!(
        c.rate_backlog(KEY, "c", 0, at(15_100), FRESH_MS).await.unwrap(),
        3
    );
}
