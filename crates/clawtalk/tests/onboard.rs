//! `clawtalk onboard dingtalk`, `channels add` and `config import`, run as real processes
//! against the DingTalk simulator: the wizard driven through a pseudo-terminal, the flag-only
//! path, and configs that the gateway then runs with (a DM is answered).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dingtalk_sim::{CustomRobot, CustomRobotSpec};
use expectrl::Expect;
use expectrl::process::Termios;
use expectrl::session::OsSession as Session;
use llm_mock::Script;
use support::world::{ALICE, APP1, APP2, SECRET1, SECRET2};
use support::{TIMEOUT, World, WorldOptions};

const DOWN: &str = "\x1b[B";
const ENTER: &str = "\r";

/// `clawtalk onboard dingtalk` on a pseudo-terminal, with a cleared environment plus `env`.
fn wizard(home: &Path, args: &[String], env: &[(&str, &str)]) -> Session {
    on_pty(home, &["onboard", "dingtalk"], args, env)
}

/// `clawtalk <command> <args>` on a pseudo-terminal.
fn on_pty(home: &Path, command_words: &[&str], args: &[String], env: &[(&str, &str)]) -> Session {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clawtalk"));
    command
        .env_clear()
        .env("HOME", home)
        .env("TERM", "xterm-256color")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .args(command_words)
        .args(args);
    let mut session = Session::spawn(command).expect("spawn clawtalk on a pty");
    session.set_expect_timeout(Some(TIMEOUT));
    session
}

/// Waits for `needle` in the wizard's output, then types `keys`.
fn answer(session: &mut Session, needle: &str, keys: &str) {
    if let Err(e) = session.expect(needle) {
        panic!("the wizard never showed {needle:?}: {e}");
    }
    if !keys.is_empty() {
        session.send(keys).expect("type into the pty");
    }
}

/// Like [`answer`] for a hidden (password) prompt, followed by the prompt that comes next
/// (`next`, answered with `next_keys`). The password read switches the terminal with
/// TCSAFLUSH, which discards whatever was typed before it, so wait until echo is off, as a
/// person would see the prompt before typing. If the next prompt has not come a while later
/// while echo is still off, the read is still waiting and never got the keys: type them again.
fn answer_secret(session: &mut Session, needle: &str, keys: &str, next: &str, next_keys: &str) {
    if let Err(e) = session.expect(needle) {
        panic!("the wizard never showed {needle:?}: {e}");
    }
    let deadline = std::time::Instant::now() + TIMEOUT;
    let wait_for_echo_off = |session: &mut Session| {
        while session.get_process().is_echo().expect("read the pty mode") {
            assert!(
                std::time::Instant::now() < deadline,
                "echo never went off at {needle:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    };
    wait_for_echo_off(session);
    session.send(keys).expect("type into the pty");
    session.set_expect_timeout(Some(std::time::Duration::from_secs(3)));
    loop {
        match session.expect(next) {
            Ok(_) => break,
            Err(expectrl::Error::ExpectTimeout) if std::time::Instant::now() < deadline => {
                if !session.get_process().is_echo().expect("read the pty mode") {
                    session.send(keys).expect("type into the pty");
                }
            }
            Err(e) => panic!("the wizard never showed {next:?} after {needle:?}: {e}"),
        }
    }
    session.set_expect_timeout(Some(TIMEOUT));
    if !next_keys.is_empty() {
        session.send(next_keys).expect("type into the pty");
    }
}

/// Runs `clawtalk <args>` without a terminal.
async fn clawtalk(home: &Path, args: &[String], env: &[(&str, &str)]) -> Output {
    let home = home.to_path_buf();
    let args = args.to_vec();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_clawtalk"))
            .env_clear()
            .env("HOME", home)
            .env("RUST_LOG", "warn")
            .envs(env)
            .args(args)
            .output()
            .expect("run clawtalk")
    })
    .await
    .expect("join")
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("the config was written");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A Custom Robot in the world's group that signs (the simulator picks the `SEC…` secret).
fn signed_robot(world: &World) -> CustomRobot {
    world
        .sim
        .create_custom_robot(CustomRobotSpec {
            group: world.group.clone(),
            name: Some("Alerts".into()),
            access_token: None,
            secret: Some(String::new()),
            keywords: Vec::new(),
        })
        .expect("create a custom robot")
}

/// Sends a DM to APP1 and waits for the model's scripted answer.
async fn assert_dm_answered(world: &World, needle: &str) {
    world
        .model
        .push(Script::text(format!("answer to {needle}")).when_last_user_contains(needle));
    let injected = world.dm(APP1, ALICE, &format!("{needle}, are you there?"));
    let reply = world
        .wait_reply_containing(&injected.conversation_id, &format!("answer to {needle}"))
        .await;
    assert_eq!(reply.app.as_deref(), Some(APP1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wizard_on_a_terminal_rejects_a_wrong_secret_then_writes_a_config_that_answers_dms() {
    let world = World::start().await;
    let config = world.home().join("clawtalk.json");
    std::fs::write(
        &config,
        world.fill("// mine\n{ gateway: { stateDir: \"{STATE}\" }, ui: { theme: \"dark\" }, }\n"),
    )
    .unwrap();
    let sim = world.sim.base_url().to_string();
    let model_url = world.model.base_url();
    let home = world.home().to_path_buf();
    let cli = args(&["--config", config.to_str().unwrap(), "--endpoints", &sim]);
    let transcript = tokio::task::spawn_blocking(move || {
        let mut s = wizard(&home, &cli, &[]);
        answer(&mut s, "How does the bot connect?", ENTER);
        answer(&mut s, "Client ID", &format!("{APP1}{ENTER}"));
        answer_secret(
            &mut s,
            "Client Secret",
            &format!("not-the-secret{ENTER}"),
            "Where should this secret live?",
            ENTER,
        );
        answer(&mut s, "FAILED at access token [wrong_credentials]", "");
        answer(&mut s, &format!("rejected clientId {APP1}"), "");
        answer(&mut s, "What now?", ENTER);
        answer(&mut s, "Client ID", &format!("{APP1}{ENTER}"));
        answer_secret(
            &mut s,
            "Client Secret",
            &format!("{SECRET1}{ENTER}"),
            "Where should this secret live?",
            &format!("{DOWN}{ENTER}"),
        );
        answer(&mut s, "Environment variable name", ENTER);
        answer(&mut s, "access token and Stream ticket issued", "");
        answer(
            &mut s,
            "Who may message the bot directly?",
            &format!("{DOWN}{DOWN}{ENTER}"),
        );
        answer(&mut s, "Answer in groups?", ENTER);
        answer(&mut s, "@-mentioned?", ENTER);
        answer(
            &mut s,
            "Which model provider?",
            &format!("{DOWN}{DOWN}{DOWN}{DOWN}{ENTER}"),
        );
        answer(&mut s, "Provider id", ENTER);
        answer(&mut s, "Base URL", &format!("{model_url}{ENTER}"));
        answer(&mut s, "Model", &format!("e2e-model{ENTER}"));
        answer_secret(
            &mut s,
            "API key",
            &format!("sk-e2e-mock{ENTER}"),
            "Where should this secret live?",
            ENTER,
        );
        answer(&mut s, "Write ", ENTER);
        answer(&mut s, "saved account \"default\" (stream)", "");
        answer(&mut s, "export DINGTALK_CLIENT_SECRET", "");
        let status = s.get_process_mut().wait().expect("the wizard exits");
        format!("{status:?}")
    })
    .await
    .expect("the wizard script ran");
    assert!(
        transcript.contains("Exited") && transcript.contains(", 0)"),
        "{transcript}"
    );

    let written = std::fs::read_to_string(&config).unwrap();
    assert!(
        !written.contains(SECRET1),
        "the secret stays out of the file:\n{written}"
    );
    let doc = read_json(&config);
    let bot = &doc["channels"]["dingtalk"];
    assert_eq!(bot["clientId"], APP1);
    assert_eq!(bot["clientSecret"], "${DINGTALK_CLIENT_SECRET}");
    assert_eq!(bot["dmPolicy"], "open");
    assert_eq!(bot["mode"], "stream");
    assert_eq!(doc["ui"]["theme"], "dark", "other keys are kept");
    assert_eq!(doc["agents"]["defaults"]["model"], "local/e2e-model");
    assert_eq!(doc["models"]["providers"]["local"]["apiKey"], "sk-e2e-mock");
    #[cfg(unix)]
    assert_eq!(mode_of(&config), 0o600);
    assert!(
        std::fs::read_to_string(config.with_extension("json.bak"))
            .unwrap()
            .contains("// mine"),
        "the previous file is kept as .bak"
    );

    let env = [("DINGTALK_CLIENT_SECRET".to_owned(), SECRET1.to_owned())];
    let _gateway = world.launch(Some(&config), &env, &[APP1]).await;
    assert_dm_answered(&world, "hello from the wizard").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_alone_write_a_working_config() {
    let world = World::start().await;
    let config = world.home().join(".clawtalk").join("clawtalk.json");
    let sim = world.sim.base_url().to_string();
    let model_url = world.model.base_url();
    let out = clawtalk(
        world.home(),
        &args(&[
            "onboard",
            "dingtalk",
            "--non-interactive",
            "--mode",
            "stream",
            "--client-id",
            APP1,
            "--client-secret",
            SECRET1,
            "--dm-policy",
            "open",
            "--group-policy",
            "open",
            "--require-mention",
            "true",
            "--endpoints",
            &sim,
            "--provider",
            "mock",
            "--base-url",
            &model_url,
            "--model",
            "e2e-model",
            "--api-key-env",
            "MOCK_KEY",
        ]),
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("access token and Stream ticket issued"),
        "{stdout}"
    );
    assert!(stdout.contains("export MOCK_KEY"), "{stdout}");
    let doc = read_json(&config);
    assert_eq!(doc["channels"]["dingtalk"]["clientSecret"], SECRET1);
    assert_eq!(doc["models"]["providers"]["mock"]["apiKey"], "${MOCK_KEY}");
    #[cfg(unix)]
    {
        assert_eq!(mode_of(&config), 0o600);
        assert_eq!(mode_of(config.parent().unwrap()), 0o700);
    }
    // Found by the usual search (~/.clawtalk/clawtalk.json), no --config.
    let env = [("MOCK_KEY".to_owned(), "sk-e2e-mock".to_owned())];
    let _gateway = world.launch(None, &env, &[APP1]).await;
    assert_dm_answered(&world, "hello from the flags").await;
}

/// `connections/open` refuses credentials with HTTP 401 `authFailed` "鉴权失败"
/// (zfanswer/dify-on-dingtalk#28), even after the token endpoint took them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failed_on_connections_open_says_wrong_client_id_or_secret() {
    let world = World::start().await;
    let config = world.home().join("clawtalk.json");
    let path = config.to_str().unwrap().to_owned();
    let sim = world.sim.base_url().to_string();
    world.sim.fail_next_opens(1, 401);
    let out = clawtalk(
        world.home(),
        &args(&[
            "onboard",
            "dingtalk",
            "--config",
            &path,
            "--endpoints",
            &sim,
            "--non-interactive",
            "--client-id",
            APP1,
            "--client-secret",
            SECRET1,
        ]),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("connections/open [wrong_credentials]")
            && err.contains("wrong Client ID / Client Secret")
            && err.contains("authFailed"),
        "{err}"
    );
    assert!(!err.contains(SECRET1), "the secret is not echoed: {err}");
    assert!(!config.exists(), "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_reported_clearly_and_nothing_is_written() {
    let world = World::start().await;
    let config = world.home().join("clawtalk.json");
    let path = config.to_str().unwrap().to_owned();
    let sim = world.sim.base_url().to_string();
    let run = |extra: &[&str]| {
        let mut all = args(&["onboard", "dingtalk", "--config", &path, "--endpoints", &sim]);
        all.extend(args(extra));
        all
    };

    let out = clawtalk(
        world.home(),
        &run(&[
            "--non-interactive",
            "--client-id",
            APP1,
            "--client-secret",
            "wrong",
        ]),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("[wrong_credentials]") && err.contains(&format!("rejected clientId {APP1}")),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert!(
        !err.contains("wrong\n") && !err.contains("\"wrong\""),
        "the secret is not echoed: {err}"
    );

    let out = clawtalk(
        world.home(),
        &run(&["--non-interactive", "--client-secret", SECRET1]),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("pass --client-id"),
        "{}",
        text(&out.stderr)
    );

    let out = clawtalk(
        world.home(),
        &run(&["--non-interactive", "--client-id", APP1]),
        &[],
    )
    .await;
    assert!(
        text(&out.stderr).contains("--client-secret or --client-secret-env"),
        "{}",
        text(&out.stderr)
    );

    let out = clawtalk(
        world.home(),
        &run(&[
            "--non-interactive",
            "--client-id",
            APP1,
            "--client-secret-env",
            "bad name",
        ]),
        &[],
    )
    .await;
    assert!(text(&out.stderr).contains("upper-case"), "{}", text(&out.stderr));

    // Without a terminal the wizard does not hang waiting for answers.
    let out = clawtalk(world.home(), &run(&[]), &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--non-interactive"),
        "{}",
        text(&out.stderr)
    );

    assert!(!config.exists(), "no file after failures");

    // An unreadable existing file is left alone.
    std::fs::write(&config, "{ not json").unwrap();
    let out = clawtalk(
        world.home(),
        &run(&[
            "--non-interactive",
            "--client-id",
            APP1,
            "--client-secret",
            SECRET1,
        ]),
        &[],
    )
    .await;
    assert!(
        text(&out.stderr).contains("is not valid JSON5"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "{ not json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_add_adds_a_second_account_and_keeps_the_first() {
    let world = World::start_with(WorldOptions {
        second_app: true,
        ..WorldOptions::default()
    })
    .await;
    let config = world.home().join("clawtalk.json");
    let path = config.to_str().unwrap().to_owned();
    let sim = world.sim.base_url().to_string();
    let model_url = world.model.base_url();
    let first = args(&[
        "onboard",
        "dingtalk",
        "--non-interactive",
        "--config",
        &path,
        "--endpoints",
        &sim,
        "--client-id",
        APP1,
        "--client-secret",
        SECRET1,
        "--dm-policy",
        "open",
        "--provider",
        "mock",
        "--base-url",
        &model_url,
        "--model",
        "e2e-model",
        "--api-key",
        "k",
    ]);
    let out = clawtalk(world.home(), &first, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let add = |account: &str, force: bool| {
        let mut a = args(&[
            "channels",
            "add",
            "--non-interactive",
            "--config",
            &path,
            "--endpoints",
            &sim,
            "--account",
            account,
            "--client-id",
            APP2,
            "--client-secret",
            SECRET2,
            "--dm-policy",
            "allowlist",
            "--allow-from",
            "0312454236781234,0298765432109876",
        ]);
        if force {
            a.push("--force".into());
        }
        a
    };
    // A config someone made world-readable comes back owner-only: it now holds two secrets.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = clawtalk(world.home(), &add("ops", false), &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        mode_of(&config),
        0o600,
        "channels add writes the config owner-only"
    );
    let out = clawtalk(world.home(), &add("ops", false), &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("pass --force"),
        "{}",
        text(&out.stderr)
    );
    let out = clawtalk(world.home(), &add("ops", true), &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    let doc = read_json(&config);
    let accounts = &doc["channels"]["dingtalk"]["accounts"];
    assert_eq!(accounts["default"]["clientId"], APP1);
    assert_eq!(accounts["ops"]["clientId"], APP2);
    assert_eq!(accounts["ops"]["allowFrom"][1], "0298765432109876");
    let out = clawtalk(
        world.home(),
        &args(&["channels", "status", "--probe", "--config", &path]),
        &[],
    )
    .await;
    let status = text(&out.stdout);
    assert!(out.status.success(), "{status}\n{}", text(&out.stderr));
    assert!(
        status.contains("probe default: ok") && status.contains("probe ops: ok"),
        "{status}"
    );
    assert!(status.contains("allowlist"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_robot_is_tested_with_a_signed_message_only_when_asked() {
    let world = World::start().await;
    let robot = signed_robot(&world);
    let secret = robot.secret.clone().unwrap();
    let config = world.home().join("clawtalk.json");
    let path = config.to_str().unwrap().to_owned();
    let run = |secret: &str, test_send: bool| {
        let mut a = args(&[
            "onboard",
            "dingtalk",
            "--non-interactive",
            "--config",
            &path,
            "--mode",
            "custom-robot",
            "--webhook-url",
            &robot.webhook_url,
            "--webhook-secret",
            secret,
            "--force",
        ]);
        if test_send {
            a.push("--test-send".into());
        }
        a
    };
    let out = clawtalk(world.home(), &run(&secret, false), &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("no test message sent"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        world.replies(&world.group).is_empty(),
        "nothing posted without consent"
    );

    let out = clawtalk(world.home(), &run("SECwrong", true), &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("test message [security_check_failed]") && err.contains("signing secret"),
        "{err}"
    );
    assert!(
        !err.contains(&secret) && !err.contains("SECwrong"),
        "no secret in the error: {err}"
    );

    let out = clawtalk(world.home(), &run(&secret, true), &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let posted = world
        .wait_reply_containing(&world.group, "test message from")
        .await;
    assert_eq!(posted.api, "customRobot");
    let doc = read_json(&config);
    let bot = &doc["channels"]["dingtalk"];
    assert_eq!(bot["mode"], "customRobot");
    assert_eq!(bot["webhookUrl"], robot.webhook_url.as_str());
    assert!(bot.get("clientId").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_mode_checks_the_token_and_the_event_keys() {
    let world = World::start().await;
    let config = world.home().join("clawtalk.json");
    let path = config.to_str().unwrap().to_owned();
    let sim = world.sim.base_url().to_string();
    let aes_key = "a".repeat(43);
    let run = |aes_key: &str| {
        args(&[
            "onboard",
            "dingtalk",
            "--non-interactive",
            "--config",
            &path,
            "--endpoints",
            &sim,
            "--mode",
            "http",
            "--client-id",
            APP1,
            "--client-secret",
            SECRET1,
            "--token",
            "tok",
            "--aes-key",
            aes_key,
        ])
    };
    let out = clawtalk(world.home(), &run("short"), &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("has 5 characters, DingTalk's have 43"),
        "{}",
        text(&out.stderr)
    );
    assert!(!config.exists());

    let out = clawtalk(world.home(), &run(&aes_key), &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("access token issued"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        !text(&out.stdout).contains("Stream ticket"),
        "HTTP mode opens no Stream"
    );
    let bot = &read_json(&config)["channels"]["dingtalk"];
    assert_eq!(bot["mode"], "http");
    assert_eq!(bot["token"], "tok");
    assert_eq!(bot["aesKey"], aes_key.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_add_on_a_terminal_asks_for_a_new_id_and_tests_a_robot_when_agreed() {
    let world = World::start().await;
    let robot = signed_robot(&world);
    let config = world.home().join("clawtalk.json");
    std::fs::write(
        &config,
        world.fill(
            r#"{ agents: { defaults: { model: "mock/e2e-model" } },
                 channels: { dingtalk: { clientId: "{APP1}", clientSecret: "{SECRET1}", dmPolicy: "open" } } }"#,
        ),
    )
    .unwrap();
    let home = world.home().to_path_buf();
    let cli = args(&["--config", config.to_str().unwrap()]);
    let secret = robot.secret.clone().unwrap();
    let (url, typed) = (robot.webhook_url.clone(), secret.clone());
    tokio::task::spawn_blocking(move || {
        let mut s = on_pty(&home, &["channels", "add"], &cli, &[("NO_COLOR", "1")]);
        answer(
            &mut s,
            "Account id (existing: default)",
            &format!("default{ENTER}"),
        );
        answer(&mut s, "exists. Replace", &format!("n{ENTER}"));
        answer(&mut s, "Account id", &format!("alerts{ENTER}"));
        answer(
            &mut s,
            "How does the bot connect?",
            &format!("{DOWN}{DOWN}{ENTER}"),
        );
        answer(&mut s, "Webhook URL", &format!("{url}{ENTER}"));
        answer_secret(
            &mut s,
            "Signing secret",
            &format!("{typed}{ENTER}"),
            "Where should this secret live?",
            ENTER,
        );
        answer(&mut s, "Post a test message", &format!("y{ENTER}"));
        answer(&mut s, "DingTalk accepted the test message", "");
        answer(&mut s, "Answer in groups?", ENTER);
        answer(&mut s, "The default model is mock/e2e-model. Change it?", ENTER);
        answer(&mut s, "Write ", ENTER);
        answer(&mut s, "saved account \"alerts\" (customRobot)", "");
        s.get_process_mut().wait().expect("the wizard exits");
    })
    .await
    .expect("the wizard script ran");
    world
        .wait_reply_containing(&world.group, "test message from")
        .await;
    let doc = read_json(&config);
    let accounts = &doc["channels"]["dingtalk"]["accounts"];
    assert_eq!(
        accounts["default"]["clientId"], APP1,
        "the first bot moved under accounts"
    );
    assert_eq!(
        doc["channels"]["dingtalk"]["dmPolicy"], "open",
        "shared keys stay shared"
    );
    assert_eq!(accounts["alerts"]["mode"], "customRobot");
    assert_eq!(accounts["alerts"]["secret"], secret.as_str());
    assert_eq!(doc["agents"]["defaults"]["model"], "mock/e2e-model");
}

fn seed_yaml(world: &World, secret_ref: &str) -> String {
    world.fill(&format!(
        r#"# A seed deployment file.
gateway: {{ stateDir: "{{STATE}}" }}
models:
  providers:
    mock: {{ baseUrl: "{{MODEL}}", apiKey: sk-e2e-mock }}
agents:
  defaults: {{ model: mock/e2e-model }}
default_agent: main
channels:
  - name: default
    type: dingtalk
    app_key: {{APP1}}
    app_secret: {secret_ref}
    agent_id: 3001
    group_enabled: true
    mention_only: true
    agent: main
    memory_scope: user
    dm_policy: open
    endpoints: "{{SIM}}"
    routing:
      - {{ dept_id: 42, agent: hr }}
"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_yaml_runs_the_gateway_and_imports_into_json() {
    let world = World::start().await;
    let yaml = world.home().join("channels.yaml");
    std::fs::write(&yaml, seed_yaml(&world, "${BOT_SECRET}")).unwrap();
    let y = yaml.to_str().unwrap().to_owned();
    let env = [("BOT_SECRET", SECRET1)];

    let out = clawtalk(world.home(), &args(&["config", "validate", "--config", &y]), &env).await;
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("2 agents"), "{}", text(&out.stdout));

    let out_path: PathBuf = world.home().join("clawtalk.json");
    let o = out_path.to_str().unwrap().to_owned();
    // Converted on a machine without the secret: the reference is kept and flagged.
    let out = clawtalk(world.home(), &args(&["config", "import", &y, "--out", &o]), &[]).await;
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("export BOT_SECRET"),
        "{}",
        text(&out.stdout)
    );
    let doc = read_json(&out_path);
    let bot = &doc["channels"]["dingtalk"]["accounts"]["default"];
    assert_eq!(bot["clientId"], APP1);
    assert_eq!(bot["clientSecret"], "${BOT_SECRET}");
    assert_eq!(bot["memoryScope"], "user");
    assert_eq!(bot["groupPolicy"], "open");
    assert_eq!(bot["requireMention"], true);
    assert_eq!(bot["agentId"], 3001);
    assert_eq!(doc["bindings"][1]["match"]["department"], 42);
    assert_eq!(doc["bindings"][1]["agentId"], "hr");
    assert_eq!(doc["agents"]["list"][0]["id"], "main");
    #[cfg(unix)]
    assert_eq!(mode_of(&out_path), 0o600);
    let out = clawtalk(world.home(), &args(&["config", "validate", "--config", &o]), &env).await;
    assert!(
        out.status.success(),
        "the imported file is valid: {}",
        text(&out.stdout)
    );

    // The gateway runs straight from the YAML.
    let launch_env = [("BOT_SECRET".to_owned(), SECRET1.to_owned())];
    let _gateway = world.launch(Some(&yaml), &launch_env, &[APP1]).await;
    assert_dm_answered(&world, "hello from yaml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_import_reports_yaml_keys_and_writes_nothing_on_errors() {
    let world = World::start().await;
    let yaml = world.home().join("channels.yaml");
    let broken = seed_yaml(&world, "s")
        .replace("type: dingtalk", "type: wechat")
        .replace("dept_id: 42", "dept_id: sales")
        .replace("memory_scope: user", "memory_scope: everyone");
    std::fs::write(&yaml, broken).unwrap();
    let out_path = world.home().join("out.json");
    let out = clawtalk(
        world.home(),
        &args(&[
            "config",
            "import",
            yaml.to_str().unwrap(),
            "--out",
            out_path.to_str().unwrap(),
        ]),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    for needle in [
        "channels[0].type: error",
        "channels[0].routing[0].dept_id: error",
        "channels[0].memory_scope: error",
        "fix: ",
        "not imported (3 errors)",
    ] {
        assert!(report.contains(needle), "{needle:?} missing from:\n{report}");
    }
    assert!(!out_path.exists());
}
