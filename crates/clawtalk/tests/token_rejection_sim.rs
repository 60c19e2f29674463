//! A DingTalk access token rejected under a running gateway, in the shape DingTalk really
//! uses (HTTP 400 `InvalidAuthentication`, satorijs/satori#240): the gateway fetches a new
//! token and the reply still goes out exactly once; a fresh token rejected too is logged as a
//! credentials problem naming the account, without any secret or token.

mod support;

use std::time::Duration;

use serde_json::json;
use support::world::{ALICE, APP1, SECRET1, sim_config};
use support::{TIMEOUT, World, WorldOptions, wait_until};

const ACCOUNT: &str = "salesbot";

/// sessionWebhooks already expired when the message arrives: every reply goes through the
/// robot OpenAPI, which needs the access token.
async fn world() -> World {
    World::start_with(WorldOptions {
        sim: sim_config().with_session_webhook_ttl(Duration::from_millis(1)),
        ..WorldOptions::default()
    })
    .await
}

/// One named account (so logs can be checked for its name), everyone allowed in.
fn config(world: &World) -> std::path::PathBuf {
    world.write_config(&world.fill(&format!(
        r#"{{
  agents: {{ list: [ {{ id: "main", name: "E2E Bot", model: "mock/e2e-model" }} ] }},
  models: {{ providers: {{ mock: {{ baseUrl: "{{MODEL}}", apiKey: "sk-e2e-mock" }} }} }},
  channels: {{ dingtalk: {{
    endpoints: "{{SIM}}", dmPolicy: "open", allowFrom: ["*"],
    accounts: {{ {ACCOUNT}: {{ clientId: "{{APP1}}", clientSecret: "{{SECRET1}}" }} }},
  }} }},
  gateway: {{ stateDir: "{{STATE}}" }},
}}"#
    )))
}

/// The replies the bot sent to Alice's DMs that contain `needle`.
fn replies_containing(world: &World, needle: &str) -> Vec<dingtalk_sim::SentMessage> {
    let dm = world.sim.dm_conversation_id(APP1, ALICE);
    world
        .replies(&dm)
        .into_iter()
        .filter(|m| m.text.contains(needle))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_replaced_and_the_reply_sent_exactly_once() {
    let world = world().await;
    let gateway = world.start_gateway(&config(&world)).await;
    world.model.push(llm_mock::Script::text("first answer [t1]"));
    world.dm(APP1, ALICE, "hello before [t1]");
    wait_until("the first reply", TIMEOUT, || {
        (!replies_containing(&world, "[t1]").is_empty()).then_some(())
    })
    .await;
    let tokens_before = world.sim.token_calls(APP1);

    // Revoke the gateway's token through the simulator's control API.
    let revoked = world
        .post_to_sim("/_sim/apps/expire_tokens", None, &json!({"app": APP1}))
        .await;
    assert_eq!(revoked["expired"], 1, "{revoked}");

    world.model.push(llm_mock::Script::text("second answer [t2]"));
    world.dm(APP1, ALICE, "hello after [t2]");
    let reply = wait_until("the reply after the revocation", TIMEOUT, || {
        replies_containing(&world, "[t2]").into_iter().next()
    })
    .await;
    assert_eq!(reply.api, "robot.batchSend", "{reply:?}");
    // Nothing more comes later: one reply, one new token.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(replies_containing(&world, "[t2]").len(), 1);
    assert_eq!(world.sim.token_calls(APP1), tokens_before + 1);
    let log = gateway.log();
    assert!(!log.contains("credentials problem"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_token_rejected_too_is_a_credentials_error_naming_the_account() {
    let world = world().await;
    let gateway = world.start_gateway(&config(&world)).await;
    // The send and its one retry with a fresh token are both refused as DingTalk does.
    let rejected = json!({"code": "InvalidAuthentication", "message": "不合法的access_token"});
    world.sim.fail_next_api("/v1.0/robot/", 2, 400, Some(rejected));
    world.model.push(llm_mock::Script::text("an answer [t3]"));
    world.dm(APP1, ALICE, "hello [t3]");

    let line = wait_until("the credentials error in the log", TIMEOUT, || {
        gateway
            .log()
            .lines()
            .find(|l| l.contains("credentials problem"))
            .map(str::to_owned)
    })
    .await;
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains(ACCOUNT), "{line}");
    let token = world.access_token(APP1, SECRET1).await;
    let log = gateway.log();
    for secret in [SECRET1, token.as_str(), "sk-e2e-mock"] {
        assert!(!log.contains(secret), "the log leaks {secret:?}:\n{log}");
    }
}
