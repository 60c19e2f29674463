//! End to end, HTTP mode: signed bot callbacks (valid, stale, forged, replayed) and encrypted
//! event pushes (check_url, valid, tampered, wrong key), against the simulator pushing to the
//! real `clawtalk` binary, plus start-up refusal of half-configured event crypto.

mod support;

use std::time::Duration;

use clawtalk_core::clock::{Clock, SystemClock};
use dingtalk::crypto::{EventCrypto, robot_sign};
use dingtalk_sim::{HttpPushSpec, InjectEvent};
use llm_mock::Script;
use serde_json::json;
use support::process::{GatewayProcess, run_cli};
use support::webhook::{listen_addr, post_callback, variant};
use support::world::{ALICE, APP1, BOB, SECRET1};
use support::{TIMEOUT, World, wait_until};

const TOKEN: &str = "e2eToken42";
const AES_KEY: &str = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";
const OTHER_AES_KEY: &str = "1234567890123456789012345678901234567890123";

/// One bot in HTTP mode with an event subscription, an `approvals` agent for task events,
/// and the listener on a free port.
fn http_config(world: &World, account_extra: &str) -> String {
    world.fill(&format!(
        r#"{{
  agents: {{ list: [ {{ id: "main", model: "mock/e2e-model" }},
                     {{ id: "approvals", model: "mock/e2e-model", systemPrompt: "You notify approvers." }} ] }},
  models: {{ providers: {{ mock: {{ baseUrl: "{{MODEL}}", apiKey: "sk-e2e-mock" }} }} }},
  channels: {{ dingtalk: {{
    clientId: "{{APP1}}", clientSecret: "{{SECRET1}}", endpoints: "{{SIM}}",
    mode: "http", dmPolicy: "open", allowFrom: ["*"],
    {account_extra}
  }} }},
  workflows: [ {{ match: {{ event: "bpms_task_change", type: "start" }}, agent: "approvals", notify: "approver" }} ],
  gateway: {{ stateDir: "{{STATE}}", port: 0 }},
}}"#
    ))
}

async fn start(world: &World, config: &str) -> (GatewayProcess, String) {
    let path = world.write_config(config);
    let mut gateway = world.launch(Some(&path), &[], &[]).await;
    let addr = listen_addr(&mut gateway).await;
    (gateway, format!("http://{addr}/webhooks/dingtalk"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_callbacks_are_verified_and_only_genuine_ones_reach_the_agent() {
    let world = World::start().await;
    world
        .model
        .push(Script::text("Hello over HTTP.").when_last_user_contains("via http"));
    let (gateway, url) = start(&world, &http_config(&world, "")).await;
    assert!(
        world.sim.open_connections(APP1).is_empty(),
        "an HTTP-mode account opens no Stream connection"
    );

    // Valid: the simulator signs with the app secret and POSTs to the default path.
    world.sim.set_http_bot_callback(APP1, Some(url.clone())).unwrap();
    let injected = world.dm(APP1, ALICE, "hello via http");
    let reply = world
        .wait_reply_containing(&injected.conversation_id, "Hello over HTTP.")
        .await;
    assert_eq!(reply.api, "sessionWebhook", "{reply:?}");
    let pushes = world.sim.wait_for_http_pushes(1, TIMEOUT).await.unwrap();
    assert!(pushes[0].ok && pushes[0].status == Some(200), "{pushes:?}");
    assert_eq!(world.requests_for("hello via http").len(), 1);

    let url_default = format!("{url}/default");
    let forged = variant(&injected.payload, "msgForged01", "forged order [f]");
    let ts = SystemClock.now_ms().to_string();
    let (status, body) = post_callback(
        &url_default,
        &ts,
        &robot_sign("not-the-secret", SystemClock.now_ms()),
        &forged,
    )
    .await;
    assert_eq!(status, 401, "forged: {body}");
    assert!(body.contains("does not match"), "{body}");

    let stale_ts = SystemClock.now_ms() - 2 * 3_600_000;
    let stale = variant(&injected.payload, "msgStale01", "stale order [s]");
    let (status, body) = post_callback(
        &url_default,
        &stale_ts.to_string(),
        &robot_sign(SECRET1, stale_ts),
        &stale,
    )
    .await;
    assert_eq!(status, 401, "stale: {body}");
    assert!(body.contains("away from this host's clock"), "{body}");

    // A genuine pair is accepted once; the same pair with another body is a replay.
    let fresh = SystemClock.now_ms();
    let sign = robot_sign(SECRET1, fresh);
    let first = variant(&injected.payload, "msgFresh01", "first signed [r1]");
    let (status, body) = post_callback(&url_default, &fresh.to_string(), &sign, &first).await;
    assert_eq!(status, 200, "fresh: {body}");
    let replay = variant(&injected.payload, "msgReplay01", "replayed order [r2]");
    let (status, body) = post_callback(&url_default, &fresh.to_string(), &sign, &replay).await;
    assert_eq!(status, 401, "replayed: {body}");
    assert!(body.contains("replayed"), "{body}");

    world.wait_request_for("first signed [r1]").await;
    let log = wait_until("the rejections to be logged", TIMEOUT, || {
        let log = gateway.log();
        (log.matches("bot callback rejected").count() >= 3).then_some(log)
    })
    .await;
    for reason in [
        "signature does not match",
        "away from this host's clock",
        "replayed",
    ] {
        assert!(log.contains(reason), "log lacks {reason:?}:\n{log}");
    }
    let client = dingtalk::tls::client_builder().build().unwrap();
    let unknown = client
        .post(format!("{url}/nobody"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        unknown.status().as_u16(),
        404,
        "an account that is not configured"
    );
    let push = client
        .post(format!("{url}?msg_signature=x&timestamp=1&nonce=n"))
        .body(r#"{"encrypt":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        push.status().as_u16(),
        404,
        "no token/aesKey: no event subscription"
    );
    assert!(push.text().await.unwrap().contains("set token and aesKey"));
    for text in ["[f]", "[s]", "[r2]"] {
        assert!(world.requests_for(text).is_empty(), "{text} reached the model");
    }

    // `gateway status` does not call an HTTP-mode account "disconnected": it has no Stream.
    let config_arg = world.home().join("clawtalk.json").display().to_string();
    let out = run_cli(world.home(), &["gateway", "status", "--config", &config_arg]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("http-callback") && !text.contains("disconnected"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_events_reach_the_workflow_agent_once_and_bad_pushes_are_refused() {
    let world = World::start().await;
    world.model.push(
        Script::text("Bob, please review Alice's trip request.").when_last_user_contains("business trip"),
    );
    let config = http_config(&world, &format!(r#"token: "{TOKEN}", aesKey: "{AES_KEY}","#));
    let (gateway, url) = start(&world, &config).await;
    let push_url = format!("{url}/default");
    let spec = |aes_key: &str| HttpPushSpec {
        url: push_url.clone(),
        token: TOKEN.into(),
        aes_key: aes_key.into(),
        owner_key: None,
        events: true,
    };
    world.sim.register_http_push(APP1, spec(AES_KEY)).unwrap();

    let check = world.sim.check_url(APP1).await.unwrap();
    assert!(
        check.ok,
        "check_url answered with the encrypted success: {check:?}"
    );
    assert!(check.latency_ms < 2_500, "{check:?}");

    let data = json!({
        "processInstanceId": "procInstE2E01", "processCode": "PROC-E2E-TRIP", "type": "start",
        "title": "Alice Zhang's business trip request", "taskId": 811165, "staffId": BOB,
        "createTime": 1_767_226_000_000_i64,
    });
    let mut event = InjectEvent::new(APP1, "bpms_task_change", data);
    event.event_id = Some("evE2Ehttp0001".into());
    world.sim.inject_event(&event).unwrap();
    let bob_dm = world.sim.dm_conversation_id(APP1, BOB);
    let dm = world
        .wait_reply_containing(&bob_dm, "please review Alice's trip request")
        .await;
    assert_eq!(dm.api, "robot.batchSend", "a DM by staff id: {dm:?}");
    let request = world.wait_request_for("business trip").await;
    let prompt = request.last_user_text().unwrap();
    for needle in [
        "bpms_task_change",
        "a task is waiting for the approver",
        "PROC-E2E-TRIP",
        BOB,
    ] {
        assert!(
            prompt.contains(needle),
            "{needle:?} missing from the summary:\n{prompt}"
        );
    }

    // The same eventId again (DingTalk redelivers): answered, not handled twice.
    world.sim.inject_event(&event).unwrap();
    let pushes = world.sim.wait_for_http_pushes(3, TIMEOUT).await.unwrap();
    assert!(pushes.iter().all(|p| p.ok), "{pushes:?}");
    for p in &pushes {
        assert!(p.latency_ms < 2_500, "answered within DingTalk's deadline: {p:?}");
        eprintln!("{} answered in {} ms", p.kind, p.latency_ms);
    }

    // Tampered ciphertext: the signature no longer matches.
    let crypto = EventCrypto::new(TOKEN, AES_KEY, APP1).unwrap();
    let sealed = crypto.seal(
        r#"{"EventType":"check_url"}"#,
        &SystemClock.now_ms().to_string(),
        "nonceE2E",
    );
    let mut tampered = sealed.encrypt.clone();
    tampered.replace_range(0..1, if tampered.starts_with('A') { "B" } else { "A" });
    let post_push = |sealed: &dingtalk::crypto::EncryptedReply, encrypt: String| {
        dingtalk::tls::client_builder()
            .build()
            .unwrap()
            .post(format!(
                "{push_url}?msg_signature={}&timestamp={}&nonce={}",
                sealed.msg_signature, sealed.timestamp, sealed.nonce
            ))
            .json(&json!({ "encrypt": encrypt }))
            .send()
    };
    let response = post_push(&sealed, tampered).await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    // Only "invalid": which check failed is the log's, not the caller's (no oracle).
    assert_eq!(response.text().await.unwrap(), "invalid event push");

    // A genuine push captured two hours ago and replayed: refused, and nothing is handled.
    let stale_event = r#"{"EventType":"bpms_task_change","processInstanceId":"procInstStale","type":"start","staffId":"bob","title":"replayed trip"}"#;
    let stale = crypto.seal(
        stale_event,
        &(SystemClock.now_ms() - 2 * 3_600_000).to_string(),
        "nonceOld",
    );
    let response = post_push(&stale, stale.encrypt.clone()).await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(response.text().await.unwrap(), "invalid event push");

    // Wrong key: the simulator encrypts with another aes_key; the gateway cannot open it.
    world.sim.register_http_push(APP1, spec(OTHER_AES_KEY)).unwrap();
    let mut wrong = InjectEvent::new(
        APP1,
        "bpms_task_change",
        json!({"processInstanceId": "procInstE2E02", "type": "start", "staffId": BOB, "title": "wrong key trip"}),
    );
    wrong.event_id = Some("evE2Ehttp0002".into());
    world.sim.inject_event(&wrong).unwrap();
    let pushes = world.sim.wait_for_http_pushes(4, TIMEOUT).await.unwrap();
    let last = pushes.last().unwrap();
    assert!(!last.ok && last.status == Some(400), "{last:?}");

    let log = wait_until("both refusals in the log", TIMEOUT, || {
        let log = gateway.log();
        (log.matches("event push rejected").count() >= 3).then_some(log)
    })
    .await;
    assert!(log.contains("msg_signature does not match"), "{log}");
    assert!(log.contains("a replayed push, or a clock that is wrong"), "{log}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        world.requests_for("business trip").len(),
        1,
        "one turn per eventId"
    );
    assert_eq!(world.replies(&bob_dm).len(), 1, "one DM per eventId");
    assert!(world.requests_for("wrong key trip").is_empty());
    assert!(world.requests_for("replayed trip").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_configured_event_crypto_refuses_to_start() {
    let world = World::start().await;
    let path = world.write_config(&http_config(&world, &format!(r#"token: "{TOKEN}","#)));
    let mut gateway = world.launch(Some(&path), &[], &[]).await;
    let status = gateway.wait_exit(TIMEOUT).await;
    assert!(!status.success(), "{status}");
    let log = gateway.log();
    assert!(
        log.contains("channels.dingtalk.aesKey") && log.contains("sets token but not aesKey"),
        "{log}"
    );

    let bad_key = world.write_config(&http_config(
        &world,
        &format!(r#"token: "{TOKEN}", aesKey: "tooShort","#),
    ));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_clawtalk"))
        .args(["config", "validate", "--config"])
        .arg(&bad_key)
        .env_clear()
        .env("HOME", world.home())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{text}");
    assert!(
        text.contains("channels.dingtalk.aesKey") && text.contains("exactly 43 characters"),
        "{text}"
    );
    assert!(!text.contains("tooShort"), "the key is not echoed: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_robots_outgoing_callbacks_are_verified_and_answered_in_its_group() {
    const OUTGOING: &str = "e2e-outgoing-token";
    let world = World::start().await;
    world
        .model
        .push(Script::text("The build is green.").when_last_user_contains("check the build"));
    let robot = world
        .sim
        .create_custom_robot(dingtalk_sim::CustomRobotSpec {
            group: world.group.clone(),
            name: Some("helper".into()),
            access_token: None,
            secret: None,
            keywords: Vec::new(),
        })
        .expect("custom robot");
    let config = world.fill(&format!(
        r#"{{
  agents: {{ list: [ {{ id: "main", model: "mock/e2e-model" }} ] }},
  models: {{ providers: {{ mock: {{ baseUrl: "{{MODEL}}", apiKey: "sk-e2e-mock" }} }} }},
  channels: {{ dingtalk: {{ accounts: {{ helper: {{
    mode: "customRobot", webhookUrl: "{}", outgoingToken: "{OUTGOING}", groupPolicy: "open",
  }} }} }} }},
  gateway: {{ stateDir: "{{STATE}}", port: 0 }},
}}"#,
        robot.webhook_url
    ));
    let (_gateway, url) = start(&world, &config).await;
    let url = format!("{url}/helper");
    let payload = json!({
        "conversationId": world.group, "conversationType": "2", "conversationTitle": "E2E",
        "msgId": "msgOutgoing01", "msgtype": "text", "text": { "content": " check the build" },
        "senderNick": "Alice", "senderStaffId": ALICE, "senderId": "$:LWCP_v1:$alice",
        "isInAtList": true, "createAt": SystemClock.now_ms(), "robotCode": "normal",
        "sessionWebhook": "http://127.0.0.1:9/robot/sendBySession?session=x",
        "sessionWebhookExpiredTime": SystemClock.now_ms() + 3_600_000,
    });

    let forged_at = SystemClock.now_ms();
    let (status, body) = post_callback(
        &url,
        &forged_at.to_string(),
        &robot_sign("not-the-token", forged_at),
        &payload,
    )
    .await;
    assert_eq!(status, 401, "signed with another key: {body}");

    let at = SystemClock.now_ms();
    let (status, body) = post_callback(&url, &at.to_string(), &robot_sign(OUTGOING, at), &payload).await;
    assert_eq!(status, 200, "{body}");
    // The same message delivered again (a retry with a fresh signature) is answered once.
    let again = SystemClock.now_ms() + 1;
    let (status, _) = post_callback(&url, &again.to_string(), &robot_sign(OUTGOING, again), &payload).await;
    assert_eq!(status, 200);

    let sent = wait_until("the robot to answer in its group", TIMEOUT, || {
        let sent: Vec<_> = world
            .sim
            .sent_messages()
            .into_iter()
            .filter(|m| m.api == "customRobot")
            .collect();
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert!(
        sent[0].body.to_string().contains("The build is green."),
        "{:?}",
        sent[0].body
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(world.requests_for("check the build").len(), 1, "answered once");
}

/// POSTs raw bytes with the given headers; returns status and body.
async fn post_raw(url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
    let mut request = dingtalk::tls::client_builder()
        .build()
        .unwrap()
        .post(url)
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_malformed_and_oversize_webhooks_are_refused_and_nothing_is_stored() {
    let world = World::start().await;
    let config = http_config(&world, &format!(r#"token: "{TOKEN}", aesKey: "{AES_KEY}","#));
    let (mut gateway, url) = start(&world, &config).await;
    let json = ("Content-Type", "application/json");
    // Every signed request gets its own timestamp: a verified pair is never accepted twice.
    let mut at = SystemClock.now_ms();
    let mut signed = || {
        at += 1;
        (at.to_string(), robot_sign(SECRET1, at))
    };
    let message = json!({
        "conversationId": "cidRefused", "conversationType": "1", "msgId": "msgRefused01",
        "msgtype": "text", "text": { "content": "must not arrive [x]" }, "senderStaffId": ALICE,
        "senderId": "$:LWCP_v1:$alice", "senderNick": "Alice", "createAt": SystemClock.now_ms(),
        "robotCode": APP1, "chatbotUserId": "$:LWCP_v1:$bot",
    })
    .to_string();

    let (status, body) = post_raw(&url, &[json], message.clone().into_bytes()).await;
    assert_eq!(status, 401, "unsigned: {body}");
    assert!(body.contains("missing timestamp/sign"), "{body}");
    let (ts, _) = signed();
    let (status, _) = post_raw(&url, &[json, ("timestamp", &ts)], message.clone().into_bytes()).await;
    assert_eq!(status, 401, "a timestamp without a sign");
    let (_, sign) = signed();
    let (status, body) = post_raw(
        &url,
        &[json, ("timestamp", "soon"), ("sign", &sign)],
        message.clone().into_bytes(),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("not a decimal number"), "{body}");
    let (ts, _) = signed();
    let (status, body) = post_raw(
        &url,
        &[json, ("timestamp", &ts), ("sign", "a b%2F")],
        message.clone().into_bytes(),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("not a Base64 character"), "{body}");

    // Correctly signed, but not a JSON bot message.
    let (ts, sign) = signed();
    let (status, body) = post_raw(
        &url,
        &[
            ("Content-Type", "text/plain"),
            ("timestamp", &ts),
            ("sign", &sign),
        ],
        message.clone().into_bytes(),
    )
    .await;
    assert_eq!(status, 415, "{body}");
    assert!(body.contains("not JSON"), "{body}");
    for (what, bad) in [
        ("truncated JSON", b"{\"msgId\": \"msgRefused02\", ".to_vec()),
        ("JSON that is no bot message", b"{\"hello\": [1, 2, 3]}".to_vec()),
        ("not UTF-8", vec![b'{', 0xff, 0xfe, b'}']),
        ("empty", Vec::new()),
    ] {
        let (ts, sign) = signed();
        let (status, body) = post_raw(&url, &[json, ("timestamp", &ts), ("sign", &sign)], bad).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert!(body.contains("unreadable bot message"), "{what}: {body}");
    }
    let (ts, sign) = signed();
    let huge = format!(r#"{{"text": {{"content": "{}"}}}}"#, "x".repeat(2 * 1024 * 1024));
    let (status, _) = post_raw(
        &url,
        &[json, ("timestamp", &ts), ("sign", &sign)],
        huge.clone().into_bytes(),
    )
    .await;
    assert_eq!(status, 413, "over the 1 MiB body limit");

    // Event pushes: missing parameters, a body that is not {"encrypt": …}, too big.
    let push = format!("{url}?msg_signature=abc&timestamp=1&nonce=n");
    let (status, body) = post_raw(
        &format!("{url}?msg_signature=abc"),
        &[json],
        br#"{"encrypt":"x"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post_raw(&push, &[json], b"[1]".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("body is not"), "{body}");
    let (status, _) = post_raw(&push, &[("Content-Type", "text/xml")], b"<xml/>".to_vec()).await;
    assert_eq!(status, 415);
    let (status, _) = post_raw(&push, &[json], huge.into_bytes()).await;
    assert_eq!(status, 413);

    // Nothing was stored or answered, and the gateway is still serving.
    gateway.assert_running();
    let db = world.state_dir().join("clawtalk.db");
    let inbox = support::db::statuses(&db, "inbox").await;
    assert!(inbox.is_empty(), "refused requests were stored: {inbox:?}");
    assert!(world.requests_for("[x]").is_empty());
    let (status, _) = post_raw(&url.replace("/webhooks/dingtalk", "/healthz"), &[], Vec::new()).await;
    assert_eq!(status, 405, "the listener still answers (GET-only route)");
    assert!(!gateway.log().contains("panicked"), "{}", gateway.log());
}

/// HTTP callbacks of one chat race: a `/new` whose answer is slow to send is still undecided
/// when the chat's next message is queued, so the first claim for that message finds nothing
/// (the store keeps a session's messages in order). Once the `/new` is settled, the next
/// message is answered at once instead of at the scheduler's next sweep, up to 5 s later.
#[tokio::test]
async fn a_message_queued_behind_a_slow_command_is_answered_once_the_command_is_settled() {
    const SLOW: Duration = Duration::from_millis(1500);
    let world = World::start().await;
    world
        .model
        .push(Script::text("Fresh start confirmed.").when_last_user_contains("right after"));
    let (_gateway, url) = start(&world, &http_config(&world, "")).await;
    world.sim.set_http_bot_callback(APP1, Some(url)).unwrap();
    world.sim.set_api_latency("/robot/sendBySession", SLOW);

    let reset = world.dm(APP1, ALICE, "/new");
    // The gateway has stored the command and is deciding it (its answer takes SLOW to send).
    world.sim.wait_for_http_pushes(1, TIMEOUT).await.unwrap();
    let started = std::time::Instant::now();
    world.dm(APP1, ALICE, "right after the reset");
    world
        .wait_reply_containing(&reset.conversation_id, "Started a new conversation")
        .await;
    world
        .wait_reply_containing(&reset.conversation_id, "Fresh start confirmed.")
        .await;
    let waited = started.elapsed();
    // Two slow sends one after the other and a turn against a mock model; waiting for a sweep
    // would add up to 5 s.
    assert!(
        waited < 2 * SLOW + Duration::from_millis(1000),
        "the second message was answered {waited:?} after it was sent"
    );
    let order: Vec<String> = world
        .replies(&reset.conversation_id)
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(order.len(), 2, "{order:?}");
    assert!(order[0].contains("Started a new conversation"), "{order:?}");
}
