//! The configuration examples of the guides users follow (`tests/fixtures/seed-configs/`,
//! byte-for-byte copies of the project's shared fixtures): each one validates with the real
//! binary, and answers a message in the simulator.
//!
//! The fixtures are never edited. What a test adds sits in a small wrapper file that
//! `$include`s the fixture (OpenClaw's include directive): simulator and mock-model base URLs,
//! a model where the example names none, a valid aes_key for the placeholder one, and the
//! policies that let a stranger's DM through (clawtalk defaults `dmPolicy` to `pairing`, the
//! plugins to `open`). Where only a model is missing, it comes from `CLAWTALK_MODEL`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dingtalk::crypto::robot_sign;
use dingtalk_sim::{AppSpec, CustomRobotSpec, GroupSpec, InjectMessage, UserSpec};
use llm_mock::Script;
use serde_json::json;
use support::db;
use support::webhook::{listen_addr, post_callback};
use support::world::{ALICE, BOB};
use support::{TIMEOUT, World, wait_until};

/// A valid 43-character aes_key in place of the example's placeholder.
const AES_KEY: &str = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/seed-configs")
        .join(name)
}

/// `clawtalk config validate --config <path>` with a clean environment plus `envs`.
fn validate(home: &Path, path: &Path, envs: &[(&str, &str)]) -> (Output, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clawtalk"));
    cmd.env_clear()
        .env("HOME", home)
        .args(["config", "validate", "--config"])
        .arg(path);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run clawtalk");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out, text)
}

fn assert_valid(path: &Path, envs: &[(&str, &str)]) -> String {
    let home = tempfile::tempdir().unwrap();
    let (out, text) = validate(home.path(), path, envs);
    assert_eq!(out.status.code(), Some(0), "{}:\n{text}", path.display());
    assert!(text.contains("config is valid"), "{text}");
    text
}

/// A model from the environment, for the examples that name none.
const MODEL_ENV: [(&str, &str); 2] = [
    ("CLAWTALK_MODEL", "deepseek/deepseek-chat"),
    ("DEEPSEEK_API_KEY", "sk-deepseek-test"),
];

#[test]
fn the_multibot_example_validates_as_written() {
    // Its model, dashscope-coding/qwen3.5-plus, is Model Studio's Coding Plan: built in.
    let text = assert_valid(
        &fixture("openclaw-multibot.json"),
        &[("DASHSCOPE_API_KEY", "sk-sp-coding-plan-test")],
    );
    assert!(text.contains("2 agent"), "{text}");
    assert!(
        !text.contains("sk-sp-coding-plan-test"),
        "no key in the output: {text}"
    );
}

#[test]
fn the_peer_kind_bindings_example_validates_with_a_model() {
    assert_valid(&fixture("openclaw-stream-bindings.json"), &MODEL_ENV);
}

#[test]
fn the_custom_robot_example_validates_with_a_model() {
    let text = assert_valid(&fixture("openclaw-custom-robot.json"), &MODEL_ENV);
    // Its placeholder secret is worth a warning, not a refusal (and is not echoed).
    assert!(text.contains("channels.dingtalk.secret"), "{text}");
    assert!(
        !text.contains("YOUR_SECRET") && !text.contains("YOUR_TOKEN"),
        "{text}"
    );
}

#[test]
fn the_channels_yaml_example_validates_with_a_real_aes_key() {
    let home = tempfile::tempdir().unwrap();
    // As written, its aes_key placeholder is refused at the YAML key that holds it.
    let (out, text) = validate(home.path(), &fixture("channels.yaml"), &MODEL_ENV);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("channels[0].aes_key"), "{text}");
    assert!(
        !text.contains("your_aes_key_here"),
        "the key is not echoed: {text}"
    );

    let wrapper = home.path().join("clawtalk.json");
    std::fs::write(
        &wrapper,
        format!(
            r#"{{ "$include": {:?},
  channels: {{ dingtalk: {{ accounts: {{ "dingtalk-main": {{ aesKey: "{AES_KEY}" }} }} }} }} }}"#,
            fixture("channels.yaml")
        ),
    )
    .unwrap();
    let text = assert_valid(&wrapper, &MODEL_ENV);
    assert!(
        !text.contains("unknown key"),
        "routing and response_format are read: {text}"
    );
}

/// Writes `<home>/clawtalk.json`: the fixture included, `extra` (JSON5 members, `{SIM}` etc.
/// filled) on top.
fn wrapper(world: &World, fixture_name: &str, extra: &str) -> PathBuf {
    let text = format!(
        "{{ \"$include\": {:?},\n{}\n}}",
        fixture(fixture_name),
        world.fill(extra)
    );
    world.write_config(&text)
}

fn db_path(world: &World) -> PathBuf {
    world.state_dir().join("clawtalk.db")
}

/// Waits until a session of `agent` exists; returns its key.
async fn session_of(world: &World, agent: &str) -> String {
    let db = db_path(world);
    support::wait_until_async(&format!("a session of {agent}"), TIMEOUT, || {
        let db = db.clone();
        async move {
            db::sessions(&db)
                .await
                .into_iter()
                .find(|(a, _)| a == agent)
                .map(|(_, key)| key)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_multibot_example_answers_a_dm_on_each_bot_through_the_coding_plan() {
    const BOT1: &str = "YOUR_BOT1_CLIENT_ID";
    const BOT2: &str = "YOUR_BOT2_CLIENT_ID";
    let world = World::start().await;
    // The example's placeholder credentials are the simulator's apps.
    world
        .sim
        .create_app(AppSpec::new(BOT1, "YOUR_BOT1_CLIENT_SECRET").name("Service"))
        .unwrap();
    world
        .sim
        .create_app(AppSpec::new(BOT2, "YOUR_BOT2_CLIENT_SECRET").name("Tech"))
        .unwrap();
    let config = wrapper(
        &world,
        "openclaw-multibot.json",
        r#"models: { providers: { "dashscope-coding": { baseUrl: "{MODEL}" } } },
  channels: { "dingtalk-connector": { endpoints: "{SIM}", dmPolicy: "open", allowFrom: ["*"] } },
  gateway: { stateDir: "{STATE}" },"#,
    );
    let env = [("DASHSCOPE_API_KEY".to_owned(), "sk-sp-coding".to_owned())];
    let _gateway = world.launch(Some(&config), &env, &[BOT1, BOT2]).await;

    let one = world
        .sim
        .inject_message(&InjectMessage::dm_text(BOT1, ALICE, "where is my order [m1]"))
        .unwrap();
    let two = world
        .sim
        .inject_message(&InjectMessage::dm_text(BOT2, BOB, "the VPN is down [m2]"))
        .unwrap();
    world.wait_reply_containing(&one.conversation_id, "[m1]").await;
    world.wait_reply_containing(&two.conversation_id, "[m2]").await;
    let request = world.wait_request_for("[m1]").await;
    assert_eq!(request.model, "qwen3.5-plus", "the Coding Plan model as written");
    let system = support::world::texts_of(&request, "system");
    assert!(
        system[0].contains("Service Assistant"),
        "ding-bot1's identity: {system:?}"
    );
    let system = support::world::texts_of(&world.wait_request_for("[m2]").await, "system");
    assert!(
        system[0].contains("Tech Expert"),
        "ding-bot2's identity: {system:?}"
    );
    assert!(session_of(&world, "ding-bot1").await.contains(":bot1:"));
    assert!(session_of(&world, "ding-bot2").await.contains(":bot2:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_kind_bindings_example_sends_dms_to_main_and_groups_to_tech_support() {
    const APP: &str = "dingXXXXXX";
    let world = World::start().await;
    world
        .sim
        .create_app(AppSpec::new(APP, "your-app-secret").name("Helper"))
        .unwrap();
    let group = world
        .sim
        .create_group(GroupSpec::new("Support", [ALICE, BOB]).with_bot(APP))
        .unwrap()
        .open_conversation_id;
    let config = wrapper(
        &world,
        "openclaw-stream-bindings.json",
        r#"agents: { defaults: { model: "mock/e2e-model" } },
  models: { providers: { mock: { baseUrl: "{MODEL}", apiKey: "sk-e2e-mock" } } },
  channels: { dingtalk: { endpoints: "{SIM}" } },
  gateway: { stateDir: "{STATE}" },"#,
    );
    let _gateway = world.launch(Some(&config), &[], &[APP]).await;

    let dm = world
        .sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "hello [b1]"))
        .unwrap();
    world.wait_reply_containing(&dm.conversation_id, "[b1]").await;
    let in_group = world
        .sim
        .inject_message(&InjectMessage::group_text(
            APP,
            BOB,
            &group,
            "printer jam [b2]",
            true,
        ))
        .unwrap();
    assert!(in_group.delivered, "{in_group:?}");
    world.wait_reply_containing(&group, "[b2]").await;
    assert!(
        session_of(&world, "main").await.contains(":dm:"),
        "the DM went to main"
    );
    assert!(
        session_of(&world, "tech-support")
            .await
            .contains(&format!(":group:{group}")),
        "the group went to tech-support"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_custom_robot_example_answers_its_group_through_the_webhook() {
    // A custom robot cannot receive DMs: DingTalk only lets it post into its group. Its one
    // inbound path is the Outgoing mechanism (an @-mention in that group, POSTed to the
    // gateway and signed with the outgoing token), so that is what this test drives; the
    // answer must leave through the example's signed webhook. The wrapper adds the outgoing
    // token the example has no need for (it only sends) and points webhookUrl at the
    // simulator's robot, which has the example's own access token and secret.
    const OUTGOING: &str = "seed-outgoing-token";
    let world = World::start().await;
    world
        .model
        .push(Script::text("Disk usage is at 40%. [r1]").when_last_user_contains("disk usage"));
    let robot = world
        .sim
        .create_custom_robot(CustomRobotSpec {
            group: world.group.clone(),
            name: Some("alerts".into()),
            access_token: Some("YOUR_TOKEN".into()),
            secret: Some("YOUR_SECRET".into()),
            keywords: Vec::new(),
        })
        .unwrap();
    let config = wrapper(
        &world,
        "openclaw-custom-robot.json",
        &format!(
            r#"agents: {{ defaults: {{ model: "mock/e2e-model" }} }},
  models: {{ providers: {{ mock: {{ baseUrl: "{{MODEL}}", apiKey: "sk-e2e-mock" }} }} }},
  channels: {{ dingtalk: {{ webhookUrl: "{}", outgoingToken: "{OUTGOING}" }} }},
  gateway: {{ stateDir: "{{STATE}}", port: 0 }},"#,
            robot.webhook_url
        ),
    );
    let mut gateway = world.launch(Some(&config), &[], &[]).await;
    let addr = listen_addr(&mut gateway).await;
    let at = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let payload = json!({
        "conversationId": world.group, "conversationType": "2", "conversationTitle": "E2E",
        "msgId": "msgSeedRobot01", "msgtype": "text", "text": { "content": " disk usage?" },
        "senderNick": "Alice", "senderStaffId": ALICE, "senderId": "$:LWCP_v1:$alice",
        "isInAtList": true, "createAt": at, "robotCode": "normal",
        "sessionWebhook": "http://127.0.0.1:9/robot/sendBySession?session=x",
        "sessionWebhookExpiredTime": at + 3_600_000,
    });
    let url = format!("http://{addr}/webhooks/dingtalk/default");
    let (status, body) = post_callback(&url, &at.to_string(), &robot_sign(OUTGOING, at), &payload).await;
    assert_eq!(status, 200, "{body}");
    let sent = wait_until("the robot to answer in its group", TIMEOUT, || {
        world
            .sim
            .sent_messages()
            .into_iter()
            .find(|m| m.api == "customRobot" && m.text.contains("[r1]"))
    })
    .await;
    assert_eq!(sent.conversation_id.as_deref(), Some(world.group.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_channels_yaml_example_routes_by_department_and_answers_with_its_action_card() {
    const APP: &str = "dingxxxxxxxxxxxxxxxx";
    const DEV: &str = "0101234567890101";
    let world = World::start().await;
    world
        .sim
        .create_app(AppSpec::new(APP, "your_app_secret_here").name("Assistant"))
        .unwrap();
    let mut dev = UserSpec::new(DEV, "Dana Dev");
    dev.departments = vec![101];
    world.sim.create_user(dev).unwrap();
    world
        .model
        .push(Script::text("Build 42 is ready to ship. [y1]").when_last_user_contains("release"));
    let config = wrapper(
        &world,
        "channels.yaml",
        r#"agents: { defaults: { model: "mock/e2e-model" } },
  models: { providers: { mock: { baseUrl: "{MODEL}", apiKey: "sk-e2e-mock" } } },
  channels: { dingtalk: { accounts: { "dingtalk-main": {
    aesKey: "AES_KEY", endpoints: "{SIM}", dmPolicy: "open", allowFrom: ["*"] } } } },
  gateway: { stateDir: "{STATE}" },"#
            .replace("AES_KEY", AES_KEY)
            .as_str(),
    );
    let _gateway = world.launch(Some(&config), &[], &[APP]).await;

    let dm = world
        .sim
        .inject_message(&InjectMessage::dm_text(APP, DEV, "can we release today?"))
        .unwrap();
    let reply = world.wait_reply_containing(&dm.conversation_id, "[y1]").await;
    assert_eq!(reply.msg_type, "actionCard", "{:?}", reply.body);
    let body = reply.body.to_string();
    for url in [
        "dingtalk://dingtalkclient/action/approve",
        "dingtalk://dingtalkclient/action/reject",
    ] {
        assert!(body.contains(url), "button {url}: {body}");
    }
    assert!(body.contains("Approve") && body.contains("Reject"), "{body}");
    // Department 101 is the code assistant's (top-level routing).
    assert!(session_of(&world, "code-assistant").await.contains(DEV));
}
