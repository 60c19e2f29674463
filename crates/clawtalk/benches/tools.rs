//! Tool turns and idle MCP sessions (issue 21): the release `clawtalk` binary against the
//! in-process DingTalk simulator and a zero-delay mock model that scripts tool calls.
//!
//! 1. Overhead of a turn with 3 tool rounds: the mock answers each turn with three rounds of
//!    tool calls, then a text. The gateway's overhead is the time from injecting the message
//!    to the answer reaching the simulator, less the mock's own time on the 4 requests, less
//!    the tools' own time. Two tools: `get_time` (its own time is nil, so everything counts as
//!    overhead) and `everything__echo` of the reference MCP server over stdio, whose own time
//!    is the median of calls the bench makes to a second copy of the server through the same
//!    client (`clawtalk-mcp`'s hub), so the JSON-RPC exchange with the server counts as the
//!    tool's and not the gateway's. A plain turn (no tool) is measured alongside.
//! 2. Memory of 1,000 idle sessions, each of which had one turn, with the MCP server
//!    configured (each turn calls its echo tool) and without (each turn calls `get_time`):
//!    the gateway's RSS before and after the turns, and the server's processes apart.
//!
//! Needs `node` and server-everything (`CLAWTALK_MCP_EVERYTHING`, see docs/mcp.md). Run with
//! `CLAWTALK_MCP_EVERYTHING=… cargo bench -p clawtalk --bench tools`; `TOOLS_TURNS=<n>` sets
//! the measured turns per tool (500), `TOOLS_SESSIONS=<n>` the idle sessions (1,000). Figures
//! are printed as Markdown for BENCHMARKS.md.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clawtalk_config::{McpConfig, McpServerConfig, McpTransport, ToolFilter};
use clawtalk_mcp::McpHub;
use dingtalk_sim::{AppSpec, InjectMessage, SimConfig, Simulator, UserSpec};
use llm_mock::{MockModel, Script};
use support::{APP, Gateway, SECRET, config_text_full, mb, ms, pct, rss_kb, rss_split_kb, staff};

/// Tool rounds per measured turn.
const ROUNDS: usize = 3;
/// Turns per tool before the measured ones (connections, prepared statements, the server's
/// own warm-up).
const WARM_UP: usize = 20;
const DEFAULT_TURNS: usize = 500;
const DEFAULT_SESSIONS: usize = 1_000;
/// How long the gateway idles after the sessions' turns before its RSS is read (the status
/// file and scheduler sweeps run meanwhile).
const IDLE_FOR: Duration = Duration::from_secs(8);
const ECHO: &str = "everything__echo";
const ECHO_ARGS: &str = r#"{"message":"bench"}"#;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(bench());
}

fn from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// Where `node` is: the gateway runs with an empty environment, so its server command must
/// be a full path.
fn node() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("node"))
        .find(|p| p.is_file())
        .expect("node is not in PATH; the MCP server needs it")
}

fn everything() -> PathBuf {
    let root = PathBuf::from(
        std::env::var_os("CLAWTALK_MCP_EVERYTHING")
            .expect("set CLAWTALK_MCP_EVERYTHING to server-everything's npm prefix (see docs/mcp.md)"),
    );
    let index = if root.is_file() {
        root
    } else {
        root.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js")
    };
    assert!(index.is_file(), "{} does not exist", index.display());
    index
}

fn mcp_section(node: &Path, index: &Path) -> String {
    format!(
        r#"mcp: {{ servers: {{ everything: {{ command: {:?}, args: [{:?}, "stdio"] }} }} }},"#,
        node.display().to_string(),
        index.display().to_string()
    )
}

struct World {
    sim: Simulator,
    model: MockModel,
    /// Simulator users created so far.
    users: usize,
    /// Whether the gateway sends a progress note for each of a turn's first two tool rounds
    /// (`progressNotes`, on by default).
    notes: bool,
}

impl World {
    async fn start(users: usize) -> Self {
        let sim = Simulator::start_with(SimConfig::default())
            .await
            .expect("simulator");
        sim.create_app(AppSpec::new(APP, SECRET)).expect("app");
        for i in 0..users {
            sim.create_user(UserSpec::new(staff(i), format!("User {i}")))
                .expect("user");
        }
        let model = MockModel::builder()
            .zero_delay()
            .record(false)
            .time_answers(true)
            .start()
            .await
            .expect("mock model");
        Self {
            sim,
            model,
            users,
            notes: true,
        }
    }

    fn launch(&self, dir: &Path, mcp: &str) -> Gateway {
        let channel = if self.notes { "" } else { "progressNotes: false," };
        let config = dir.join("clawtalk.json");
        // Another gateway on this machine may hold the default port.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let gateway = format!("port: {port},");
        let text = config_text_full(&self.sim, &self.model, dir, &gateway, channel, mcp);
        std::fs::write(&config, text).expect("config");
        Gateway::spawn(&config, dir)
    }

    /// One turn of `user` in which the model calls `tool` `rounds` times; returns its time
    /// from injection to the answer at the simulator, and the mock's time on its requests.
    async fn turn(&self, user: usize, tool: &str, args: &str, rounds: usize) -> (Duration, Duration) {
        for _ in 0..rounds {
            self.model.push(Script::tool_call(tool, args));
        }
        let answer = format!("done {user}.");
        self.model.push(Script::text(&answer));
        let before = self.sim.sent_count();
        self.model.take_answer_times();
        let t = Instant::now();
        self.sim
            .inject_message(&InjectMessage::dm_text(
                APP,
                staff(user % self.users),
                format!("turn {user}"),
            ))
            .expect("inject");
        // Progress notes the answer overtook are dropped: the answer is what ends the turn.
        self.sim
            .wait_for_sent_containing(before, &answer, Duration::from_secs(30))
            .await
            .expect("the answer");
        let latency = t.elapsed();
        assert_eq!(
            self.model.pending_scripts(),
            0,
            "the turn did not use every scripted round"
        );
        let answers = self.model.take_answer_times();
        assert_eq!(answers.len(), rounds + 1, "one model request per round");
        (latency, answers.iter().sum())
    }
}

async fn bench() {
    let turns = from_env("TOOLS_TURNS", DEFAULT_TURNS);
    let sessions = from_env("TOOLS_SESSIONS", DEFAULT_SESSIONS);
    let (node, index) = (node(), everything());
    let mcp = mcp_section(&node, &index);

    println!("| figure | value |");
    println!("|---|---|");
    overhead(turns, &node, &index, &mcp, true).await;
    overhead(turns, &node, &index, &mcp, false).await;
    let without = idle_sessions(sessions, "", "get_time").await;
    let with = idle_sessions(sessions, &mcp, ECHO).await;
    for (label, m) in [("without MCP", &without), ("with server-everything", &with)] {
        println!(
            "| gateway RSS {label}: connected → after {sessions} sessions had a turn and idled {} s | {:.1} → {:.1} MB (anonymous {:.1} → {:.1} MB, +{:.1} KB a session) |",
            IDLE_FOR.as_secs(),
            mb(m.before_kb),
            mb(m.after_kb),
            mb(m.before_anon_kb),
            mb(m.after_anon_kb),
            m.after_anon_kb.saturating_sub(m.before_anon_kb) as f64 / sessions as f64,
        );
    }
    println!(
        "| gateway RSS with MCP less without, after {sessions} sessions: total / anonymous | {:+.1} / {:+.1} MB |",
        (with.after_kb as f64 - without.after_kb as f64) / 1024.0,
        (with.after_anon_kb as f64 - without.after_anon_kb as f64) / 1024.0
    );
    println!(
        "| server-everything's processes (node), apart from the gateway | {:.1} MB |",
        mb(with.servers_kb)
    );
}

/// Phase 1: a plain turn, then 3 rounds of `get_time`, then 3 of the MCP echo; with the
/// default progress notes or without.
async fn overhead(turns: usize, node: &Path, index: &Path, mcp: &str, notes: bool) {
    let mut world = World::start(turns + WARM_UP).await;
    world.notes = notes;
    let notes = if notes {
        "progress notes on"
    } else {
        "progressNotes: false"
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = world.launch(dir.path(), mcp);
    world
        .sim
        .wait_for_connections(APP, 1, Duration::from_secs(30))
        .await
        .expect("gateway connects");
    wait_for_mcp(&world).await;

    // The echo's own time, through the same client the gateway uses, from another copy of the
    // server on this machine.
    let reference = McpHub::start(&everything_config(node, index));
    assert!(
        reference.settle(Duration::from_secs(30)).await,
        "server-everything starts"
    );

    let mut user = 0;
    for (label, tool, args, rounds) in [
        ("plain turn (no tool)", "", "", 0),
        ("3 rounds of get_time", "get_time", "{}", ROUNDS),
        (
            "3 rounds of everything__echo (MCP, stdio)",
            ECHO,
            ECHO_ARGS,
            ROUNDS,
        ),
    ] {
        let mut overheads = Vec::with_capacity(turns);
        let mut tool_times = Vec::with_capacity(turns);
        let sent_before = world.sim.sent_count();
        for i in 0..WARM_UP + turns {
            let (latency, in_model) = world.turn(user, tool, args, rounds).await;
            user += 1;
            let in_tools = if tool == ECHO {
                echo_time(&reference).await * ROUNDS as u32
            } else {
                Duration::ZERO
            };
            if i >= WARM_UP {
                overheads.push(latency.saturating_sub(in_model + in_tools));
                tool_times.push(in_tools);
            }
        }
        overheads.sort_unstable();
        tool_times.sort_unstable();
        println!(
            "| gateway overhead, {label}, {notes}: p50 / p99 / max ({turns} turns) | {:.2} / {:.2} / {:.2} ms |",
            ms(pct(&overheads, 0.50)),
            ms(pct(&overheads, 0.99)),
            ms(*overheads.last().unwrap_or(&Duration::ZERO))
        );
        if rounds > 0 && world.notes {
            // An answer that is ready before a note went out drops it (a zero-delay model
            // leaves notes little time).
            let notes_sent = world.sim.sent_count() - sent_before - (WARM_UP + turns);
            println!(
                "| progress notes sent, {label} (at most {} in {} turns) | {notes_sent} |",
                (WARM_UP + turns) * rounds.min(2),
                WARM_UP + turns
            );
        }
        if tool == ECHO {
            println!(
                "| the 3 echo calls' own time, subtracted above: p50 / p99 | {:.2} / {:.2} ms |",
                ms(pct(&tool_times, 0.50)),
                ms(pct(&tool_times, 0.99))
            );
        }
    }
    drop(gateway);
}

/// The median of 3 echo calls to the reference server (one call's time, measured thrice
/// to tame the noise of a shared machine).
async fn echo_time(hub: &McpHub) -> Duration {
    let mut times = Vec::with_capacity(3);
    for _ in 0..3 {
        let t = Instant::now();
        hub.call(ECHO, ECHO_ARGS).await.expect("echo");
        times.push(t.elapsed());
    }
    times.sort_unstable();
    times[1]
}

fn everything_config(node: &Path, index: &Path) -> McpConfig {
    McpConfig {
        servers: vec![McpServerConfig {
            name: "everything".to_owned(),
            enabled: true,
            transport: McpTransport::Stdio {
                command: node.display().to_string(),
                args: vec![index.display().to_string(), "stdio".to_owned()],
                env: std::collections::BTreeMap::new(),
                cwd: None,
            },
            tool_filter: ToolFilter::default(),
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(30),
            require_approval: false,
        }],
    }
}

/// Waits until a turn's echo call gets the server's answer (the server starts in the
/// background, and a call before it is ready is answered "unavailable").
async fn wait_for_mcp(world: &World) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut probe = 1_000_000;
    while Instant::now() < deadline {
        world.model.push(Script::tool_call(ECHO, ECHO_ARGS));
        let before = world.sim.sent_count();
        world
            .sim
            .inject_message(&InjectMessage::dm_text(APP, staff(0), format!("probe {probe}")))
            .expect("inject");
        world
            .sim
            .wait_for_sent_count(before + 1 + usize::from(world.notes), Duration::from_secs(30))
            .await
            .expect("the probe's answer");
        probe += 1;
        // With no script left the mock answers offline, quoting the tool's result.
        let answered = world
            .sim
            .sent_messages()
            .iter()
            .rev()
            .take(2)
            .any(|m| m.text.contains("Echo: bench"));
        if answered {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("server-everything did not become ready in the gateway within 60 s");
}

struct Memory {
    before_kb: u64,
    before_anon_kb: u64,
    after_kb: u64,
    after_anon_kb: u64,
    servers_kb: u64,
}

/// Phase 2: `sessions` users each have one turn in which the model calls `tool` once; then
/// the gateway idles.
async fn idle_sessions(sessions: usize, mcp: &str, tool: &str) -> Memory {
    let world = World::start(sessions).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = world.launch(dir.path(), mcp);
    let pid = gateway.pid();
    world
        .sim
        .wait_for_connections(APP, 1, Duration::from_secs(30))
        .await
        .expect("gateway connects");
    if !mcp.is_empty() {
        wait_for_mcp(&world).await;
    }
    tokio::time::sleep(IDLE_FOR).await;
    let before_kb = rss_kb(pid);
    let (before_anon_kb, _) = rss_split_kb(pid);
    let args = if tool == ECHO { ECHO_ARGS } else { "{}" };
    // User 0 had the probe turn; every session gets one turn here.
    for user in 1..=sessions {
        world.turn(user, tool, args, 1).await;
    }
    tokio::time::sleep(IDLE_FOR).await;
    let after_kb = rss_kb(pid);
    let (after_anon_kb, _) = rss_split_kb(pid);
    let servers_kb = descendants(pid).into_iter().map(rss_kb).sum();
    drop(gateway);
    Memory {
        before_kb,
        before_anon_kb,
        after_kb,
        after_anon_kb,
        servers_kb,
    }
}

/// Every process below `pid` (the MCP servers and anything they started).
fn descendants(pid: u32) -> Vec<u32> {
    let parent_of = |p: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        stat[stat.rfind(')')? + 2..]
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let all: Vec<u32> = std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(all.iter().copied().filter(|&p| parent_of(p) == Some(parent)));
        i += 1;
    }
    found.remove(0);
    found
}
