//! End to end, durable memory: a fact the model saves with `memory_save` in one session is
//! recalled into the system prompt of a later one (after `/new`), only for the user it
//! belongs to; `MEMORY.md` in the workspace reaches every user; `memory_forget` drops it.

mod support;

use llm_mock::{RecordedRequest, Script};
use support::World;
use support::world::{ALICE, APP1, BOB, OPEN, texts_of};

/// How the recalled memories start in the system prompt (`clawtalk-agent/src/recall.rs`).
const RECALL_HEADING: &str = "Things you remember from earlier conversations";

/// The system prompt of a request.
fn system_of(request: &RecordedRequest) -> String {
    texts_of(request, "system").join("\n")
}

/// The results of the tool calls sent back to the model in `request`.
fn tool_results(request: &RecordedRequest) -> String {
    texts_of(request, "tool").join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_memory_is_recalled_after_new_for_its_user_only_and_forgotten_on_request() {
    let world = World::start().await;
    let workspace = world.state_dir().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::write(
        workspace.join("MEMORY.md"),
        "# Team\n\n- 每周一上午十点开站会 (weekly standup: Monday 10:00, room 5)\n",
    )
    .unwrap();
    let config = world.write_config(&world.config(OPEN, ""));
    let _gateway = world.start_gateway(&config).await;

    // Session 1: Alice asks the bot to remember; the model saves it.
    world.model.push(
        Script::tool_call(
            "memory_save",
            r#"{"text": "Alice 喜欢喝乌龙茶 (oolong tea), no sugar"}"#,
        )
        .when_last_user_contains("[m1]"),
    );
    world
        .model
        .push(Script::text("好的,记住了 [m1]").when_last_user_contains("[m1]"));
    let alice = world.dm(APP1, ALICE, "记住:我喜欢喝乌龙茶,不加糖 [m1]");
    world.wait_reply_containing(&alice.conversation_id, "[m1]").await;
    let saved = world
        .model
        .requests()
        .into_iter()
        .map(|r| tool_results(&r))
        .find(|t| t.contains("saved"))
        .expect("the save's result went back to the model");
    assert!(saved.contains("\"scope\":\"user\""), "{saved}");

    // A new session: the history is gone, the memory is recalled into the prompt.
    world.dm(APP1, ALICE, "/new");
    world.wait_replies(&alice.conversation_id, 2).await;
    world.dm(APP1, ALICE, "我喜欢喝什么茶来着? [m2]");
    world.wait_reply_containing(&alice.conversation_id, "[m2]").await;
    let request = world.wait_request_for("[m2]").await;
    assert_eq!(
        texts_of(&request, "user").len(),
        1,
        "a fresh session: {:?}",
        request.messages
    );
    let system = system_of(&request);
    // MEMORY.md as a whole is also in a DM's prompt (a workspace bootstrap file); what recall
    // adds is the section after its heading.
    let recalled = system
        .split_once(RECALL_HEADING)
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("no recalled memories: {system}"));
    assert!(recalled.contains("乌龙茶"), "recalled: {recalled}");
    assert!(
        !recalled.contains("站会"),
        "the standup is not relevant to tea: {recalled}"
    );

    // Bob asks the same: he never sees Alice's memory, but does see MEMORY.md.
    let bob = world.dm(APP1, BOB, "下午茶点什么茶? and when is the standup? [m3]");
    world.wait_reply_containing(&bob.conversation_id, "[m3]").await;
    let system = system_of(&world.wait_request_for("[m3]").await);
    assert!(
        !system.contains("乌龙茶"),
        "Alice's memory leaked to Bob: {system}"
    );
    assert!(
        system.contains("weekly standup"),
        "MEMORY.md is everyone's: {system}"
    );

    // Alice asks to be forgotten; the model forgets everything about her.
    world
        .model
        .push(Script::tool_call("memory_forget", r#"{"all": true}"#).when_last_user_contains("[m4]"));
    world
        .model
        .push(Script::text("已全部忘记 [m4]").when_last_user_contains("[m4]"));
    world.dm(APP1, ALICE, "请忘掉关于我的一切 [m4]");
    world.wait_reply_containing(&alice.conversation_id, "[m4]").await;
    let forgotten = world
        .model
        .requests()
        .into_iter()
        .map(|r| tool_results(&r))
        .find(|t| t.contains("forgotten_count"))
        .expect("the forget's result went back to the model");
    assert!(forgotten.contains("\"forgotten_count\":1"), "{forgotten}");
    world.dm(APP1, ALICE, "/new");
    world.wait_replies(&alice.conversation_id, 5).await;
    world.dm(APP1, ALICE, "我喜欢喝什么茶来着? [m5]");
    world.wait_reply_containing(&alice.conversation_id, "[m5]").await;
    let system = system_of(&world.wait_request_for("[m5]").await);
    assert!(!system.contains("乌龙茶"), "forgotten, not recalled: {system}");
}
