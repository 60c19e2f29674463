//! What the whole-gateway benchmarks share: the release binary as a child process, its
//! configuration, and its memory as `/proc` reports it.

#![allow(dead_code)] // Each bench uses its own subset.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use dingtalk_sim::Simulator;
use llm_mock::MockModel;

pub const APP: &str = "dingbenchbot00000001";
pub const SECRET: &str = "bench-secret";

/// The gateway process; killed when dropped.
pub struct Gateway(Child);

impl Gateway {
    /// Starts `clawtalk gateway run` on `config`, with `home` as its HOME.
    pub fn spawn(config: &Path, home: &Path) -> Self {
        // CLAWTALK_BENCH_BIN runs another build of the gateway, e.g. one with symbols for perf.
        let bin =
            std::env::var_os("CLAWTALK_BENCH_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_clawtalk").into());
        let child = Command::new(bin)
            .args(["gateway", "run", "--config"])
            .arg(config)
            .env_clear()
            .env("HOME", home)
            // CLAWTALK_BENCH_LOG: the gateway's log filter (its log goes to the bench's stderr).
            .env(
                "RUST_LOG",
                std::env::var("CLAWTALK_BENCH_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the gateway");
        Self(child)
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// SIGKILL, as a crash or an OOM kill would end it.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A gateway config for the simulator and the mock model; `gateway_extra` goes into the
/// `gateway` object (e.g. `maxConcurrentTurns: 1000,`).
pub fn config_text(sim: &Simulator, model: &MockModel, state: &Path, gateway_extra: &str) -> String {
    config_text_with(sim, model, state, gateway_extra, "")
}

/// [`config_text`] with `channel_extra` in the DingTalk channel (e.g. `messageType: "card",`).
pub fn config_text_with(
    sim: &Simulator,
    model: &MockModel,
    state: &Path,
    gateway_extra: &str,
    channel_extra: &str,
) -> String {
    config_text_full(sim, model, state, gateway_extra, channel_extra, "")
}

/// [`config_text_with`] plus top-level sections in `top_extra` (e.g. `store: { url: … },`).
pub fn config_text_full(
    sim: &Simulator,
    model: &MockModel,
    state: &Path,
    gateway_extra: &str,
    channel_extra: &str,
    top_extra: &str,
) -> String {
    format!(
        r#"{{
          agents: {{ list: [ {{ id: "main", model: "mock/bench" }} ] }},
          models: {{ providers: {{ mock: {{ baseUrl: "{}", apiKey: "k" }} }} }},
          channels: {{ dingtalk: {{ {channel_extra} clientId: "{APP}", clientSecret: "{SECRET}", endpoints: "{}",
                                    dmPolicy: "open", allowFrom: ["*"], groupPolicy: "open" }} }},
          gateway: {{ {gateway_extra} stateDir: "{}" }},
          {top_extra}
        }}"#,
        model.base_url(),
        sim.base_url(),
        state.display()
    )
}

/// A simulator staff id.
pub fn staff(i: usize) -> String {
    format!("0{:015}", i)
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `p` quantile of sorted samples (nearest rank).
pub fn pct<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).copied().unwrap_or_default()
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

/// Resident set now.
pub fn rss_kb(pid: u32) -> u64 {
    proc_status_kb(pid, "VmRSS:")
}

/// Peak resident set.
pub fn hwm_kb(pid: u32) -> u64 {
    proc_status_kb(pid, "VmHWM:")
}

/// Anonymous (heap, stacks) and file-backed (the binary's code, libraries) parts of the
/// resident set now.
pub fn rss_split_kb(pid: u32) -> (u64, u64) {
    (proc_status_kb(pid, "RssAnon:"), proc_status_kb(pid, "RssFile:"))
}

pub fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Duration {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the command name (which is in parentheses and may hold spaces):
            // utime and stime are the 12th and 13th.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    // USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(ticks * 10)
}

/// Samples the gateway's resident set until told to stop; keeps the maximum.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    max_kb: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl RssSampler {
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let max_kb = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, max_kb) = (Arc::clone(&stop), Arc::clone(&max_kb));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    max_kb.fetch_max(rss_kb(pid), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        Self { stop, max_kb, thread }
    }

    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let Self { max_kb, thread, .. } = self;
        let _ = thread.join();
        max_kb.load(Ordering::Relaxed)
    }
}
