//! What only the SQLite backend has: its file (mode, corruption, schema version) and its
//! throughput. Behaviour shared with PostgreSQL is in `contract.rs`.

use clawtalk_core::ids::AccountId;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clawtalk_core::clock::EpochMs;
use clawtalk_store::*;
use dingtalk::ids::{ConversationId, MsgId, RobotCode, StaffId};

/// The instant `ms` after the epoch.
fn at(ms: i64) -> EpochMs {
    EpochMs::from_millis(ms)
}

const LEASE: i64 = 30_000;

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("state").join("clawtalk.db")
}

async fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path).await.expect("open store")
}

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

fn part(n: u32, text: &str) -> NewReplyPart {
    NewReplyPart {
        part: n,
        body: clawtalk_core::reply::ReplyPart::Markdown {
            title: "Reply".into(),
            text: text.into(),
        },
    }
}

#[tokio::test]
async fn newer_schema_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    open(&path).await.close().await;
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99999, 'from the future', 1, x'00', 0)",
            [],
        )
        .unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert_eq!(err, StoreError::SchemaTooNew { version: 99999 });
    assert!(err.to_string().contains("newer clawtalk"));
}

#[cfg(unix)]
#[tokio::test]
async fn durable_writes_work_through_a_symbolic_link_to_the_database() {
    // SQLite keeps its write-ahead log next to the file the link points at; the flush must
    // find it there.
    let dir = tempfile::tempdir().unwrap();
    let real = db_path(&dir);
    open(&real).await.close().await;
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let store = open(&link).await;
    let recorded = store.record_inbound(message("m", "s", "c")).await;
    assert!(matches!(recorded, Ok(RecordOutcome::New(_))), "{recorded:?}");
    store.close().await;
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

/// Throughput on this machine: `cargo test -p clawtalk-store --test sqlite -- --ignored
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
                    store.dispatch_inbound(id, Dispatch::Queue, at(1)).await.unwrap();
                    let scope = ClaimScope::Session(&session);
                    let turn = store
                        .claim_next_turn(scope, &me, LEASE, at(2))
                        .await
                        .unwrap()
                        .unwrap();
                    let parts = store
                        .plan_reply(turn.id, vec![part(0, "ok")], &me, LEASE, at(3))
                        .await
                        .unwrap();
                    store
                        .mark_reply_sent(parts[0].id, SendReceipt::default(), at(4))
                        .await
                        .unwrap();
                    store
                        .finish_turn(turn.id, &me, TurnOutcome::Replied, at(5))
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
