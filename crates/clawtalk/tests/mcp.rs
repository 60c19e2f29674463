//! End to end, MCP: the real `clawtalk` binary with the reference MCP server
//! (`@modelcontextprotocol/server-everything`) configured over stdio. The mock model calls
//! `everything__echo`, and the answer the user gets in the simulator carries the server's
//! result; `clawtalk mcp probe` and `mcp list` show the server and its tools; a reload keeps
//! the server's process unless the server's own settings changed.

mod support;

use std::path::PathBuf;
use std::process::Command;

use llm_mock::Script;
use support::world::ConfigExtras;
use support::world::{ALICE, APP1, OPEN};
use support::{TIMEOUT, World, wait_until};

/// `server-everything`'s entry point (see crates/clawtalk-mcp/tests/support), or `None` to
/// skip outside CI.
fn everything() -> Option<PathBuf> {
    let path = std::env::var_os("CLAWTALK_MCP_EVERYTHING").map(|p| {
        let p = PathBuf::from(p);
        if p.is_file() {
            p
        } else {
            p.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js")
        }
    });
    match path {
        Some(p) if p.is_file() => Some(p),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "server-everything is missing under CI (CLAWTALK_MCP_EVERYTHING); .ci/run installs it"
            );
            eprintln!("skipped: set CLAWTALK_MCP_EVERYTHING (see docs/mcp.md)");
            None
        }
    }
}

fn mcp_section(index: &std::path::Path) -> String {
    format!(
        r#"mcp: {{ servers: {{ everything: {{ command: "node", args: [{:?}, "stdio"],
               toolFilter: {{ exclude: ["trigger-*"] }}, timeout: 20 }} }} }},"#,
        index.display().to_string()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_calls_an_mcp_tool_and_the_user_gets_its_result() {
    let Some(index) = everything() else { return };
    let world = World::start().await;
    let config = world.write_config(&world.config(OPEN, &mcp_section(&index)));
    let path = vec![("PATH".to_owned(), std::env::var("PATH").unwrap_or_default())];
    let gateway = world.launch(Some(&config), &path, &[APP1]).await;
    wait_until("the MCP server to be ready", TIMEOUT, || {
        gateway.log().contains("MCP server ready").then_some(())
    })
    .await;

    world.model.push(
        Script::tool_call("everything__echo", r#"{"message":"钉钉 says hi"}"#)
            .when_last_user_contains("echo this"),
    );
    // No script for the round after the tool: the mock's offline model answers with the
    // tool's result, so the reply shows what the MCP server returned.
    let asked = world.dm(APP1, ALICE, "please echo this for me");
    let reply = world
        .wait_reply_containing(&asked.conversation_id, "Echo: 钉钉 says hi")
        .await;
    assert!(reply.text.contains("The tool returned"), "{reply:?}");

    let request = world.wait_request_for("echo this").await;
    let offered = request.body["tools"].to_string();
    assert!(offered.contains("everything__echo"), "{offered}");
    assert!(offered.contains("everything__get-sum"), "{offered}");
    assert!(!offered.contains("everything__trigger-"), "toolFilter: {offered}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_probe_and_list_report_the_server_and_its_tools() {
    let Some(index) = everything() else { return };
    let world = World::start().await;
    let config = world.write_config(&world.config(
        OPEN,
        &format!(
            "{} ",
            mcp_section(&index).replace(
                "} } },",
                r#"}, broken: { command: "clawtalk-no-such-server" } } },"#
            )
        ),
    ));
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_clawtalk"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .env_clear()
            .env("HOME", world.home())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .expect("run clawtalk")
    };
    let probe = run(&["mcp", "probe", "everything"]);
    let out = String::from_utf8_lossy(&probe.stdout);
    assert!(
        probe.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    assert!(
        out.contains("everything__echo") && out.contains("result      ok"),
        "{out}"
    );
    assert!(out.contains("hidden by toolFilter"), "{out}");

    let broken = run(&["mcp", "probe", "broken"]);
    let out = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{out}");
    assert!(
        out.contains("FAILED: cannot start \"clawtalk-no-such-server\": not found"),
        "{out}"
    );

    let unknown = run(&["mcp", "probe", "nope"]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("no MCP server named \"nope\"; configured: broken, everything")
    );

    let list = run(&["mcp", "list", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&list.stdout).expect("JSON");
    let servers = json["servers"].as_array().unwrap();
    assert_eq!(servers[0]["name"], "broken");
    assert_eq!(servers[0]["ok"], false);
    assert_eq!(servers[1]["name"], "everything");
    assert_eq!(servers[1]["ok"], true);
    assert!(
        servers[1]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "everything__get-sum")
    );
}

/// The gateway's child processes (its stdio MCP servers run as its children).
fn children(pid: u32) -> Vec<u32> {
    let parent_of = |p: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        let rest = &stat[stat.rfind(')')? + 2..];
        let mut fields = rest.split_whitespace();
        // A zombie is a process that ended but was not reaped yet.
        (fields.next()? != "Z").then_some(())?;
        fields.next()?.parse().ok()
    };
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter(|&p| parent_of(p) == Some(pid))
                .collect()
        })
        .unwrap_or_default()
}

/// A turn in which the model calls the server's echo with `message`; returns once the user
/// has the server's answer.
async fn echo_turn(world: &World, message: &str) {
    let tag = format!("[{message}]");
    world.model.push(
        Script::tool_call("everything__echo", format!(r#"{{"message":"{message}"}}"#))
            .when_last_user_contains(tag.clone()),
    );
    let asked = world.dm(APP1, ALICE, &format!("echo please {tag}"));
    world
        .wait_reply_containing(&asked.conversation_id, &format!("Echo: {message}"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_an_unchanged_mcp_server_and_restarts_a_changed_one() {
    let Some(index) = everything() else { return };
    let world = World::start().await;
    let mcp = mcp_section(&index);
    let path = world.write_config(&world.config(OPEN, &mcp));
    let env = vec![("PATH".to_owned(), std::env::var("PATH").unwrap_or_default())];
    let gateway = world.launch(Some(&path), &env, &[APP1]).await;
    let server = wait_until("the MCP server to be ready", TIMEOUT, || {
        let ready = gateway.log().contains("MCP server ready");
        match children(gateway.pid()).as_slice() {
            [one] if ready => Some(*one),
            _ => None,
        }
    })
    .await;

    // An unrelated key: the same server process serves the next turn.
    let unrelated = world.config_with(&ConfigExtras {
        channels: OPEN,
        top: &format!("{mcp} session: {{ reset: {{ idleMinutes: 45 }} }},"),
        ..ConfigExtras::default()
    });
    std::fs::write(&path, &unrelated).expect("rewrite the config");
    wait_until("the reload", TIMEOUT, || {
        gateway.log().contains("config reloaded").then_some(())
    })
    .await;
    echo_turn(&world, "after reload one").await;
    assert_eq!(
        children(gateway.pid()),
        [server],
        "the server kept its process across the reload:\n{}",
        gateway.log()
    );

    // The server's own args change: it alone starts again, and the old process ends.
    let changed = unrelated.replace(r#""stdio"]"#, r#""stdio", "--restarted"]"#);
    assert_ne!(changed, unrelated);
    std::fs::write(&path, &changed).expect("rewrite the config");
    let restarted = wait_until("a new server process", TIMEOUT, || {
        match children(gateway.pid()).as_slice() {
            [one] if *one != server => Some(*one),
            _ => None,
        }
    })
    .await;
    assert!(
        gateway
            .log()
            .contains("mcp.servers.everything: restarted with its new settings"),
        "{}",
        gateway.log()
    );
    wait_until("the restarted server to be ready", TIMEOUT, || {
        (gateway.log().matches("MCP server ready").count() >= 2).then_some(())
    })
    .await;
    echo_turn(&world, "after reload two").await;
    assert_eq!(children(gateway.pid()), [restarted]);
}
