//! End to end, who may talk to the bot: pairing codes and allowlists.

mod support;

use clawtalk_core::clock::{Clock, SystemClock};
use clawtalk_store::{PairingStore, SqliteStore, Store};
use support::World;
use support::world::{ALICE, APP1, BOB};

/// The code in "🔐 配对码 / Pairing code: K7QX2M9P".
fn pairing_code(text: &str) -> String {
    let (_, rest) = text
        .split_once("Pairing code:")
        .unwrap_or_else(|| panic!("no pairing code in {text:?}"));
    rest.split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("empty pairing code in {text:?}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_code_then_approval_then_the_model_answers() {
    let world = World::start().await;
    let config = world.write_config(&world.config(r#"dmPolicy: "pairing","#, ""));
    let _gateway = world.start_gateway(&config).await;

    let first = world.dm(APP1, BOB, "hi, may I use you? [p1]");
    let replies = world.wait_replies(&first.conversation_id, 1).await;
    let text = &replies[0].text;
    assert!(
        text.contains("配对码") && text.contains("Pairing code") && text.contains("管理员"),
        "the pairing reply is bilingual: {text:?}"
    );
    let code = pairing_code(text);
    assert!(
        text.contains(&format!("clawtalk pairing approve {code}")),
        "it names the approve command: {text:?}"
    );

    // Asking again before approval: the same code, still no model.
    world.dm(APP1, BOB, "hello? [p2]");
    let replies = world.wait_replies(&first.conversation_id, 2).await;
    assert_eq!(pairing_code(&replies[1].text), code, "a pending code is reused");
    assert_eq!(
        world.model.request_count(),
        0,
        "unpaired senders never reach the model"
    );

    // The operator approves while the gateway runs (`clawtalk pairing approve` does the same
    // through the store; SQLite WAL lets a second process write next to the gateway).
    let db = world.state_dir().join("clawtalk.db");
    let store = SqliteStore::open(&db).await.expect("open the gateway's store");
    let approved = store
        .pairing_approve(&code, SystemClock.now())
        .await
        .expect("approve the code");
    assert_eq!(approved.sender_id, BOB);
    store.close().await;

    world.dm(APP1, BOB, "thanks, now a real question [p3]");
    let answer = world.wait_reply_containing(&first.conversation_id, "[p3]").await;
    assert!(!answer.text.contains("Pairing code"), "{:?}", answer.text);
    assert_eq!(
        world.requests_for("[p3]").len(),
        1,
        "the model answers once paired"
    );
    assert_eq!(world.model.requests().len(), 1, "and only for [p3]");
    assert_eq!(world.replies(&first.conversation_id).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowlist_answers_listed_senders_and_refuses_others_by_id() {
    let world = World::start().await;
    let config =
        world.write_config(&world.config(&format!(r#"dmPolicy: "allowlist", allowFrom: ["{ALICE}"],"#), ""));
    let _gateway = world.start_gateway(&config).await;

    let alice = world.dm(APP1, ALICE, "status report please [a1]");
    let bob = world.dm(APP1, BOB, "me too please [a2]");
    let alice_reply = world.wait_reply_containing(&alice.conversation_id, "[a1]").await;
    let bob_replies = world.wait_replies(&bob.conversation_id, 1).await;

    assert_eq!(alice_reply.api, "sessionWebhook");
    let refusal = &bob_replies[0].text;
    assert!(
        refusal.contains("权限") && refusal.contains("not allowed") && refusal.contains("allowFrom"),
        "the refusal is bilingual and says what to do: {refusal:?}"
    );
    assert!(refusal.contains(BOB), "the refusal names bob's id: {refusal:?}");
    assert!(
        world.requests_for("[a2]").is_empty(),
        "bob never reaches the model"
    );
    assert_eq!(world.model.requests().len(), 1, "only alice's message was asked");
    assert_eq!(world.replies(&alice.conversation_id).len(), 1);
    assert_eq!(world.replies(&bob.conversation_id).len(), 1);
}
