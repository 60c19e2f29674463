//! The hub against real MCP servers: the reference `server-everything` over stdio and over
//! Streamable HTTP, and a hand-written server that crashes or hangs on request.

mod support;

use std::time::{Duration, Instant};

use clawtalk_config::{McpTransport, ToolFilter};
use clawtalk_mcp::{Backoff, McpHub, Phase};
use support::{config, eventually, everything, flaky_script, stdio};

const FAST: Backoff = Backoff {
    initial: Duration::from_millis(200),
    max: Duration::from_secs(1),
};

fn phase(hub: &McpHub, server: &str) -> Phase {
    hub.status().into_iter().find(|s| s.name == server).unwrap().phase
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_over_stdio() {
    let Some(index) = everything() else { return };
    let mut server = stdio("everything", "node", &[index.to_str().unwrap(), "stdio"]);
    server.tool_filter = ToolFilter {
        include: Vec::new(),
        exclude: vec!["everything__gzip-*".into()],
    };
    let hub = McpHub::start_with(&config(vec![server]), FAST);
    assert!(hub.settle(Duration::from_secs(30)).await);
    assert_eq!(phase(&hub, "everything"), Phase::Ready, "{:?}", hub.status());

    let names: Vec<String> = hub.tools().into_iter().map(|t| t.name).collect();
    for expected in [
        "everything__echo",
        "everything__get-sum",
        "everything__get-tiny-image",
    ] {
        assert!(
            names.contains(&expected.to_owned()),
            "{expected} missing: {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n.contains("gzip")),
        "toolFilter.exclude: {names:?}"
    );
    let echo = hub
        .tools()
        .into_iter()
        .find(|t| t.name == "everything__echo")
        .unwrap();
    assert_eq!(echo.tool, "echo");
    assert!(echo.input_schema["properties"]["message"].is_object(), "{echo:?}");

    assert_eq!(
        hub.call("everything__echo", r#"{"message":"你好 clawtalk"}"#)
            .await,
        Ok("Echo: 你好 clawtalk".to_owned())
    );
    assert_eq!(
        hub.call("everything__get-sum", r#"{"a":2,"b":40}"#).await,
        Ok("The sum of 2 and 40 is 42.".to_owned())
    );
    let image = hub.call("everything__get-tiny-image", "{}").await.unwrap();
    assert!(image.contains("[image: image/png, "), "{image}");
    let bytes: usize = image
        .split("[image: image/png, ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(bytes > 1000, "the decoded PNG's size: {image}");

    // The server validates arguments and reports the failure as a tool error.
    let bad = hub.call("everything__get-sum", r#"{"a":"two"}"#).await;
    assert!(bad.is_err(), "{bad:?}");
    assert!(
        hub.call("everything__echo", "[1]")
            .await
            .unwrap_err()
            .contains("JSON object")
    );
    assert!(
        hub.call("everything__nope", "{}")
            .await
            .unwrap_err()
            .contains("no MCP tool")
    );

    // It registers more tools once initialised and says so with tools/list_changed: the hub
    // lists them again.
    assert!(
        eventually(Duration::from_secs(10), || {
            hub.status()[0].listings >= 2
                && hub
                    .tools()
                    .iter()
                    .any(|t| t.name == "everything__simulate-research-query")
        })
        .await,
        "{:?}",
        hub.status()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_over_streamable_http() {
    let Some(index) = everything() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new("node")
        .arg(&index)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs server-everything");
    let up = eventually(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
    assert!(up, "server-everything did not listen on {port}");

    let mut server = stdio("remote", "unused", &[]);
    server.transport = McpTransport::StreamableHttp {
        url: format!("http://127.0.0.1:{port}/mcp").parse().unwrap(),
        headers: [("X-Api-Key".to_owned(), dingtalk::Secret::new("k-123"))].into(),
    };
    let hub = McpHub::start_with(&config(vec![server]), FAST);
    assert!(hub.settle(Duration::from_secs(30)).await);
    assert_eq!(phase(&hub, "remote"), Phase::Ready, "{:?}", hub.status());
    assert_eq!(
        hub.call("remote__echo", r#"{"message":"over http"}"#).await,
        Ok("Echo: over http".to_owned())
    );
    assert_eq!(
        hub.call("remote__get-sum", r#"{"a":1.5,"b":1}"#).await,
        Ok("The sum of 1.5 and 1 is 2.5.".to_owned())
    );
    let image = hub.call("remote__get-tiny-image", "").await.unwrap();
    assert!(image.contains("[image: image/png, "), "{image}");

    // The server goes away: calls fail at once and the hub keeps trying to reconnect.
    child.kill().await.unwrap();
    let started = Instant::now();
    let gone = hub.call("remote__echo", r#"{"message":"x"}"#).await;
    assert!(gone.is_err(), "{gone:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_server_is_restarted_and_unavailable_meanwhile() {
    if !node_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = flaky_script(dir.path());
    let hub = McpHub::start_with(
        &config(vec![stdio("flaky", "node", &[script.to_str().unwrap()])]),
        Backoff {
            initial: Duration::from_millis(800),
            max: Duration::from_secs(2),
        },
    );
    assert!(hub.settle(Duration::from_secs(20)).await);
    let first = hub.call("flaky__hello", "{}").await.unwrap();

    let started = Instant::now();
    let crashed = hub.call("flaky__crash", "{}").await;
    assert!(crashed.is_err(), "{crashed:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a crash is noticed at once"
    );
    assert!(eventually(Duration::from_secs(5), || phase(&hub, "flaky") == Phase::Down).await);

    // While it is down its tools stay listed but answer at once.
    assert!(hub.tools().iter().any(|t| t.name == "flaky__hello"));
    let started = Instant::now();
    let meanwhile = hub.call("flaky__hello", "{}").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(200));
    assert!(meanwhile.contains("unavailable"), "{meanwhile}");

    assert!(eventually(Duration::from_secs(20), || phase(&hub, "flaky") == Phase::Ready).await);
    let status = &hub.status()[0];
    assert!(status.restarts >= 1, "{status:?}");
    let second = hub.call("flaky__hello", "{}").await.unwrap();
    assert_ne!(first, second, "a new process answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_call_times_out_and_the_server_is_restarted() {
    if !node_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = flaky_script(dir.path());
    let mut server = stdio("flaky", "node", &[script.to_str().unwrap()]);
    server.timeout = Duration::from_secs(1);
    let hub = McpHub::start_with(&config(vec![server]), FAST);
    assert!(hub.settle(Duration::from_secs(20)).await);
    let first = hub.call("flaky__hello", "{}").await.unwrap();
    let first_pid: u32 = first.trim_start_matches("pid ").parse().unwrap();

    let started = Instant::now();
    let hung = hub.call("flaky__hang", "{}").await.unwrap_err();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(hung.contains("did not answer within 1s"), "{hung}");

    // It ignores the ping too, so it is restarted (a new process) and the old one is gone.
    assert!(
        eventually(Duration::from_secs(20), || {
            let s = &hub.status()[0];
            s.phase == Phase::Ready && s.restarts >= 1
        })
        .await,
        "{:?}",
        hub.status()
    );
    let second = hub.call("flaky__hello", "{}").await.unwrap();
    assert_ne!(first, second);
    assert!(
        eventually(Duration::from_secs(5), || !process_alive(first_pid)).await,
        "the hung process {first_pid} was killed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_a_new_config_keeps_unchanged_servers_and_restarts_changed_ones() {
    if !node_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = flaky_script(dir.path()).to_str().unwrap().to_owned();
    let kept = stdio("kept", "node", &[&script]);
    let changed = stdio("changed", "node", &[&script]);
    let removed = stdio("removed", "node", &[&script]);
    let first = McpHub::start_with(&config(vec![changed.clone(), kept.clone(), removed]), FAST);
    assert!(first.settle(Duration::from_secs(20)).await);
    let pid = |hub: &McpHub, server: &str| {
        let hub = hub.clone();
        let tool = format!("{server}__hello");
        async move {
            let answer = hub.call(&tool, "{}").await.unwrap();
            answer.trim_start_matches("pid ").parse::<u32>().unwrap()
        }
    };
    let (kept_pid, changed_pid, removed_pid) = (
        pid(&first, "kept").await,
        pid(&first, "changed").await,
        pid(&first, "removed").await,
    );

    let mut changed = changed;
    changed.timeout = Duration::from_secs(7);
    let added = stdio("added", "node", &[&script]);
    let (second, changes) = first.follow(&config(vec![added, changed, kept]));
    assert_eq!(changes.kept, ["kept"]);
    assert_eq!(changes.restarted, ["changed"]);
    assert_eq!(changes.started, ["added"]);
    assert_eq!(changes.stopped, ["removed"]);
    assert_eq!(
        pid(&second, "kept").await,
        kept_pid,
        "an unchanged server carries on, without waiting to start"
    );
    assert!(second.settle(Duration::from_secs(20)).await);
    assert_ne!(pid(&second, "changed").await, changed_pid);
    pid(&second, "added").await;
    assert!(
        second.call("removed__hello", "{}").await.is_err(),
        "a removed server's tools are gone from the new hub"
    );

    // The old hub's own servers stop when it goes; the kept one lives on in the new hub.
    drop(first);
    for gone in [changed_pid, removed_pid] {
        assert!(
            eventually(Duration::from_secs(5), || !process_alive(gone)).await,
            "process {gone} was stopped"
        );
    }
    assert!(process_alive(kept_pid));
    assert_eq!(pid(&second, "kept").await, kept_pid);
}

#[tokio::test]
async fn a_server_that_cannot_start_is_reported_and_never_blocks() {
    let hub = McpHub::start_with(
        &config(vec![stdio("missing", "clawtalk-no-such-command", &[])]),
        FAST,
    );
    let started = Instant::now();
    assert!(hub.tools().is_empty(), "start returns before anything connects");
    assert!(hub.settle(Duration::from_secs(5)).await);
    let status = &hub.status()[0];
    assert_eq!(status.phase, Phase::Down, "{status:?}");
    assert!(
        status.last_error.as_deref().unwrap().contains("not found"),
        "{status:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let dropped = hub.clone();
    drop(hub);
    assert_eq!(dropped.status().len(), 1);
}

fn node_available() -> bool {
    let ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "node is missing under CI"
        );
        eprintln!("skipped: node is not installed");
    }
    ok
}

/// Whether the process exists and is not a zombie waiting to be reaped.
fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}
