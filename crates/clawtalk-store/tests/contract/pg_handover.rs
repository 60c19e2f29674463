//! PostgreSQL only: a part's "leaving" mark stands only if the gateway that asked for it saw
//! it done. A gateway that dies while its mark waits in PostgreSQL (for the row's lock, or for
//! CPU) never sends the part, and a mark committed after its death would have everyone else
//! take the part for delivered.

use std::sync::Arc;
use std::time::Duration;

use clawtalk_store::*;

use super::{PgDb, at, claimed_with_one_part, lock_part_row};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mark_whose_gateway_died_while_it_waited_leaves_the_part_unmarked() {
    let Some(db) = PgDb::create("handover_mark_of_a_dead_gateway").await else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(PgStore::open(&db.schema.url()).await.unwrap());
    let (_, part_id) = claimed_with_one_part(&store, &WorkerId::new("gw")).await;

    // The part's row is locked elsewhere, so the mark's update waits inside PostgreSQL.
    let mut other = db.connect().await;
    let tx = lock_part_row(&mut other, part_id).await;
    let mark = {
        let store = Arc::clone(&store);
        let part = part_id;
        tokio::spawn(async move { store.mark_reply_handed(part, at(1_100)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!mark.is_finished(), "the mark waits on the lock");
    // The gateway dies: nothing more of it reaches PostgreSQL.
    mark.abort();
    let _ = mark.await;
    tx.commit().await.unwrap();

    tokio::time::sleep(Duration::from_millis(300)).await;
    let status: String = sqlx::query_scalar("SELECT status FROM outbox WHERE id = $1")
        .bind(part_id)
        .fetch_one(&mut other)
        .await
        .unwrap();
    assert_eq!(status, "planned", "the dead gateway's mark stood");
    store.close().await;
}
