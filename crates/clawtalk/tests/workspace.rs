//! End to end, workspaces: an agent pointed at a workspace laid out as OpenClaw lays it out
//! (bootstrap files, daily notes under `memory/`, OpenClaw's `.openclaw/` state) answers with
//! its persona: the mock model sees the files in its system prompt in OpenClaw's order, an edit
//! shows from the next turn on, an oversized file is cut with a visible marker, and MEMORY.md
//! stays out of group turns. Then `clawtalk agents add|list` against a config file.

mod support;

use std::path::Path;

use serde_json::Value;
use support::World;
use support::process::run_cli;
use support::web::{WebSession, web_addr};
use support::world::{ALICE, APP1, BOB, OPEN, texts_of};

const TOKEN: &str = "e2e-workspace-web-token";

/// Writes `files` (relative paths) under `dir`.
fn lay_out(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn openclaw_workspace(dir: &Path) {
    let tools = format!(
        "TOOLS-HEAD\n{}\nTOOLS-MIDDLE\n{}\nTOOLS-TAIL",
        "工具说明 ".repeat(500),
        "notes ".repeat(500)
    );
    lay_out(
        dir,
        &[
            ("AGENTS.md", "# AGENTS.md\nRule: always greet with 你好 [rules]"),
            ("SOUL.md", "# SOUL.md\nYou are calm and precise [soul-v1]"),
            ("TOOLS.md", &tools),
            (
                "IDENTITY.md",
                "# IDENTITY.md - Who Am I?\n\n- **Name:** 小钉\n- **Creature:** _(AI? robot?)_\n- **Emoji:** 🐙\n",
            ),
            ("USER.md", "# USER.md\nThe team runs the Shanghai office [user]"),
            (
                "MEMORY.md",
                "# MEMORY.md\nThe printer PIN is 4711 [private-memory]",
            ),
            (
                "memory/2026-12-01.md",
                "Daily note that is not a bootstrap file [daily]",
            ),
            (
                ".openclaw/workspace-state.json",
                r#"{"bootstrapSeededAt":"2026-04-20T08:10:02.000Z"}"#,
            ),
            ("skills/weather/SKILL.md", "a skill [skill]"),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openclaw_workspace_shapes_the_system_prompt() {
    let world = World::start().await;
    let workspace = world.home().join(".openclaw/workspace");
    openclaw_workspace(&workspace);
    let config = world.write_config(&world.fill(&format!(
        r#"{{
  agents: {{
    defaults: {{ bootstrapMaxChars: 2000, bootstrapTotalMaxChars: 60000 }},
    list: [ {{ id: "main", name: "E2E Bot", model: "mock/e2e-model", workspace: "{}" }} ],
  }},
  models: {{ providers: {{ mock: {{ baseUrl: "{{MODEL}}", apiKey: "sk-e2e-mock" }} }} }},
  channels: {{ dingtalk: {{ clientId: "{{APP1}}", clientSecret: "{{SECRET1}}", endpoints: "{{SIM}}", {OPEN} }} }},
  gateway: {{ stateDir: "{{STATE}}", auth: {{ token: "{TOKEN}" }} }},
}}"#,
        workspace.display()
    )));
    let mut gateway = world.start_gateway(&config).await;

    let first = world.dm(APP1, ALICE, "hello [w1]");
    world.wait_replies(&first.conversation_id, 1).await;
    let system = texts_of(&world.wait_request_for("[w1]").await, "system").concat();
    assert!(
        system.starts_with("You are 小钉"),
        "IDENTITY.md names the bot: {system}"
    );
    assert!(system.contains("- Emoji: 🐙"), "{system}");
    let at = |needle: &str| {
        system
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} missing from {system}"))
    };
    assert!(at("[rules]") < at("[soul-v1]"), "AGENTS.md, then SOUL.md");
    assert!(at("[soul-v1]") < at("TOOLS-HEAD"), "then TOOLS.md");
    assert!(at("TOOLS-HEAD") < at("## IDENTITY.md"), "then IDENTITY.md");
    assert!(at("## IDENTITY.md") < at("[user]"), "then USER.md");
    assert!(at("[user]") < at("[private-memory]"), "MEMORY.md last, in a DM");
    assert!(
        system.contains("TOOLS.md truncated"),
        "the oversized file is marked: {system}"
    );
    assert!(system.contains("TOOLS-TAIL"), "its tail is kept");
    assert!(!system.contains("TOOLS-MIDDLE"), "its middle is cut");
    for absent in ["[daily]", "[skill]", "bootstrapSeededAt"] {
        assert!(
            !system.contains(absent),
            "{absent} must not be injected: {system}"
        );
    }

    std::fs::write(
        workspace.join("SOUL.md"),
        "# SOUL.md\nYou talk like a pirate [soul-v2]",
    )
    .unwrap();
    let second = world.dm(APP1, ALICE, "again [w2]");
    world.wait_replies(&second.conversation_id, 2).await;
    let system = texts_of(&world.wait_request_for("[w2]").await, "system").concat();
    assert!(
        system.contains("[soul-v2]") && !system.contains("[soul-v1]"),
        "{system}"
    );

    let in_group = world.group_msg(APP1, BOB, "group question [w3]", true);
    world.wait_replies(&in_group.conversation_id, 1).await;
    let system = texts_of(&world.wait_request_for("[w3]").await, "system").concat();
    assert!(
        system.contains("[soul-v2]") && system.contains("[rules]"),
        "{system}"
    );
    assert!(
        !system.contains("[private-memory]"),
        "MEMORY.md stays out of groups: {system}"
    );
    assert!(!system.contains("## MEMORY.md"), "{system}");

    // The web console edits the same files: the next turn has the new text. Only bootstrap
    // file names are accepted.
    let web = WebSession::login(&format!("http://{}", web_addr(&mut gateway).await), TOKEN).await;
    let (status, page) = web.get("/agents").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("MEMORY.md") && page.contains(&workspace.display().to_string()),
        "{page}"
    );
    let (status, page) = web.get("/agents?agent=main&file=SOUL.md").await;
    assert_eq!(status, 200);
    assert!(page.contains("[soul-v2]"), "the editor holds the file: {page}");
    let csrf = web.csrf().await;
    let save = |file: &'static str, text: &'static str| {
        let (web, csrf) = (&web, csrf.clone());
        async move {
            let form = [
                ("csrf", csrf.as_str()),
                ("agent", "main"),
                ("file", file),
                ("text", text),
            ];
            web.post("/agents/save", &form).await
        }
    };
    let (status, location, _) = save("SOUL.md", "You are terse [soul-v3]\r\n").await;
    assert_eq!(status, 303);
    assert!(location.unwrap_or_default().contains("saved=SOUL.md"));
    assert_eq!(
        std::fs::read_to_string(workspace.join("SOUL.md")).unwrap(),
        "You are terse [soul-v3]\n"
    );
    for bad in [
        "../escaped.md",
        "memory/2026-12-02.md",
        "/tmp/SOUL.md",
        "notes.md",
    ] {
        let (status, _, body) = save(bad, "x").await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains("not a workspace bootstrap file"), "{body}");
    }
    assert!(!workspace.join("../escaped.md").exists());
    assert!(!workspace.join("memory/2026-12-02.md").exists());
    let third = world.dm(APP1, ALICE, "once more [w4]");
    world.wait_replies(&third.conversation_id, 3).await;
    let system = texts_of(&world.wait_request_for("[w4]").await, "system").concat();
    assert!(system.contains("[soul-v3]"), "{system}");
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_ok(out: &std::process::Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_add_writes_the_config_and_starter_files_and_list_shows_them() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("clawtalk.json");
    let state = home.path().join("state");
    std::fs::write(
        &config,
        format!(
            r#"// my config
{{
  agents: {{ defaults: {{ model: "deepseek/deepseek-chat" }} }},
  models: {{ providers: {{ deepseek: {{ apiKey: "sk-test-not-real" }} }} }},
  channels: {{ dingtalk: {{ clientId: "dingtestbot", clientSecret: "test-secret-not-real" }} }},
  bindings: [ {{ agentId: "helper", match: {{ channel: "dingtalk", peer: {{ kind: "group", id: "cid-help" }} }} }} ],
  gateway: {{ stateDir: "{}" }},
}}"#,
            state.display()
        ),
    )
    .unwrap();
    let config_arg = config.display().to_string();
    // An existing OpenClaw-style workspace: its persona is kept, the missing files are added.
    let ops_dir = home.path().join("ops-ws");
    lay_out(&ops_dir, &[("SOUL.md", "my own persona [keep]")]);
    let out = run_cli(
        home.path(),
        &[
            "agents",
            "add",
            "ops",
            "--name",
            "Ops Bot",
            "--model",
            "deepseek/deepseek-reasoner",
            "--workspace",
            &ops_dir.display().to_string(),
            "--config",
            &config_arg,
        ],
    )
    .await;
    let said = assert_ok(&out);
    assert!(said.contains("added agent \"ops\""), "{said}");
    assert_eq!(
        std::fs::read_to_string(ops_dir.join("SOUL.md")).unwrap(),
        "my own persona [keep]"
    );
    let identity = std::fs::read_to_string(ops_dir.join("IDENTITY.md")).unwrap();
    assert!(identity.contains("- Name: Ops Bot"), "{identity}");
    for file in ["AGENTS.md", "TOOLS.md", "USER.md", "MEMORY.md"] {
        assert!(ops_dir.join(file).is_file(), "{file} written");
    }
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("cid-help") && text.contains("dingtestbot"),
        "other keys are kept: {text}"
    );
    assert!(
        config.with_extension("json.bak").is_file(),
        "the old file is kept"
    );

    // The default workspace of a second agent: <stateDir>/workspace-<id>.
    let out = run_cli(home.path(), &["agents", "add", "sales", "--config", &config_arg]).await;
    assert_ok(&out);
    assert!(state.join("workspace-sales/AGENTS.md").is_file());

    let again = run_cli(home.path(), &["agents", "add", "ops", "--config", &config_arg]).await;
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = run_cli(home.path(), &["agents", "add", "../x", "--config", &config_arg]).await;
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not usable"));

    let out = run_cli(
        home.path(),
        &["agents", "list", "--json", "--config", &config_arg],
    )
    .await;
    let listed: Value = serde_json::from_str(&assert_ok(&out)).unwrap();
    let agents = listed["agents"].as_array().unwrap();
    let ids: Vec<_> = agents.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["main", "helper", "ops", "sales"],
        "the implicit agents stay"
    );
    let ops = &agents[2];
    assert_eq!(ops["name"], "Ops Bot");
    assert_eq!(ops["model"], "deepseek/deepseek-reasoner");
    assert_eq!(ops["files"].as_array().unwrap().len(), 6);
    assert_eq!(agents[1]["bindings"][0], "dingtalk/default group:cid-help");
    assert_eq!(agents[0]["default"], true);

    let out = run_cli(home.path(), &["agents", "list", "--config", &config_arg]).await;
    let table = assert_ok(&out);
    assert!(
        table.contains("AGENT") && table.contains("main (default)"),
        "{table}"
    );
    assert!(
        table.contains("AGENTS.md SOUL.md TOOLS.md IDENTITY.md USER.md MEMORY.md"),
        "{table}"
    );
}
