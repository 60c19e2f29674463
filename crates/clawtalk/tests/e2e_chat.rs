//! End to end, conversations: a DM, group mentions, two bots bound to two agents, an answer
//! too long to send in full.
//! The real `clawtalk` binary against the DingTalk simulator and the mock model.

mod support;

use dingtalk_sim::{InjectMessage, MessageSpec};
use llm_mock::Script;
use serde_json::json;
use support::world::{ALICE, APP1, APP2, BOB, CAROL, OPEN, texts_of};
use support::{TIMEOUT, World, WorldOptions, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dm_reaches_the_model_and_the_reply_comes_back_through_the_session_webhook() {
    let world = World::start().await;
    world.model.push(
        Script::text("Hi Alice, the gateway works. 网关正常。").when_last_user_contains("hello gateway"),
    );
    let config = world.write_config(&world.config(OPEN, ""));
    let _gateway = world.start_gateway(&config).await;

    let injected = world.dm(APP1, ALICE, "hello gateway, are you there?");
    let replies = world.wait_replies(&injected.conversation_id, 1).await;

    let request = world.wait_request_for("hello gateway").await;
    assert_eq!(request.model, "e2e-model", "the agent's model is asked");
    assert_eq!(
        request.last_user_text().as_deref(),
        Some("hello gateway, are you there?"),
        "the user's text reaches the model unchanged"
    );
    assert_eq!(texts_of(&request, "system").len(), 1, "one system prompt");
    let reply = &replies[0];
    assert_eq!(
        reply.api, "sessionWebhook",
        "replies use the sessionWebhook: {reply:?}"
    );
    assert_eq!(reply.app.as_deref(), Some(APP1));
    assert!(
        reply.text.contains("the gateway works"),
        "reply text: {:?}",
        reply.text
    );
    assert_eq!(
        world.replies(&injected.conversation_id).len(),
        1,
        "exactly one reply"
    );
}

/// A 3 MB answer (about 800 parts of 3,800 characters) is sent as the agent's
/// `limits.partsPerAnswer` parts, the last of which says the answer was truncated. (3 here:
/// the gateway paces a chat's messages at DingTalk's 20 a minute, so the default 10 takes
/// half a minute.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_megabyte_answer_is_cut_to_the_parts_cap_with_a_note() {
    let world = World::start().await;
    let paragraph = format!("{}\n\n", "The build log goes on and on. ".repeat(30));
    let huge = paragraph.repeat(3_000_000 / paragraph.len());
    let chunks: Vec<String> = huge
        .as_bytes()
        .chunks(64 * 1024)
        .map(|c| String::from_utf8(c.to_vec()).expect("ASCII"))
        .collect();
    world
        .model
        .push(Script::chunks(chunks).when_last_user_contains("whole log"));
    let text = world.config(OPEN, "").replace(
        r#"model: "mock/e2e-model" }"#,
        r#"model: "mock/e2e-model", limits: { partsPerAnswer: 3 } }"#,
    );
    assert!(
        text.contains("partsPerAnswer"),
        "the agent entry is where expected"
    );
    let config = world.write_config(&text);
    let _gateway = world.start_gateway(&config).await;

    let injected = world.dm(APP1, ALICE, "paste the whole log please");
    let last = world
        .wait_reply_containing(&injected.conversation_id, "Answer truncated")
        .await;
    assert!(
        last.text.contains("⚠️ 回答过长，已截断。") && last.text.ends_with("(3/3)"),
        "the last part carries the bilingual note: {:?}",
        &last.text[last.text.len().saturating_sub(200)..]
    );
    let replies = world.replies(&injected.conversation_id);
    assert_eq!(replies.len(), 3, "at most limits.partsPerAnswer parts");
    for (i, part) in replies.iter().enumerate() {
        assert!(part.text.ends_with(&format!("({}/3)", i + 1)), "part {i}");
    }
    assert!(replies[0].text.starts_with("The build log"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_replies_only_when_mentioned_and_mentions_the_sender() {
    let world = World::start().await;
    world
        .model
        .push(Script::text("The plan is to ship on Friday.").when_last_user_contains("plan"));
    let config = world.write_config(&world.config(&format!("{OPEN} requireMention: true"), ""));
    let gateway = world.start_gateway(&config).await;

    // DingTalk does not even deliver a group message that does not @ the bot.
    let silent = world.group_msg(APP1, BOB, "nobody @s the bot here [g0]", false);
    assert!(!silent.delivered, "{silent:?}");
    // Nor one that @s another member only.
    let other = world
        .sim
        .inject_message(
            &InjectMessage::group_text(APP1, BOB, &world.group, "@Carol have a look [g0]", false)
                .at_users([CAROL]),
        )
        .expect("inject");
    assert!(!other.delivered, "{other:?}");

    // Delivered, but it @s another user only (as when the bot may read every group message):
    // requireMention makes the gateway ignore it.
    let others_only = world
        .sim
        .inject_message(
            &InjectMessage::new(
                APP1,
                BOB,
                MessageSpec::Raw {
                    fields: json!({
                        "msgtype": "text",
                        "text": { "content": "@Carol Wang please check [g1]" },
                        "isInAtList": false,
                        "atUsers": [ { "dingtalkId": "$:LWCP_v1:$carol-not-the-bot" } ],
                    })
                    .as_object()
                    .cloned()
                    .expect("an object"),
                },
            )
            .in_group(&world.group, true),
        )
        .expect("inject");
    assert!(
        others_only.delivered,
        "forced delivery of a non-mention: {others_only:?}"
    );

    // The @-mention is answered, in the group, @-ing the sender.
    let asked = world.group_msg(APP1, ALICE, "what is the plan? [g2]", true);
    assert!(asked.delivered);
    let reply = world.wait_reply_containing(&world.group, "ship on Friday").await;
    assert_eq!(reply.api, "sessionWebhook");
    assert_eq!(
        reply.body["at"]["atUserIds"],
        json!([ALICE]),
        "the reply @-mentions the sender: {}",
        reply.body
    );
    let request = world.wait_request_for("[g2]").await;
    assert!(
        request
            .last_user_text()
            .is_some_and(|t| t.contains("Alice Zhang")),
        "in groups the model is told who speaks: {:?}",
        request.last_user_text()
    );

    // Frames are handled in order, so [g1] was settled before [g2]: it was acknowledged,
    // never reached the model and got no reply.
    let delivery = wait_until("the non-mention to be acknowledged", TIMEOUT, || {
        world
            .sim
            .delivery(&others_only.msg_id)
            .filter(|d| d.acked_at_ms.is_some())
    })
    .await;
    assert!(delivery.acked_at_ms.is_some());
    assert!(
        world.requests_for("[g1]").is_empty(),
        "ignored message reached the model"
    );
    assert!(world.requests_for("[g0]").is_empty());
    assert!(
        world
            .model
            .requests()
            .iter()
            .all(|r| !r.messages.iter().any(|m| m.to_string().contains("[g1]"))),
        "the ignored message is not in any history either"
    );
    assert_eq!(world.replies(&world.group).len(), 1, "one reply in the group");
    assert!(
        gateway.log().contains("requireMention is on"),
        "the gateway logs why it ignored [g1]"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bots_are_bound_to_two_agents() {
    let world = World::start_with(WorldOptions {
        second_app: true,
        ..WorldOptions::default()
    })
    .await;
    let config = world.write_config(&world.fill(
        r#"{
  agents: { list: [
    { id: "a", default: true, name: "Agent A", model: "mock/model-a", systemPrompt: "You are agent A, the helpdesk." },
    { id: "b", name: "Agent B", model: "mock/model-b", systemPrompt: "You are agent B, the ops bot." },
  ] },
  bindings: [ { agentId: "b", match: { channel: "dingtalk", accountId: "bot2" } } ],
  models: { providers: { mock: { baseUrl: "{MODEL}", apiKey: "sk-e2e-mock" } } },
  channels: { dingtalk: {
    endpoints: "{SIM}", dmPolicy: "open", allowFrom: ["*"],
    accounts: {
      bot1: { clientId: "{APP1}", clientSecret: "{SECRET1}" },
      bot2: { clientId: "{APP2}", clientSecret: "{SECRET2}" },
    },
  } },
  gateway: { stateDir: "{STATE}" },
}"#,
    ));
    let _gateway = world.launch(Some(&config), &[], &[APP1, APP2]).await;

    let to_one = world.dm(APP1, ALICE, "question for bot one [b1]");
    let to_two = world.dm(APP2, ALICE, "question for bot two [b2]");
    assert_ne!(to_one.conversation_id, to_two.conversation_id);
    let one = world.wait_replies(&to_one.conversation_id, 1).await;
    let two = world.wait_replies(&to_two.conversation_id, 1).await;

    let first = world.wait_request_for("[b1]").await;
    assert_eq!(first.model, "model-a");
    assert_eq!(texts_of(&first, "system"), ["You are agent A, the helpdesk."]);
    let second = world.wait_request_for("[b2]").await;
    assert_eq!(second.model, "model-b");
    assert_eq!(texts_of(&second, "system"), ["You are agent B, the ops bot."]);

    assert_eq!(one[0].app.as_deref(), Some(APP1), "bot one answers its DM");
    assert_eq!(two[0].app.as_deref(), Some(APP2), "bot two answers its DM");
    assert!(one[0].text.contains("[b1]") && two[0].text.contains("[b2]"));
    assert_eq!(world.model.requests().len(), 2, "one model call per message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn department_bindings_route_by_the_senders_department_looked_up_once() {
    let world = World::start().await;
    let mut finance = dingtalk_sim::UserSpec::new("0777000011112222", "Dave (finance)");
    finance.departments = vec![1, 42];
    world.sim.create_user(finance).expect("create a finance user");
    let config = world.write_config(&world.fill(
        r#"{
  agents: { list: [
    { id: "general", default: true, model: "mock/model-general" },
    { id: "finance", model: "mock/model-finance" },
  ] },
  bindings: [ { agentId: "finance", match: { channel: "dingtalk", department: 42 } } ],
  models: { providers: { mock: { baseUrl: "{MODEL}", apiKey: "sk-e2e-mock" } } },
  channels: { dingtalk: { endpoints: "{SIM}", dmPolicy: "open", allowFrom: ["*"],
                          clientId: "{APP1}", clientSecret: "{SECRET1}" } },
  gateway: { stateDir: "{STATE}" },
}"#,
    ));
    let _gateway = world.start_gateway(&config).await;

    let from_finance = world.dm(APP1, "0777000011112222", "invoice question [d1]");
    world.wait_replies(&from_finance.conversation_id, 1).await;
    let again = world.dm(APP1, "0777000011112222", "another invoice question [d2]");
    world.wait_replies(&again.conversation_id, 2).await;
    let from_alice = world.dm(APP1, ALICE, "general question [d3]");
    world.wait_replies(&from_alice.conversation_id, 1).await;

    assert_eq!(world.wait_request_for("[d1]").await.model, "model-finance");
    assert_eq!(world.wait_request_for("[d2]").await.model, "model-finance");
    assert_eq!(
        world.wait_request_for("[d3]").await.model,
        "model-general",
        "Alice is in department 1 only"
    );
    assert_eq!(
        world.sim.api_call_count(APP1, "/topapi/v2/user/get"),
        2,
        "one contacts lookup per user, cached for the second message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_600_kb_message_reaches_the_model_cut_to_the_cap_and_the_user_is_told() {
    const CAP: usize = 20_000;
    let world = World::start().await;
    world
        .model
        .push(Script::text("I read the start of your log.").when_last_user_contains("[huge-paste]"));
    let config = world.write_config(&world.config(OPEN, ""));
    let _gateway = world.start_gateway(&config).await;

    let text = format!("[huge-paste] {}", "日志 log line. ".repeat(600 * 1024 / 16))
        .trim_end()
        .to_owned();
    let total = text.chars().count();
    assert!(text.len() >= 600 * 1024);
    let injected = world.dm(APP1, ALICE, &text);
    let request = world.wait_request_for("[huge-paste]").await;
    let seen = request.last_user_text().expect("a user message");
    let note = format!("[message truncated: {CAP} of {total} characters kept]");
    let seen_chars = seen.chars().count();
    let tail: String = seen.chars().skip(seen_chars.saturating_sub(120)).collect();
    assert!(seen.ends_with(&note), "the model is told: {tail:?}");
    assert!(
        seen_chars <= CAP + note.chars().count() + 2,
        "{seen_chars} characters"
    );
    let kept: String = text.chars().take(CAP).collect();
    assert!(seen.starts_with(&kept), "the start is kept unchanged");

    let reply = world
        .wait_reply_containing(&injected.conversation_id, "read the start")
        .await;
    assert!(
        reply.text.contains("消息过长") && reply.text.contains("too long"),
        "the user is told, in both languages: {:?}",
        reply.text
    );
}
