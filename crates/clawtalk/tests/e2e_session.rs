//! End to end, sessions and chat commands: history, idle reset, `/new`, `/stop`, and the
//! robot-API fallback when the sessionWebhook expires during a turn.

mod support;

use std::time::{Duration, Instant};

use llm_mock::Script;
use support::world::{ALICE, APP1, BOB, CAROL, OPEN, texts_of};
use support::{World, WorldOptions, db};

fn slow_world() -> WorldOptions {
    WorldOptions {
        model_delays: true,
        ..WorldOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_kept_then_dropped_after_the_idle_time() {
    const IDLE: Duration = Duration::from_millis(2000);
    let world = World::start().await;
    let config = world.write_config(&world.config(
        OPEN,
        &format!(
            r#"session: {{ reset: {{ mode: "idle", idleMs: {} }} }},"#,
            IDLE.as_millis()
        ),
    ));
    let _gateway = world.start_gateway(&config).await;

    let dm = world.dm(APP1, ALICE, "my name is Alice [i1]");
    world.wait_reply_containing(&dm.conversation_id, "[i1]").await;
    world.dm(APP1, ALICE, "what is my name? [i2]");
    world.wait_reply_containing(&dm.conversation_id, "[i2]").await;
    let second = world.wait_request_for("[i2]").await;
    let users = texts_of(&second, "user");
    assert_eq!(users.len(), 2, "history is sent: {users:?}");
    assert!(users[0].contains("[i1]"), "{users:?}");
    assert_eq!(texts_of(&second, "assistant").len(), 1, "with the earlier answer");

    // Nothing to wait for: the point is that time passes with no message.
    tokio::time::sleep(IDLE + Duration::from_millis(300)).await;
    world.dm(APP1, ALICE, "do you remember me? [i3]");
    world.wait_reply_containing(&dm.conversation_id, "[i3]").await;
    let third = world.wait_request_for("[i3]").await;
    assert_eq!(
        texts_of(&third, "user").len(),
        1,
        "idle session reset: no history: {:?}",
        third.messages
    );
    assert!(texts_of(&third, "assistant").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_and_reset_commands_start_a_fresh_session() {
    let world = World::start().await;
    let config = world.write_config(&world.config(OPEN, ""));
    let _gateway = world.start_gateway(&config).await;

    for (user, command, tag) in [(ALICE, "/new", "n"), (BOB, "重置", "r")] {
        let dm = world.dm(APP1, user, &format!("remember 42 [{tag}1]"));
        world
            .wait_reply_containing(&dm.conversation_id, &format!("[{tag}1]"))
            .await;
        let asked = world.model.request_count();

        world.dm(APP1, user, command);
        let confirmation = world.wait_replies(&dm.conversation_id, 2).await;
        let text = &confirmation[1].text;
        assert!(
            text.contains("新对话") && text.contains("Started a new conversation"),
            "{command}: bilingual confirmation: {text:?}"
        );
        assert_eq!(
            world.model.request_count(),
            asked,
            "{command} is not sent to the model"
        );

        world.dm(APP1, user, &format!("which number? [{tag}2]"));
        world
            .wait_reply_containing(&dm.conversation_id, &format!("[{tag}2]"))
            .await;
        let after = world.wait_request_for(&format!("[{tag}2]")).await;
        assert_eq!(
            texts_of(&after, "user").len(),
            1,
            "{command}: the history is gone: {:?}",
            after.messages
        );
        assert_eq!(world.replies(&dm.conversation_id).len(), 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_cancels_the_running_turn_and_its_answer_never_arrives() {
    const SLOW: Duration = Duration::from_secs(3);
    let world = World::start_with(slow_world()).await;
    for tag in ["[s1]", "[s2]"] {
        world.model.push(
            Script::text(format!("SLOW ANSWER {tag}"))
                .delay(SLOW, Duration::ZERO)
                .when_last_user_contains(tag),
        );
    }
    let config = world.write_config(&world.config(OPEN, ""));
    let _gateway = world.start_gateway(&config).await;

    let alice = world.dm(APP1, ALICE, "a long task [s1]");
    let bob = world.dm(APP1, BOB, "another long task [s2]");
    world.wait_request_for("[s1]").await;
    world.wait_request_for("[s2]").await;
    let asked_at = Instant::now();

    world.dm(APP1, ALICE, "/stop");
    world.dm(APP1, BOB, "停止");
    for dm in [&alice, &bob] {
        let stopped = world.wait_reply_containing(&dm.conversation_id, "Stopped").await;
        assert!(stopped.text.contains("已停止"), "bilingual: {:?}", stopped.text);
    }

    // Nothing running: says so.
    let carol = world.dm(APP1, CAROL, "/stop");
    let idle = world.wait_replies(&carol.conversation_id, 1).await;
    assert!(
        idle.iter().any(|m| m.text.contains("Nothing is running")),
        "{idle:?}"
    );

    // The session is usable again at once, and the stopped turn left no history.
    world.dm(APP1, ALICE, "after the stop [s3]");
    world.wait_reply_containing(&alice.conversation_id, "[s3]").await;
    let after = world.wait_request_for("[s3]").await;
    assert_eq!(texts_of(&after, "user").len(), 1, "{:?}", after.messages);

    // The slow answers would have come by now; absence can only be checked by waiting.
    let until = asked_at + SLOW + Duration::from_millis(700);
    tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
    let leaked: Vec<_> = world
        .sim
        .sent_messages()
        .into_iter()
        .filter(|m| m.text.contains("SLOW ANSWER"))
        .collect();
    assert!(leaked.is_empty(), "a stopped answer was delivered: {leaked:?}");
    assert_eq!(world.replies(&alice.conversation_id).len(), 2, "Stopped + [s3]");
    assert_eq!(world.replies(&bob.conversation_id).len(), 1, "Stopped");
    let db = world.state_dir().join("clawtalk.db");
    assert_eq!(db::count(&db, "inbox", "cancelled").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_webhook_falls_back_to_the_robot_api() {
    let world = World::start_with(slow_world()).await;
    for tag in ["[w1]", "[w2]"] {
        world.model.push(
            Script::text(format!("LATE ANSWER {tag}"))
                .delay(Duration::from_millis(1500), Duration::ZERO)
                .when_last_user_contains(tag),
        );
    }
    let config = world.write_config(&world.config(OPEN, ""));
    let _gateway = world.start_gateway(&config).await;

    let dm = world.dm(APP1, ALICE, "answer me later [w1]");
    let group = world.group_msg(APP1, BOB, "answer the group later [w2]", true);
    world.wait_request_for("[w1]").await;
    world.wait_request_for("[w2]").await;
    // The webhooks die while the model thinks.
    assert!(world.sim.expire_session_webhook(&dm.session_webhook));
    assert!(world.sim.expire_session_webhook(&group.session_webhook));

    let dm_reply = world.wait_reply_containing(&dm.conversation_id, "[w1]").await;
    let group_reply = world.wait_reply_containing(&world.group, "[w2]").await;
    assert_eq!(dm_reply.api, "robot.batchSend", "{dm_reply:?}");
    assert_eq!(group_reply.api, "robot.groupSend", "{group_reply:?}");
    assert!(
        world.sim.api_call_count("-", "/robot/sendBySession") >= 2,
        "the webhook was tried first and refused"
    );
    assert_eq!(world.replies(&dm.conversation_id).len(), 1);
    assert_eq!(world.replies(&world.group).len(), 1);
}
