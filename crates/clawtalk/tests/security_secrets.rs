//! Security review, end to end: no configured secret ever reaches a log or a command's output.
//!
//! One gateway run with every kind of secret configured (Stream and HTTP-mode app secrets,
//! event token + aesKey, a custom robot's webhook access_token, signing secret and outgoing
//! token, model API keys, the gateway token, a wrong app secret) at trace level, through
//! DMs, a group, an HTTP callback, an event push, forged callbacks, a custom-robot send, a
//! failing model call, a failing connection, the web UI and the control API; then `doctor`,
//! `gateway status`, `config validate`, `logs`, and a PostgreSQL URL with a password. Every
//! stdout, stderr and JSON log line is searched for every secret and its obvious encodings.
//!
//! The gateway runs at `RUST_LOG=trace` with nothing pinned, so the WebSocket, HTTP and TLS
//! crates would dump Stream frames (a robot token and a `SEC…` secret typed by a user, the
//! sessionWebhook session tokens) and the handshake ticket if their levels were not capped.
//! A provider `baseUrl` with a password and a key parameter is shown on `/config` and in a
//! failed WebChat turn's error, masked.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use clawtalk_core::clock::{Clock, SystemClock};
use dingtalk::crypto::robot_sign;
use dingtalk_sim::{AppSpec, CustomRobotSpec, HttpPushSpec, InjectEvent};
use llm_mock::Script;
use serde_json::json;
use support::web::{WebSession, client, web_addr};
use support::webhook::{listen_addr, post_callback};
use support::world::{ALICE, APP1, APP2, BOB, SECRET1, SECRET2};
use support::{TIMEOUT, World, WorldOptions, wait_until};

const APP3: &str = "dinge2ebot3wrongsec7";
const EVENT_TOKEN: &str = "leakEventToken7731";
const OUTGOING_TOKEN: &str = "leak-outgoing-token-4417";
const ROBOT_ACCESS_TOKEN: &str = "leakRobotAccessToken0915";
const ROBOT_SECRET: &str = "SECleakRobotSigning/Secret+8=";
const MODEL_KEY: &str = "sk-leak-model/key+2291";
const WRONG_MODEL_KEY: &str = "sk-leak-wrong-model-key-6603";
const GATEWAY_TOKEN: &str = "leak-gateway-token-5150/x+y";
const WRONG_APP_SECRET: &str = "leak-wrong-app-secret-8120";
const PG_PASSWORD: &str = "leakPgPassword3377";
const TYPED_ROBOT_TOKEN: &str = "leakTypedRobotToken3308";
const BASE_URL_PASSWORD: &str = "leakBaseUrlPass4410";
const BASE_URL_KEY: &str = "leakBaseUrlKey7720";

/// A custom robot signing secret as the DingTalk console shows it: `SEC` and 64 hex digits.
fn typed_signing_secret() -> String {
    format!("SEC{}", "5eca1f".repeat(11).get(..64).unwrap())
}

/// The `session` token of a sessionWebhook URL.
fn session_token(session_webhook: &str) -> String {
    url::Url::parse(session_webhook)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "session")
        .map(|(_, v)| v.into_owned())
        .expect("a session parameter")
}

/// 43 alphanumerics, as the console generates.
fn aes_key() -> String {
    format!("LeakAesKey{}", "q7".repeat(16)) + "Z"
}

fn secrets() -> Vec<(&'static str, String)> {
    vec![
        ("clientSecret (Stream)", SECRET1.to_owned()),
        ("clientSecret (HTTP mode)", SECRET2.to_owned()),
        ("clientSecret (wrong)", WRONG_APP_SECRET.to_owned()),
        ("event token", EVENT_TOKEN.to_owned()),
        ("aesKey", aes_key()),
        ("outgoingToken", OUTGOING_TOKEN.to_owned()),
        ("custom robot access_token", ROBOT_ACCESS_TOKEN.to_owned()),
        ("custom robot secret", ROBOT_SECRET.to_owned()),
        ("model apiKey", MODEL_KEY.to_owned()),
        ("model apiKey (wrong)", WRONG_MODEL_KEY.to_owned()),
        ("gateway token", GATEWAY_TOKEN.to_owned()),
        ("postgres password", PG_PASSWORD.to_owned()),
        ("robot token typed in a DM", TYPED_ROBOT_TOKEN.to_owned()),
        ("signing secret typed in a DM", typed_signing_secret()),
        ("baseUrl password", BASE_URL_PASSWORD.to_owned()),
        ("baseUrl key parameter", BASE_URL_KEY.to_owned()),
    ]
}

/// The secret as it would appear if printed raw, percent-encoded (URLs, forms) or Base64'd
/// (a Basic auth header, a debug dump of bytes).
fn spellings(secret: &str) -> Vec<String> {
    let mut all = vec![
        secret.to_owned(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        base64::engine::general_purpose::STANDARD.encode(secret),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
    ];
    all.sort();
    all.dedup();
    all
}

fn config(world: &World, robot_webhook: &str) -> String {
    world.fill(&format!(
        r#"{{
  agents: {{ list: [ {{ id: "main", model: "mock/e2e-model" }},
                     {{ id: "broken", model: "bad/e2e-model" }},
                     {{ id: "creds", model: "creds/e2e-model" }} ] }},
  models: {{ providers: {{
    mock: {{ baseUrl: "{{MODEL}}", apiKey: "{MODEL_KEY}" }},
    bad: {{ baseUrl: "{{MODEL}}", apiKey: "{WRONG_MODEL_KEY}" }},
    creds: {{ baseUrl: "http://creds:{BASE_URL_PASSWORD}@127.0.0.1:9/v1?api_key={BASE_URL_KEY}", apiKey: "{MODEL_KEY}" }},
  }} }},
  bindings: [ {{ agentId: "broken", match: {{ channel: "dingtalk", peer: {{ kind: "direct", id: "{BOB}" }} }} }} ],
  channels: {{ dingtalk: {{
    endpoints: "{{SIM}}", debug: true, dmPolicy: "open", allowFrom: ["*"], groupPolicy: "open",
    accounts: {{
      default: {{ clientId: "{{APP1}}", clientSecret: "{{SECRET1}}" }},
      http: {{ clientId: "{{APP2}}", clientSecret: "{{SECRET2}}", mode: "http",
              token: "{EVENT_TOKEN}", aesKey: "{aes}" }},
      robot: {{ mode: "customRobot", webhookUrl: "{robot_webhook}", secret: "{ROBOT_SECRET}",
               outgoingToken: "{OUTGOING_TOKEN}" }},
      wrong: {{ clientId: "{APP3}", clientSecret: "{WRONG_APP_SECRET}" }},
    }},
  }} }},
  gateway: {{ stateDir: "{{STATE}}", port: 0, auth: {{ token: "{GATEWAY_TOKEN}" }} }},
}}"#,
        aes = aes_key(),
    ))
}

/// `clawtalk <args>` at trace level; stdout and stderr together.
async fn cli(home: &Path, args: &[&str]) -> (Output, String) {
    let home = home.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_clawtalk"))
            .env_clear()
            .env("HOME", home)
            .env("RUST_LOG", "trace")
            .env("NO_COLOR", "1")
            .args(args)
            .output()
            .expect("run clawtalk")
    })
    .await
    .expect("join");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_any_log_or_output_of_a_full_run() {
    let world = World::start_with(WorldOptions {
        second_app: true,
        model_keys: vec![("good".into(), MODEL_KEY.into())],
        ..WorldOptions::default()
    })
    .await;
    // The app exists, but the config holds another secret: its token requests fail.
    world
        .sim
        .create_app(AppSpec::new(APP3, "the-real-app3-secret").name("WrongBot"))
        .unwrap();
    let robot = world
        .sim
        .create_custom_robot(CustomRobotSpec {
            group: world.group.clone(),
            name: Some("helper".into()),
            access_token: Some(ROBOT_ACCESS_TOKEN.into()),
            secret: Some(ROBOT_SECRET.into()),
            keywords: Vec::new(),
        })
        .unwrap();
    assert!(robot.webhook_url.contains(ROBOT_ACCESS_TOKEN));
    for (needle, answer) in [
        ("dm [d1]", "DM answered."),
        ("group [g1]", "Group answered."),
        ("http [h1]", "HTTP answered."),
        ("robot [o1]", "Robot answered."),
        ("typed [t1]", "Typed answered."),
    ] {
        world
            .model
            .push(Script::text(answer).when_last_user_contains(needle));
    }
    let config_path = world.write_config(&config(&world, &robot.webhook_url));
    let trace = [("RUST_LOG".to_owned(), "trace".to_owned())];
    let mut gateway = world.launch(Some(&config_path), &trace, &[APP1]).await;
    let webhooks = format!("http://{}/webhooks/dingtalk", listen_addr(&mut gateway).await);
    let base = format!("http://{}", web_addr(&mut gateway).await);

    // Stream DM and group.
    let dm = world.dm(APP1, ALICE, "dm [d1]");
    world
        .wait_reply_containing(&dm.conversation_id, "DM answered.")
        .await;
    world.group_msg(APP1, ALICE, "group [g1]", true);
    world.wait_reply_containing(&world.group, "Group answered.").await;

    // A user pastes a custom robot's webhook and signing secret into a Stream DM.
    let typed = world.dm(
        APP1,
        ALICE,
        &format!(
            "typed [t1] https://oapi.dingtalk.com/robot/send?access_token={TYPED_ROBOT_TOKEN} {}",
            typed_signing_secret()
        ),
    );
    world
        .wait_reply_containing(&typed.conversation_id, "Typed answered.")
        .await;
    let session_tokens: Vec<String> = [&dm, &typed]
        .iter()
        .map(|m| session_token(&m.session_webhook))
        .collect();

    // A model call that fails (the mock wants another key): the user hears of it.
    let bob = world.dm(APP1, BOB, "this one fails [m1]");
    world.wait_replies(&bob.conversation_id, 1).await;

    // HTTP mode: a signed callback, an encrypted event push, forged callbacks.
    let http_url = format!("{webhooks}/http");
    world
        .sim
        .set_http_bot_callback(APP2, Some(http_url.clone()))
        .unwrap();
    let http_dm = world.dm(APP2, ALICE, "http [h1]");
    world
        .wait_reply_containing(&http_dm.conversation_id, "HTTP answered.")
        .await;
    world
        .sim
        .register_http_push(
            APP2,
            HttpPushSpec {
                url: http_url.clone(),
                token: EVENT_TOKEN.into(),
                aes_key: aes_key(),
                owner_key: None,
                events: true,
            },
        )
        .unwrap();
    assert!(world.sim.check_url(APP2).await.unwrap().ok);
    let mut event = InjectEvent::new(
        APP2,
        "bpms_instance_change",
        json!({"processInstanceId": "procLeak01", "type": "start", "title": "leak check"}),
    );
    event.event_id = Some("evLeak0001".into());
    world.sim.inject_event(&event).unwrap();
    let at = SystemClock.now_ms();
    let (status, _) = post_callback(&http_url, &at.to_string(), "Zm9yZ2Vk", &http_dm.payload).await;
    assert_eq!(status, 401);
    let response = client()
        .post(format!("{http_url}?msg_signature=0000&timestamp={at}&nonce=n"))
        .json(&json!({ "encrypt": "AAAA" }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());

    // The custom robot: an Outgoing callback answered through the signed webhook, a forged
    // one, and a send from the CLI.
    let robot_url = format!("{webhooks}/robot");
    let payload = json!({
        "conversationId": world.group, "conversationType": "2", "conversationTitle": "E2E",
        "msgId": "msgLeakOutgoing01", "msgtype": "text", "text": { "content": " robot [o1]" },
        "senderNick": "Alice", "senderStaffId": ALICE, "senderId": "$:LWCP_v1:$alice",
        "isInAtList": true, "createAt": SystemClock.now_ms(), "robotCode": "normal",
        "sessionWebhook": "http://127.0.0.1:9/robot/sendBySession?session=x",
        "sessionWebhookExpiredTime": SystemClock.now_ms() + 3_600_000,
    });
    let at = SystemClock.now_ms();
    let (status, body) = post_callback(
        &robot_url,
        &at.to_string(),
        &robot_sign(OUTGOING_TOKEN, at),
        &payload,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = post_callback(&robot_url, &at.to_string(), &robot_sign("guess", at), &payload).await;
    assert_eq!(status, 401);
    wait_until("the robot's webhook answer", TIMEOUT, || {
        world
            .sim
            .sent_messages()
            .into_iter()
            .find(|m| m.api == "customRobot" && m.body.to_string().contains("Robot answered."))
    })
    .await;
    let config_arg = config_path.display().to_string();
    let (out, _) = cli(
        world.home(),
        &[
            "message",
            "send",
            "--config",
            &config_arg,
            "--account",
            "robot",
            "--to",
            "dingtalk",
            "from the cli [c1]",
        ],
    )
    .await;
    assert!(out.status.success(), "{out:?}");

    // The web UI (a wrong token, then the real one and the masked config page) and the
    // control API.
    let wrong = client()
        .post(format!("{base}/login"))
        .form(&[("token", "not-the-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let session = WebSession::login(&base, GATEWAY_TOKEN).await;
    let (status, config_page) = session.get("/config").await;
    assert_eq!(status, 200);
    let (status, status_page) = session.get("/").await;
    assert_eq!(status, 200);
    assert!(
        config_page.contains("creds:***@127.0.0.1:9/v1?api_key=***"),
        "the baseUrl is shown masked: {config_page}"
    );
    // A WebChat turn whose provider cannot be reached: the error page names the URL, masked.
    let csrf = session.csrf().await;
    let (status, _, chat_error_page) = session
        .post(
            "/chat",
            &[
                ("csrf", csrf.as_str()),
                ("agent", "creds"),
                ("message", "hi [w1]"),
            ],
        )
        .await;
    assert_eq!(status, 502, "{chat_error_page}");
    // (reqwest drops the user info from the URL it quotes; the key parameter stays.)
    assert!(
        chat_error_page.contains("127.0.0.1:9/v1?api_key=***"),
        "{chat_error_page}"
    );
    let control = client()
        .get(format!("{base}/control/status"))
        .bearer_auth(GATEWAY_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(control.status(), 200);
    let control_body = control.text().await.unwrap();

    // The failing account has been trying (and logging) all along.
    wait_until("the wrong secret's connection error", TIMEOUT, || {
        let log = gateway.log();
        (log.contains("cannot connect to DingTalk account=wrong")
            && log.contains("authFailed")
            && log.contains("Wrong Client ID / Client Secret"))
        .then_some(())
    })
    .await;

    let mut outputs = vec![
        ("web UI /config".to_owned(), config_page),
        ("WebChat error page".to_owned(), chat_error_page),
        ("web UI /".to_owned(), status_page),
        ("GET /control/status".to_owned(), control_body),
    ];
    for args in [
        vec!["gateway", "status", "--config", &config_arg],
        vec!["doctor", "--config", &config_arg],
        vec!["config", "validate", "--config", &config_arg],
        vec!["pairing", "list", "--config", &config_arg],
        vec!["logs", "--config", &config_arg, "-n", "100000"],
        vec!["logs", "--config", &config_arg, "--json", "-n", "100000"],
    ] {
        let (_, text) = cli(world.home(), &args).await;
        outputs.push((format!("clawtalk {}", args.join(" ")), text));
    }

    // A PostgreSQL URL with a password: validated and diagnosed, never shown.
    let pg_config = world.home().join("pg.json");
    std::fs::write(
        &pg_config,
        world.config(
            "",
            &format!(r#"store: {{ url: "postgres://clawtalk:{PG_PASSWORD}@127.0.0.1:5432/test" }},"#),
        ),
    )
    .unwrap();
    let pg_arg = pg_config.display().to_string();
    for args in [
        vec!["config", "validate", "--config", &pg_arg],
        vec!["doctor", "--config", &pg_arg],
        vec!["pairing", "list", "--config", &pg_arg],
    ] {
        let (_, text) = cli(world.home(), &args).await;
        outputs.push((format!("clawtalk {}", args.join(" ")), text));
    }

    gateway.terminate();
    gateway.wait_exit(TIMEOUT).await;
    let gateway_log = gateway.log();
    assert!(
        gateway_log.contains("TRACE") || gateway_log.contains("trace"),
        "the run logged at trace level"
    );
    outputs.push(("gateway stdout+stderr".to_owned(), gateway_log));
    for name in ["gateway.log", "gateway.log.1"] {
        if let Ok(text) = std::fs::read_to_string(world.state_dir().join(name)) {
            outputs.push((format!("state/{name}"), text));
        }
    }
    let json_log = outputs
        .iter()
        .find(|(n, _)| n == "state/gateway.log")
        .map(|(_, t)| t.clone())
        .expect("the JSON log file was written");
    let first = json_log.lines().next().expect("a line");
    serde_json::from_str::<serde_json::Value>(first).expect("JSON lines");

    let mut all_secrets = secrets();
    for token in session_tokens {
        all_secrets.push(("sessionWebhook session token", token));
    }
    for connection in world.sim.connections() {
        all_secrets.push(("Stream handshake ticket", connection.ticket));
    }
    let mut leaks = Vec::new();
    for (what, secret) in all_secrets {
        for spelling in spellings(&secret) {
            for (source, text) in &outputs {
                if let Some(at) = text.find(&spelling) {
                    let start = text[..at].char_indices().rev().nth(120).map_or(0, |(i, _)| i);
                    let context: String = text[start..].chars().take(300).collect();
                    leaks.push(format!("{what} ({spelling:?}) in {source}:\n    …{context}…"));
                }
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}
