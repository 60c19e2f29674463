//! End to end, media and crashes: an image or file the agent sent is planned in the outbox
//! before its upload, its media id is stored before the send, and it is marked sent once
//! DingTalk accepted it. A SIGKILL after that, then a restart, runs the turn again: the
//! run asks for the same file, finds it sent, and the user gets it exactly once. A file
//! uploaded but not yet sent when the process died is sent without uploading it again.

mod support;

use std::path::Path;
use std::time::Duration;

use clawtalk_config::Config;
use clawtalk_core::reply::{MediaPart, ReplyPart};
use clawtalk_store::{NewReplyPart, OutboxStore, SqliteStore, Store, WorkerId};
use dingtalk::api::{MediaKind, OpenApiClient};
use dingtalk::ids::ClientId;
use dingtalk_sim::Injected;
use llm_mock::Script;
use sha2::{Digest, Sha256};
use support::process::INSTANCE;
use support::world::{ALICE, APP1, OPEN, SECRET1};
use support::{TIMEOUT, World, WorldOptions, db, wait_until_async};

const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
];
const PDF: &[u8] = b"%PDF-1.4 quarterly report";
/// Where interim parts (tool media, progress notes) are numbered from in the outbox.
const INTERIM_PARTS_FROM: u32 = 1_000_000;

/// Inbox rows not yet in a final state, and reply parts not yet sent.
async fn unfinished(db: &Path) -> (i64, i64) {
    let inbox = db::statuses(db, "inbox").await;
    let open = ["received", "queued", "running"]
        .iter()
        .map(|s| inbox.get(*s).copied().unwrap_or(0))
        .sum();
    (open, db::count(db, "outbox", "planned").await)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The model asks for `tool` on `file`, then thinks for a long time about its answer; the
/// gateway is killed while it thinks, right after DingTalk accepted the media and the
/// outbox recorded it. After the restart the turn runs again and asks for the same file.
async fn kill_after_media_was_accepted(tool: &str, file: &str, bytes: &[u8], msg_type: &str) {
    let world = World::start_with(WorldOptions {
        model_delays: true,
        ..WorldOptions::default()
    })
    .await;
    let workspace = world.state_dir().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::write(workspace.join(file), bytes).unwrap();
    let args = format!(r#"{{"path":"{file}"}}"#);
    let tag = "[m1]";
    // The first run: the send, then an answer that is still coming when the process dies.
    world
        .model
        .push(Script::tool_call(tool, &args).when_last_user_contains(tag));
    world.model.push(
        Script::text(format!("too late {tag}"))
            .delay(Duration::from_secs(60), Duration::ZERO)
            .when_last_user_contains(tag),
    );
    // The run after the restart asks for the same file again, then answers.
    world
        .model
        .push(Script::tool_call(tool, &args).when_last_user_contains(tag));
    world
        .model
        .push(Script::text(format!("Here it is {tag}")).when_last_user_contains(tag));
    let config = world.write_config(&world.config(OPEN, ""));
    let mut gateway = world.start_gateway(&config).await;
    let db = world.state_dir().join("clawtalk.db");

    let dm = world.dm(APP1, ALICE, &format!("{tag} send me {file}"));
    let conversation = dm.conversation_id.clone();
    let media_sent = |world: &World| {
        world
            .replies(&conversation)
            .into_iter()
            .filter(|m| m.msg_type == msg_type)
            .count()
    };
    let notes_sent = |world: &World| {
        world
            .replies(&conversation)
            .into_iter()
            .filter(|m| m.text.contains(&format!("Using `{tool}`")))
            .count()
    };
    wait_until_async(
        "the media and the progress note accepted and recorded as sent, the answer still being thought",
        TIMEOUT,
        || {
            let accepted = media_sent(&world) == 1 && notes_sent(&world) == 1;
            let thinking = world.requests_for(tag).len() == 2;
            let db = db.clone();
            async move {
                if !(accepted && thinking) {
                    return None;
                }
                (db::count(&db, "outbox", "sent").await == 2).then_some(())
            }
        },
    )
    .await;
    gateway.kill();
    assert_eq!(
        world.sim.sent_messages().len(),
        2,
        "only the progress note and the media went out before the kill"
    );
    assert_eq!(world.sim.upload_count(), 1);

    let _gateway = world.start_gateway(&config).await;
    world
        .wait_reply_containing(&conversation, &format!("Here it is {tag}"))
        .await;
    wait_until_async("the store to settle", TIMEOUT, || {
        let db = db.clone();
        async move { (unfinished(&db).await == (0, 0)).then_some(()) }
    })
    .await;

    assert_eq!(media_sent(&world), 1, "the media arrived exactly once");
    assert_eq!(world.sim.upload_count(), 1, "and was uploaded once");
    assert_eq!(notes_sent(&world), 1, "the progress note is not repeated either");
    let replies = world.replies(&conversation);
    assert_eq!(
        replies.len(),
        3,
        "the note, the media and the answer, nothing else: {replies:#?}"
    );
    let requests = world.requests_for(tag);
    assert_eq!(requests.len(), 4, "the turn ran again after the restart");
    let rerun_result = requests[3]
        .messages
        .iter()
        .rev()
        .find(|m| m["role"] == "tool")
        .expect("the rerun's tool result");
    assert!(
        rerun_result["content"]
            .as_str()
            .is_some_and(|c| c.contains(&format!("sent {file}"))),
        "the rerun is told the media is in the chat: {rerun_result}"
    );
    assert_eq!(db::statuses(&db, "inbox").await.get("replied").copied(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_right_after_a_file_was_accepted_sends_it_exactly_once() {
    kill_after_media_was_accepted("send_file", "q3-report.pdf", PDF, "sampleFile").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_right_after_an_image_was_accepted_sends_it_exactly_once() {
    kill_after_media_was_accepted("send_image", "chart.png", PNG, "sampleImageMsg").await;
}

/// Writes what a gateway process did for `injected` before it died: stored and claimed it,
/// planned `part` and ran its upload step, but never sent it or finished the turn.
async fn seed_uploaded_unsent(
    store: &SqliteStore,
    config: &Config,
    dead: &WorkerId,
    injected: &Injected,
    part: ReplyPart,
) {
    let (id, now) = support::dead_worker::claimed_turn(store, config, dead, injected).await;
    store
        .plan_reply(
            id,
            vec![NewReplyPart {
                part: INTERIM_PARTS_FROM,
                body: part,
            }],
            dead,
            60_000,
            now,
        )
        .await
        .expect("plan");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_uploaded_but_not_sent_before_a_crash_is_sent_without_uploading_again() {
    let world = World::start().await;
    let text = world.config(OPEN, "");
    let config_path = world.write_config(&text);
    let home = world.home().display().to_string();
    let config = Config::from_json5(&text, &|name: &str| (name == "HOME").then(|| home.clone()))
        .expect("the config loads")
        .config;
    let workspace = world.state_dir().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    let path = workspace.join("q3-report.pdf");
    std::fs::write(&path, PDF).unwrap();
    let tag = "[m2]";
    // The run after the restart asks for the file again (it never saw its result), then answers.
    world
        .model
        .push(Script::tool_call("send_file", r#"{"path":"q3-report.pdf"}"#).when_last_user_contains(tag));
    world
        .model
        .push(Script::text(format!("Here it is {tag}")).when_last_user_contains(tag));

    // The user writes while no gateway is connected; the dead process had uploaded the file.
    let dm = world.dm(APP1, ALICE, &format!("{tag} send me the report"));
    let api = OpenApiClient::builder(ClientId::new(APP1), SECRET1.into())
        .endpoints(dingtalk::Endpoints::single(world.sim.base_url().clone()))
        .build();
    let media_id = api
        .upload_media(MediaKind::File, "q3-report.pdf", PDF.to_vec())
        .await
        .expect("upload");
    let part = ReplyPart::File(MediaPart {
        path: path.canonicalize().unwrap().display().to_string(),
        sha256: sha256_hex(PDF),
        file_name: "q3-report.pdf".into(),
        file_type: "pdf".into(),
        media_id: Some(media_id.as_str().to_owned()),
    });
    std::fs::create_dir_all(world.state_dir()).expect("state dir");
    let store = SqliteStore::open(world.state_dir().join("clawtalk.db"))
        .await
        .expect("open the store");
    let dead = WorkerId {
        instance: INSTANCE.to_owned(),
        incarnation: "00000000deadbeef".to_owned(),
    };
    seed_uploaded_unsent(&store, &config, &dead, &dm, part).await;
    store.close().await;
    assert_eq!(world.sim.upload_count(), 1);

    let _gateway = world.start_gateway(&config_path).await;
    world
        .wait_reply_containing(&dm.conversation_id, &format!("Here it is {tag}"))
        .await;
    let db = world.state_dir().join("clawtalk.db");
    wait_until_async("the store to settle", TIMEOUT, || {
        let db = db.clone();
        async move { (unfinished(&db).await == (0, 0)).then_some(()) }
    })
    .await;
    let files: Vec<_> = world
        .replies(&dm.conversation_id)
        .into_iter()
        .filter(|m| m.msg_type == "sampleFile")
        .collect();
    assert_eq!(files.len(), 1, "the file arrived once: {files:#?}");
    assert_eq!(
        files[0].body["msgParamParsed"]["mediaId"],
        media_id.as_str(),
        "the stored upload was sent"
    );
    assert_eq!(world.sim.upload_count(), 1, "nothing was uploaded again");
    let replies = world.replies(&dm.conversation_id);
    // The rerun's progress note goes only if it gets out before the (instant) answer.
    let notes = replies
        .iter()
        .filter(|m| m.text.contains("Using `send_file`"))
        .count();
    assert!(notes <= 1, "{replies:#?}");
    assert_eq!(
        replies.len(),
        2 + notes,
        "the file, the answer and perhaps the rerun's progress note: {replies:#?}"
    );
}
