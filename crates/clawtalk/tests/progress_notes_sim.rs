//! Progress notes in markdown mode run beside the turn: they go out in order while the model
//! works, the answer never waits for a note that has not reached DingTalk yet, and no note
//! ever arrives after the answer it announces (a note still to come then is dropped, and left
//! in no state in which the outbox would send it later).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clawtalk_gateway::Gateway;
use clawtalk_store::{InboundId, ReplyStatus, SqliteStore, Store};
use dingtalk_sim::{InjectMessage, SentMessage, Simulator};
use llm_mock::{MockModel, Script};
use support::in_process;

const APP: &str = "dingprogressnotes001";
const SECRET: &str = "progress-notes-secret-not-real";
const USER: &str = "0312000000000011";
/// How a note reads: the tool's name in the bilingual "using" line.
const NOTE_MARK: &str = "Using `get_time`";

struct Rig {
    sim: Simulator,
    model: MockModel,
    store: Arc<dyn Store>,
    gateway: Gateway,
    _dir: tempfile::TempDir,
}

async fn start() -> Rig {
    let sim = in_process::simulator(APP, SECRET, USER).await;
    let model = MockModel::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = in_process::config_text(&sim, &model, (APP, SECRET), dir.path(), "");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
    let gateway = in_process::gateway(&sim, APP, &text, Arc::clone(&store), "notes-test").await;
    Rig {
        sim,
        model,
        store,
        gateway,
        _dir: dir,
    }
}

/// Two rounds of `get_time` (the second asked for after `between`), then `answer` after
/// `think`.
fn script_two_rounds(model: &MockModel, tag: &str, answer: &str, between: Duration, think: Duration) {
    model.push(Script::tool_call("get_time", "{}").when_last_user_contains(tag));
    model.push(
        Script::tool_call("get_time", "{}")
            .delay(between, Duration::ZERO)
            .when_last_user_contains(tag),
    );
    model.push(
        Script::text(answer)
            .delay(think, Duration::ZERO)
            .when_last_user_contains(tag),
    );
}

fn texts(sent: &[SentMessage]) -> Vec<String> {
    let mut sent = sent.to_vec();
    sent.sort_by_key(|m| m.seq);
    sent.into_iter().map(|m| m.text).collect()
}

/// Waits until no reply part of the rig's only message is still planned or on its way (the
/// gateway marks a part handed just before its request and sent just after DingTalk took
/// it), and returns how many went out.
async fn settled_parts(store: &Arc<dyn Store>) -> usize {
    // The store's first (and here only) message.
    const FIRST: InboundId = 1;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let parts = store.reply_parts(FIRST).await.unwrap();
        let planned = parts
            .iter()
            .filter(|p| matches!(p.status, ReplyStatus::Planned | ReplyStatus::Handed))
            .count();
        if planned == 0 {
            return parts.iter().filter(|p| p.status == ReplyStatus::Sent).count();
        }
        assert!(Instant::now() < deadline, "parts left planned: {parts:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_go_out_in_order_while_the_model_thinks() {
    let rig = start().await;
    let think = Duration::from_millis(600);
    script_two_rounds(
        &rig.model,
        "[think]",
        "It is noon. [think]",
        Duration::ZERO,
        think,
    );
    rig.sim
        .inject_message(&InjectMessage::dm_text(APP, USER, "[think] what time is it?"))
        .unwrap();
    let sent = rig.sim.wait_for_sent(3, Duration::from_secs(30)).await.unwrap();
    let texts = texts(&sent);
    assert!(texts[0].contains(NOTE_MARK), "{texts:#?}");
    assert!(texts[1].contains(NOTE_MARK), "one note per round: {texts:#?}");
    assert!(
        texts[2].contains("It is noon."),
        "the answer comes last: {texts:#?}"
    );
    assert_eq!(
        settled_parts(&rig.store).await,
        3,
        "two notes and the answer, all recorded as sent"
    );
    rig.gateway.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_follows_a_slow_note_and_drops_the_next() {
    let rig = start().await;
    // Every message DingTalk takes takes a while: the first note (planned well before the
    // second round) is still on its way when the instant answer is ready, and the second
    // note waits behind it.
    let slow = Duration::from_millis(600);
    rig.sim.set_api_latency("/robot/sendBySession", slow);
    let between = Duration::from_millis(200);
    script_two_rounds(
        &rig.model,
        "[slow]",
        "It is noon. [slow]",
        between,
        Duration::ZERO,
    );
    rig.sim
        .inject_message(&InjectMessage::dm_text(APP, USER, "[slow] what time is it?"))
        .unwrap();
    let sent = rig.sim.wait_for_sent(2, Duration::from_secs(30)).await.unwrap();
    let first = texts(&sent);
    assert!(first[0].contains(NOTE_MARK), "{first:#?}");
    assert!(
        first[1].contains("It is noon."),
        "the answer after the note it waited for: {first:#?}"
    );
    // Nothing follows: not the second note, not from the outbox's sweep of unsent parts.
    tokio::time::sleep(slow * 3).await;
    assert_eq!(texts(&rig.sim.sent_messages()), first);
    assert_eq!(
        settled_parts(&rig.store).await,
        2,
        "the note and the answer; the dropped note is not left for the outbox to send"
    );
    rig.gateway.shutdown(Duration::from_secs(5)).await;
}
