//! Whole-pipeline benchmark: the release `clawtalk` binary against the in-process DingTalk
//! simulator and a zero-delay mock model, all on this machine.
//!
//! Measures start-to-connected time, idle RSS of the gateway with one connected bot,
//! per-message latency from injection to the reply reaching the simulator, the gateway's
//! overhead per message (that latency less the mock model's own time on the request; the
//! simulator's work and the loopback hops stay in, so it is an upper bound), and sustained
//! throughput. Run with `cargo bench -p clawtalk --bench pipeline`; figures are printed as a
//! Markdown table for BENCHMARKS.md. `PIPELINE_MESSAGES=<n>` sets the number of messages in
//! the throughput phase (5,000 by default), `PIPELINE_USERS=<n>` the number of users they
//! are spread over (5,000).
//!
//! The simulator and the mock model share the two cores with the gateway, so throughput is a
//! lower bound of what the gateway does alone.

mod support;

use std::time::{Duration, Instant};

use dingtalk_sim::{AppSpec, InjectMessage, SimConfig, Simulator, UserSpec};
use llm_mock::MockModel;
use support::{
    APP, Gateway, SECRET, config_text, cpu_time, hwm_kb, mb, ms, pct, rss_kb, rss_split_kb, staff,
};

/// Users unless `PIPELINE_USERS` says otherwise. Messages go to them in turn, so with more
/// messages than users each conversation's history, and with it every prompt, grows.
const DEFAULT_USERS: usize = 5_000;
/// How long the gateway idles, connected, before its RSS is read.
const IDLE_FOR: Duration = Duration::from_secs(8);
/// Messages answered before the latency samples: the first ones after idle fault code back
/// in, open the connections to the model and the simulator and prepare SQLite's statements.
/// The first one's figures are printed on their own.
const WARM_UP: usize = 20;
/// Enough for the p99 to be the 10th-slowest sample, not the 3rd.
const LATENCY_SAMPLES: usize = 1_000;
/// Messages in the throughput phase unless `PIPELINE_MESSAGES` says otherwise (a larger
/// number shows whether the rate holds once the inbox and transcripts have grown).
const DEFAULT_THROUGHPUT_MESSAGES: usize = 5_000;

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

async fn bench() {
    let users = from_env("PIPELINE_USERS", DEFAULT_USERS);
    let messages = from_env("PIPELINE_MESSAGES", DEFAULT_THROUGHPUT_MESSAGES);
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
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("clawtalk.json");
    std::fs::write(&config, config_text(&sim, &model, dir.path(), "")).expect("config");

    // Start to connected.
    let started = Instant::now();
    let gateway = Gateway::spawn(&config, dir.path());
    let pid = gateway.pid();
    sim.wait_for_connections(APP, 1, Duration::from_secs(30))
        .await
        .expect("gateway connects");
    let connected = started.elapsed();

    // Idle RSS with one connected bot, after the first sweeps of the scheduler (every 5 s)
    // and of the status file (every 2 s) ran.
    tokio::time::sleep(IDLE_FOR).await;
    let idle_rss_kb = rss_kb(pid);
    let (idle_anon_kb, idle_file_kb) = rss_split_kb(pid);

    // Latency, one message at a time (each from another user, so no session waits on another).
    let mut latencies = Vec::with_capacity(WARM_UP + LATENCY_SAMPLES);
    let mut overheads = Vec::with_capacity(WARM_UP + LATENCY_SAMPLES);
    model.take_answer_times();
    for i in 0..WARM_UP + LATENCY_SAMPLES {
        let before = sim.sent_count();
        let t = Instant::now();
        sim.inject_message(&InjectMessage::dm_text(
            APP,
            staff(i % users),
            format!("latency {i}"),
        ))
        .expect("inject");
        sim.wait_for_sent_count(before + 1, Duration::from_secs(10))
            .await
            .expect("reply");
        let latency = t.elapsed();
        let in_model: Duration = model.take_answer_times().iter().sum();
        latencies.push(latency);
        overheads.push(latency.saturating_sub(in_model));
    }
    let (first_latency, first_overhead) = (latencies[0], overheads[0]);
    let mut latencies = latencies.split_off(WARM_UP);
    let mut overheads = overheads.split_off(WARM_UP);
    latencies.sort_unstable();
    overheads.sort_unstable();

    // Throughput: everything at once, spread over all users.
    let before = sim.sent_count();
    let (gateway_cpu, bench_cpu) = (cpu_time(pid), cpu_time(std::process::id()));
    let t = Instant::now();
    for i in 0..messages {
        sim.inject_message(&InjectMessage::dm_text(
            APP,
            staff(i % users),
            format!("load {i}"),
        ))
        .expect("inject");
    }
    let injected = t.elapsed();
    sim.wait_for_sent_count(before + messages, Duration::from_secs(600))
        .await
        .expect("all replies");
    let elapsed = t.elapsed();
    let gateway_cpu = cpu_time(pid) - gateway_cpu;
    let bench_cpu = cpu_time(std::process::id()) - bench_cpu;
    let busy_rss_kb = rss_kb(pid);
    let peak_rss_kb = hwm_kb(pid);
    drop(gateway);

    let per_sec = messages as f64 / elapsed.as_secs_f64();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| start → connected | {:.1} ms |", ms(connected));
    println!(
        "| idle RSS, one connected bot, {} s after connecting | {:.1} MB ({:.1} MB anonymous, {:.1} MB file-backed) |",
        IDLE_FOR.as_secs(),
        mb(idle_rss_kb),
        mb(idle_anon_kb),
        mb(idle_file_kb)
    );
    println!(
        "| first message after idle: latency / gateway overhead | {:.2} / {:.2} ms |",
        ms(first_latency),
        ms(first_overhead)
    );
    println!(
        "| latency inject → reply at simulator, p50 ({LATENCY_SAMPLES} messages after {WARM_UP} to warm up) | {:.2} ms |",
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
        "| gateway overhead (latency less the mock model's time), p50 / p99 / max | {:.2} / {:.2} / {:.2} ms |",
        ms(pct(&overheads, 0.50)),
        ms(pct(&overheads, 0.99)),
        ms(*overheads.last().unwrap_or(&Duration::ZERO))
    );
    println!(
        "| throughput, {messages} messages over {users} users | {per_sec:.0} messages/s ({:.2} s; injection took {:.2} s) |",
        elapsed.as_secs_f64(),
        injected.as_secs_f64()
    );
    println!(
        "| CPU per message in the throughput phase: gateway / simulator + mock model | {:.0} µs / {:.0} µs |",
        gateway_cpu.as_secs_f64() * 1e6 / messages as f64,
        bench_cpu.as_secs_f64() * 1e6 / messages as f64
    );
    println!(
        "| RSS after the load / peak | {:.1} MB / {:.1} MB |",
        mb(busy_rss_kb),
        mb(peak_rss_kb)
    );
}
