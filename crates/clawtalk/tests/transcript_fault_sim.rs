//! A turn whose transcript cannot be stored still answers the user: the transcript is written
//! alongside the reply, and its failure costs the agent its memory of the exchange only.

mod support;

use std::sync::Arc;
use std::time::Duration;

use clawtalk_store::{SqliteStore, Store};
use dingtalk_sim::InjectMessage;
use llm_mock::{MockModel, Script};
use support::in_process;

const APP: &str = "dingtranscriptbot0001";
const SECRET: &str = "transcript-secret-not-real";
const USER: &str = "0312000000000011";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_transcript_write_still_sends_the_answer() {
    let sim = in_process::simulator(APP, SECRET, USER).await;
    let model = MockModel::builder().start().await.unwrap();
    model.push(Script::text("The answer survives."));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).await.unwrap());
    // Every transcript insert now fails inside the store's own write, as a full or broken
    // transcript table would.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_transcript BEFORE INSERT ON transcript \
             BEGIN SELECT RAISE(ABORT, 'transcript refused by the test'); END;",
        )
        .unwrap();
    let text = in_process::config_text(&sim, &model, (APP, SECRET), dir.path(), "progressNotes: false,");
    let gateway = in_process::gateway(&sim, APP, &text, Arc::clone(&store), "transcript-test").await;

    sim.inject_message(&InjectMessage::dm_text(APP, USER, "remember this"))
        .unwrap();
    let sent = sim.wait_for_sent(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(sent[0].text, "The answer survives.", "{sent:?}");

    let sessions = store.session_list(10).await.unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let stored = store.transcript_load(sessions[0].id, 10).await.unwrap();
    assert!(
        stored.is_empty(),
        "the refused transcript was not written: {stored:?}"
    );
    gateway.shutdown(Duration::from_secs(5)).await;
}
