//! The figures of one run, printed as Markdown for BENCHMARKS.md, and what counts as failed.

use std::time::Duration;

use dingtalk_sim::ApiCallCount;

use crate::answers::{Seen, tally};
use crate::params::{Mode, Params};
use crate::support::{mb, pct};

pub struct ReplicaFigures {
    pub peak_kb: u64,
    pub cpu: Duration,
    /// False for the replica killed mid-run (its CPU is unknown).
    pub alive: bool,
    pub store_bytes: u64,
}

pub struct Report<'a> {
    pub params: &'a Params,
    pub arrivals_ms: &'a [u64],
    pub seen: &'a [Seen],
    pub bounds: &'a [Duration],
    pub replicas: &'a [ReplicaFigures],
    /// The bench process's CPU: the simulator and the mock model.
    pub own_cpu: Duration,
    pub arrivals_done: Duration,
    pub finished_at: Duration,
    pub api_calls: Vec<ApiCallCount>,
    pub qps_rejections: Vec<ApiCallCount>,
    pub store_bytes: u64,
}

fn secs(ms: u64) -> String {
    format!("{:.2} s", ms as f64 / 1000.0)
}

/// p50 / p95 / p99 / max of latencies in ms.
fn spread(mut ms: Vec<u64>) -> String {
    if ms.is_empty() {
        return "—".into();
    }
    ms.sort_unstable();
    format!(
        "{} / {} / {} / {}",
        secs(pct(&ms, 0.50)),
        secs(pct(&ms, 0.95)),
        secs(pct(&ms, 0.99)),
        secs(*ms.last().unwrap_or(&0))
    )
}

/// The `q` percentile of `measured` over that of `bound`.
fn ratio_at(measured: &[u64], bound: &[u64], q: f64) -> f64 {
    let at = |v: &[u64]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        if v.is_empty() { 0 } else { pct(&v, q) }
    };
    at(measured) as f64 / at(bound).max(1) as f64
}

fn calls_where(calls: &[ApiCallCount], pred: impl Fn(&str) -> bool) -> u64 {
    calls.iter().filter(|c| pred(&c.path)).map(|c| c.count).sum()
}

fn is_card_api(path: &str) -> bool {
    path.starts_with("/v1.0/card/")
}

fn is_robot_api(path: &str) -> bool {
    path.starts_with("/v1.0/robot/")
}

impl Report<'_> {
    fn latencies(&self, pick: impl Fn(&Seen) -> Option<u64>) -> Vec<u64> {
        self.seen
            .iter()
            .zip(self.arrivals_ms)
            .filter_map(|(s, at)| pick(s).map(|t| t.saturating_sub(*at)))
            .collect()
    }

    pub fn print(&self) {
        let t = tally(self.seen);
        let users = self.params.users as f64;
        let first = self.latencies(|s| s.first_text_ms);
        let complete = self.latencies(|s| s.complete_ms);
        let bound_ms: Vec<u64> = self
            .bounds
            .iter()
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .collect();
        let card_calls = calls_where(&self.api_calls, is_card_api);
        let robot_calls = calls_where(&self.api_calls, is_robot_api);
        let all_calls = calls_where(&self.api_calls, |p| {
            !p.contains("accessToken") && !p.contains("gettoken")
        });
        let refused = calls_where(&self.qps_rejections, |_| true);
        let peak: Vec<String> = self
            .replicas
            .iter()
            .map(|r| format!("{:.1} MB", mb(r.peak_kb)))
            .collect();
        let cpu: Vec<String> = self
            .replicas
            .iter()
            .map(|r| {
                if r.alive {
                    format!("{:.1} s", r.cpu.as_secs_f64())
                } else {
                    "killed".into()
                }
            })
            .collect();
        println!();
        println!("{}", self.params.describe());
        println!();
        println!("| figure | value |");
        println!("|---|---|");
        println!(
            "| answered exactly once / lost / duplicated | {} / {} / {} |",
            t.answered_once, t.lost, t.duplicated
        );
        println!(
            "| cards left unfinished / answers missing tokens | {} / {} |",
            t.unfinished_cards, t.partial
        );
        println!(
            "| users told \"queued, N ahead\" (not answers) / told twice | {} / {} |",
            t.noted, t.noted_twice
        );
        println!(
            "| first visible text p50 / p95 / p99 / max | {} |",
            spread(first.clone())
        );
        println!("| complete p50 / p95 / p99 / max | {} |", spread(complete));
        if self.params.mode == Mode::Card {
            let ratio = ratio_at(&first, &bound_ms, 0.99);
            println!(
                "| first text the card quota allows at best, p50 / p95 / p99 / max | {} |",
                spread(bound_ms)
            );
            println!("| p99 first visible text / p99 bound | {ratio:.2} |");
        }
        println!(
            "| arrivals took / all answered after | {:.1} s / {:.1} s |",
            self.arrivals_done.as_secs_f64(),
            self.finished_at.as_secs_f64()
        );
        println!("| gateway peak RSS | {} |", peak.join(", "));
        println!("| gateway CPU | {} |", cpu.join(", "));
        println!(
            "| simulator + mock model CPU (same cores) | {:.1} s |",
            self.own_cpu.as_secs_f64()
        );
        println!(
            "| DingTalk API calls: all / card / robot (per answer) | {} / {} / {} ({:.2} / {:.2} / {:.2}) |",
            all_calls,
            card_calls,
            robot_calls,
            all_calls as f64 / users,
            card_calls as f64 / users,
            robot_calls as f64 / users
        );
        println!("| calls refused with QpsLimit | {refused} |");
        println!("| store size | {:.1} MB |", self.store_bytes as f64 / 1_048_576.0);
        for c in &self.qps_rejections {
            eprintln!("  QpsLimit {}: {}", c.path, c.count);
        }
    }

    pub fn failures(&self) -> Vec<String> {
        let t = tally(self.seen);
        let mut failures = Vec::new();
        if t.lost > 0 {
            failures.push(format!("{} users got no answer", t.lost));
        }
        if t.duplicated > 0 {
            failures.push(format!("{} users got more than one answer", t.duplicated));
        }
        if t.unfinished_cards > 0 {
            failures.push(format!("{} cards were left unfinished", t.unfinished_cards));
        }
        if t.noted_twice > 0 {
            failures.push(format!(
                "{} users were told twice that they were queued",
                t.noted_twice
            ));
        }
        if t.partial > 0 {
            failures.push(format!("{} answers arrived without every token", t.partial));
        }
        failures
    }
}
