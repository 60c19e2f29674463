//! The SQLite store against real database files in a temp dir.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clawtalk::store::*;
use dingtalk::ids::{ConversationId, MsgId, RobotCode, StaffId};

const LEASE: i64 = 30_000;

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("state").join("clawtalk.db")
}

async fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path).await.expect("open store")
}

fn message(msg_id: &str, session: &str, conversation: &str) -> InboundRecord {
    InboundRecord {
        account_id: "default".into(),
        robot_code: RobotCode::new("dingbot"),
        msg_id: MsgId::new(msg_id),
        conversation_id: ConversationId::new(conversation),
        sender_staff_id: Some(StaffId::new("0312")),
        session_key: session.into(),
        received_at_ms: 1_000,
        raw_payload_json: format!(r#"{{"msgId":"{msg_id}"}}"#),
        text: format!("hello {msg_id}"),
    }
}

async fn record_queued(store: &SqliteStore, msg_id: &str, session: &str) -> InboundId {
    let RecordOutcome::New(id) = store
        .record_inbound(message(msg_id, session, "cidA"))
        .await
        .expect("record")
    else {
        panic!("{msg_id} was not new");
    };
    store
        .dispatch_inbound(id, Dispatch::Queue, 1_000)
        .await
        .expect("queue");
    id
}

fn part(n: u32, text: &str) -> NewReplyPart {
    NewReplyPart {
        part: n,
        kind: "sampleMarkdown".into(),
        body_json: format!(r#"{{"text":"{text}"}}"#),
    }
}

#[tokio::test]
async fn dedup_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = open(&path).await;
    let first = store.record_inbound(message("m1", "s1", "cidA")).await.unwrap();
    let RecordOutcome::New(id) = first else {
        panic!("first delivery must be new: {first:?}")
    };
    store.close().await;

    let store = open(&path).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_yield_exactly_one_new() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&db_path(&dir)).await);
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

#[tokio::test]
async fn one_turn_per_session_across_two_workers() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db_path(&dir)).await;
    let a1 = record_queued(&store, "a1", "sA").await;
    let a2 = record_queued(&store, "a2", "sA").await;
    let b1 = record_queued(&store, "b1", "sB").await;
    let (w1, w2) = (WorkerId::new("gw"), WorkerId::new("gw"));

    let t1 = store
        .claim_next_turn(ClaimScope::Any, &w1, LEASE, 2_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t1.id, a1);
    assert_eq!(t1.status, InboundStatus::Running);
    assert_eq!(t1.attempts, 1);
    assert!(t1.lease.as_ref().unwrap().is_held_by(&w1, 2_000));
    // sA is busy, so the second worker gets sB, not a2.
    let t2 = store
        .claim_next_turn(ClaimScope::Any, &w2, LEASE, 2_001)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t2.id, b1);
    assert!(
        store
            .claim_next_turn(ClaimScope::Any, &w2, LEASE, 2_002)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .claim_next_turn(ClaimScope::Session("sA"), &w2, LEASE, 2_002)
            .await
            .unwrap()
            .is_none()
    );

    store
        .finish_turn(a1, &w1, TurnOutcome::Replied, 3_000)
        .await
        .unwrap();
    let t3 = store
        .claim_next_turn(ClaimScope::Session("sA"), &w2, LEASE, 3_001)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t3.id, a2);
    // Finishing twice, or with the wrong worker, is refused.
    assert_eq!(
        store.finish_turn(a1, &w1, TurnOutcome::Replied, 3_002).await,
        Err(StoreError::LeaseLost { id: a1 })
    );
    assert_eq!(
        store.finish_turn(a2, &w1, TurnOutcome::Replied, 3_002).await,
        Err(StoreError::LeaseLost { id: a2 })
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_never_run_a_session_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&db_path(&dir)).await);
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
                    .claim_next_turn(ClaimScope::Any, &me, LEASE, 2_000)
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

#[tokio::test]
async fn expired_lease_is_reclaimed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db_path(&dir)).await;
    let id = record_queued(&store, "m1", "s1").await;
    let (dead, alive) = (WorkerId::new("a"), WorkerId::new("b"));
    store
        .claim_next_turn(ClaimScope::Any, &dead, 1_000, 10_000)
        .await
        .unwrap()
        .unwrap();
    // Still leased at 10_999; lapsed at 11_000.
    assert!(
        store
            .claim_next_turn(ClaimScope::Any, &alive, LEASE, 10_999)
            .await
            .unwrap()
            .is_none()
    );
    let again = store
        .claim_next_turn(ClaimScope::Any, &alive, LEASE, 11_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, id);
    assert_eq!(again.attempts, 2);
    assert_eq!(
        store.renew_lease(id, &dead, LEASE, 11_001).await,
        Err(StoreError::LeaseLost { id })
    );
    assert_eq!(
        store.finish_turn(id, &dead, TurnOutcome::Replied, 11_002).await,
        Err(StoreError::LeaseLost { id })
    );
    store.renew_lease(id, &alive, LEASE, 11_003).await.unwrap();
    store
        .finish_turn(id, &alive, TurnOutcome::Failed("model down".into()), 12_000)
        .await
        .unwrap();
    let row = store.inbound(id).await.unwrap().unwrap();
    assert_eq!(row.status, InboundStatus::Failed);
    assert_eq!(row.error.as_deref(), Some("model down"));
    assert!(row.lease.is_none());
    store.close().await;
}

#[tokio::test]
async fn a_lapsed_turn_is_reclaimed_before_older_queued_work_of_its_session() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = open(&path).await;
    let RecordOutcome::New(older) = store.record_inbound(message("a", "s1", "cidA")).await.unwrap() else {
        panic!("new");
    };
    let newer = record_queued(&store, "b", "s1").await;
    let w = WorkerId::new("gw");
    let first = store
        .claim_next_turn(ClaimScope::Any, &w, 1_000, 2_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.id, newer);
    // The older message is dispatched late, while the newer one runs.
    store
        .dispatch_inbound(older, Dispatch::Queue, 2_100)
        .await
        .unwrap();
    let next = store
        .claim_next_turn(ClaimScope::Any, &w, LEASE, 5_000)
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
            .claim_next_turn(ClaimScope::Any, &w, LEASE, 5_001)
            .await
            .unwrap()
            .is_none()
    );
    store.close().await;

    // The database itself refuses a second running turn in a session.
    let mut conn =
        <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
    let second = sqlx::query("UPDATE inbox SET status = 'running' WHERE id = ?1")
        .bind(older)
        .execute(&mut conn)
        .await;
    assert!(second.is_err(), "unique index inbox_one_running_per_session");
}

#[tokio::test]
async fn unfinished_turns_are_recovered_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = open(&path).await;
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
        .claim_next_turn(ClaimScope::Session("s1"), &before, LEASE, 2_000)
        .await
        .unwrap()
        .unwrap();
    store
        .claim_next_turn(ClaimScope::Session("s3"), &replica, LEASE, 2_000)
        .await
        .unwrap()
        .unwrap();
    store
        .claim_next_turn(ClaimScope::Session("s4"), &before, LEASE, 2_000)
        .await
        .unwrap()
        .unwrap();
    store
        .finish_turn(done, &before, TurnOutcome::Replied, 2_100)
        .await
        .unwrap();
    // Crash: no close.
    drop(store);

    let store = open(&path).await;
    let after = WorkerId::new("gw-1");
    // Leases are still live at 3_000: only our own previous incarnation's turn is reclaimed.
    let unfinished = store.recover_unfinished(&after, 3_000).await.unwrap();
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
        .claim_next_turn(ClaimScope::Session("s1"), &after, LEASE, 3_001)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((resumed.id, resumed.attempts), (running, 2));
    // Once the other replica's lease lapses, recovery takes it too.
    let later = store.recover_unfinished(&after, 2_000 + LEASE).await.unwrap();
    assert!(later.iter().any(|m| m.id == other_replica));
    store.close().await;
}

#[tokio::test]
async fn routing_and_cancellation() {
    let store = SqliteStore::in_memory().await.unwrap();
    let RecordOutcome::New(id) = store.record_inbound(message("m1", "s1", "cidA")).await.unwrap() else {
        panic!("new");
    };
    store.dispatch_inbound(id, Dispatch::Ignore, 1_500).await.unwrap();
    store.dispatch_inbound(id, Dispatch::Ignore, 1_501).await.unwrap();
    assert!(matches!(
        store.dispatch_inbound(id, Dispatch::Queue, 1_502).await,
        Err(StoreError::InvalidTransition { .. })
    ));
    assert!(matches!(
        store.dispatch_inbound(999, Dispatch::Queue, 1_502).await,
        Err(StoreError::NotFound { .. })
    ));

    let a = record_queued(&store, "a", "s2").await;
    let b = record_queued(&store, "b", "s2").await;
    let c = record_queued(&store, "c", "s2").await;
    let me = WorkerId::new("gw");
    store
        .claim_next_turn(ClaimScope::Any, &me, LEASE, 2_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .cancel_running("s2", CancelScope::Running, 2_100)
            .await
            .unwrap(),
        [a]
    );
    assert_eq!(
        store.finish_turn(a, &me, TurnOutcome::Replied, 2_200).await,
        Err(StoreError::LeaseLost { id: a })
    );
    assert_eq!(
        store.inbound(a).await.unwrap().unwrap().status,
        InboundStatus::Cancelled
    );
    let next = store
        .claim_next_turn(ClaimScope::Any, &me, LEASE, 2_300)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.id, b);
    assert_eq!(
        store
            .cancel_running("s2", CancelScope::RunningAndQueued, 2_400)
            .await
            .unwrap(),
        [b, c]
    );
    assert!(
        store
            .claim_next_turn(ClaimScope::Any, &me, LEASE, 2_500)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .cancel_running("s2", CancelScope::Running, 2_600)
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await;
}

#[tokio::test]
async fn only_the_lease_holder_plans_and_stop_ends_unsent_parts() {
    let store = SqliteStore::in_memory().await.unwrap();
    let (me, other) = (WorkerId::new("gw"), WorkerId::new("gw"));
    // A command answered before routing may plan while the message is still `received`.
    let RecordOutcome::New(cmd) = store.record_inbound(message("cmd", "s0", "cidA")).await.unwrap() else {
        panic!("new");
    };
    let planned = store
        .plan_reply(cmd, vec![part(0, "new session")], &me, LEASE, 1_000)
        .await
        .unwrap();
    store
        .mark_reply_sent(planned[0].id, SendReceipt::default(), 1_000)
        .await
        .unwrap();
    store
        .dispatch_inbound(cmd, Dispatch::Replied, 1_001)
        .await
        .unwrap();
    assert_eq!(
        store
            .plan_reply(cmd, vec![part(1, "late")], &me, LEASE, 1_002)
            .await,
        Err(StoreError::LeaseLost { id: cmd })
    );

    let id = record_queued(&store, "m1", "s1").await;
    assert_eq!(
        store.plan_reply(id, vec![part(0, "x")], &me, LEASE, 1_500).await,
        Err(StoreError::LeaseLost { id }),
        "queued, not claimed"
    );
    store
        .claim_next_turn(ClaimScope::Any, &me, LEASE, 2_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .plan_reply(id, vec![part(0, "x")], &other, LEASE, 2_001)
            .await,
        Err(StoreError::LeaseLost { id })
    );
    let parts = store
        .plan_reply(id, vec![part(0, "x"), part(1, "y")], &me, LEASE, 2_002)
        .await
        .unwrap();
    store
        .mark_reply_sent(parts[0].id, SendReceipt::default(), 2_003)
        .await
        .unwrap();
    assert_eq!(
        store
            .cancel_running("s1", CancelScope::Running, 2_004)
            .await
            .unwrap(),
        [id]
    );
    let after = store.reply_parts(id).await.unwrap();
    assert_eq!(after[0].status, ReplyStatus::Sent);
    assert_eq!(after[1].status, ReplyStatus::Failed);
    assert_eq!(after[1].last_error.as_deref(), Some("cancelled"));
    assert_eq!(
        store.plan_reply(id, vec![part(2, "z")], &me, LEASE, 2_005).await,
        Err(StoreError::LeaseLost { id })
    );
    assert!(
        store
            .claim_unsent_replies(&other, LEASE, 10, i64::MAX / 2)
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await;
}

#[tokio::test]
async fn outbox_resends_only_unsent_parts_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = open(&path).await;
    let id = record_queued(&store, "m1", "s1").await;
    let me = WorkerId::new("gw");
    store
        .claim_next_turn(ClaimScope::Any, &me, LEASE, 2_000)
        .await
        .unwrap()
        .unwrap();
    let parts = store
        .plan_reply(id, vec![part(0, "one"), part(1, "two")], &me, LEASE, 2_100)
        .await
        .unwrap();
    assert_eq!(parts.len(), 2);
    assert!(parts.iter().all(|p| p.status == ReplyStatus::Planned));
    assert!(
        parts
            .iter()
            .all(|p| p.lease.as_ref().is_some_and(|l| l.is_held_by(&me, 2_100)))
    );
    assert_ne!(parts[0].idempotency_key, parts[1].idempotency_key);
    let receipt = SendReceipt {
        process_query_key: Some("pqk-1".into()),
        response_json: Some(r#"{"processQueryKey":"pqk-1"}"#.into()),
    };
    store
        .mark_reply_sent(parts[0].id, receipt.clone(), 2_200)
        .await
        .unwrap();
    // A repeated mark keeps the first receipt.
    store
        .mark_reply_sent(parts[0].id, SendReceipt::default(), 2_201)
        .await
        .unwrap();
    drop(store); // crash before part 1 was sent

    let store = open(&path).await;
    let after = WorkerId::new("gw");
    store.recover_unfinished(&after, 3_000).await.unwrap();
    let turn = store
        .claim_next_turn(ClaimScope::Any, &after, LEASE, 3_001)
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
            2_100 + LEASE,
        )
        .await
        .unwrap();
    assert_eq!(replanned[0].status, ReplyStatus::Sent);
    assert_eq!(replanned[0].process_query_key.as_deref(), Some("pqk-1"));
    assert_eq!(replanned[0].body_json, parts[0].body_json);
    assert_eq!(replanned[1].status, ReplyStatus::Planned);
    assert_eq!(replanned[1].idempotency_key, parts[1].idempotency_key);
    assert!(
        replanned[1]
            .lease
            .as_ref()
            .unwrap()
            .is_held_by(&after, 2_100 + LEASE)
    );
    let to_send: Vec<_> = replanned
        .iter()
        .filter(|p| p.status == ReplyStatus::Planned)
        .map(|p| p.part)
        .collect();
    assert_eq!(to_send, [1]);

    // A retryable failure keeps it planned; a permanent one ends it.
    store
        .mark_reply_failed(replanned[1].id, "429", false, 3_100)
        .await
        .unwrap();
    let now = store.reply_parts(id).await.unwrap();
    assert_eq!((now[1].status, now[1].attempts), (ReplyStatus::Planned, 1));
    assert_eq!(now[1].last_error.as_deref(), Some("429"));
    store.mark_reply_sent(now[1].id, receipt, 3_200).await.unwrap();
    store
        .mark_reply_failed(now[1].id, "late", true, 3_300)
        .await
        .unwrap();
    assert_eq!(store.reply_parts(id).await.unwrap()[1].status, ReplyStatus::Sent);
    store
        .finish_turn(id, &after, TurnOutcome::Replied, 3_400)
        .await
        .unwrap();
    store.close().await;
}

#[tokio::test]
async fn unsent_parts_of_dead_senders_are_claimed_once() {
    let store = SqliteStore::in_memory().await.unwrap();
    let id = record_queued(&store, "m1", "s1").await;
    let dead = WorkerId::new("a");
    store
        .claim_next_turn(ClaimScope::Any, &dead, 1_000, 2_000)
        .await
        .unwrap()
        .unwrap();
    store
        .plan_reply(id, vec![part(0, "x"), part(1, "y")], &dead, 1_000, 2_000)
        .await
        .unwrap();
    store
        .finish_turn(id, &dead, TurnOutcome::Replied, 2_001)
        .await
        .unwrap();
    let courier = WorkerId::new("b");
    // Still leased by the (dead) planner.
    assert!(
        store
            .claim_unsent_replies(&courier, LEASE, 10, 2_500)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store
        .claim_unsent_replies(&courier, LEASE, 10, 3_000)
        .await
        .unwrap();
    assert_eq!(claimed.iter().map(|p| p.part).collect::<Vec<_>>(), [0, 1]);
    // Nobody else gets them while the courier's lease is live.
    assert!(
        store
            .claim_unsent_replies(&dead, LEASE, 10, 3_001)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store.mark_reply_sent(12345, SendReceipt::default(), 1).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .plan_reply(id, vec![part(3, "a"), part(3, "b")], &dead, 1, 1)
            .await,
        Err(StoreError::Invalid(_))
    ));
    store.close().await;
}

#[tokio::test]
async fn idle_reset_starts_a_new_generation_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db_path(&dir)).await;
    const IDLE: Option<i64> = Some(30 * 60 * 1000);
    let opened = store
        .session_get_or_create("dm:alice", "main", 1_000, IDLE)
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
                entry(Role::User, "hi", 1_000),
                entry(Role::Assistant, "hello", 1_001),
            ],
        )
        .await
        .unwrap();

    let same = store
        .session_get_or_create("dm:alice", "main", 60_000, IDLE)
        .await
        .unwrap();
    assert_eq!((same.session.generation, same.new_generation), (1, None));
    assert_eq!(store.transcript_load(s.id, 10).await.unwrap().len(), 2);

    let idle = 60_000 + 30 * 60 * 1000 + 1;
    let reset = store
        .session_get_or_create("dm:alice", "main", idle, IDLE)
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
                entry(Role::User, "a", idle),
                entry(Role::Assistant, "b", idle + 1),
                entry(Role::User, "c", idle + 2),
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

    let manual = store.session_reset("dm:alice", idle + 10).await.unwrap().unwrap();
    assert_eq!(manual.generation, 3);
    assert!(store.transcript_load(s.id, 10).await.unwrap().is_empty());
    assert!(store.session_reset("dm:nobody", 1).await.unwrap().is_none());
    let moved = store
        .session_get_or_create("dm:alice", "other", idle + 20, IDLE)
        .await
        .unwrap();
    assert_eq!(moved.new_generation, Some(NewGeneration::AgentChanged));
    assert_eq!(moved.session.generation, 4);
    assert!(matches!(
        store
            .transcript_append(s.id, 9, vec![entry(Role::User, "x", 1)])
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.transcript_append(777, 1, vec![]).await,
        Err(StoreError::NotFound { .. })
    ));
    store.close().await;
}

#[tokio::test]
async fn conversation_and_session_ids_are_case_sensitive() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db_path(&dir)).await;
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
        .session_get_or_create("group:cidAbC", "main", 1, None)
        .await
        .unwrap();
    let b = store
        .session_get_or_create("group:cidabc", "main", 1, None)
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

#[tokio::test]
async fn pairing_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db_path(&dir)).await;
    let policy = PairingPolicy {
        ttl_ms: 3_600_000,
        max_pending_per_account: 2,
    };
    let alice = "alice";
    let PairingOutcome::Created(code) = store
        .pairing_request("acct", alice, "Alice", policy, 0)
        .await
        .unwrap()
    else {
        panic!("first request creates a code");
    };
    assert_eq!(code.code.len(), 8);
    assert_eq!(code.expires_at_ms, 3_600_000);
    // Asking again returns the same live code (rate limit).
    assert_eq!(
        store
            .pairing_request("acct", alice, "Alice", policy, 10)
            .await
            .unwrap(),
        PairingOutcome::Existing(code.clone())
    );
    // At most two pending per account.
    let bob = "bob";
    let PairingOutcome::Created(bob_code) = store
        .pairing_request("acct", bob, "Bob", policy, 20)
        .await
        .unwrap()
    else {
        panic!("second sender gets a code");
    };
    assert_eq!(
        store
            .pairing_request("acct", "carol", "Carol", policy, 30)
            .await
            .unwrap(),
        PairingOutcome::TooManyPending { limit: 2 }
    );
    // Another account has its own budget.
    assert!(matches!(
        store
            .pairing_request("acct2", "carol", "Carol", policy, 30)
            .await
            .unwrap(),
        PairingOutcome::Created(_)
    ));
    let pending = store.pairing_list(PairingFilter::Pending, 40).await.unwrap();
    assert_eq!(pending.len(), 3);

    // Approve (typed in lower case with a dash) → allowlisted; single use.
    assert!(!store.is_approved("acct", alice).await.unwrap());
    let typed = format!("{}-{}", &code.code[..4], &code.code[4..]).to_lowercase();
    let approved = store.pairing_approve(&typed, 100).await.unwrap();
    assert_eq!(
        (approved.account_id.as_str(), approved.sender_id.as_str()),
        ("acct", "alice")
    );
    assert_eq!(approved.via_code.as_deref(), Some(code.code.as_str()));
    assert!(store.is_approved("acct", alice).await.unwrap());
    assert!(!store.is_approved("acct2", alice).await.unwrap());
    assert!(matches!(
        store.pairing_approve(&code.code, 101).await,
        Err(StoreError::Pairing(PairingError::AlreadyDecided { .. }))
    ));
    assert_eq!(
        store
            .pairing_request("acct", alice, "Alice", policy, 102)
            .await
            .unwrap(),
        PairingOutcome::AlreadyApproved
    );

    // Reject → not approved, code used up.
    let rejected = store.pairing_reject(&bob_code.code, 200).await.unwrap();
    assert_eq!(rejected.status, PairingStatus::Rejected);
    assert!(!store.is_approved("acct", bob).await.unwrap());
    assert!(matches!(
        store.pairing_approve(&bob_code.code, 201).await,
        Err(StoreError::Pairing(PairingError::AlreadyDecided { .. }))
    ));

    // Expiry: a code can't be approved after its hour; asking again gives a new code.
    let dave = "dave";
    let PairingOutcome::Created(old) = store
        .pairing_request("acct", dave, "Dave", policy, 1_000)
        .await
        .unwrap()
    else {
        panic!("dave gets a code");
    };
    let late = 1_000 + policy.ttl_ms;
    let err = store.pairing_approve(&old.code, late).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Pairing(PairingError::Expired { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("expired"));
    assert!(
        store
            .pairing_list(PairingFilter::Pending, late)
            .await
            .unwrap()
            .iter()
            .all(|r| r.code != old.code)
    );
    let PairingOutcome::Created(fresh) = store
        .pairing_request("acct", dave, "Dave", policy, late)
        .await
        .unwrap()
    else {
        panic!("a new code after expiry");
    };
    assert_ne!(fresh.code, old.code);
    let all = store.pairing_list(PairingFilter::All, late).await.unwrap();
    assert_eq!(
        all.iter().find(|r| r.code == old.code).unwrap().status,
        PairingStatus::Expired
    );

    assert!(matches!(
        store.pairing_approve("ZZZZZZZZ", late).await,
        Err(StoreError::Pairing(PairingError::UnknownCode { .. }))
    ));
    assert_eq!(store.approved_senders(Some("acct")).await.unwrap().len(), 1);
    assert!(store.revoke_sender("acct", alice).await.unwrap());
    assert!(!store.revoke_sender("acct", alice).await.unwrap());
    assert!(!store.is_approved("acct", alice).await.unwrap());
    store.close().await;
}

#[tokio::test]
async fn migrations_are_idempotent_and_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = open(&path).await;
    store.session_get_or_create("k", "main", 1, None).await.unwrap();
    store.close().await;
    for _ in 0..2 {
        let store = open(&path).await;
        assert!(store.session_get("k").await.unwrap().is_some());
        store.close().await;
    }
    // Two stores on one file at once (gateway + `clawtalk pairing approve`) both work.
    let (a, b) = (open(&path).await, open(&path).await);
    let PairingOutcome::Created(req) = a
        .pairing_request("acct", "x", "X", PairingPolicy::default(), 0)
        .await
        .unwrap()
    else {
        panic!("created");
    };
    b.pairing_approve(&req.code, 1).await.unwrap();
    assert!(a.is_approved("acct", "x").await.unwrap());
    a.close().await;
    b.close().await;

    let mut conn =
        <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    assert_eq!(usize::try_from(applied).unwrap(), files);
}

#[tokio::test]
async fn newer_schema_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    open(&path).await.close().await;
    let mut conn =
        <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99999, 'from the future', 1, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert_eq!(err, StoreError::SchemaTooNew { version: 99999 });
    assert!(err.to_string().contains("newer clawtalk"));
}

#[cfg(unix)]
#[tokio::test]
async fn database_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = open(&path).await;
    store.record_inbound(message("m", "s", "c")).await.unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    let wal = path.with_extension("db-wal");
    assert_eq!(mode(&wal), 0o600, "WAL inherits the database's mode");
    store.close().await;
}

#[tokio::test]
async fn garbage_file_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clawtalk.db");
    std::fs::write(&path, vec![0x42; 8192]).unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("restore a backup"));
}

#[tokio::test]
async fn unopenable_path_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be.
    let path = dir.path().join("db");
    std::fs::create_dir(&path).unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::CantOpen { path: p, .. } if p.ends_with("db")),
        "{err:?}"
    );
}

#[tokio::test]
async fn purge_keeps_open_work_and_recent_history() {
    let store = SqliteStore::in_memory().await.unwrap();
    let me = WorkerId::new("gw");
    let old = record_queued(&store, "old", "s1").await;
    store
        .claim_next_turn(ClaimScope::Any, &me, LEASE, 2_000)
        .await
        .unwrap()
        .unwrap();
    store
        .plan_reply(old, vec![part(0, "x")], &me, LEASE, 2_000)
        .await
        .unwrap();
    store
        .finish_turn(old, &me, TurnOutcome::Replied, 2_000)
        .await
        .unwrap();
    let open_one = record_queued(&store, "open", "s2").await;
    let recent = record_queued(&store, "recent", "s3").await;
    store
        .claim_next_turn(ClaimScope::Session("s3"), &me, LEASE, 9_000)
        .await
        .unwrap()
        .unwrap();
    store
        .finish_turn(recent, &me, TurnOutcome::Replied, 9_000)
        .await
        .unwrap();

    assert_eq!(store.purge_finished(5_000).await.unwrap(), 1);
    assert!(store.inbound(old).await.unwrap().is_none());
    assert!(
        store.reply_parts(old).await.unwrap().is_empty(),
        "parts go with their message"
    );
    assert!(store.inbound(open_one).await.unwrap().is_some());
    assert!(store.inbound(recent).await.unwrap().is_some());
    store.close().await;
    assert_eq!(store.inbound(open_one).await, Err(StoreError::Closed));
}

#[tokio::test]
async fn the_gateway_can_hold_it_as_a_trait_object() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
    let pairing: Arc<dyn PairingStore> = store.clone();
    assert!(!pairing.is_approved("a", "s").await.unwrap());
    assert!(matches!(
        store.record_inbound(message("m", "s", "c")).await.unwrap(),
        RecordOutcome::New(_)
    ));
    store.close().await;
}

/// Throughput on this machine: `cargo test -p clawtalk --test store_sqlite -- --ignored
/// --nocapture throughput`. Intake is `record_inbound` alone (what stands between a frame
/// and its ack); a full turn is record, route, claim, plan, mark sent, finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run by hand"]
async fn throughput() {
    for durability in [Durability::Full, Durability::Normal] {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions {
            durability,
            ..SqliteOptions::default()
        };
        let store = Arc::new(SqliteStore::open_with(db_path(&dir), options).await.unwrap());
        let intake = run_lanes(&store, 256, 8_000, "in", false).await;
        let turns = run_lanes(&store, 64, 4_000, "turn", true).await;
        println!("{durability:?}: intake {intake:.0} messages/s, full turns {turns:.0} messages/s");
        store.close().await;
    }
}

async fn run_lanes(store: &Arc<SqliteStore>, lanes: usize, messages: usize, tag: &str, full: bool) -> f64 {
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..lanes)
        .map(|lane| {
            let store = Arc::clone(store);
            let tag = tag.to_owned();
            tokio::spawn(async move {
                let me = WorkerId::new(format!("w{lane}"));
                let session = format!("{tag}{lane}");
                for i in (lane..messages).step_by(lanes) {
                    let outcome = store
                        .record_inbound(message(&format!("{tag}{i}"), &session, "cid"))
                        .await
                        .unwrap();
                    let RecordOutcome::New(id) = outcome else {
                        panic!("duplicate {outcome:?}");
                    };
                    if !full {
                        continue;
                    }
                    store.dispatch_inbound(id, Dispatch::Queue, 1).await.unwrap();
                    let scope = ClaimScope::Session(&session);
                    let turn = store
                        .claim_next_turn(scope, &me, LEASE, 2)
                        .await
                        .unwrap()
                        .unwrap();
                    let parts = store
                        .plan_reply(turn.id, vec![part(0, "ok")], &me, LEASE, 3)
                        .await
                        .unwrap();
                    store
                        .mark_reply_sent(parts[0].id, SendReceipt::default(), 4)
                        .await
                        .unwrap();
                    store
                        .finish_turn(turn.id, &me, TurnOutcome::Replied, 5)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    messages as f64 / started.elapsed().as_secs_f64()
}

#[tokio::test]
async fn sessions_list_most_recent_first_and_read_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db_path(&dir)).await;
    let old = store
        .session_get_or_create("dm:old", "main", 1_000, None)
        .await
        .unwrap()
        .session;
    let new = store
        .session_get_or_create("dm:new", "main", 5_000, None)
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

#[tokio::test]
async fn undecided_rows_are_found_once_they_are_old_enough() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db_path(&dir)).await;
    let mut stale = message("m-stale", "s1", "cidA");
    stale.received_at_ms = 1_000;
    let mut fresh = message("m-fresh", "s2", "cidA");
    fresh.received_at_ms = 5_000;
    let RecordOutcome::New(stale_id) = store.record_inbound(stale).await.unwrap() else {
        panic!("new")
    };
    store.record_inbound(fresh).await.unwrap();
    // Decided rows are not "undecided", however old.
    record_queued(&store, "m-queued", "s3").await;

    let found = store.undecided_before(3_000, 10).await.unwrap();
    let ids: Vec<_> = found.iter().map(|m| (m.id, m.status)).collect();
    assert_eq!(ids, [(stale_id, InboundStatus::Received)]);
    assert_eq!(store.undecided_before(9_000, 10).await.unwrap().len(), 2);
    assert_eq!(store.undecided_before(9_000, 1).await.unwrap().len(), 1, "limit");

    store
        .dispatch_inbound(stale_id, Dispatch::Queue, 6_000)
        .await
        .unwrap();
    assert!(store.undecided_before(3_000, 10).await.unwrap().is_empty());
    store.close().await;
}
