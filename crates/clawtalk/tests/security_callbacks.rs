//! HTTP-mode callbacks end to end, against the real `clawtalk` binary and the simulator:
//!
//! - DingTalk's HTTP-mode `sign` covers the timestamp only, never the body (protocol §8), so a
//!   used `timestamp`/`sign` pair is refused for any other message after a restart and on
//!   another replica, while the same message under its own pair is taken (and answered once);
//! - a callback's `sessionWebhook` is posted to only on the account's DingTalk host: anything
//!   else is refused and the reply goes through the robot OpenAPI.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use clawtalk_core::clock::{Clock, SystemClock};
use dingtalk::crypto::robot_sign;
use llm_mock::Script;
use serde_json::json;
use support::pg::TestSchema;
use support::process::GatewayProcess;
use support::webhook::{listen_addr, post_callback, variant};
use support::world::{ALICE, APP1, SECRET1};
use support::{World, wait_until};

/// One bot in HTTP mode, open to everyone, the listener on a free port; `top_extra` at the top
/// level (a `store`), the state in `state`.
fn http_config(world: &World, state: &str, top_extra: &str) -> String {
    world.fill(&format!(
        r#"{{
  agents: {{ list: [ {{ id: "main", model: "mock/e2e-model" }} ] }},
  models: {{ providers: {{ mock: {{ baseUrl: "{{MODEL}}", apiKey: "sk-e2e-mock" }} }} }},
  channels: {{ dingtalk: {{
    clientId: "{{APP1}}", clientSecret: "{{SECRET1}}", endpoints: "{{SIM}}",
    mode: "http", dmPolicy: "open", allowFrom: ["*"],
  }} }},
  gateway: {{ stateDir: {state}, port: 0 }},
  {top_extra}
}}"#,
        state = json!(world.home().join(state).display().to_string()),
    ))
}

fn write(world: &World, name: &str, text: &str) -> PathBuf {
    let path = world.home().join(name);
    std::fs::write(&path, text).expect("write the config");
    path
}

/// Starts a gateway on `config` (as instance `name`) and returns it with its webhook URL.
async fn start(world: &World, config: &Path, name: &str) -> (GatewayProcess, String) {
    let env = [("CLAWTALK_INSTANCE".to_owned(), name.to_owned())];
    let mut gateway = world.launch(Some(config), &env, &[]).await;
    let addr = listen_addr(&mut gateway).await;
    (gateway, format!("http://{addr}/webhooks/dingtalk"))
}

/// Has the simulator push a DM from Alice to `url` and waits for its answer; returns the
/// payload DingTalk delivered (the template of the hand-signed callbacks).
async fn genuine_dm(world: &World, url: &str) -> (serde_json::Value, String) {
    world
        .model
        .push(Script::text("Hello [g].").when_last_user_contains("[g]"));
    world
        .sim
        .set_http_bot_callback(APP1, Some(url.to_owned()))
        .unwrap();
    let injected = world.dm(APP1, ALICE, "hello [g]");
    world
        .wait_reply_containing(&injected.conversation_id, "Hello [g].")
        .await;
    (injected.payload, injected.conversation_id)
}

/// Sends one more genuine message and waits for its answer: every callback posted before it
/// in the same conversation has been settled by then (one session, answered in order).
async fn settle(world: &World, url: &str, payload: &serde_json::Value, conversation: &str, tag: &str) {
    world
        .model
        .push(Script::text(format!("Settled {tag}.")).when_last_user_contains(tag));
    let ts = SystemClock.now_ms();
    let body = variant(payload, &format!("msgSettle{tag}"), &format!("settle {tag}"));
    let (status, text) = post_callback(url, &ts.to_string(), &robot_sign(SECRET1, ts), &body).await;
    assert_eq!(status, 200, "{text}");
    world
        .wait_reply_containing(conversation, &format!("Settled {tag}."))
        .await;
}

fn answered(world: &World, conversation: &str, text: &str) -> usize {
    world
        .replies(conversation)
        .iter()
        .filter(|m| m.text.contains(text))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_pair_carries_only_its_own_message_even_after_a_restart() {
    let world = World::start().await;
    let config = write(&world, "clawtalk.json", &http_config(&world, "state", ""));
    let (mut gateway, url) = start(&world, &config, "one").await;
    let (payload, conversation) = genuine_dm(&world, &url).await;
    world
        .model
        .push(Script::text("Answered [p1].").when_last_user_contains("[p1]"));

    // Two messages DingTalk signed in the same millisecond share a pair: the first is taken,
    // the second cannot be told from a forged body under the first's pair, so it is refused.
    let ts = SystemClock.now_ms();
    let sign = robot_sign(SECRET1, ts);
    let first = variant(&payload, "msgPair01", "first [p1]");
    let (status, body) = post_callback(&url, &ts.to_string(), &sign, &first).await;
    assert_eq!(status, 200, "{body}");
    let second = variant(&payload, "msgPair02", "second [p2]");
    let (status, body) = post_callback(&url, &ts.to_string(), &sign, &second).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body.contains("replayed") && body.contains("same millisecond"),
        "{body}"
    );
    // The first message delivered again under its own pair is taken (the inbox dedups it).
    let (status, body) = post_callback(&url, &ts.to_string(), &sign, &first).await;
    assert_eq!(status, 200, "the same message again: {body}");
    world.wait_reply_containing(&conversation, "Answered [p1].").await;

    // The kill must not fall between DingTalk's "ok" for [p1] and the store's record of it,
    // the one window exactly-once cannot cover (the turn would rightly run again): a later
    // turn of the same session answered means [p1]'s turn was recorded before it.
    settle(&world, &url, &payload, &conversation, "[s0]").await;
    // A restart (SIGKILL: nothing flushed on the way out) keeps the pair in the store.
    gateway.kill();
    let (gateway, url) = start(&world, &config, "one").await;
    let forged = variant(&payload, "msgForged03", "forged order [f3]");
    let (status, body) = post_callback(&url, &ts.to_string(), &sign, &forged).await;
    assert_eq!(status, 401, "replayed after a restart: {body}");
    assert!(body.contains("replayed"), "{body}");
    let (status, body) = post_callback(&url, &ts.to_string(), &sign, &first).await;
    assert_eq!(status, 200, "its own message after a restart: {body}");

    settle(&world, &url, &payload, &conversation, "[s1]").await;
    assert_eq!(world.requests_for("[p1]").len(), 1, "asked about [p1] once");
    assert_eq!(answered(&world, &conversation, "Answered [p1]."), 1);
    for text in ["[p2]", "[f3]"] {
        assert!(world.requests_for(text).is_empty(), "{text} reached the model");
    }
    assert!(
        gateway.log().contains("bot callback rejected"),
        "{}",
        gateway.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_used_on_one_replica_is_refused_on_another() {
    let Some(schema) = TestSchema::create("a_pair_used_on_one_replica_is_refused_on_another").await else {
        return;
    };
    let world = World::start().await;
    let store = format!("store: {{ url: {} }},", json!(schema.url()));
    let one = write(&world, "r1.json", &http_config(&world, "state-r1", &store));
    let two = write(&world, "r2.json", &http_config(&world, "state-r2", &store));
    let (_r1, url1) = start(&world, &one, "r1").await;
    let (_r2, url2) = start(&world, &two, "r2").await;
    let (payload, conversation) = genuine_dm(&world, &url1).await;
    world
        .model
        .push(Script::text("Answered [q1].").when_last_user_contains("[q1]"));

    let ts = SystemClock.now_ms();
    let sign = robot_sign(SECRET1, ts);
    let first = variant(&payload, "msgReplica01", "first [q1]");
    let (status, body) = post_callback(&url1, &ts.to_string(), &sign, &first).await;
    assert_eq!(status, 200, "{body}");
    let forged = variant(&payload, "msgReplica02", "forged order [q2]");
    let (status, body) = post_callback(&url2, &ts.to_string(), &sign, &forged).await;
    assert_eq!(status, 401, "replayed on the other replica: {body}");
    assert!(body.contains("replayed"), "{body}");
    let (status, body) = post_callback(&url2, &ts.to_string(), &sign, &first).await;
    assert_eq!(status, 200, "its own message on the other replica: {body}");

    settle(&world, &url2, &payload, &conversation, "[s2]").await;
    world.wait_reply_containing(&conversation, "Answered [q1].").await;
    assert_eq!(world.requests_for("[q1]").len(), 1, "asked about [q1] once");
    assert_eq!(answered(&world, &conversation, "Answered [q1]."), 1);
    assert!(
        world.requests_for("[q2]").is_empty(),
        "the forged body reached the model"
    );
}

/// A local server that answers every request like a sessionWebhook would, counting them.
async fn counting_server() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { axum::Json(json!({ "errcode": 0, "errmsg": "ok" })) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr.to_string(), hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_webhook_off_the_dingtalk_host_is_refused_and_the_reply_goes_through_the_robot_api() {
    let world = World::start().await;
    let config = write(&world, "clawtalk.json", &http_config(&world, "state", ""));
    let (gateway, url) = start(&world, &config, "one").await;
    let (payload, conversation) = genuine_dm(&world, &url).await;
    let (elsewhere, hits) = counting_server().await;
    let sim = world.sim.base_url();
    let sim_authority = format!("{}:{}", sim.host_str().unwrap(), sim.port().unwrap());
    let hooks = [
        // Loopback, another port.
        format!("http://{elsewhere}/robot/sendBySession?session=x"),
        // The simulator's host as userinfo in front of another host.
        format!("http://{sim_authority}@{elsewhere}/robot/sendBySession?session=x"),
        // The simulator's host, but a path other than sendBySession.
        format!("{}robot/send?access_token=someone-elses", sim.as_str()),
    ];
    for (n, hook) in hooks.iter().enumerate() {
        let tag = format!("[h{n}]");
        world
            .model
            .push(Script::text(format!("Answered {tag}.")).when_last_user_contains(&tag));
        let mut body = variant(&payload, &format!("msgHook{n}"), &format!("hook {tag}"));
        body["sessionWebhook"] = json!(hook);
        let ts = SystemClock.now_ms() + i64::try_from(n).unwrap();
        let (status, text) = post_callback(&url, &ts.to_string(), &robot_sign(SECRET1, ts), &body).await;
        assert_eq!(status, 200, "{text}");
        let reply = world
            .wait_reply_containing(&conversation, &format!("Answered {tag}."))
            .await;
        assert_eq!(reply.api, "robot.batchSend", "{hook}: {reply:?}");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a forged sessionWebhook was contacted"
    );
    let log = wait_until("the refusals to be logged", support::TIMEOUT, || {
        let log = gateway.log();
        (log.matches("sessionWebhook refused").count() >= hooks.len()).then_some(log)
    })
    .await;
    assert!(
        !log.contains("session=x") && !log.contains("someone-elses"),
        "{log}"
    );
}
