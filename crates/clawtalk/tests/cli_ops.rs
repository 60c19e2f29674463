//! The operator commands (`message send`, `channels status`, `pairing …`) run as real
//! processes against the DingTalk simulator and a store in a temp dir.

mod support;

use clawtalk_core::clock::EpochMs;
use std::path::{Path, PathBuf};
use std::process::Output;

use clawtalk_core::clock::{Clock, SystemClock};
use clawtalk_store::{PairingOutcome, PairingPolicy, PairingStore, SqliteStore, Store};
use dingtalk_sim::{AppPatch, AppSpec, GroupSpec, SimConfig, Simulator, UserSpec};
use serde_json::json;
use tempfile::TempDir;

const APP: &str = "dingq7vxkt3mwz2hb8ns";
const SECRET: &str = "sim-secret-for-tests";
const ALICE: &str = "0312454236781234";
const BOB: &str = "0298765432109876";

/// A simulator with one app, two users and a group with the bot, plus a temp dir holding a
/// config that points at it.
struct Env {
    sim: Simulator,
    group: String,
    dir: TempDir,
    config: PathBuf,
}

impl Env {
    async fn new() -> Self {
        Self::with_secret(SECRET).await
    }

    /// The config carries `secret` (the app's real one is always [`SECRET`]).
    async fn with_secret(secret: &str) -> Self {
        let sim = Simulator::start_with(SimConfig::fast())
            .await
            .expect("simulator starts");
        sim.create_app(AppSpec::new(APP, SECRET)).expect("app");
        sim.create_user(UserSpec::new(ALICE, "Alice Zhang"))
            .expect("alice");
        sim.create_user(UserSpec::new(BOB, "Bob Li")).expect("bob");
        let group = sim
            .create_group(GroupSpec::new("Ops", [ALICE, BOB]).with_bot(APP))
            .expect("group")
            .open_conversation_id;
        let dir = tempfile::tempdir().expect("temp dir");
        let endpoints = sim.base_url().to_string();
        let config = write_config(dir.path(), &endpoints, secret, None);
        Self {
            sim,
            group,
            dir,
            config,
        }
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn db(&self) -> PathBuf {
        self.state_dir().join("clawtalk.db")
    }

    /// Runs `clawtalk <args> --config <file>`.
    async fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        all.push("--config".into());
        all.push(self.config.display().to_string());
        clawtalk(self.dir.path(), all).await
    }
}

/// A valid config: one Stream account against `endpoints`, a placeholder model provider (never
/// called by these commands) and the state dir inside `dir`.
fn write_config(dir: &Path, endpoints: &str, secret: &str, store_url: Option<&str>) -> PathBuf {
    let mut config = json!({
        "gateway": { "stateDir": dir.join("state") },
        "agents": { "defaults": { "model": "mock/m" } },
        "models": { "providers": { "mock": { "baseUrl": "http://127.0.0.1:9/v1", "apiKey": "x" } } },
        "channels": { "dingtalk": {
            "clientId": APP,
            "clientSecret": secret,
            "endpoints": endpoints,
        } },
    });
    if let Some(url) = store_url {
        config["store"] = json!({ "url": url });
    }
    let path = dir.join("clawtalk.json");
    std::fs::write(&path, config.to_string()).expect("write config");
    path
}

/// Runs the binary off the async runtime with a clean environment (see
/// [`support::process::run_cli`]), so the developer's own config cannot leak in.
async fn clawtalk(home: &Path, args: Vec<String>) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    support::process::run_cli(home, &args).await
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 1 with exactly one `error: …` line on stderr.
fn assert_fails_with(out: &Output, needle: &str) -> String {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {}\nstderr: {err}",
        stdout(out)
    );
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    assert!(err.starts_with("error: ") && err.contains(needle), "{err}");
    err
}

fn assert_ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

// ---- message send ---------------------------------------------------------------------------

#[tokio::test]
async fn message_send_reaches_a_user_and_a_group() {
    let env = Env::new().await;
    let to_user = format!("dingtalk:user:{ALICE}");
    let out = assert_ok(
        &env.run(&["message", "send", "--to", &to_user, "hello Alice"])
            .await,
    );
    let sent = env.sim.sent_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].api, "robot.batchSend");
    assert_eq!(sent[0].msg_type, "sampleText");
    assert_eq!(sent[0].text, "hello Alice");
    let key = sent[0].process_query_key.clone().expect("robot API key");
    assert_eq!(
        out,
        format!("sent 1/1 to user:{ALICE} as default: processQueryKey {key}\n")
    );

    let to_group = format!("group:{}", env.group);
    let out = env
        .run(&[
            "message",
            "send",
            "--to",
            &to_group,
            "--markdown",
            "--title",
            "Deploy",
            "**green**",
        ])
        .await;
    assert_ok(&out);
    let sent = env.sim.sent_messages();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].api, "robot.groupSend");
    assert_eq!(sent[1].msg_type, "sampleMarkdown");
    assert_eq!(sent[1].conversation_id.as_deref(), Some(env.group.as_str()));
    assert_eq!(sent[1].text, "**green**");
    assert_eq!(sent[1].body["msgParamParsed"]["title"], "Deploy");

    // A bare openConversationId is a group too.
    assert_ok(&env.run(&["message", "send", "--to", &env.group, "bare"]).await);
    assert_eq!(env.sim.sent_messages()[2].api, "robot.groupSend");
}

#[tokio::test]
async fn message_send_takes_openclaws_spellings() {
    let env = Env::new().await;
    let to_user = format!("dingtalk:user:{ALICE}");
    // openclaw message send --channel <id> --target <to> --message <text>, and the plugins'
    // `--action markdown`.
    assert_ok(
        &env.run(&[
            "message",
            "send",
            "--channel",
            "dingtalk",
            "--target",
            &to_user,
            "--action",
            "markdown",
            "--title",
            "Deploy",
            "--message",
            "**green**",
        ])
        .await,
    );
    assert_ok(
        &env.run(&[
            "message", "send", "--target", &to_user, "-m", "plain", "--action", "text",
        ])
        .await,
    );
    let sent = env.sim.sent_messages();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].msg_type, "sampleMarkdown");
    assert_eq!(sent[0].text, "**green**");
    assert_eq!(sent[0].body["msgParamParsed"]["title"], "Deploy");
    assert_eq!(sent[1].msg_type, "sampleText");
    assert_eq!(sent[1].text, "plain");

    assert_fails_with(
        &env.run(&["message", "send", "--channel", "telegram", "--to", ALICE, "hi"])
            .await,
        "--channel \"telegram\" is not a channel clawtalk has",
    );
    assert_fails_with(
        &env.run(&["message", "send", "--to", ALICE, "--title", "T", "hi"])
            .await,
        "--title is the title of a markdown message",
    );
    // Two texts, or none, are clap's usage errors (exit 2), not a send.
    let out = env
        .run(&["message", "send", "--to", ALICE, "--message", "a", "b"])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = env.run(&["message", "send", "--to", ALICE]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = env
        .run(&[
            "message",
            "send",
            "--to",
            ALICE,
            "--markdown",
            "--action",
            "text",
            "x",
        ])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(env.sim.sent_messages().len(), 2);
}

#[tokio::test]
async fn long_messages_are_sent_in_numbered_parts() {
    let env = Env::new().await;
    let text: String = (0..300)
        .map(|i| format!("Line {i} of a long report.\n"))
        .collect();
    let out = assert_ok(
        &env.run(&["message", "send", "--to", ALICE, "--markdown", &text])
            .await,
    );
    let sent = env.sim.sent_messages();
    assert!(sent.len() >= 2, "{}", sent.len());
    let n = sent.len();
    assert_eq!(out.lines().count(), n, "{out}");
    for (i, m) in sent.iter().enumerate() {
        assert!(m.text.contains(&format!("({}/{n})", i + 1)), "{}", m.text);
        assert!(out.contains(m.process_query_key.as_deref().unwrap()));
    }
}

#[tokio::test]
async fn message_send_errors_are_one_line_and_hide_the_secret() {
    let env = Env::with_secret("wrong-secret-value").await;
    let out = env.run(&["message", "send", "--to", ALICE, "hi"]).await;
    let err = assert_fails_with(&out, "was not delivered");
    assert!(err.contains("clientId/clientSecret"), "{err}");
    assert!(!err.contains("wrong-secret-value") && !stdout(&out).contains("wrong-secret-value"));
    assert!(env.sim.sent_messages().is_empty());

    let env = Env::new().await;
    assert_fails_with(
        &env.run(&["message", "send", "--to", "user:", "hi"]).await,
        "names no recipient",
    );
    assert_fails_with(&env.run(&["message", "send", "--to", ALICE, " "]).await, "empty");
    assert_fails_with(
        &env.run(&["message", "send", "--account", "nope", "--to", ALICE, "hi"])
            .await,
        "no DingTalk account \"nope\"",
    );
    assert_fails_with(
        &env.run(&["message", "send", "--to", "nobody", "hi"]).await,
        "does not know user nobody",
    );
}

// ---- channels status ------------------------------------------------------------------------

#[tokio::test]
async fn channels_status_lists_accounts_and_probe_succeeds() {
    let env = Env::new().await;
    let out = assert_ok(&env.run(&["channels", "status"]).await);
    let mut lines = out.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("ACCOUNT  CHANNEL   MODE    CLIENT ID"),
        "{out}"
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        row,
        ["default", "dingtalk", "stream", APP, "yes", "pairing", "open"]
    );
    assert!(!out.contains("probe"));

    let out = assert_ok(&env.run(&["channels", "status", "--probe"]).await);
    let probe = out.lines().last().unwrap();
    assert!(
        probe.starts_with("probe default: ok (access token and Stream ticket issued"),
        "{out}"
    );
    // A ticket was issued, but no WebSocket opened: the running gateway keeps its connection.
    assert_eq!(env.sim.open_log().len(), 1);
    assert!(env.sim.connections().is_empty());

    let out = assert_ok(&env.run(&["channels", "status", "--probe", "--json"]).await);
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let account = &report["accounts"][0];
    assert_eq!(account["id"], "default");
    assert_eq!(account["clientId"], APP);
    assert_eq!(account["dmPolicy"], "pairing");
    assert_eq!(account["probe"]["status"], "ok");
    assert!(!out.contains(SECRET));

    // OpenClaw DingTalk guides spell it `--deep`: the same probe.
    let out = assert_ok(&env.run(&["channels", "status", "--deep"]).await);
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("probe default: ok (access token and Stream ticket issued"),
        "{out}"
    );
    assert_eq!(env.sim.open_log().len(), 3);
}

#[tokio::test]
async fn probe_reports_a_wrong_secret_without_printing_it() {
    let env = Env::with_secret("not-the-right-secret").await;
    let out = env.run(&["channels", "status", "--probe"]).await;
    assert_fails_with(&out, "1 of 1 probed account failed");
    let text = stdout(&out);
    let probe = text.lines().last().unwrap();
    assert!(
        probe.starts_with("probe default: FAILED at access token [wrong_credentials]: "),
        "{probe}"
    );
    assert!(probe.contains(APP), "{probe}");
    for output in [text.as_str(), stderr(&out).as_str()] {
        assert!(!output.contains("not-the-right-secret"), "{output}");
    }

    let out = env.run(&["channels", "status", "--probe", "--json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["accounts"][0]["probe"]["kind"], "wrong_credentials");
}

#[tokio::test]
async fn probe_reports_stream_mode_off_and_unreachable_hosts() {
    let env = Env::new().await;
    env.sim
        .update_app(
            APP,
            &AppPatch {
                stream_enabled: Some(false),
                ..AppPatch::default()
            },
        )
        .unwrap();
    let out = env.run(&["channels", "status", "--probe"]).await;
    assert_fails_with(&out, "probed account failed");
    let text = stdout(&out);
    let probe = text.lines().last().unwrap();
    assert!(
        probe.starts_with("probe default: FAILED at connections/open [stream_not_enabled]: "),
        "{probe}"
    );
    assert!(probe.contains("Stream"), "{probe}");

    // Nothing listens on the discard port.
    write_config(env.dir.path(), "http://127.0.0.1:9", SECRET, None);
    let out = env.run(&["channels", "status", "--probe"]).await;
    assert_fails_with(&out, "probed account failed");
    let text = stdout(&out);
    let probe = text.lines().last().unwrap();
    assert!(
        probe.starts_with(
            "probe default: FAILED at access token [unreachable]: cannot reach DingTalk at http://127.0.0.1:9"
        ),
        "{probe}"
    );
}

// ---- pairing --------------------------------------------------------------------------------

async fn request_code(store: &SqliteStore, sender: &str, nick: &str, now_ms: i64) -> String {
    match store
        .pairing_request(
            "default",
            sender,
            nick,
            PairingPolicy::default(),
            EpochMs::from_millis(now_ms),
        )
        .await
        .expect("pairing request")
    {
        PairingOutcome::Created(r) => r.code,
        other => panic!("no new code: {other:?}"),
    }
}

#[tokio::test]
async fn pairing_list_approve_and_reject_while_the_store_is_open_elsewhere() {
    let env = Env::new().await;
    // Held open for the whole test, as a running gateway would hold it.
    let store = SqliteStore::open(env.db()).await.expect("store");
    let alice = request_code(&store, ALICE, "Alice Zhang", SystemClock.now_ms()).await;
    let bob = request_code(&store, BOB, "Bob Li", SystemClock.now_ms()).await;

    let out = assert_ok(&env.run(&["pairing", "list"]).await);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("CODE      ACCOUNT  SENDER ID"), "{out}");
    assert!(lines[0].ends_with("REQUESTED  EXPIRES IN"), "{out}");
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[..5], [alice.as_str(), "default", ALICE, "Alice", "Zhang"]);
    assert_eq!(row[5..], ["0s", "ago", "59m"]);

    // Lower case and a dash, as someone might type it.
    let typed = format!("{}-{}", &alice[..4], &alice[4..]).to_lowercase();
    let out = assert_ok(&env.run(&["pairing", "approve", &typed]).await);
    assert_eq!(
        out,
        format!("approved: Alice Zhang ({ALICE}) may now message account default\n")
    );
    assert!(store.is_approved("default", ALICE).await.unwrap());

    let out = assert_ok(&env.run(&["pairing", "reject", &bob]).await);
    assert_eq!(
        out,
        format!("rejected pairing code {bob} of Bob Li ({BOB}) for account default\n")
    );
    assert!(!store.is_approved("default", BOB).await.unwrap());

    assert_fails_with(
        &env.run(&["pairing", "approve", &bob]).await,
        &format!("cannot approve pairing code {bob}: it was already rejected"),
    );
    assert_fails_with(
        &env.run(&["pairing", "approve", "ZZZZ2222"]).await,
        "no such code",
    );

    assert_eq!(
        assert_ok(&env.run(&["pairing", "list"]).await),
        "no pending pairing requests\n"
    );
    let all = assert_ok(&env.run(&["pairing", "list", "--all"]).await);
    assert!(all.lines().next().unwrap().ends_with("STATUS"), "{all}");
    assert!(
        all.lines()
            .any(|l| l.starts_with(&alice) && l.ends_with("approved")),
        "{all}"
    );
    assert!(
        all.lines()
            .any(|l| l.starts_with(&bob) && l.ends_with("rejected")),
        "{all}"
    );
    assert_eq!(
        assert_ok(&env.run(&["pairing", "list", "--all", "--account", "other"]).await),
        "no pairing requests for account other\n"
    );
    store.close().await;
}

#[tokio::test]
async fn approving_an_expired_code_fails_clearly() {
    let env = Env::new().await;
    let store = SqliteStore::open(env.db()).await.expect("store");
    let two_hours_ago = SystemClock.now_ms() - 2 * 3_600_000;
    let code = request_code(&store, ALICE, "Alice Zhang", two_hours_ago).await;
    store.close().await;

    assert_eq!(
        assert_ok(&env.run(&["pairing", "list"]).await),
        "no pending pairing requests\n"
    );
    let out = env.run(&["pairing", "approve", &code]).await;
    let err = assert_fails_with(
        &out,
        &format!("cannot approve pairing code {code}: it expired 1h"),
    );
    assert!(err.contains("message the bot again"), "{err}");
}

// ---- shared errors --------------------------------------------------------------------------

#[tokio::test]
async fn store_and_config_problems_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "http://127.0.0.1:9",
        SECRET,
        // Nothing listens on port 9: refused at once.
        Some("postgres://clawtalk:pg-password@127.0.0.1:9/clawtalk"),
    );
    let args = |cmd: &[&str]| {
        let mut v: Vec<String> = cmd.iter().map(|s| (*s).to_owned()).collect();
        v.extend(["--config".to_owned(), config.display().to_string()]);
        v
    };
    let out = clawtalk(dir.path(), args(&["pairing", "list"])).await;
    let err = assert_fails_with(&out, "cannot reach PostgreSQL at 127.0.0.1:9");
    assert!(
        !err.contains("pg-password") && err.contains("clawtalk:***@"),
        "{err}"
    );

    std::fs::write(&config, r#"{ gateway: { port: "x", turnLeaseSeconds: 1 } }"#).unwrap();
    let out = clawtalk(dir.path(), args(&["channels", "status"])).await;
    let err = assert_fails_with(&out, "is invalid: ");
    assert!(
        err.contains("more); run `clawtalk config validate --config"),
        "{err}"
    );
}

#[tokio::test]
async fn the_state_dir_is_created_private() {
    let env = Env::new().await;
    assert!(!env.state_dir().exists());
    assert_ok(&env.run(&["pairing", "list"]).await);
    assert!(env.db().is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.state_dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

#[tokio::test]
async fn message_send_through_a_custom_robot_mentions_the_mobile() {
    let env = Env::new().await;
    let robot = env
        .sim
        .create_custom_robot(dingtalk_sim::CustomRobotSpec {
            group: env.group.clone(),
            name: Some("alerts".into()),
            access_token: None,
            secret: Some(String::new()),
            keywords: vec!["review".into()],
        })
        .expect("custom robot");
    let config = json!({
        "gateway": { "stateDir": env.state_dir() },
        "agents": { "defaults": { "model": "mock/m" } },
        "models": { "providers": { "mock": { "baseUrl": "http://127.0.0.1:9/v1", "apiKey": "x" } } },
        "channels": { "dingtalk": {
            "mode": "customRobot",
            "webhookUrl": robot.webhook_url,
            "secret": robot.secret,
            "keywords": ["review"],
        } },
    });
    let path = env.dir.path().join("robot.json");
    std::fs::write(&path, config.to_string()).expect("write config");
    let config_arg = path.display().to_string();
    let run = |args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        all.extend(["--config".to_owned(), config_arg.clone()]);
        clawtalk(env.dir.path(), all)
    };
    assert_ok(
        &run(&[
            "message",
            "send",
            "--to",
            "dingtalk",
            "@13800138000 please review",
        ])
        .await,
    );
    let sent = env.sim.sent_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].api, "customRobot");
    assert_eq!(sent[0].body["text"]["content"], "@13800138000 please review");
    assert_eq!(sent[0].body["at"]["atMobiles"][0], "13800138000");
    // A custom robot only reaches its own group.
    let to_user = format!("dingtalk:user:{ALICE}");
    assert_fails_with(
        &run(&["message", "send", "--to", &to_user, "hi"]).await,
        "--to dingtalk",
    );
    // Without a webhook the config is refused with the key to set.
    let broken = json!({ "channels": { "dingtalk": { "mode": "customRobot", "keywords": [" "] } } });
    std::fs::write(&path, broken.to_string()).expect("write config");
    let out = run(&["config", "validate"]).await;
    assert_ne!(out.status.code(), Some(0));
    assert!(
        format!("{}{}", stdout(&out), stderr(&out)).contains("webhookUrl"),
        "{}",
        stderr(&out)
    );
}

// ---- cron ---------------------------------------------------------------------------------

#[tokio::test]
async fn cron_add_list_run_now_and_rm_against_the_gateways_store() {
    use clawtalk_store::CronStore;
    let env = Env::new().await;
    let robot = env
        .sim
        .create_custom_robot(dingtalk_sim::CustomRobotSpec {
            group: env.group.clone(),
            name: Some("weather".into()),
            access_token: None,
            secret: None,
            keywords: Vec::new(),
        })
        .expect("custom robot");
    let added = assert_ok(
        &env.run(&[
            "cron",
            "add",
            "--name",
            "daily",
            "--prompt",
            "Beijing weather",
            "--cron",
            "0 9 * * *",
            "--webhook",
            &robot.webhook_url,
        ])
        .await,
    );
    assert!(
        added.contains("scheduled task #1 \"daily\": cron 0 9 * * * (Asia/Shanghai)"),
        "{added}"
    );
    assert!(added.contains("09:00 (Asia/Shanghai)"), "{added}");
    assert!(
        !added.contains(&robot.access_token),
        "the token is never printed: {added}"
    );
    let added = assert_ok(
        &env.run(&[
            "cron",
            "add",
            "--prompt",
            "ping the team",
            "--at",
            "in 10 minutes",
            "--group",
            &env.group,
            "--tz",
            "Europe/Berlin",
        ])
        .await,
    );
    assert!(added.contains("#2 \"ping the team\": once at"), "{added}");
    assert!(added.contains("(Europe/Berlin)"), "{added}");

    let listed = assert_ok(&env.run(&["cron", "list"]).await);
    assert!(listed.starts_with("ID"), "{listed}");
    assert!(
        listed.contains("daily") && listed.contains("ping the team"),
        "{listed}"
    );
    assert!(!listed.contains(&robot.access_token), "{listed}");

    let asked = assert_ok(&env.run(&["cron", "run-now", "1"]).await);
    assert!(asked.contains("run requested for scheduled task #1"), "{asked}");
    let store = SqliteStore::open(env.db()).await.expect("store");
    let task = store.cron_get(1).await.unwrap().unwrap();
    assert!(task.run_requested_at_ms.is_some(), "{task:?}");
    store.close().await;

    let removed = assert_ok(&env.run(&["cron", "rm", "1"]).await);
    assert!(
        removed.contains("cancelled scheduled task #1 \"daily\""),
        "{removed}"
    );
    assert_fails_with(&env.run(&["cron", "rm", "1"]).await, "#1 is already cancelled");
    assert_fails_with(
        &env.run(&["cron", "run-now", "1"]).await,
        "#1 is already cancelled",
    );
    assert_fails_with(&env.run(&["cron", "rm", "99"]).await, "no scheduled task #99");
    let listed = assert_ok(&env.run(&["cron", "list"]).await);
    assert!(
        !listed.contains("daily") && listed.contains("ping the team"),
        "{listed}"
    );
    let all = assert_ok(&env.run(&["cron", "list", "--all"]).await);
    assert!(all.contains("daily") && all.contains("cancelled"), "{all}");
}

#[tokio::test]
async fn cron_add_refuses_bad_schedules_and_targets_in_one_line() {
    let env = Env::new().await;
    let cases: [(&[&str], &str); 7] = [
        (&["--cron", "every day", "--user", ALICE], "five fields"),
        (
            &["--cron", "*/1 * * * *", "--user", ALICE],
            "may run at most every 15 minutes (limits.cronMinIntervalMinutes)",
        ),
        (
            &["--at", "2020-01-01 09:00", "--user", ALICE],
            "has already passed",
        ),
        (
            &["--cron", "0 9 * * *", "--tz", "Beijing", "--user", ALICE],
            "unknown time zone",
        ),
        (&["--cron", "0 9 * * *"], "say where the answers go"),
        (
            &[
                "--cron",
                "0 9 * * *",
                "--webhook",
                "https://evil.example/robot/send?access_token=tokzz9",
            ],
            "not a DingTalk custom robot URL",
        ),
        (
            &["--cron", "0 9 * * *", "--user", ALICE, "--agent", "ghost"],
            "agent \"ghost\" is not configured",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["cron", "add", "--prompt", "x"];
        args.extend_from_slice(extra);
        let err = assert_fails_with(&env.run(&args).await, needle);
        assert!(!err.contains("tokzz9"), "{err}");
    }
    let listed = assert_ok(&env.run(&["cron", "list"]).await);
    assert!(listed.contains("no active scheduled tasks"), "{listed}");
}

#[tokio::test]
async fn message_send_takes_from_the_shared_budget_of_replicas_on_postgres() {
    let Some(schema) =
        support::pg::TestSchema::create("message_send_takes_from_the_shared_budget_of_replicas_on_postgres")
            .await
    else {
        return;
    };
    let env = Env::new().await;
    let endpoints = env.sim.base_url().to_string();
    let config = write_config(env.dir.path(), &endpoints, SECRET, Some(&schema.url()));
    let out = clawtalk(
        env.dir.path(),
        vec![
            "message".into(),
            "send".into(),
            "--to".into(),
            format!("dingtalk:user:{ALICE}"),
            "--config".into(),
            config.display().to_string(),
            "counted by every replica".into(),
        ],
    )
    .await;
    assert_ok(&out);
    assert_eq!(env.sim.sent_messages().len(), 1);
    // The send is in the budget the gateways on this database take from.
    let keys: Vec<String> = sqlx::query_scalar("SELECT budget_key FROM rate_sends")
        .fetch_all(&schema.pool().await)
        .await
        .expect("read the shared budget");
    assert_eq!(keys, ["robot_api:default:batchSend"]);
    // No SQLite file was made next to it.
    assert!(
        !env.db().exists(),
        "a PostgreSQL config opened {}",
        env.db().display()
    );
}
