//! PostgreSQL only: renewing a gateway's leases together never waits for a row another
//! transaction holds locked; that lease is named busy, and the others are renewed. And a claim
//! that waited for a connection gets a whole lease from when it ran.

use std::sync::Arc;
use std::time::Duration;

use clawtalk_store::*;
use sqlx::Connection;

use super::{LEASE, PgDb, at, claimed_with_one_part, lock_part_row, record_queued};

/// Far below a lease: the renewal did not wait for the lock.
const BOUND: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_row_is_named_busy_and_holds_back_no_other_renewal() {
    let Some(db) = PgDb::create("renewals_beside_a_locked_row").await else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(PgStore::open(&db.schema.url()).await.unwrap());
    let me = WorkerId::new("gw");
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(record_queued(&store, &format!("m{n}"), &format!("s{n}")).await);
        store
            .claim_next_turn(ClaimScope::Any, &me, LEASE, at(1_000))
            .await
            .unwrap()
            .expect("claimed");
    }

    // Another transaction holds the first turn's row, as planning its reply does.
    let mut other = db.connect().await;
    let mut tx = other.begin().await.unwrap();
    sqlx::query("SELECT id FROM inbox WHERE id = $1 FOR UPDATE")
        .bind(ids[0])
        .execute(&mut *tx)
        .await
        .unwrap();
    let renewal = tokio::time::timeout(BOUND, store.renew_leases(&ids, &me, LEASE, at(2_000)))
        .await
        .expect("the renewal waited for the locked row")
        .unwrap();
    assert_eq!(renewal.busy, vec![ids[0]]);
    assert!(renewal.lost.is_empty(), "{renewal:?}");
    for &id in &ids[1..] {
        let lease = store.inbound(id).await.unwrap().unwrap().lease.unwrap();
        assert_eq!(
            lease.expires_at_ms,
            at(2_000 + LEASE),
            "renewed beside the locked row"
        );
    }
    let held = store.inbound(ids[0]).await.unwrap().unwrap().lease.unwrap();
    assert_eq!(held.expires_at_ms, at(1_000 + LEASE), "not renewed while locked");

    // Once the lock is gone the busy lease renews like the others.
    tx.commit().await.unwrap();
    let renewal = store.renew_leases(&ids, &me, LEASE, at(3_000)).await.unwrap();
    assert_eq!(renewal, LeaseRenewal::default());
    let lease = store.inbound(ids[0]).await.unwrap().unwrap().lease.unwrap();
    assert_eq!(lease.expires_at_ms, at(3_000 + LEASE));
    store.close().await;
}

/// The turns' other writes (marking parts sent, finishing) all wait on a locked row, more of
/// them than their pool has connections: the renewal has a connection of its own and goes
/// through at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_do_not_queue_behind_the_turns_other_writes() {
    let Some(db) = PgDb::create("renewals_beside_blocked_turn_writes").await else {
        return;
    };
    let options = PgOptions {
        acquire_timeout: Duration::from_secs(30),
        ..PgOptions::default()
    };
    let store: Arc<dyn Store> = Arc::new(PgStore::open_with(&db.schema.url(), options).await.unwrap());
    let me = WorkerId::new("gw");
    let (id, part_id) = claimed_with_one_part(&store, &me).await;

    let mut other = db.connect().await;
    let tx = lock_part_row(&mut other, part_id).await;
    let marks: Vec<_> = (0..4)
        .map(|n| {
            let store = Arc::clone(&store);
            let part = part_id;
            tokio::spawn(async move {
                store
                    .mark_reply_sent(part, SendReceipt::default(), at(1_100 + n))
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        marks.iter().all(|m| !m.is_finished()),
        "the marks wait on the lock"
    );

    let renewal = tokio::time::timeout(BOUND, store.renew_leases(&[id], &me, LEASE, at(2_000)))
        .await
        .expect("the renewal queued behind the blocked writes")
        .unwrap();
    assert_eq!(renewal, LeaseRenewal::default());

    tx.commit().await.unwrap();
    for mark in marks {
        mark.await.unwrap().unwrap();
    }
    store.close().await;
}

/// Every connection of the store's pool is busy for a while when a turn is claimed: the lease
/// the claim stores runs from when its statement ran, not from when the claim was asked, so
/// the turn does not start with its lease already spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_that_waited_for_a_connection_gets_a_whole_lease_from_when_it_ran() {
    let Some(db) = PgDb::create("claim_after_a_pool_wait").await else {
        return;
    };
    let options = PgOptions {
        max_connections: 1,
        acquire_timeout: Duration::from_secs(30),
        ..PgOptions::default()
    };
    let store: Arc<dyn Store> = Arc::new(PgStore::open_with(&db.schema.url(), options).await.unwrap());
    let me = WorkerId::new("gw");
    let id = record_queued(&store, "m1", "s1").await;

    // The pool's one connection is taken by a write waiting on a locked row.
    let mut other = db.connect().await;
    let mut tx = other.begin().await.unwrap();
    sqlx::query("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let blocked = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .session_open_with_history("s9", "main", at(1_000), None, 10)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!blocked.is_finished(), "the session write waits on the lock");

    // Well over a twentieth of the lease: shorter waits are left out.
    const HELD: Duration = Duration::from_millis(2_500);
    let claim = {
        let store = Arc::clone(&store);
        let me = me.clone();
        tokio::spawn(async move {
            store
                .claim_next_turn(ClaimScope::Any, &me, LEASE, at(1_000))
                .await
        })
    };
    tokio::time::sleep(HELD).await;
    tx.commit().await.unwrap();
    blocked.await.unwrap().unwrap();
    let claimed = claim.await.unwrap().unwrap().expect("claimed");
    assert_eq!(claimed.id, id);
    let expires = claimed.lease.expect("leased").expires_at_ms;
    let held = i64::try_from(HELD.as_millis()).unwrap();
    assert!(
        expires >= at(1_000 + held + LEASE),
        "the lease counts from the claim's call, not its statement: expires {expires:?}"
    );
    store.close().await;
}
