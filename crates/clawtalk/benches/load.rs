//! Load test (issue 7): 10,000 messages over 1,000 conversations against a mock model that
//! takes 2 s per answer, the release `clawtalk` binary as a child process.
//!
//! Checks that every message is answered exactly once and in order within its conversation
//! (from what the simulator recorded as sent), and that the gateway's resident set stays
//! under 64 MB throughout (sampled every 50 ms from `/proc`). Prints the figures as a
//! Markdown table for BENCHMARKS.md and exits non-zero when a check fails.
//!
//! Run with `cargo bench -p clawtalk --bench load` (about 90 s; not part of CI). Every
//! conversation's ten turns run one after another, so the wall time cannot be under
//! 10 × 2 s, and with `gateway.maxConcurrentTurns` = n under 10,000 × 2 s / n. The bench
//! runs with n = 256 (the gateway's default is 10,000); `LOAD_MAX_TURNS=<n>` picks another
//! limit. Memory grows by about 60–80 kB per turn waiting on the model (its future and two
//! pooled HTTP/1 connections, to the model and to DingTalk), so all 1,000 conversations at
//! once (n = 1000, 20 s) take about 110 MB: see BENCHMARKS.md.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dingtalk_sim::{AppSpec, GroupSpec, InjectMessage, SimConfig, Simulator, UserSpec};
use llm_mock::MockModel;
use support::{
    APP, Gateway, RssSampler, SECRET, config_text, cpu_time, mb, pct, rss_kb, rss_split_kb, staff,
};

/// Direct messages with this many users; the rest of the conversations are groups.
const DM_CONVERSATIONS: usize = 800;
const GROUP_CONVERSATIONS: usize = 200;
const CONVERSATIONS: usize = DM_CONVERSATIONS + GROUP_CONVERSATIONS;
const MESSAGES_PER_CONVERSATION: usize = 10;
const MESSAGES: usize = CONVERSATIONS * MESSAGES_PER_CONVERSATION;
const MODEL_DELAY: Duration = Duration::from_secs(2);
/// `gateway.maxConcurrentTurns` unless `LOAD_MAX_TURNS` says otherwise.
const DEFAULT_MAX_TURNS: usize = 256;
const RSS_LIMIT_MB: f64 = 64.0;
/// After the last expected reply, how long to keep watching for a duplicate one.
const SETTLE: Duration = Duration::from_secs(5);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let failures = runtime.block_on(bench());
    if !failures.is_empty() {
        for failure in &failures {
            eprintln!("FAILED: {failure}");
        }
        std::process::exit(1);
    }
}

/// What to inject for message `m` of conversation `c`.
fn message(c: usize, m: usize, groups: &[String]) -> InjectMessage {
    let text = format!("load c{c} m{m}");
    if c < DM_CONVERSATIONS {
        InjectMessage::dm_text(APP, staff(c), text)
    } else {
        InjectMessage::group_text(APP, staff(c), &groups[c - DM_CONVERSATIONS], text, true)
    }
}

/// `(conversation, message)` of the prompt a reply echoes ("… “load c12 m3” …").
fn answered(text: &str) -> Option<(usize, usize)> {
    let rest = &text[text.find("load c")? + "load c".len()..];
    let (c, rest) = rest.split_once(" m")?;
    let m: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((c.parse().ok()?, m.parse().ok()?))
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn bench() -> Vec<String> {
    let sim = Simulator::start_with(SimConfig::default())
        .await
        .expect("simulator");
    sim.create_app(AppSpec::new(APP, SECRET)).expect("app");
    for c in 0..CONVERSATIONS {
        sim.create_user(UserSpec::new(staff(c), format!("User {c}")))
            .expect("user");
    }
    let groups: Vec<String> = (DM_CONVERSATIONS..CONVERSATIONS)
        .map(|c| {
            let spec = GroupSpec::new(format!("Group {c}"), [staff(c)]).with_bot(APP);
            sim.create_group(spec).expect("group").open_conversation_id
        })
        .collect();
    let model = MockModel::builder()
        .answer_delay(MODEL_DELAY)
        .record(false)
        .start()
        .await
        .expect("mock model");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("clawtalk.json");
    let max_turns: usize = std::env::var("LOAD_MAX_TURNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MAX_TURNS);
    let gateway_extra = format!("maxConcurrentTurns: {max_turns},");
    std::fs::write(&config, config_text(&sim, &model, dir.path(), &gateway_extra)).expect("config");

    let gateway = Gateway::spawn(&config, dir.path());
    let pid = gateway.pid();
    sim.wait_for_connections(APP, 1, Duration::from_secs(30))
        .await
        .expect("gateway connects");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_kb = rss_kb(pid);
    let sampler = RssSampler::start(pid);

    // Message m of every conversation, then m + 1 of every conversation, …: each session's
    // queue fills while earlier turns run, as when many people chat at once.
    let cpu_before = cpu_time(pid);
    let started = Instant::now();
    let mut injected_at = HashMap::with_capacity(MESSAGES);
    for m in 0..MESSAGES_PER_CONVERSATION {
        for c in 0..CONVERSATIONS {
            injected_at.insert((c, m), epoch_ms());
            sim.inject_message(&message(c, m, &groups)).expect("inject");
        }
    }
    let injected = started.elapsed();
    let all = sim.wait_for_sent(MESSAGES, Duration::from_secs(900)).await;
    let wall = started.elapsed();
    let gateway_cpu = cpu_time(pid) - cpu_before;
    let (anon_kb, file_kb) = rss_split_kb(pid);
    let after_kb = rss_kb(pid);
    tokio::time::sleep(SETTLE).await;
    let max_kb = sampler.stop();
    let sent = sim.sent_messages();
    drop(gateway);

    let mut failures = Vec::new();
    if let Err(error) = all {
        failures.push(format!("not every message was answered: {error}"));
    }
    // Every reply echoes its prompt: count them per message, check order per conversation.
    let mut replies: HashMap<(usize, usize), usize> = HashMap::with_capacity(MESSAGES);
    let mut next_in_conversation = vec![0usize; CONVERSATIONS];
    let mut latencies = Vec::with_capacity(MESSAGES);
    let mut unrecognised = 0;
    for reply in &sent {
        let Some((c, m)) = answered(&reply.text).filter(|(c, _)| *c < CONVERSATIONS) else {
            unrecognised += 1;
            continue;
        };
        *replies.entry((c, m)).or_default() += 1;
        if next_in_conversation[c] != m {
            failures.push(format!(
                "conversation {c}: answer to message {m} came when {} was next",
                next_in_conversation[c]
            ));
        }
        next_in_conversation[c] = m + 1;
        if let Some(at) = injected_at.get(&(c, m)) {
            latencies.push(reply.epoch_ms.saturating_sub(*at));
        }
    }
    let twice = replies.values().filter(|n| **n > 1).count();
    let missing = MESSAGES - replies.len();
    if twice > 0 {
        failures.push(format!("{twice} messages were answered more than once"));
    }
    if missing > 0 {
        failures.push(format!("{missing} messages got no answer"));
    }
    if unrecognised > 0 {
        failures.push(format!("{unrecognised} sent messages answer no injected message"));
    }
    if mb(max_kb) >= RSS_LIMIT_MB {
        failures.push(format!(
            "RSS reached {:.1} MB (limit {RSS_LIMIT_MB} MB)",
            mb(max_kb)
        ));
    }
    latencies.sort_unstable();

    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| messages, conversations | {MESSAGES} over {CONVERSATIONS} ({DM_CONVERSATIONS} direct, {GROUP_CONVERSATIONS} groups), model {} s per answer, maxConcurrentTurns {max_turns} |",
        MODEL_DELAY.as_secs()
    );
    println!(
        "| answered once / twice / not at all | {} / {twice} / {missing} |",
        replies.values().filter(|n| **n == 1).count()
    );
    println!(
        "| wall time (injection took {:.2} s) | {:.1} s (lower bound {:.0} s) |",
        injected.as_secs_f64(),
        wall.as_secs_f64(),
        MODEL_DELAY.as_secs_f64()
            * (MESSAGES as f64 / max_turns.min(CONVERSATIONS) as f64).max(MESSAGES_PER_CONVERSATION as f64)
    );
    println!(
        "| throughput | {:.0} messages/s |",
        MESSAGES as f64 / wall.as_secs_f64()
    );
    println!(
        "| latency inject → reply, p50 / p99 / max | {:.1} / {:.1} / {:.1} s |",
        pct(&latencies, 0.50) as f64 / 1000.0,
        pct(&latencies, 0.99) as f64 / 1000.0,
        latencies.last().copied().unwrap_or_default() as f64 / 1000.0
    );
    println!(
        "| gateway CPU | {:.1} s ({:.0} µs per message) |",
        gateway_cpu.as_secs_f64(),
        gateway_cpu.as_secs_f64() * 1e6 / MESSAGES as f64
    );
    println!("| RSS idle before the load | {:.1} MB |", mb(idle_kb));
    println!(
        "| RSS max during the load (limit {RSS_LIMIT_MB} MB) | {:.1} MB |",
        mb(max_kb)
    );
    println!(
        "| RSS at the end | {:.1} MB ({:.1} MB anonymous, {:.1} MB file-backed) |",
        mb(after_kb),
        mb(anon_kb),
        mb(file_kb)
    );
    failures
}
