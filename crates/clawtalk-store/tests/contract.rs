//! The store contract: the same cases against every backend, through `Arc<dyn Store>`.
//!
//! SQLite always (a file in a temp dir); PostgreSQL when `CLAWTALK_TEST_PG` names a server
//! (each test in its own schema, dropped afterwards), otherwise those tests print that they
//! were skipped. "Opening again" is a process restart on SQLite and another replica's pool
//! on PostgreSQL; the `replicas_*` cases race several opened stores against each other.

#[path = "support/pg.rs"]
#[allow(dead_code)] // Helpers for the e2e tests too.
mod pg;

#[path = "contract/approvals.rs"]
mod approvals;
use approvals::*;

#[path = "contract/usage.rs"]
mod usage;
use usage::*;

#[path = "contract/pg_pools.rs"]
mod pg_pools;

#[path = "contract/pg_backlog.rs"]
mod pg_backlog;
#[path = "contract/pg_handover.rs"]
mod pg_handover;
#[path = "contract/pg_renewals.rs"]
mod pg_renewals;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use clawtalk_core::clock::EpochMs;
use clawtalk_core::ids::AccountId;
use clawtalk_core::reply::{MediaPart, ReplyPart};
use clawtalk_store::*;
use dingtalk::ids::{ConversationId, MsgId, RobotCode, StaffId};
use sqlx::Connection;

/// The instant `ms` after the epoch.
fn at(ms: i64) -> EpochMs {
    EpochMs::from_millis(ms)
}

const LEASE: i64 = 30_000;

/// One database, opened as many times as a test likes.
#[async_trait(?Send)]
trait Db {
    /// A new store handle on the database (a restart, or another replica).
    async fn open(&self) -> Arc<dyn Store>;
    /// The same database as a send budget (a separate handle, as another gateway holds it).
    async fn open_budget(&self) -> Arc<dyn RateBudgetStore>;
    /// Runs raw SQL behind the store's back (to prove what the schema itself refuses).
    async fn execute(&self, sql: &str) -> Result<(), String>;
    /// The single integer `sql` selects.
    async fn count(&self, sql: &str) -> i64;
    /// The backend's folder under `migrations/`.
    fn migrations_dir(&self) -> &'static str;
}

struct SqliteDb {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl SqliteDb {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("clawtalk.db");
        Self { _dir: dir, path }
    }

    fn connect(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        conn
    }
}

#[async_trait(?Send)]
impl Db for SqliteDb {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(&self.path).await.expect("open store"))
    }

    async fn open_budget(&self) -> Arc<dyn RateBudgetStore> {
        Arc::new(SqliteStore::open(&self.path).await.expect("open store"))
    }

    async fn execute(&self, sql: &str) -> Result<(), String> {
        self.connect().execute_batch(sql).map_err(|e| e.to_string())
    }

    async fn count(&self, sql: &str) -> i64 {
        self.connect().query_row(sql, [], |row| row.get(0)).unwrap()
    }

    fn migrations_dir(&self) -> &'static str {
        "sqlite"
    }
}

struct PgDb {
    schema: pg::TestSchema,
}

impl PgDb {
    async fn create(test: &str) -> Option<Self> {
        Some(Self {
            schema: pg::TestSchema::create(test).await?,
        })
    }

    async fn connect(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.schema.url()).await.unwrap()
    }
}

#[async_trait(?Send)]
impl Db for PgDb {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(PgStore::open(&self.schema.url()).await.expect("open store"))
    }

    async fn open_budget(&self) -> Arc<dyn RateBudgetStore> {
        Arc::new(PgStore::open(&self.schema.url()).await.expect("open store"))
    }

    async fn execute(&self, sql: &str) -> Result<(), String> {
        let mut conn = self.connect().await;
        let done = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await;
        done.map(drop).map_err(|e| e.to_string())
    }

    async fn count(&self, sql: &str) -> i64 {
        let mut conn = self.connect().await;
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }

    fn migrations_dir(&self) -> &'static str {
        "postgres"
    }
}

/// Every case below, once per backend: `sqlite::<case>` and `postgres::<case>`.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = super::SqliteDb::new();
                    super::$case(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = super::PgDb::create(stringify!($case)).await else {
                        return;
                    };
                    super::$case(&db).await;
                }
            )*
        }
    };
}

contract!(
    dedup_survives_reopen,
    concurrent_duplicates_yield_exactly_one_new,
    one_turn_per_session_across_two_workers,
    concurrent_claims_never_run_a_session_twice,
    expired_lease_is_reclaimed,
    leases_are_renewed_together_and_the_lost_ones_named,
    a_lapsed_turn_is_reclaimed_before_older_queued_work_of_its_session,
    unfinished_turns_are_recovered_after_reopen,
    undecided_rows_are_found_once_they_are_old_enough,
    routing_and_cancellation,
    only_the_lease_holder_plans_and_stop_ends_unsent_parts,
    outbox_resends_only_unsent_parts_after_reopen,
    an_upload_step_is_stored_before_the_send_and_survives_reopen,
    outbox_rows_from_before_the_versioned_body_still_decode,
    unsent_parts_of_dead_senders_are_claimed_once,
    a_part_handed_to_dingtalk_is_never_sent_by_anyone_else,
    idle_reset_starts_a_new_generation_and_history,
    opening_a_session_with_history_is_get_or_create_then_load,
    conversation_and_session_ids_are_case_sensitive,
    pairing_lifecycle,
    migrations_are_idempotent_and_data_survives_reopen,
    purge_keeps_open_work_and_recent_history,
    the_gateway_can_hold_it_as_a_trait_object,
    sessions_list_most_recent_first_and_read_by_id,
    a_deleted_session_takes_its_transcripts_and_starts_afresh,
    open_cards_are_listed_until_closed,
    open_cards_of_one_message_are_listed_oldest_first,
    cron_tasks_round_trip_and_hide_the_webhook_token_in_debug,
    only_due_unleased_cron_tasks_are_claimed_and_firing_moves_them_on,
    one_shot_cron_tasks_end_and_cancelled_or_run_now_tasks_behave,
    paused_cron_tasks_skip_scheduled_runs_but_not_run_now,
    replicas_racing_one_message_record_it_once,
    replicas_claiming_turns_never_run_a_session_twice_and_keep_its_order,
    replicas_claim_each_due_cron_run_once,
    replicas_approve_a_code_once_and_give_a_sender_one_code,
    replicas_opening_a_session_create_it_once,
    replicas_claim_disjoint_unsent_replies,
    rate_budgets_count_a_sliding_window,
    replicas_taking_from_one_budget_never_exceed_it,
    a_callback_sign_belongs_to_its_first_message_across_reopens,
    replicas_racing_one_callback_sign_give_it_to_one_message,
    an_approval_is_asked_once_and_survives_reopen,
    the_first_decision_wins_and_always_allow_is_remembered,
    replicas_racing_one_decision_decide_it_once,
    usage_adds_up_per_day_account_and_agent_across_reopens,
    replicas_adding_usage_at_once_sum_every_count,
);

/// `MemoryStore`'s cases, in a file of their own.
#[path = "contract/memory.rs"]
mod memory;

fn message(msg_id: &str, session: &str, conversation: &str) -> InboundRecord {
    InboundRecord {
        account_id: AccountId::new("default"),
        robot_code: RobotCode::new("dingbot"),
        msg_id: MsgId::new(msg_id),
        conversation_id: ConversationId::new(conversation),
        sender_staff_id: Some(StaffId::new("0312")),
        session_key: session.into(),
        received_at_ms: at(1_000),
        raw_payload_json: format!(r#"{{"msgId":"{msg_id}"}}"#),
        text: format!("hello {msg_id}"),
    }
}

async fn record_queued(store: &Arc<dyn Store>, msg_id: &str, session: &str) -> InboundId {
    let RecordOutcome::New(id) = store
        .record_inbound(message(msg_id, session, "cidA"))
        .await
        .expect("record")
    else {
        panic!("{msg_id} was not new");
    };
    store
        .dispatch_inbound(id, Dispatch::Queue, at(1_000))
        .await
        .expect("queue");
    id
}

/// A queued message claimed by `me`, with a one-part reply planned: the turn and the part.
async fn claimed_with_one_part(store: &Arc<dyn Store>, me: &WorkerId) -> (InboundId, ReplyPartId) {
    let id = record_queued(store, "m1", "s1").await;
    store
        .claim_next_turn(ClaimScope::Any, me, LEASE, at(1_000))
        .await
        .unwrap()
        .expect("claimed");
    let parts = store
        .plan_reply(id, vec![part(0, "answer")], me, LEASE, at(1_001))
        .await
        .unwrap();
    (id, parts[0].id)
}

/// A transaction on `conn` holding outbox part `id`'s row locked, as another writer would.
async fn lock_part_row(
    conn: &mut sqlx::PgConnection,
    id: ReplyPartId,
) -> sqlx::Transaction<'_, sqlx::Postgres> {
    use sqlx::Connection as _;
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT id FROM outbox WHERE id = $1 FOR UPDATE")
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

fn part(n: u32, text: &str) -> NewReplyPart {
    NewReplyPart {
        part: n,
        body: ReplyPart::Markdown {
            title: "Reply".into(),
            text: text.into(),
        },
    }
}

fn file_part(n: u32) -> NewReplyPart {
    NewReplyPart {
        part: n,
        body: ReplyPart::File(MediaPart {
            path: "/workspace/q3.pdf".into(),
            sha256: "5f1e".into(),
            file_name: "q3.pdf".into(),
            file_type: "pdf".into(),
            media_id: None,
        }),
    }
}

async fn dedup_survives_reopen(db: &dyn Db) {
    let store = db.open().await;
    let first = store.record_inbound(message("m1", "s1", "cidA")).await.unwrap();
    let RecordOutcome::New(id) = first else {
        panic!("first delivery must be new: {first:?}")
    };
    store.close().await;

    let store = db.open().await;
    assert_eq!(
        store.record_inbound(message("m1", "s1", "cidA")).await.unwrap(),
        RecordOutcome::Duplicate {
            id,
            status: InboundStatus::Received
        }
    );
    // Same msg id for another robot is another message.
    let mut other_bot = message("m1", "s1", "cidA");
    other_bot.robot_code = RobotCode::new("dingbot2");
    assert!(matches!(
        store.record_inbound(other_bot).await.unwrap(),
        RecordOutcome::New(_)
    ));
    let stored = store.inbound(id).await.unwrap().unwrap();
    assert_eq!(stored.record, message("m1", "s1", "cidA"));
    store.close().await;
}

async fn concurrent_duplicates_yield_exactly_one_new(db: &dyn Db) {
    let store = db.open().await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.record_inbound(message("same", "s1", "cidA")).await })
        })
        .collect();
    let mut new = Vec::new();
    let mut duplicates = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            RecordOutcome::New(id) => new.push(id),
            RecordOutcome::Duplicate { .. } => duplicates += 1,
        }
    }
    assert_eq!(new.len(), 1, "exactly one task sees the message as new");
    assert_eq!(duplicates, 19);
    store.close().await;
}

async fn one_turn_per_session_across_two_workers(db: &dyn Db) {
    let store = db.open().await;
    let a1 = record_queued(&store, "a1", "sA").await;
    let a2 = record_queued(&store, "a2", "sA").await;
    let b1 = record_queued(&store, "b1", "sB").await;
    let (w1, w2) = (WorkerId::new("gw"), WorkerId::new("gw"));

    let t1 = store
        .claim_next_turn(ClaimScope::Any, &w1, LEASE, at(2_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t1.id, a1);
    assert_eq!(t1.status, InboundStatus::Running);
    assert_eq!(t1.attempts, 1);
    assert!(t1.lease.as_ref().unwrap().is_held_by(&w1, at(2_000)));
    // sA is busy, so the second worker gets sB, not a2.
    let t2 = store
        .claim_next_turn(ClaimScope::Any, &w2, LEASE, at(2_001))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t2.id, b1);
    assert!(
        store
            .claim_next_turn(ClaimScope::Any, &w2, LEASE, at(2_002))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .claim_next_turn(ClaimScope::Session("sA"), &w2, LEASE, at(2_002))
            .await
            .unwrap()
            .is_none()
    );

    store
        .finish_turn(a1, &w1, TurnOutcome::Replied, at(3_000))
        .await
        .unwrap();
    let t3 = store
        .claim_next_turn(ClaimScope::Session("sA"), &w2, LEASE, at(3_001))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t3.id, a2);
    // Finishing twice, or with the wrong worker, is refused.
    assert_eq!(
        store.finish_turn(a1, &w1, TurnOutcome::Replied, at(3_002)).await,
        Err(StoreError::LeaseLost { id: a1 })
    );
    assert_eq!(
        store.finish_turn(a2, &w1, TurnOutcome::Replied, at(3_002)).await,
        Err(StoreError::LeaseLost { id: a2 })
    );
    store.close().await;
}

async fn concurrent_claims_never_run_a_session_twice(db: &dyn Db) {
    let store = db.open().await;
    for i in 0..10 {
        record_queued(&store, &format!("m{i}"), &format!("s{}", i % 3)).await;
    }
    let workers: Vec<_> = (0..6)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let me = WorkerId::new(format!("w{n}"));
                let mut got = Vec::new();
                if let Some(turn) = store
                    .claim_next_turn(ClaimScope::Any, &me, LEASE, at(2_000))
                    .await
                    .unwrap()
                {
                    got.push(turn.record.session_key);
                }
                got
            })
        })
        .collect();
    let mut sessions = Vec::new();
    for worker in workers {
        sessions.extend(worker.await.unwrap());
    }
    sessions.sort();
    assert_eq!(sessions, ["s0", "s1", "s2"], "one running turn per session");
    store.close().await;
}

async fn expired_lease_is_reclaimed(db: &dyn Db) {
    let store = db.open().await;
    let id = record_queued(&store, "m1", "s1").await;
    let (dead, alive) = (WorkerId::new("a"), WorkerId::new("b"));
    store
        .claim_next_turn(ClaimScope::Any, &dead, 1_000, at(10_000))
        .await
        .unwrap()
        .unwrap();
    // Still leased at 10_999; lapsed at 11_000.
    assert!(
        store
            .claim_next_turn(ClaimScope::Any, &alive, LEASE, at(10_999))
            .await
            .unwrap()
            .is_none()
    );
    let again = store
        .claim_next_turn(ClaimScope::Any, &alive, LEASE, at(11_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, id);
    assert_eq!(again.attempts, 2);
    assert_eq!(
        store.renew_lease(id, &dead, LEASE, at(11_001)).await,
        Err(StoreError::LeaseLost { id })
    );
    assert_eq!(
        store
            .finish_turn(id, &dead, TurnOutcome::Replied, at(11_002))
            .await,
        Err(StoreError::LeaseLost { id })
    );
    store.renew_lease(id, &alive, LEASE, at(11_003)).await.unwrap();
    store
        .finish_turn(id, &alive, TurnOutcome::Failed("model down".into()), at(12_000))
        .await
        .unwrap();
    let row = store.inbound(id).await.unwrap().unwrap();
    assert_eq!(row.status, InboundStatus::Failed);
    assert_eq!(row.error.as_deref(), Some("model down"));
    assert!(row.lease.is_none());
    store.close().await;
}

async fn leases_are_renewed_together_and_the_lost_ones_named(db: &dyn Db) {
    let store = db.open().await;
    let (me, other) = (WorkerId::new("a"), WorkerId::new("b"));
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(record_queued(&store, &format!("m{n}"), &format!("s{n}")).await);
        store
            .claim_next_turn(ClaimScope::Any, &me, 1_000, at(10_000))
            .await
            .unwrap()
            .unwrap();
    }
    // The third lapses and another worker takes it over.
    let taken = store
        .claim_next_turn(ClaimScope::Session("s2"), &other, LEASE, at(11_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.id, ids[2]);
    let renewal = store.renew_leases(&ids, &me, LEASE, at(10_900)).await.unwrap();
    assert_eq!(renewal.lost, vec![ids[2]]);
    assert!(renewal.busy.is_empty());
    for &id in &ids[..2] {
        let lease = store.inbound(id).await.unwrap().unwrap().lease.unwrap();
        assert_eq!(lease.expires_at_ms, at(10_900 + LEASE));
    }
    let theirs = store.inbound(ids[2]).await.unwrap().unwrap().lease.unwrap();
    assert_eq!(theirs.owner, other);
    assert!(store.renew_leases(&[], &me, LEASE, at(11_000)).await.unwrap() == LeaseRenewal::default());
    store.close().await;
}

async fn a_lapsed_turn_is_reclaimed_before_older_queued_work_of_its_session(db: &dyn Db) {
    let store = db.open().await;
    let RecordOutcome::New(older) = store.record_inbound(message("a", "s1", "cidA")).await.unwrap() else {
        panic!("new");
    };
    let newer = record_queued(&store, "b", "s1").await;
    let w = WorkerId::new("gw");
    // The older message is still undecided (its replica has stored it, not queued it yet):
    // the newer one must not start ahead of it.
    for scope in [ClaimScope::Any, ClaimScope::Session("s1")] {
        let early = store.claim_next_turn(scope, &w, 1_000, at(2_000)).await.unwrap();
        assert_eq!(
            early.map(|t| t.id),
            None,
            "newer started before an undecided older message"
        );
    }
    // A newer turn that runs all the same (started by a release without that rule, say)
    // and whose worker died; the older message is queued meanwhile.
    db.execute(&format!(
        "UPDATE inbox SET status = 'running', attempts = 1, lease_owner = 'gone', \
             lease_incarnation = 'x', lease_expires_at_ms = 3000 WHERE id = {newer}"
    ))
    .await
    .unwrap();
    store
        .dispatch_inbound(older, Dispatch::Queue, at(2_100))
        .await
        .unwrap();
    let next = store
        .claim_next_turn(ClaimScope::Any, &w, LEASE, at(5_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (next.id, next.attempts),
        (newer, 2),
        "take over the lapsed turn first"
    );
    assert!(
        store
            .claim_next_turn(ClaimScope::Any, &w, LEASE, at(5_001))
            .await
            .unwrap()
            .is_none()
    );
    store.close().await;

    // The database itself refuses a second running turn in a session.
    let second = db
        .execute(&format!("UPDATE inbox SET status = 'running' WHERE id = {older}"))
        .await;
    assert!(second.is_err(), "unique index inbox_one_running_per_session");
}

async fn unfinished_turns_are_recovered_after_reopen(db: &dyn Db) {
    let store = db.open().await;
    let running = record_queued(&store, "run", "s1").await;
    let queued = record_queued(&store, "queued", "s2").await;
    let other_replica = record_queued(&store, "other", "s3").await;
    let done = record_queued(&store, "done", "s4").await;
    let RecordOutcome::New(received) = store.record_inbound(message("recv", "s5", "cidA")).await.unwrap()
    else {
        panic!("new");
    };
    let before = WorkerId::new("gw-1");
    let replica = WorkerId::new("gw-2");
    store
        .claim_next_turn(ClaimScope::Session("s1"), &before, LEASE, at(2_000))
        .await
        .unwrap()
        .unwrap();
    store
        .claim_next_turn(ClaimScope::Session("s3"), &replica, LEASE, at(2_000))
        .await
        .unwrap()
        .unwrap();
    store
        .claim_next_turn(ClaimScope::Session("s4"), &before, LEASE, at(2_000))
        .await
        .unwrap()
        .unwrap();
    store
        .finish_turn(done, &before, TurnOutcome::Replied, at(2_100))
        .await
        .unwrap();
    // Crash: no close.
    drop(store);

    let store = db.open().await;
    let after = WorkerId::new("gw-1");
    // Leases are still live at 3_000: only our own previous incarnation's turn is reclaimed.
    let unfinished = store.recover_unfinished(&after, at(3_000)).await.unwrap();
    let ids: Vec<_> = unfinished.iter().map(|m| (m.id, m.status)).collect();
    assert_eq!(
        ids,
        [
            (running, InboundStatus::Queued),
            (queued, InboundStatus::Queued),
            (received, InboundStatus::Received)
        ]
    );
    assert_eq!(
        store.inbound(other_replica).await.unwrap().unwrap().status,
        InboundStatus::Running
    );
    let resumed = store
        .claim_next_turn(ClaimScope::Session("s1"), &after, LEASE, at(3_001))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((resumed.id, resumed.attempts), (running, 2));
    // Once the other replica's lease lapses, recovery takes it too.
    let later = store.recover_unfinished(&after, at(2_000 + LEASE)).await.unwrap();
    assert!(later.iter().any(|m| m.id == other_replica));
    store.close().await;
}

async fn undecided_rows_are_found_once_they_are_old_enough(db: &dyn Db) {
    let store = db.open().await;
    let mut stale = message("m-stale", "s1", "cidA");
    stale.received_at_ms = at(1_000);
    let mut fresh = message("m-fresh", "s2", "cidA");
    fresh.received_at_ms = at(5_000);
    let RecordOutcome::New(stale_id) = store.record_inbound(stale).await.unwrap() else {
        panic!("new")
    };
    store.record_inbound(fresh).await.unwrap();
    // Decided rows are not "undecided", however old.
    record_queued(&store, "m-queued", "s3").await;

    let found = store.undecided_before(at(3_000), 10).await.unwrap();
    let ids: Vec<_> = found.iter().map(|m| (m.id, m.status)).collect();
    assert_eq!(ids, [(stale_id, InboundStatus::Received)]);
    assert_eq!(store.undecided_before(at(9_000), 10).await.unwrap().len(), 2);
    assert_eq!(
        store.undecided_before(at(9_000), 1).await.unwrap().len(),
        1,
        "limit"
    );

    store
        .dispatch_inbound(stale_id, Dispatch::Queue, at(6_000))
        .await
        .unwrap();
    assert!(store.undecided_before(at(3_000), 10).await.unwrap().is_empty());
    store.close().await;
}

async fn routing_and_cancellation(db: &dyn Db) {
    let store = db.open().await;
    let RecordOutcome::New(id) = store.record_inbound(message("m1", "s1", "cidA")).await.unwrap() else {
        panic!("new");
    };
    store
        .dispatch_inbound(id, Dispatch::Ignore, at(1_500))
        .await
        .unwrap();
    store
        .dispatch_inbound(id, Dispatch::Ignore, at(1_501))
        .await
        .unwrap();
    assert!(matches!(
        store.dispatch_inbound(id, Dispatch::Queue, at(1_502)).await,
        Err(StoreError::InvalidTransition { .. })
    ));
    assert!(matches!(
        store.dispatch_inbound(999, Dispatch::Queue, at(1_502)).await,
        Err(StoreError::NotFound { .. })
    ));

    let a = record_queued(&store, "a", "s2").await;
    let b = record_queued(&store, "b", "s2").await;
    let c = record_queued(&store, "c", "s2").await;
    let me = WorkerId::new("gw");
    store
        .claim_next_turn(ClaimScope::Any, &me, LEASE, at(2_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .cancel_running("s2", CancelScope::Running, at(2_100))
            .await
            .unwrap(),
        [a]
    );
    assert_eq!(
        store.finish_turn(a, &me, TurnOutcome::Replied, at(2_200)).await,
        Err(StoreError::LeaseLost { id: a })
    );
    assert_eq!(
        store.inbound(a).await.unwrap().unwrap().status,
        InboundStatus::Cancelled
    );
    let next = store
        .claim_next_turn(ClaimScope::Any, &me, LEASE, at(2_300))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.id, b);
    assert_eq!(
        store
            .cancel_running("s2", CancelScope::RunningAndQueued, at(2_400))
            .await
            .unwrap(),
        [b, c]
    );
    assert!(
        store
            .claim_next_turn(ClaimScope::Any, &me, LEASE, at(2_500))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .cancel_running("s2", CancelScope::Running, at(2_600))
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await;
}

async fn only_the_lease_holder_plans_and_stop_ends_unsent_parts(db: &dyn Db) {
    let store = db.open().await;
    let (me, other) = (WorkerId::new("gw"), WorkerId::new("gw"));
    // A command answered before routing may plan while the message is still `received`.
    let RecordOutcome::New(cmd) = store.record_inbound(message("cmd", "s0", "cidA")).await.unwrap() else {
        panic!("new");
    };
    let planned = store
        .plan_reply(cmd, vec![part(0, "new session")], &me, LEASE, at(1_000))
        .await
        .unwrap();
    store
        .mark_reply_sent(planned[0].id, SendReceipt::default(), at(1_000))
        .await
        .unwrap();
    store
        .dispatch_inbound(cmd, Dispatch::Replied, at(1_001))
        .await
        .unwrap();
    assert_eq!(
        store
            .plan_reply(cmd, vec![part(1, "late")], &me, LEASE, at(1_002))
            .await,
        Err(StoreError::LeaseLost { id: cmd })
    );

    let id = record_queued(&store, "m1", "s1").await;
    assert_eq!(
        store
            .plan_reply(id, vec![part(0, "x")], &me, LEASE, at(1_500))
            .await,
        Err(StoreError::LeaseLost { id }),
        "queued, not claimed"
    );
    store
        .claim_next_turn(ClaimScope::Any, &me, LEASE, at(2_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .plan_reply(id, vec![part(0, "x")], &other, LEASE, at(2_001))
            .await,
        Err(StoreError::LeaseLost { id })
    );
    let parts = store
        .plan_reply(id, vec![part(0, "x"), part(1, "y")], &me, LEASE, at(2_002))
        .await
        .unwrap();
    store
        .mark_reply_sent(parts[0].id, SendReceipt::default(), at(2_003))
        .await
        .unwrap();
    assert_eq!(
        store
            .cancel_running("s1", CancelScope::Running, at(2_004))
            .await
            .unwrap(),
        [id]
    );
    let after = store.reply_parts(id).await.unwrap();
    assert_eq!(after[0].status, ReplyStatus::Sent);
    assert_eq!(after[1].status, ReplyStatus::Failed);
    assert_eq!(after[1].last_error.as_deref(), Some("cancelled"));
    assert_eq!(
        store
            .plan_reply(id, vec![part(2, "z")], &me, LEASE, at(2_005))
            .await,
        Err(StoreError::LeaseLost { id })
    );
    assert!(
        store
            .claim_unsent_replies(&other, LEASE, 10, at(i64::MAX / 2))
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await;
}

/// A media part's upload is a dependent step: its media id is stored in the part before the
/// send, so whoever sends it after a crash sends that upload, and a sent part keeps the body
/// it was sent with.
async fn an_upload_step_is_stored_before_the_send_and_survives_reopen(db: &dyn Db) {
    let store = db.open().await;
    let id = record_queued(&store, "m1", "s1").await;
    let me = WorkerId::new("gw");
    store
        .claim_next_turn(ClaimScope::Any, &me, LEASE, at(2_000))
        .await
        .unwrap()
        .unwrap();
    let parts = store
        .plan_reply(id, vec![file_part(1_000_000)], &me, LEASE, at(2_100))
        .await
        .unwrap();
    assert_eq!(parts[0].body.kind(), "file");
    let uploaded = parts[0].body.clone().with_media_id("@lAD-upload-1");
    store
        .record_reply_step(parts[0].id, &uploaded, at(2_200))
        .await
        .unwrap();
    drop(store); // crash between the upload and the send

    let store = db.open().await;
    let parts = store.reply_parts(id).await.unwrap();
    assert_eq!(parts[0].status, ReplyStatus::Planned);
    assert_eq!(
        parts[0].body.media().and_then(|m| m.media_id.as_deref()),
        Some("@lAD-upload-1"),
        "the resumed send reuses the upload"
    );
    // Planned again by a rerun of the turn: the stored part, with its upload, wins.
    let replanned = store
        .plan_reply(id, vec![file_part(1_000_000)], &me, LEASE, at(3_001))
        .await
        .unwrap();
    assert_eq!(replanned[0].body, uploaded);
    store
        .mark_reply_sent(parts[0].id, SendReceipt::default(), at(3_100))
        .await
        .unwrap();
    store
        .record_reply_step(
            parts[0].id,
            &parts[0].body.clone().with_media_id("@other"),
            at(3_200),
        )
        .await
        .unwrap();
    assert_eq!(
        store.reply_parts(id).await.unwrap()[0].body,
        uploaded,
        "a sent part keeps what it was sent with"
    );
    assert!(matches!(
        store.record_reply_step(9_999, &uploaded, at(3_300)).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        db.count("SELECT COUNT(*) FROM outbox WHERE kind = 'file'").await,
        1,
        "the kind column stays queryable"
    );
    store.close().await;
}

/// Rows written before reply bodies were versioned (a `kind` plus an unversioned body) are
/// read as the same parts.
async fn outbox_rows_from_before_the_versioned_body_still_decode(db: &dyn Db) {
    let store = db.open().await;
    let id = record_queued(&store, "m1", "s1").await;
    let rows = [
        (
            1,
            "markdown",
            r#"{"markdown":true,"title":"Reply","text":"hello"}"#,
        ),
        (2, "text", r#"{"markdown":false,"title":"Reply","text":"plain"}"#),
        (
            3,
            "card",
            r#"{"markdown":true,"title":"a","text":"a","card":{"out_track_id":"ct_9","exists":true,"text":"a","failed":false}}"#,
        ),
        (
            4,
            "action_card",
            r#"{"markdown":true,"title":"Leave","text":"3 days","action_card":{"horizontal":true,"buttons":[["Approve","https://x.example/a"]]}}"#,
        ),
    ];
    for (part, kind, body) in rows {
        db.execute(&format!(
            "INSERT INTO outbox (inbound_id, part, idempotency_key, kind, body_json, created_at_ms, \
             updated_at_ms) VALUES ({id}, {part}, 'legacy-{part}', '{kind}', '{body}', 1, 1)"
        ))
        .await
        .unwrap();
    }
    let parts = store.reply_parts(id).await.unwrap();
    let kinds: Vec<&str> = parts.iter().map(|p| p.body.kind()).collect();
    assert_eq!(kinds, ["markdown", "text", "card", "action_card"]);
    assert_eq!(
        parts[0].body,
        ReplyPart::Markdown {
            title: "Reply".into(),
            text: "hello".into()
        }
    );
    assert_eq!(parts[1].body, ReplyPart::Text { text: "plain".into() });
    let ReplyPart::ActionCard(card) = &parts[3].body else {
        panic!("{:?}", parts[3].body);
    };
    assert!(card.horizontal && card.buttons[0].url == "https://x.example/a");
    store.close().await;
}

async fn outbox_resends_only_unsent_parts_after_reopen(db: &dyn Db) {
    let store = db.open().await;
    let id = record_queued(&store, "m1", "s1").await;
    let me = WorkerId::new("gw");
    store
        .claim_next_turn(ClaimScope::Any, &me, LEASE, at(2_000))
        .await
        .unwrap()
        .unwrap();
    let parts = store
        .plan_reply(id, vec![part(0, "one"), part(1, "two")], &me, LEASE, at(2_100))
        .await
        .unwrap();
    assert_eq!(parts.len(), 2);
    assert!(parts.iter().all(|p| p.status == ReplyStatus::Planned));
    assert!(
        parts
            .iter()
            .all(|p| p.lease.as_ref().is_some_and(|l| l.is_held_by(&me, at(2_100))))
    );
    assert_ne!(parts[0].idempotency_key, parts[1].idempotency_key);
    let receipt = SendReceipt {
        process_query_key: Some("pqk-1".into()),
        response_json: Some(r#"{"processQueryKey":"pqk-1"}"#.into()),
    };
    store
        .mark_reply_sent(parts[0].id, receipt.clone(), at(2_200))
        .await
        .unwrap();
    // A repeated mark keeps the first receipt.
    store
        .mark_reply_sent(parts[0].id, SendReceipt::default(), at(2_201))
        .await
        .unwrap();
    drop(store); // crash before part 1 was sent

    let store = db.open().await;
    let after = WorkerId::new("gw");
    store.recover_unfinished(&after, at(3_000)).await.unwrap();
    let turn = store
        .claim_next_turn(ClaimScope::Any, &after, LEASE, at(3_001))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(turn.id, id);
    // The resumed turn re-plans (a different answer would be ignored: first plan wins) and
    // takes over the unsent part once the dead worker's part lease lapsed.
    let replanned = store
        .plan_reply(
            id,
            vec![part(0, "ONE"), part(1, "TWO")],
            &after,
            LEASE,
            at(2_100 + LEASE),
        )
        .await
        .unwrap();
    assert_eq!(replanned[0].status, ReplyStatus::Sent);
    assert_eq!(replanned[0].process_query_key.as_deref(), Some("pqk-1"));
    assert_eq!(replanned[0].body, parts[0].body);
    assert_eq!(replanned[1].status, ReplyStatus::Planned);
    assert_eq!(replanned[1].idempotency_key, parts[1].idempotency_key);
    assert!(
        replanned[1]
            .lease
            .as_ref()
            .unwrap()
            .is_held_by(&after, at(2_100 + LEASE))
    );
    let to_send: Vec<_> = replanned
        .iter()
        .filter(|p| p.status == ReplyStatus::Planned)
        .map(|p| p.part)
        .collect();
    assert_eq!(to_send, [1]);

    // A retryable failure keeps it planned; a permanent one ends it.
    store
        .mark_reply_failed(replanned[1].id, "429", false, at(3_100))
        .await
        .unwrap();
    let now = store.reply_parts(id).await.unwrap();
    assert_eq!((now[1].status, now[1].attempts), (ReplyStatus::Planned, 1));
    assert_eq!(now[1].last_error.as_deref(), Some("429"));
    store
        .mark_reply_sent(now[1].id, receipt, at(3_200))
        .await
        .unwrap();
    store
        .mark_reply_failed(now[1].id, "late", true, at(3_300))
        .await
        .unwrap();
    assert_eq!(store.reply_parts(id).await.unwrap()[1].status, ReplyStatus::Sent);
    store
        .finish_turn(id, &after, TurnOutcome::Replied, at(3_400))
        .await
        .unwrap();
    store.close().await;
}

/// A part whose request was leaving when its sender died may be delivered: no later plan or
/// sweep hands it out again. Its own sender still settles it.
async fn a_part_handed_to_dingtalk_is_never_sent_by_anyone_else(db: &dyn Db) {
    let store = db.open().await;
    let id = record_queued(&store, "m1", "s1").await;
    let dead = WorkerId::new("a");
    store
        .claim_next_turn(ClaimScope::Any, &dead, 1_000, at(2_000))
        .await
        .unwrap()
        .unwrap();
    let parts = store
        .plan_reply(
            id,
            vec![part(0, "x"), part(1, "y"), part(2, "z")],
            &dead,
            1_000,
            at(2_000),
        )
        .await
        .unwrap();
    // Part 0 went out and was recorded; part 1's request was leaving; part 2 was refused.
    assert!(store.mark_reply_handed(parts[0].id, at(2_010)).await.unwrap());
    store
        .mark_reply_sent(parts[0].id, SendReceipt::default(), at(2_020))
        .await
        .unwrap();
    assert!(store.mark_reply_handed(parts[1].id, at(2_030)).await.unwrap());
    assert!(
        store.mark_reply_handed(parts[1].id, at(2_031)).await.unwrap(),
        "an attempt after an unanswered one marks again"
    );
    assert!(store.mark_reply_handed(parts[2].id, at(2_040)).await.unwrap());
    store.mark_reply_not_taken(parts[2].id, at(2_041)).await.unwrap();
    let statuses = |parts: &[OutboxPart]| parts.iter().map(|p| p.status).collect::<Vec<_>>();
    assert_eq!(
        statuses(&store.reply_parts(id).await.unwrap()),
        [ReplyStatus::Sent, ReplyStatus::Handed, ReplyStatus::Planned]
    );
    // The sender dies. Its lease lapses; the turn's next run plans again and the sweep
    // looks for unsent parts: only the refused part is handed out, to either.
    let next = WorkerId::new("b");
    store.recover_unfinished(&next, at(3_500)).await.unwrap();
    store
        .claim_next_turn(ClaimScope::Any, &next, LEASE, at(3_500))
        .await
        .unwrap()
        .unwrap();
    let replanned = store
        .plan_reply(id, vec![part(0, "x")], &next, LEASE, at(3_600))
        .await
        .unwrap();
    assert_eq!(
        statuses(&replanned),
        [ReplyStatus::Sent, ReplyStatus::Handed, ReplyStatus::Planned]
    );
    assert!(replanned[1].status.went_out() && !replanned[2].status.went_out());
    let leased_to_next = |p: &OutboxPart| p.lease.as_ref().is_some_and(|l| l.is_held_by(&next, at(3_600)));
    assert!(!leased_to_next(&replanned[1]) && leased_to_next(&replanned[2]));
    store
        .finish_turn(id, &next, TurnOutcome::Replied, at(3_700))
        .await
        .unwrap();
    let swept = store
        .claim_unsent_replies(&WorkerId::new("c"), LEASE, 10, at(3_600 + LEASE))
        .await
        .unwrap();
    assert_eq!(swept.iter().map(|p| p.part).collect::<Vec<_>>(), [2]);

    // Settling: a sent or ended part is not marked as leaving again; a failure leaves a
    // handed part as it is (DingTalk may have it: neither ended, as an ended run's leftovers
    // are, nor planned again), and a sent mark stands over a later failure.
    assert!(!store.mark_reply_handed(parts[0].id, at(4_000)).await.unwrap());
    for permanent in [false, true] {
        store
            .mark_reply_failed(parts[1].id, "timeout", permanent, at(4_001))
            .await
            .unwrap();
        assert_eq!(
            store.reply_parts(id).await.unwrap()[1].status,
            ReplyStatus::Handed
        );
    }
    assert!(store.mark_reply_handed(parts[1].id, at(4_002)).await.unwrap());
    store
        .mark_reply_sent(parts[1].id, SendReceipt::default(), at(4_003))
        .await
        .unwrap();
    store
        .mark_reply_failed(parts[1].id, "late", true, at(4_004))
        .await
        .unwrap();
    store.mark_reply_not_taken(parts[1].id, at(4_005)).await.unwrap();
    store
        .mark_reply_failed(parts[2].id, "refused", true, at(4_006))
        .await
        .unwrap();
    assert!(!store.mark_reply_handed(parts[2].id, at(4_007)).await.unwrap());
    assert_eq!(
        statuses(&store.reply_parts(id).await.unwrap()),
        [ReplyStatus::Sent, ReplyStatus::Sent, ReplyStatus::Failed]
    );
    assert!(
        store.mark_reply_handed(9_999, at(4_008)).await.is_err(),
        "an unknown part is an error"
    );
    store.close().await;
}

async fn unsent_parts_of_dead_senders_are_claimed_once(db: &dyn Db) {
    let store = db.open().await;
    let id = record_queued(&store, "m1", "s1").await;
    let dead = WorkerId::new("a");
    store
        .claim_next_turn(ClaimScope::Any, &dead, 1_000, at(2_000))
        .await
        .unwrap()
        .unwrap();
    store
        .plan_reply(id, vec![part(0, "x"), part(1, "y")], &dead, 1_000, at(2_000))
        .await
        .unwrap();
    store
        .finish_turn(id, &dead, TurnOutcome::Replied, at(2_001))
        .await
        .unwrap();
    let courier = WorkerId::new("b");
    // Still leased by the (dead) planner.
    assert!(
        store
            .claim_unsent_replies(&courier, LEASE, 10, at(2_500))
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store
        .claim_unsent_replies(&courier, LEASE, 10, at(3_000))
        .await
        .unwrap();
    assert_eq!(claimed.iter().map(|p| p.part).collect::<Vec<_>>(), [0, 1]);
    // Nobody else gets them while the courier's lease is live.
    assert!(
        store
            .claim_unsent_replies(&dead, LEASE, 10, at(3_001))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store.mark_reply_sent(12345, SendReceipt::default(), at(1)).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .plan_reply(id, vec![part(3, "a"), part(3, "b")], &dead, 1, at(1))
            .await,
        Err(StoreError::Invalid(_))
    ));
    store.close().await;
}

async fn opening_a_session_with_history_is_get_or_create_then_load(db: &dyn Db) {
    let store = db.open().await;
    const IDLE: Option<i64> = Some(1_000);
    let (created, history) = store
        .session_open_with_history("dm:bob", "main", at(10), IDLE, 2)
        .await
        .unwrap();
    assert_eq!(created.new_generation, Some(NewGeneration::Created));
    assert!(history.is_empty());
    let entries = ["a", "b", "c"].map(|text| NewTranscriptEntry {
        role: Role::User,
        content_json: format!(r#""{text}""#),
        inbound_id: None,
        at_ms: at(11),
    });
    store
        .transcript_append(created.session.id, 1, entries.to_vec())
        .await
        .unwrap();
    let (same, history) = store
        .session_open_with_history("dm:bob", "main", at(500), IDLE, 2)
        .await
        .unwrap();
    assert_eq!((same.session.id, same.new_generation), (created.session.id, None));
    assert_eq!(same.session.last_active_ms, at(500));
    assert_eq!(
        history,
        store.transcript_load(created.session.id, 2).await.unwrap()
    );
    assert_eq!(
        history
            .iter()
            .map(|e| e.content_json.as_str())
            .collect::<Vec<_>>(),
        [r#""b""#, r#""c""#]
    );
    // Idle past the limit: a new generation, so no history.
    let (reset, history) = store
        .session_open_with_history("dm:bob", "main", at(2_000), IDLE, 2)
        .await
        .unwrap();
    assert_eq!(
        (reset.session.generation, reset.new_generation),
        (2, Some(NewGeneration::IdleReset))
    );
    assert!(history.is_empty());
    store.close().await;
}

async fn idle_reset_starts_a_new_generation_and_history(db: &dyn Db) {
    let store = db.open().await;
    const IDLE: Option<i64> = Some(30 * 60 * 1000);
    let opened = store
        .session_get_or_create("dm:alice", "main", at(1_000), IDLE)
        .await
        .unwrap();
    assert_eq!(opened.new_generation, Some(NewGeneration::Created));
    let s = opened.session;
    assert_eq!(s.generation, 1);
    let entry = |role, text: &str, at_ms| NewTranscriptEntry {
        role,
        content_json: format!(r#""{text}""#),
        inbound_id: None,
        at_ms,
    };
    store
        .transcript_append(
            s.id,
            1,
            vec![
                entry(Role::User, "hi", at(1_000)),
                entry(Role::Assistant, "hello", at(1_001)),
            ],
        )
        .await
        .unwrap();

    let same = store
        .session_get_or_create("dm:alice", "main", at(60_000), IDLE)
        .await
        .unwrap();
    assert_eq!((same.session.generation, same.new_generation), (1, None));
    assert_eq!(store.transcript_load(s.id, 10).await.unwrap().len(), 2);

    let idle = 60_000 + 30 * 60 * 1000 + 1;
    let reset = store
        .session_get_or_create("dm:alice", "main", at(idle), IDLE)
        .await
        .unwrap();
    assert_eq!(reset.new_generation, Some(NewGeneration::IdleReset));
    assert_eq!((reset.session.id, reset.session.generation), (s.id, 2));
    assert!(store.transcript_load(s.id, 10).await.unwrap().is_empty());
    store
        .transcript_append(
            s.id,
            2,
            vec![
                entry(Role::User, "a", at(idle)),
                entry(Role::Assistant, "b", at(idle + 1)),
                entry(Role::User, "c", at(idle + 2)),
            ],
        )
        .await
        .unwrap();
    let last_two = store.transcript_load(s.id, 2).await.unwrap();
    assert_eq!(
        last_two
            .iter()
            .map(|e| e.content_json.as_str())
            .collect::<Vec<_>>(),
        [r#""b""#, r#""c""#]
    );
    assert!(last_two.iter().all(|e| e.generation == 2));

    let manual = store
        .session_reset("dm:alice", at(idle + 10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(manual.generation, 3);
    assert!(store.transcript_load(s.id, 10).await.unwrap().is_empty());
    assert!(store.session_reset("dm:nobody", at(1)).await.unwrap().is_none());
    let moved = store
        .session_get_or_create("dm:alice", "other", at(idle + 20), IDLE)
        .await
        .unwrap();
    assert_eq!(moved.new_generation, Some(NewGeneration::AgentChanged));
    assert_eq!(moved.session.generation, 4);
    assert!(matches!(
        store
            .transcript_append(s.id, 9, vec![entry(Role::User, "x", at(1))])
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.transcript_append(777, 1, vec![]).await,
        Err(StoreError::NotFound { .. })
    ));
    store.close().await;
}

async fn conversation_and_session_ids_are_case_sensitive(db: &dyn Db) {
    let store = db.open().await;
    let upper = store
        .record_inbound(message("msgX", "group:cidAbC", "cidAbC"))
        .await
        .unwrap();
    let lower = store
        .record_inbound(message("msgx", "group:cidabc", "cidabc"))
        .await
        .unwrap();
    let (RecordOutcome::New(u), RecordOutcome::New(l)) = (upper, lower) else {
        panic!("ids differing only by case are different messages: {upper:?} {lower:?}");
    };
    assert_eq!(
        store
            .inbound(u)
            .await
            .unwrap()
            .unwrap()
            .record
            .conversation_id
            .as_str(),
        "cidAbC"
    );
    assert_eq!(
        store
            .inbound(l)
            .await
            .unwrap()
            .unwrap()
            .record
            .conversation_id
            .as_str(),
        "cidabc"
    );
    let a = store
        .session_get_or_create("group:cidAbC", "main", at(1), None)
        .await
        .unwrap();
    let b = store
        .session_get_or_create("group:cidabc", "main", at(1), None)
        .await
        .unwrap();
    assert_ne!(a.session.id, b.session.id);
    assert_eq!(store.session_get("group:CIDABC").await.unwrap(), None);
    assert_eq!(
        store.session_get("group:cidAbC").await.unwrap().unwrap().key,
        "group:cidAbC"
    );
    store.close().await;
}

async fn pairing_lifecycle(db: &dyn Db) {
    let store = db.open().await;
    let policy = PairingPolicy {
        ttl_ms: 3_600_000,
        max_pending_per_account: 2,
    };
    let alice = "alice";
    let PairingOutcome::Created(code) = store
        .pairing_request("acct", alice, "Alice", policy, at(0))
        .await
        .unwrap()
    else {
        panic!("first request creates a code");
    };
    assert_eq!(code.code.len(), 8);
    assert_eq!(code.expires_at_ms, at(3_600_000));
    // Asking again returns the same live code (rate limit).
    assert_eq!(
        store
            .pairing_request("acct", alice, "Alice", policy, at(10))
            .await
            .unwrap(),
        PairingOutcome::Existing(code.clone())
    );
    // At most two pending per account.
    let bob = "bob";
    let PairingOutcome::Created(bob_code) = store
        .pairing_request("acct", bob, "Bob", policy, at(20))
        .await
        .unwrap()
    else {
        panic!("second sender gets a code");
    };
    assert_eq!(
        store
            .pairing_request("acct", "carol", "Carol", policy, at(30))
            .await
            .unwrap(),
        PairingOutcome::TooManyPending { limit: 2 }
    );
    // Another account has its own budget.
    assert!(matches!(
        store
            .pairing_request("acct2", "carol", "Carol", policy, at(30))
            .await
            .unwrap(),
        PairingOutcome::Created(_)
    ));
    let pending = store.pairing_list(PairingFilter::Pending, at(40)).await.unwrap();
    assert_eq!(pending.len(), 3);

    // Approve (typed in lower case with a dash) → allowlisted; single use.
    assert!(!store.is_approved("acct", alice).await.unwrap());
    let typed = format!("{}-{}", &code.code[..4], &code.code[4..]).to_lowercase();
    let approved = store.pairing_approve(&typed, at(100)).await.unwrap();
    assert_eq!(
        (approved.account_id.as_str(), approved.sender_id.as_str()),
        ("acct", "alice")
    );
    assert_eq!(approved.via_code.as_deref(), Some(code.code.as_str()));
    assert!(store.is_approved("acct", alice).await.unwrap());
    assert!(!store.is_approved("acct2", alice).await.unwrap());
    assert!(matches!(
        store.pairing_approve(&code.code, at(101)).await,
        Err(StoreError::Pairing(PairingError::AlreadyDecided { .. }))
    ));
    assert_eq!(
        store
            .pairing_request("acct", alice, "Alice", policy, at(102))
            .await
            .unwrap(),
        PairingOutcome::AlreadyApproved
    );

    // Reject → not approved, code used up.
    let rejected = store.pairing_reject(&bob_code.code, at(200)).await.unwrap();
    assert_eq!(rejected.status, PairingStatus::Rejected);
    assert!(!store.is_approved("acct", bob).await.unwrap());
    assert!(matches!(
        store.pairing_approve(&bob_code.code, at(201)).await,
        Err(StoreError::Pairing(PairingError::AlreadyDecided { .. }))
    ));

    // Expiry: a code can't be approved after its hour; asking again gives a new code.
    let dave = "dave";
    let PairingOutcome::Created(old) = store
        .pairing_request("acct", dave, "Dave", policy, at(1_000))
        .await
        .unwrap()
    else {
        panic!("dave gets a code");
    };
    let late = 1_000 + policy.ttl_ms;
    let err = store.pairing_approve(&old.code, at(late)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Pairing(PairingError::Expired { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("expired"));
    assert!(
        store
            .pairing_list(PairingFilter::Pending, at(late))
            .await
            .unwrap()
            .iter()
            .all(|r| r.code != old.code)
    );
    let PairingOutcome::Created(fresh) = store
        .pairing_request("acct", dave, "Dave", policy, at(late))
        .await
        .unwrap()
    else {
        panic!("a new code after expiry");
    };
    assert_ne!(fresh.code, old.code);
    let all = store.pairing_list(PairingFilter::All, at(late)).await.unwrap();
    assert_eq!(
        all.iter().find(|r| r.code == old.code).unwrap().status,
        PairingStatus::Expired
    );

    assert!(matches!(
        store.pairing_approve("ZZZZZZZZ", at(late)).await,
        Err(StoreError::Pairing(PairingError::UnknownCode { .. }))
    ));
    assert_eq!(store.approved_senders(Some("acct")).await.unwrap().len(), 1);
    assert!(store.revoke_sender("acct", alice).await.unwrap());
    assert!(!store.revoke_sender("acct", alice).await.unwrap());
    assert!(!store.is_approved("acct", alice).await.unwrap());
    store.close().await;
}

async fn migrations_are_idempotent_and_data_survives_reopen(db: &dyn Db) {
    let store = db.open().await;
    store
        .session_get_or_create("k", "main", at(1), None)
        .await
        .unwrap();
    store.close().await;
    for _ in 0..2 {
        let store = db.open().await;
        assert!(store.session_get("k").await.unwrap().is_some());
        store.close().await;
    }
    // Two stores on one file at once (gateway + `clawtalk pairing approve`) both work.
    let (a, b) = (db.open().await, db.open().await);
    let PairingOutcome::Created(req) = a
        .pairing_request("acct", "x", "X", PairingPolicy::default(), at(0))
        .await
        .unwrap()
    else {
        panic!("created");
    };
    b.pairing_approve(&req.code, at(1)).await.unwrap();
    assert!(a.is_approved("acct", "x").await.unwrap());
    a.close().await;
    b.close().await;

    let applied = db
        .count("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .await;
    let dir = format!(
        "{}/migrations/{}",
        env!("CARGO_MANIFEST_DIR"),
        db.migrations_dir()
    );
    let files = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    assert_eq!(usize::try_from(applied).unwrap(), files);
}

async fn purge_keeps_open_work_and_recent_history(db: &dyn Db) {
    let store = db.open().await;
    let me = WorkerId::new("gw");
    let old = record_queued(&store, "old", "s1").await;
    store
        .claim_next_turn(ClaimScope::Any, &me, LEASE, at(2_000))
        .await
        .unwrap()
        .unwrap();
    let planned = store
        .plan_reply(old, vec![part(0, "x")], &me, LEASE, at(2_000))
        .await
        .unwrap();
    store
        .finish_turn(old, &me, TurnOutcome::Replied, at(2_000))
        .await
        .unwrap();
    store
        .mark_reply_sent(planned[0].id, SendReceipt::default(), at(2_000))
        .await
        .unwrap();
    // Finished turns whose reply is not out yet (an answer, an error notice): purging them
    // would lose what the user is still owed.
    let mut unsent = Vec::new();
    for (msg_id, session, outcome) in [
        ("unsent", "s4", TurnOutcome::Replied),
        ("notice", "s5", TurnOutcome::Failed("model down".into())),
    ] {
        let id = record_queued(&store, msg_id, session).await;
        store
            .claim_next_turn(ClaimScope::Session(session), &me, LEASE, at(2_000))
            .await
            .unwrap()
            .unwrap();
        store
            .plan_reply(id, vec![part(0, msg_id)], &me, LEASE, at(2_000))
            .await
            .unwrap();
        store.finish_turn(id, &me, outcome, at(2_000)).await.unwrap();
        unsent.push(id);
    }
    // Claimed and running when the purge comes.
    let running = record_queued(&store, "running", "s6").await;
    store
        .claim_next_turn(ClaimScope::Session("s6"), &me, LEASE, at(2_000))
        .await
        .unwrap()
        .unwrap();
    let open_one = record_queued(&store, "open", "s2").await;
    let recent = record_queued(&store, "recent", "s3").await;
    store
        .claim_next_turn(ClaimScope::Session("s3"), &me, LEASE, at(9_000))
        .await
        .unwrap()
        .unwrap();
    store
        .finish_turn(recent, &me, TurnOutcome::Replied, at(9_000))
        .await
        .unwrap();

    assert_eq!(store.purge_finished(at(5_000)).await.unwrap(), 1);
    assert!(store.inbound(old).await.unwrap().is_none());
    assert!(
        store.reply_parts(old).await.unwrap().is_empty(),
        "parts go with their message"
    );
    assert!(store.inbound(open_one).await.unwrap().is_some());
    assert!(store.inbound(recent).await.unwrap().is_some());
    assert!(store.inbound(running).await.unwrap().is_some());
    for id in unsent {
        assert!(store.inbound(id).await.unwrap().is_some(), "{id} kept");
        let parts = store.reply_parts(id).await.unwrap();
        assert_eq!(parts.len(), 1, "its unsent part is kept");
    }
    store.close().await;
    assert_eq!(store.inbound(open_one).await, Err(StoreError::Closed));
}

async fn the_gateway_can_hold_it_as_a_trait_object(db: &dyn Db) {
    let store: Arc<dyn Store> = db.open().await;
    let pairing: Arc<dyn PairingStore> = store.clone();
    assert!(!pairing.is_approved("a", "s").await.unwrap());
    assert!(matches!(
        store.record_inbound(message("m", "s", "c")).await.unwrap(),
        RecordOutcome::New(_)
    ));
    store.close().await;
}

async fn sessions_list_most_recent_first_and_read_by_id(db: &dyn Db) {
    let store = db.open().await;
    let old = store
        .session_get_or_create("dm:old", "main", at(1_000), None)
        .await
        .unwrap()
        .session;
    let new = store
        .session_get_or_create("dm:new", "main", at(5_000), None)
        .await
        .unwrap()
        .session;
    let listed = store.session_list(10).await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["dm:new", "dm:old"]);
    assert_eq!(store.session_list(1).await.unwrap().len(), 1);
    assert_eq!(store.session_by_id(old.id).await.unwrap(), Some(old));
    assert_eq!(store.session_by_id(new.id + 100).await.unwrap(), None);
    store.close().await;
}

fn entry_at(ms: i64) -> NewTranscriptEntry {
    NewTranscriptEntry {
        role: Role::User,
        content_json: "{}".into(),
        inbound_id: None,
        at_ms: at(ms),
    }
}

async fn a_deleted_session_takes_its_transcripts_and_starts_afresh(db: &dyn Db) {
    let store = db.open().await;
    let gone = store
        .session_get_or_create("dm:gone", "main", at(1_000), None)
        .await
        .unwrap()
        .session;
    let kept = store
        .session_get_or_create("dm:kept", "main", at(1_000), None)
        .await
        .unwrap()
        .session;
    for session in [&gone, &kept] {
        store
            .transcript_append(session.id, 1, vec![entry_at(1_001)])
            .await
            .unwrap();
    }
    store.session_reset("dm:gone", at(2_000)).await.unwrap();
    store
        .transcript_append(gone.id, 2, vec![entry_at(2_001)])
        .await
        .unwrap();

    let deleted = store.session_delete("dm:gone").await.unwrap().unwrap();
    assert_eq!((deleted.id, deleted.generation), (gone.id, 2));
    assert_eq!(store.session_get("dm:gone").await.unwrap(), None);
    assert_eq!(store.session_by_id(gone.id).await.unwrap(), None);
    assert!(store.transcript_load(gone.id, 100).await.unwrap().is_empty());
    assert_eq!(
        store.session_delete("dm:gone").await.unwrap(),
        None,
        "already gone"
    );
    assert_eq!(
        store.transcript_load(kept.id, 100).await.unwrap().len(),
        1,
        "others keep theirs"
    );

    let again = store
        .session_get_or_create("dm:gone", "main", at(3_000), None)
        .await
        .unwrap()
        .session;
    assert_ne!(again.id, gone.id);
    assert_eq!(again.generation, 1);
    assert!(store.transcript_load(again.id, 100).await.unwrap().is_empty());
    store.close().await;
}

fn card(id: &str, account: &str) -> NewCard {
    NewCard {
        out_track_id: id.to_owned(),
        account_id: AccountId::new(account.to_owned()),
        inbound_id: None,
        session_key: "s".to_owned(),
        conversation_id: "cidABC==".to_owned(),
    }
}

async fn open_cards_are_listed_until_closed(db: &dyn Db) {
    let store = db.open().await;
    store.card_open(card("c1", "a"), at(1)).await.unwrap();
    store.card_open(card("c2", "b"), at(2)).await.unwrap();
    store.card_open(card("c1", "a"), at(3)).await.unwrap();
    store.card_progress("c1", "partial", at(4)).await.unwrap();
    let open = store.cards_open(None).await.unwrap();
    assert_eq!(
        open.iter().map(|c| c.out_track_id.as_str()).collect::<Vec<_>>(),
        ["c1", "c2"]
    );
    assert_eq!(open[0].content, "partial");
    assert_eq!(store.cards_open(Some("b")).await.unwrap().len(), 1);
    store
        .card_close("c1", CardStatus::Finished, "final", at(5))
        .await
        .unwrap();
    let c1 = store.card("c1").await.unwrap().unwrap();
    assert_eq!((c1.status, c1.content.as_str()), (CardStatus::Finished, "final"));
    assert_eq!(store.cards_open(None).await.unwrap().len(), 1);
    assert!(matches!(
        store.card_progress("nope", "x", at(6)).await,
        Err(StoreError::NotFound { what: "card", .. })
    ));
}

async fn open_cards_of_one_message_are_listed_oldest_first(db: &dyn Db) {
    let store = db.open().await;
    let of = |id: &str, inbound: Option<InboundId>| NewCard {
        inbound_id: inbound,
        ..card(id, "a")
    };
    store.card_open(of("late", Some(7)), at(3)).await.unwrap();
    store.card_open(of("early", Some(7)), at(1)).await.unwrap();
    store.card_open(of("other", Some(8)), at(2)).await.unwrap();
    store.card_open(of("none", None), at(2)).await.unwrap();
    store.card_open(of("done", Some(7)), at(2)).await.unwrap();
    store
        .card_close("done", CardStatus::Finished, "final", at(4))
        .await
        .unwrap();
    let open = store.cards_open_for(7).await.unwrap();
    assert_eq!(
        open.iter().map(|c| c.out_track_id.as_str()).collect::<Vec<_>>(),
        ["early", "late"]
    );
    assert_eq!(open[0].inbound_id, Some(7));
    assert!(store.cards_open_for(9).await.unwrap().is_empty());
}

fn webhook_task(next_run_at_ms: i64) -> NewCronTask {
    NewCronTask {
        account_id: AccountId::new("default"),
        agent_id: "main".into(),
        name: "weather".into(),
        prompt: "Beijing weather".into(),
        kind: CronKind::Cron,
        schedule: "0 9 * * *".into(),
        timezone: "Asia/Shanghai".into(),
        target: CronTarget::Webhook {
            url: "https://oapi.dingtalk.com/robot/send?access_token=tok-secret".into(),
            secret: Some("SECsecret".into()),
        },
        created_by: Some("0312".into()),
        origin: Some("user:0312".into()),
        next_run_at_ms: at(next_run_at_ms),
    }
}

async fn cron_tasks_round_trip_and_hide_the_webhook_token_in_debug(db: &dyn Db) {
    let store = db.open().await;
    let created = store.cron_create(webhook_task(1_000), at(10)).await.unwrap();
    assert_eq!(created.status, CronStatus::Active);
    assert_eq!(created.next_run_at_ms, Some(at(1_000)));
    assert_eq!(store.cron_get(created.id).await.unwrap().unwrap(), created);
    let shown = format!("{created:?}");
    assert!(
        !shown.contains("tok-secret") && !shown.contains("SECsecret"),
        "{shown}"
    );
    assert!(shown.contains("oapi.dingtalk.com/robot/send"), "{shown}");
}

async fn only_due_unleased_cron_tasks_are_claimed_and_firing_moves_them_on(db: &dyn Db) {
    let store = db.open().await;
    let me = WorkerId::new("a");
    let task = store.cron_create(webhook_task(1_000), at(0)).await.unwrap();
    assert!(
        store
            .cron_claim_due(&me, 60_000, 10, at(999))
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    assert_eq!(store.cron_next_due(at(0)).await.unwrap(), Some(at(1_000)));
    let claimed = store.cron_claim_due(&me, 60_000, 10, at(1_000)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(
        store
            .cron_claim_due(&WorkerId::new("b"), 60_000, 10, at(2_000))
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    let fired = CronFired {
        next_run_at_ms: Some(at(90_000)),
        served_request_ms: None,
        ran: true,
    };
    assert!(store.cron_fired(task.id, &me, fired, at(2_000)).await.unwrap());
    let after = store.cron_get(task.id).await.unwrap().unwrap();
    assert_eq!(
        (after.next_run_at_ms, after.runs, after.last_run_at_ms),
        (Some(at(90_000)), 1, Some(at(2_000)))
    );
    assert!(after.lease.is_none());
    assert!(
        !store.cron_fired(task.id, &me, fired, at(2_001)).await.unwrap(),
        "the lease was released"
    );

    // A lapsed lease is taken over; the old holder's report is then refused.
    store.cron_claim_due(&me, 1_000, 10, at(90_000)).await.unwrap();
    let other = WorkerId::new("b");
    assert_eq!(
        store
            .cron_claim_due(&other, 60_000, 10, at(91_000))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(!store.cron_fired(task.id, &me, fired, at(91_001)).await.unwrap());
}

async fn one_shot_cron_tasks_end_and_cancelled_or_run_now_tasks_behave(db: &dyn Db) {
    let store = db.open().await;
    let me = WorkerId::new("a");
    let mut once = webhook_task(5_000);
    once.kind = CronKind::Once;
    let once = store.cron_create(once, at(0)).await.unwrap();
    store.cron_claim_due(&me, 60_000, 10, at(5_000)).await.unwrap();
    let fired = CronFired {
        next_run_at_ms: None,
        served_request_ms: None,
        ran: true,
    };
    assert!(store.cron_fired(once.id, &me, fired, at(5_001)).await.unwrap());
    assert_eq!(
        store.cron_get(once.id).await.unwrap().unwrap().status,
        CronStatus::Done
    );
    assert!(store.cron_list(false).await.unwrap().is_empty());
    assert_eq!(store.cron_list(true).await.unwrap().len(), 1);

    let daily = store.cron_create(webhook_task(1_000_000), at(0)).await.unwrap();
    let requested = store.cron_run_now(daily.id, at(10)).await.unwrap().unwrap();
    assert_eq!(requested.run_requested_at_ms, Some(at(10)));
    assert_eq!(store.cron_next_due(at(10)).await.unwrap(), Some(at(10)));
    assert_eq!(
        store.cron_claim_due(&me, 60_000, 10, at(11)).await.unwrap().len(),
        1,
        "run-now is due at once"
    );
    let served = CronFired {
        next_run_at_ms: Some(at(1_000_000)),
        served_request_ms: Some(at(10)),
        ran: true,
    };
    assert!(store.cron_fired(daily.id, &me, served, at(12)).await.unwrap());
    assert_eq!(
        store
            .cron_get(daily.id)
            .await
            .unwrap()
            .unwrap()
            .run_requested_at_ms,
        None
    );

    assert!(store.cron_cancel(daily.id, at(20)).await.unwrap().is_some());
    assert!(
        store.cron_cancel(daily.id, at(21)).await.unwrap().is_none(),
        "already cancelled"
    );
    assert!(store.cron_run_now(daily.id, at(22)).await.unwrap().is_none());
    assert!(
        store
            .cron_claim_due(&me, 60_000, 10, at(2_000_000))
            .await
            .unwrap()
            .is_empty(),
        "cancelled tasks never fire"
    );
    store
        .cron_record_result(daily.id, CronRunStatus::Failed, Some("model down"), at(30))
        .await
        .unwrap();
    let last = store.cron_get(daily.id).await.unwrap().unwrap();
    assert_eq!(
        (last.last_status, last.last_error.as_deref()),
        (Some(CronRunStatus::Failed), Some("model down"))
    );
}

async fn paused_cron_tasks_skip_scheduled_runs_but_not_run_now(db: &dyn Db) {
    let store = db.open().await;
    let me = WorkerId::new("a");
    let task = store.cron_create(webhook_task(1_000), at(0)).await.unwrap();
    let paused = store.cron_pause(task.id, at(10)).await.unwrap().unwrap();
    assert_eq!(
        (paused.status, paused.paused_at_ms),
        (CronStatus::Active, Some(at(10)))
    );
    assert!(
        store.cron_pause(task.id, at(11)).await.unwrap().is_none(),
        "already paused"
    );
    assert_eq!(
        store.cron_list(false).await.unwrap().len(),
        1,
        "a paused task is listed"
    );
    assert_eq!(store.cron_next_due(at(20)).await.unwrap(), None);
    assert!(
        store
            .cron_claim_due(&me, 60_000, 10, at(5_000))
            .await
            .unwrap()
            .is_empty(),
        "a paused task's scheduled run is skipped"
    );

    store.cron_run_now(task.id, at(6_000)).await.unwrap().unwrap();
    assert_eq!(store.cron_next_due(at(6_000)).await.unwrap(), Some(at(6_000)));
    let claimed = store.cron_claim_due(&me, 60_000, 10, at(6_001)).await.unwrap();
    assert_eq!(claimed.len(), 1, "run-now runs a paused task");
    let served = CronFired {
        next_run_at_ms: Some(at(1_000)),
        served_request_ms: Some(at(6_000)),
        ran: true,
    };
    assert!(store.cron_fired(task.id, &me, served, at(6_002)).await.unwrap());
    assert!(
        store
            .cron_claim_due(&me, 60_000, 10, at(7_000))
            .await
            .unwrap()
            .is_empty()
    );

    let resumed = store
        .cron_resume(task.id, Some(at(90_000)), at(8_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (resumed.paused_at_ms, resumed.next_run_at_ms),
        (None, Some(at(90_000)))
    );
    assert!(
        store
            .cron_resume(task.id, None, at(8_001))
            .await
            .unwrap()
            .is_none(),
        "not paused"
    );
    assert_eq!(store.cron_next_due(at(8_000)).await.unwrap(), Some(at(90_000)));
    assert_eq!(
        store
            .cron_claim_due(&me, 60_000, 10, at(90_000))
            .await
            .unwrap()
            .len(),
        1
    );

    store.cron_pause(task.id, at(91_000)).await.unwrap().unwrap();
    let kept = store
        .cron_resume(task.id, None, at(92_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        kept.next_run_at_ms,
        Some(at(90_000)),
        "None keeps the stored next run"
    );
    store.cron_cancel(task.id, at(93_000)).await.unwrap().unwrap();
    assert!(
        store.cron_pause(task.id, at(94_000)).await.unwrap().is_none(),
        "cancelled"
    );
    store.close().await;
}

/// Opens `n` stores on one database: `n` replicas (PostgreSQL) or processes (SQLite file).
/// An hour: how far a callback's timestamp may be from the clock.
const HOUR: i64 = 3_600_000;

async fn a_callback_sign_belongs_to_its_first_message_across_reopens(db: &dyn Db) {
    let t = 100 * HOUR;
    let store = db.open().await;
    assert_eq!(
        store
            .callback_sign_use("app", at(t), "m1", at(t - HOUR))
            .await
            .unwrap(),
        SignUse::First
    );
    store.close().await;
    // A restart (SQLite) or another replica (PostgreSQL) knows the pair.
    let store = db.open().await;
    assert_eq!(
        store
            .callback_sign_use("app", at(t), "m1", at(t - HOUR))
            .await
            .unwrap(),
        SignUse::Again,
        "the same message again"
    );
    assert_eq!(
        store
            .callback_sign_use("app", at(t), "forged", at(t - HOUR))
            .await
            .unwrap(),
        SignUse::Taken,
        "another body under a used pair"
    );
    assert_eq!(
        store
            .callback_sign_use("app", at(t + 1), "forged", at(t - HOUR))
            .await
            .unwrap(),
        SignUse::First,
        "another timestamp is another pair"
    );
    assert_eq!(
        store
            .callback_sign_use("other", at(t), "forged", at(t - HOUR))
            .await
            .unwrap(),
        SignUse::First,
        "another account's pair"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM callback_signs").await,
        3,
        "a refused message claims nothing"
    );
    // Pairs older than the caller's cut-off are forgotten, newer ones kept.
    assert_eq!(
        store
            .callback_sign_use("app", at(t + 2), "m2", at(t + 1))
            .await
            .unwrap(),
        SignUse::First
    );
    assert_eq!(db.count("SELECT count(*) FROM callback_signs").await, 2);
    assert_eq!(
        store
            .callback_sign_use("app", at(t + 1), "m3", at(t + 1))
            .await
            .unwrap(),
        SignUse::Taken
    );
    store.close().await;
}

async fn replicas_racing_one_callback_sign_give_it_to_one_message(db: &dyn Db) {
    let stores = replicas(db, 4).await;
    for round in 0..10 {
        let t = 100 * HOUR + round;
        // The same pair with 12 different bodies at once, across 4 replicas.
        let tasks: Vec<_> = (0..12)
            .map(|n| {
                let store = Arc::clone(&stores[n % stores.len()]);
                tokio::spawn(async move {
                    let msg_id = format!("m{n}");
                    let used = store
                        .callback_sign_use("app", at(t), &msg_id, at(0))
                        .await
                        .unwrap();
                    (msg_id, used)
                })
            })
            .collect();
        let mut first = Vec::new();
        for task in tasks {
            let (msg_id, used) = task.await.unwrap();
            match used {
                SignUse::First => first.push(msg_id),
                SignUse::Taken => {}
                SignUse::Again => panic!("round {round}: {msg_id} was never used before"),
            }
        }
        assert_eq!(first.len(), 1, "round {round}: {first:?}");
        assert_eq!(
            stores[3]
                .callback_sign_use("app", at(t), &first[0], at(0))
                .await
                .unwrap(),
            SignUse::Again
        );
    }
    close_all(&stores).await;
}

async fn replicas(db: &dyn Db, n: usize) -> Vec<Arc<dyn Store>> {
    let mut stores = Vec::with_capacity(n);
    for _ in 0..n {
        stores.push(db.open().await);
    }
    stores
}

async fn close_all(stores: &[Arc<dyn Store>]) {
    for store in stores {
        store.close().await;
    }
}

async fn replicas_racing_one_message_record_it_once(db: &dyn Db) {
    let stores = replicas(db, 4).await;
    for round in 0..10 {
        let msg_id = format!("redelivered-{round}");
        // DingTalk hands the same msgId to every connection: 4 replicas × 3 tasks each.
        let tasks: Vec<_> = (0..12)
            .map(|n| {
                let store = Arc::clone(&stores[n % stores.len()]);
                let msg_id = msg_id.clone();
                tokio::spawn(async move {
                    store
                        .record_inbound(message(&msg_id, "s1", "cidA"))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut new = Vec::new();
        let mut duplicate_of = HashSet::new();
        for task in tasks {
            match task.await.unwrap() {
                RecordOutcome::New(id) => new.push(id),
                RecordOutcome::Duplicate { id, .. } => {
                    duplicate_of.insert(id);
                }
            }
        }
        assert_eq!(new.len(), 1, "round {round}: exactly one replica sees it new");
        assert_eq!(duplicate_of, HashSet::from([new[0]]), "round {round}");
    }
    close_all(&stores).await;
}

async fn replicas_claiming_turns_never_run_a_session_twice_and_keep_its_order(db: &dyn Db) {
    const SESSIONS: usize = 20;
    const MESSAGES: usize = 200;
    let stores = replicas(db, 2).await;
    let mut expected: BTreeMap<String, Vec<InboundId>> = BTreeMap::new();
    for i in 0..MESSAGES {
        let session = format!("s{}", i % SESSIONS);
        let id = record_queued(&stores[i % 2], &format!("m{i}"), &session).await;
        expected.entry(session).or_default().push(id);
    }
    // Sessions some worker holds right now, and each session's turns in claim order.
    let running = Arc::new(Mutex::new(HashSet::<String>::new()));
    let started = Arc::new(Mutex::new(BTreeMap::<String, Vec<InboundId>>::new()));
    let workers: Vec<_> = (0..8)
        .map(|n| {
            let store = Arc::clone(&stores[n % 2]);
            let (running, started) = (Arc::clone(&running), Arc::clone(&started));
            tokio::spawn(async move {
                let me = WorkerId::new(format!("replica{}-w{n}", n % 2));
                let mut idle_rounds = 0;
                while idle_rounds < 20 {
                    let Some(turn) = store
                        .claim_next_turn(ClaimScope::Any, &me, LEASE, at(2_000))
                        .await
                        .unwrap()
                    else {
                        idle_rounds += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        continue;
                    };
                    idle_rounds = 0;
                    let session = turn.record.session_key.clone();
                    assert!(
                        running.lock().unwrap().insert(session.clone()),
                        "{session} got a second running turn ({})",
                        turn.id
                    );
                    started
                        .lock()
                        .unwrap()
                        .entry(session.clone())
                        .or_default()
                        .push(turn.id);
                    tokio::task::yield_now().await;
                    // Out of the set before the finish commits: until then nobody can claim it.
                    running.lock().unwrap().remove(&session);
                    store
                        .finish_turn(turn.id, &me, TurnOutcome::Replied, at(2_001))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let started = started.lock().unwrap().clone();
    assert_eq!(
        started, expected,
        "every message claimed once, each session in order"
    );
    close_all(&stores).await;
}

async fn replicas_claim_each_due_cron_run_once(db: &dyn Db) {
    let stores = replicas(db, 2).await;
    let mut created = HashSet::new();
    for round in 0..30 {
        created.insert(
            stores[0]
                .cron_create(webhook_task(round), at(0))
                .await
                .unwrap()
                .id,
        );
    }
    let claimers: Vec<_> = (0..4)
        .map(|n| {
            let store = Arc::clone(&stores[n % 2]);
            tokio::spawn(async move {
                let me = WorkerId::new(format!("gw-{n}"));
                let mut got = Vec::new();
                loop {
                    let batch = store.cron_claim_due(&me, 60_000, 3, at(1_000)).await.unwrap();
                    if batch.is_empty() {
                        return got;
                    }
                    got.extend(batch.into_iter().map(|t| t.id));
                }
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for claimer in claimers {
        claimed.extend(claimer.await.unwrap());
    }
    let unique: HashSet<_> = claimed.iter().copied().collect();
    assert_eq!(unique.len(), claimed.len(), "a run claimed twice: {claimed:?}");
    assert_eq!(unique, created, "every due run claimed");
    close_all(&stores).await;
}

async fn replicas_approve_a_code_once_and_give_a_sender_one_code(db: &dyn Db) {
    let stores = replicas(db, 2).await;
    for round in 0..5 {
        let sender = format!("sender{round}");
        let requests: Vec<_> = (0..4)
            .map(|n| {
                let store = Arc::clone(&stores[n % 2]);
                let sender = sender.clone();
                tokio::spawn(async move {
                    store
                        .pairing_request("acct", &sender, "Nick", PairingPolicy::default(), at(1_000))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut codes = HashSet::new();
        let mut created = 0;
        for request in requests {
            match request.await.unwrap() {
                PairingOutcome::Created(r) => {
                    created += 1;
                    codes.insert(r.code);
                }
                PairingOutcome::Existing(r) => {
                    codes.insert(r.code);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((created, codes.len()), (1, 1), "one live code per sender");
        let code = codes.into_iter().next().unwrap();
        let approvals: Vec<_> = (0..4)
            .map(|n| {
                let store = Arc::clone(&stores[n % 2]);
                let code = code.clone();
                tokio::spawn(async move { store.pairing_approve(&code, at(2_000)).await })
            })
            .collect();
        let mut approved = 0;
        for approval in approvals {
            match approval.await.unwrap() {
                Ok(_) => approved += 1,
                Err(StoreError::Pairing(PairingError::AlreadyDecided { .. })) => {}
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(approved, 1, "codes are single use");
        assert!(stores[1].is_approved("acct", &sender).await.unwrap());
    }
    close_all(&stores).await;
}

async fn replicas_opening_a_session_create_it_once(db: &dyn Db) {
    let stores = replicas(db, 2).await;
    for round in 0..10 {
        let key = format!("dm:{round}");
        let opens: Vec<_> = (0..4)
            .map(|n| {
                let store = Arc::clone(&stores[n % 2]);
                let key = key.clone();
                tokio::spawn(async move {
                    store
                        .session_get_or_create(&key, "main", at(1_000), None)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut ids = HashSet::new();
        let mut created = 0;
        for open in opens {
            let opened = open.await.unwrap();
            ids.insert(opened.session.id);
            created += usize::from(opened.new_generation == Some(NewGeneration::Created));
            assert_eq!(
                opened.session.generation, 1,
                "no replica starts a second generation"
            );
        }
        assert_eq!((created, ids.len()), (1, 1), "{key}");
    }
    close_all(&stores).await;
}

async fn replicas_claim_disjoint_unsent_replies(db: &dyn Db) {
    let stores = replicas(db, 2).await;
    let dead = WorkerId::new("dead");
    let mut planned = HashSet::new();
    for i in 0..10 {
        let id = record_queued(&stores[0], &format!("m{i}"), &format!("s{i}")).await;
        stores[0]
            .claim_next_turn(ClaimScope::Session(&format!("s{i}")), &dead, 1_000, at(2_000))
            .await
            .unwrap()
            .unwrap();
        let parts = stores[0]
            .plan_reply(id, vec![part(0, "a"), part(1, "b")], &dead, 1_000, at(2_000))
            .await
            .unwrap();
        planned.extend(parts.iter().map(|p| p.id));
        stores[0]
            .finish_turn(id, &dead, TurnOutcome::Replied, at(2_001))
            .await
            .unwrap();
    }
    let couriers: Vec<_> = (0..4)
        .map(|n| {
            let store = Arc::clone(&stores[n % 2]);
            tokio::spawn(async move {
                let me = WorkerId::new(format!("courier{n}"));
                let mut got = Vec::new();
                loop {
                    let batch = store
                        .claim_unsent_replies(&me, LEASE, 3, at(5_000))
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        return got;
                    }
                    got.extend(batch.into_iter().map(|p| p.id));
                }
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for courier in couriers {
        claimed.extend(courier.await.unwrap());
    }
    let unique: HashSet<_> = claimed.iter().copied().collect();
    assert_eq!(unique.len(), claimed.len(), "a part leased twice: {claimed:?}");
    assert_eq!(unique, planned);
    close_all(&stores).await;
}

async fn rate_budgets_count_a_sliding_window(db: &dyn Db) {
    let budget = db.open_budget().await;
    for ms in [0, 10, 20] {
        assert_eq!(
            budget.rate_take("k", 3, 1_000, at(ms)).await.unwrap(),
            None,
            "{ms}"
        );
    }
    assert_eq!(
        budget.rate_take("k", 3, 1_000, at(30)).await.unwrap(),
        Some(970),
        "full until the send at 0 leaves the window"
    );
    assert_eq!(
        budget.rate_take("other", 3, 1_000, at(30)).await.unwrap(),
        None,
        "budgets are per key"
    );
    assert_eq!(
        budget.rate_take("k", 3, 1_000, at(1_000)).await.unwrap(),
        None,
        "the send at 0 left"
    );
    assert_eq!(budget.rate_take("k", 3, 1_000, at(1_001)).await.unwrap(), Some(9));
    assert_eq!(budget.rate_take("k", 3, 1_000, at(1_010)).await.unwrap(), None);
}

async fn replicas_taking_from_one_budget_never_exceed_it(db: &dyn Db) {
    let mut budgets = Vec::new();
    for _ in 0..2 {
        budgets.push(db.open_budget().await);
    }
    let takers: Vec<_> = (0..6)
        .map(|n| {
            let budget = Arc::clone(&budgets[n % 2]);
            tokio::spawn(async move {
                let mut granted = 0;
                for _ in 0..10 {
                    if budget
                        .rate_take("app:batchSend", 7, 1_000, at(5_000))
                        .await
                        .unwrap()
                        .is_none()
                    {
                        granted += 1;
                    }
                }
                granted
            })
        })
        .collect();
    let mut granted = 0;
    for taker in takers {
        granted += taker.await.unwrap();
    }
    assert_eq!(granted, 7, "exactly the budget, however the takes interleave");
}

/// What a shared send budget costs per send: `cargo test -p clawtalk-store --test contract --
/// --ignored --nocapture rate_take_cost` (with `CLAWTALK_TEST_PG` for the PostgreSQL figure).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run by hand"]
async fn rate_take_cost() {
    async fn measure(name: &str, db: &dyn Db) {
        let budget = db.open_budget().await;
        const TAKES: u32 = 500;
        let started = std::time::Instant::now();
        for i in 0..TAKES {
            // 20 sends a second, as the robot API allows: every take is granted.
            let now = 1_000_000 + i64::from(i) * 60;
            assert_eq!(
                budget
                    .rate_take("app:batchSend", 19, 1_100, at(now))
                    .await
                    .unwrap(),
                None
            );
        }
        let per_take = started.elapsed() / TAKES;
        println!("{name}: {per_take:?} per rate_take (one send), sequential");
    }
    measure("sqlite (synchronous=FULL)", &SqliteDb::new()).await;
    if let Some(db) = PgDb::create("rate_take_cost").await {
        measure("postgres (127.0.0.1)", &db).await;
    }
}
