//! Whole-pipeline benchmark: the release `clawtalk` binary against the in-process DingTalk
//! simulator and a zero-delay mock model, all on this machine.
//!
//! Measures start-to-connected time, idle RSS of the gateway with one connected bot,
//! per-message latency from injection to the reply reaching the simulator (an upper bound of
//! the gateway's own overhead: it includes the simulator and the mock model), and sustained
//! throughput. Run with `cargo bench -p clawtalk --bench pipeline`; figures are printed as a
//! Markdown table for BENCHMARKS.md.
//!
//! The simulator and the mock model share the two cores with the gateway, so throughput is a
//! lower bound of what the gateway does alone.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dingtalk_sim::{AppSpec, InjectMessage, SimConfig, Simulator, UserSpec};
use llm_mock::MockModel;

const APP: &str = "dingbenchbot00000001";
const SECRET: &str = "bench-secret";
const USERS: usize = 5_000;
const LATENCY_SAMPLES: usize = 300;
const THROUGHPUT_MESSAGES: usize = 5_000;

struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let sim = Simulator::start_with(SimConfig::default())
        .await
        .expect("simulator");
    sim.create_app(AppSpec::new(APP, SECRET)).expect("app");
    for i in 0..USERS {
        sim.create_user(UserSpec::new(staff(i), format!("User {i}")))
            .expect("user");
    }
    let model = MockModel::builder()
        .zero_delay()
        .record(false)
        .start()
        .await
        .expect("mock model");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("clawtalk.json");
    std::fs::write(&config, config_text(&sim, &model, dir.path())).expect("config");

    // Start to connected.
    let started = Instant::now();
    let gateway = spawn(&config, dir.path());
    let pid = gateway.0.id();
    sim.wait_for_connections(APP, 1, Duration::from_secs(30))
        .await
        .expect("gateway connects");
    let connected = started.elapsed();

    // Idle RSS with one connected bot.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss_kb = rss_kb(pid);

    // Latency, one message at a time (each from another user, so no session waits on another).
    let mut latencies = Vec::with_capacity(LATENCY_SAMPLES);
    for i in 0..LATENCY_SAMPLES {
        let before = sim.sent_messages().len();
        let t = Instant::now();
        sim.inject_message(&InjectMessage::dm_text(
            APP,
            staff(i % USERS),
            format!("latency {i}"),
        ))
        .expect("inject");
        sim.wait_for_sent(before + 1, Duration::from_secs(10))
            .await
            .expect("reply");
        latencies.push(t.elapsed());
    }
    latencies.sort_unstable();

    // Throughput: everything at once, spread over all users.
    let before = sim.sent_messages().len();
    let t = Instant::now();
    for i in 0..THROUGHPUT_MESSAGES {
        sim.inject_message(&InjectMessage::dm_text(
            APP,
            staff(i % USERS),
            format!("load {i}"),
        ))
        .expect("inject");
    }
    let injected = t.elapsed();
    sim.wait_for_sent(before + THROUGHPUT_MESSAGES, Duration::from_secs(600))
        .await
        .expect("all replies");
    let elapsed = t.elapsed();
    let busy_rss_kb = rss_kb(pid);
    let peak_rss_kb = hwm_kb(pid);
    drop(gateway);

    let per_sec = THROUGHPUT_MESSAGES as f64 / elapsed.as_secs_f64();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| start → connected | {:.1} ms |", ms(connected));
    println!(
        "| idle RSS, one connected bot | {:.1} MB |",
        idle_rss_kb as f64 / 1024.0
    );
    println!(
        "| latency inject → reply at simulator, p50 | {:.2} ms |",
        ms(pct(&latencies, 0.50))
    );
    println!(
        "| latency inject → reply at simulator, p99 | {:.2} ms |",
        ms(pct(&latencies, 0.99))
    );
    println!(
        "| latency max | {:.2} ms |",
        ms(*latencies.last().unwrap_or(&Duration::ZERO))
    );
    println!(
        "| throughput, {THROUGHPUT_MESSAGES} messages over {USERS} users | {per_sec:.0} messages/s ({:.2} s; injection took {:.2} s) |",
        elapsed.as_secs_f64(),
        injected.as_secs_f64()
    );
    println!(
        "| RSS after the load / peak | {:.1} MB / {:.1} MB |",
        busy_rss_kb as f64 / 1024.0,
        peak_rss_kb as f64 / 1024.0
    );
}

fn staff(i: usize) -> String {
    format!("0{:015}", i)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).copied().unwrap_or_default()
}

fn spawn(config: &std::path::Path, home: &std::path::Path) -> Gateway {
    let child = Command::new(env!("CARGO_BIN_EXE_clawtalk"))
        .args(["gateway", "run", "--config"])
        .arg(config)
        .env_clear()
        .env("HOME", home)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the gateway");
    Gateway(child)
}

fn config_text(sim: &Simulator, model: &MockModel, state: &std::path::Path) -> String {
    format!(
        r#"{{
          agents: {{ list: [ {{ id: "main", model: "mock/bench" }} ] }},
          models: {{ providers: {{ mock: {{ baseUrl: "{}", apiKey: "k" }} }} }},
          channels: {{ dingtalk: {{ clientId: "{APP}", clientSecret: "{SECRET}", endpoints: "{}",
                                    dmPolicy: "open", allowFrom: ["*"] }} }},
          gateway: {{ stateDir: "{}" }},
        }}"#,
        model.base_url(),
        sim.base_url(),
        state.display()
    )
}

fn proc_status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn rss_kb(pid: u32) -> u64 {
    proc_status_kb(pid, "VmRSS:")
}

fn hwm_kb(pid: u32) -> u64 {
    proc_status_kb(pid, "VmHWM:")
}
