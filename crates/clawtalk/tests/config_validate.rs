//! `clawtalk config validate` run as a real process.

use std::path::Path;
use std::process::{Command, Output};

const GOOD: &str = r#"
// A single bot in front of DeepSeek.
{
  agents: { defaults: { model: "deepseek/deepseek-chat" } },
  channels: {
    dingtalk: {
      clientId: "dingexample",
      clientSecret: "${BOT_SECRET}",
      dmPolicy: "pairing",
      ackReaction: "emoji", // a soimy key clawtalk ignores: a warning, not an error
    },
  },
}
"#;

const BAD: &str = r#"{
  gateway: { port: "18789" },
  agents: { list: [{ id: "main", model: "deepseek/deepseek-chat" }] },
  bindings: [{ agentId: "nobody", match: { channel: "dingtalk" } }],
  channels: { dingtalk: {
    clientId: "dingexample",
    clientSecret: "sk-must-not-print",
    dmPolicy: "everyone",
    groupPolicy: "allowlist",
  } },
  models: { providers: { deepseek: { apiKey: 12345 } } },
}"#;

/// Runs the binary with a clean environment so the developer's own config and variables
/// cannot influence the result.
fn run(home: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clawtalk"));
    cmd.env_clear().env("HOME", home).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run clawtalk")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path.to_str().expect("utf-8 path").to_owned()
}

#[test]
fn valid_file_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "clawtalk.json", GOOD);
    let out = run(
        dir.path(),
        &["config", "validate", "--config", &path],
        &[("BOT_SECRET", "s3cr3t-value"), ("DEEPSEEK_API_KEY", "sk-deep")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with(&format!("config: {path} (from --config)\n")),
        "{stdout}"
    );
    assert!(
        stdout.contains("channels.dingtalk.ackReaction: warning: not used by clawtalk; ignored"),
        "{stdout}"
    );
    assert!(
        stdout.contains("config is valid (0 errors, 1 warning)"),
        "{stdout}"
    );
    assert!(stdout.contains("1 agent (default \"main\")"), "{stdout}");
    assert!(!stdout.contains("s3cr3t-value") && !stdout.contains("sk-deep"));
}

#[test]
fn invalid_file_lists_every_error_and_exits_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "openclaw.json", BAD);
    let out = run(dir.path(), &["config", "validate", "--config", &path], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for prefix in [
        "gateway.port: error: expected an integer",
        "channels.dingtalk.dmPolicy: error: \"everyone\" is not a valid value; fix: expected one of pairing|allowlist|open|disabled",
        "channels.dingtalk.groupAllowFrom: error:",
        "models.providers.deepseek.apiKey: error: expected a string or {source, id}",
        "bindings[0].agentId: error: unknown agent \"nobody\"; fix: use one of: main",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(prefix)),
            "no line starting with {prefix:?} in:\n{stdout}"
        );
    }
    assert!(stdout.contains("config is invalid (5 errors"), "{stdout}");
    assert!(!stdout.contains("sk-must-not-print"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("sk-must-not-print"));
}

#[test]
fn json_output() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "c.json", BAD);
    let out = run(
        dir.path(),
        &["config", "validate", "--json", "--config", &path],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["valid"], false);
    assert_eq!(report["path"], path.as_str());
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 5);
    assert!(
        errors
            .iter()
            .all(|e| e["path"].is_string() && e["fix"].is_string())
    );
}

#[test]
fn missing_file_and_no_config() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["config", "validate", "--config", "/nonexistent/clawtalk.json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cannot read the config file"));

    // No file anywhere: environment variables alone make a valid config.
    let out = run(
        dir.path(),
        &["config", "validate"],
        &[
            ("DINGTALK_CLIENT_ID", "dingenv"),
            ("DINGTALK_CLIENT_SECRET", "env-secret"),
            ("CLAWTALK_MODEL", "qwen/qwen-plus"),
            ("DASHSCOPE_API_KEY", "sk-q"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("config: no config file; defaults and environment variables"));
}

#[test]
fn absurdly_deep_nesting_is_reported_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "clawtalk.json",
        &format!("{{ a: {} }}", "[".repeat(100_000)),
    );
    let out = run(dir.path(), &["config", "validate", "--config", &path], &[]);
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "an error, not an abort: {text}");
    assert!(
        text.contains("not valid JSON5") && text.contains("nested more than 128 levels"),
        "{text}"
    );
}

/// `limits` caps are whole numbers from 1 up: 0, a negative number or a string is an error
/// naming the key and the accepted range; sensible values validate.
#[test]
fn agent_limits_reject_nonsense_with_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let bad = r#"{
      agents: {
        defaults: { model: "deepseek/deepseek-chat", limits: { mediaPerTurn: 0, cronMinIntervalMinutes: -5 } },
        list: [ { id: "main", limits: { partsPerAnswer: "ten", toolCallsPerRound: 0, sendsPerTurn: 3 } } ],
      },
      channels: { dingtalk: { clientId: "dingexample", clientSecret: "s" } },
    }"#;
    let path = write(dir.path(), "clawtalk.json", bad);
    let out = run(
        dir.path(),
        &["config", "validate", "--config", &path],
        &[("DEEPSEEK_API_KEY", "sk-deep")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for line in [
        "agents.defaults.limits.mediaPerTurn: error: 0 is out of range; fix: use a whole number from 1 to 100",
        "agents.defaults.limits.cronMinIntervalMinutes: error: -5 is out of range; fix: use a whole number from 1 to 1440",
        "agents.list[0].limits.partsPerAnswer: error: expected an integer",
        "agents.list[0].limits.toolCallsPerRound: error: 0 is out of range; fix: use a whole number from 1 to 128",
        "agents.list[0].limits.sendsPerTurn:",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(line)),
            "no line starting with {line:?} in:\n{stdout}"
        );
    }

    let good = r#"{
      agents: {
        defaults: { model: "deepseek/deepseek-chat", limits: { mediaPerTurn: 5, cronMinIntervalMinutes: 60 } },
        list: [ { id: "main", limits: { partsPerAnswer: 20, toolCallsPerRound: 8 } } ],
      },
      channels: { dingtalk: { clientId: "dingexample", clientSecret: "s" } },
    }"#;
    let path = write(dir.path(), "clawtalk.json", good);
    let out = run(
        dir.path(),
        &["config", "validate", "--config", &path],
        &[("DEEPSEEK_API_KEY", "sk-deep")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("config is valid (0 errors, 0 warnings)"),
        "{stdout}"
    );
}

#[test]
fn an_http_account_whose_approval_cards_nobody_could_press_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"{
      agents: { defaults: { model: "deepseek/deepseek-chat" } },
      tools: { approval: { require: ["get_time"], cardTemplateId: "tpl.schema" } },
      channels: { dingtalk: { clientId: "dingexample", clientSecret: "s", mode: "http" } },
    }"#;
    let path = write(dir.path(), "clawtalk.json", text);
    let out = run(
        dir.path(),
        &["config", "validate", "--config", &path],
        &[("DEEPSEEK_API_KEY", "sk-deep")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("channels.dingtalk.cardCallbackUrl: error:")
            && stdout.contains(
                "set cardCallbackUrl to the public address of this gateway's /webhooks/dingtalk/default/card"
            ),
        "{stdout}"
    );
}
