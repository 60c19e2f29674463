//! Counters and histograms of the running gateway, and their Prometheus text exposition.
//!
//! Hand-written rather than a metrics crate: a dozen series, and the text format is simple.
//! Figures that already live elsewhere (messages in and reconnects on the status board, API
//! calls in each account's [`dingtalk::api::ApiMetrics`], card `QpsLimit` answers in the
//! card budgets, queue depths in the store) are read from there when `/metrics` is scraped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bucket bounds in seconds: from a fast mock answer to a slow model with tool rounds, and to
/// a first text that waited minutes for the AI card quota in a burst.
const LATENCY_BUCKETS: [f64; 13] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Counts per label value.
#[derive(Default)]
pub(crate) struct LabeledCounter(Mutex<BTreeMap<String, u64>>);

impl LabeledCounter {
    pub(crate) fn inc(&self, label: &str) {
        if let Ok(mut map) = self.0.lock() {
            *map.entry(label.to_owned()).or_default() += 1;
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<(String, u64)> {
        self.0
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }
}

/// A cumulative histogram over [`LATENCY_BUCKETS`].
#[derive(Default)]
pub(crate) struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    /// Sum in microseconds (integer, so it can be atomic).
    sum_us: AtomicU64,
}

impl Histogram {
    pub(crate) fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    fn write(&self, out: &mut Exposition, name: &str) {
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            let le = bound.to_string();
            out.sample(
                &format!("{name}_bucket"),
                &[("le", &le)],
                bucket.load(Ordering::Relaxed),
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        out.sample(&format!("{name}_bucket"), &[("le", "+Inf")], count);
        #[allow(clippy::cast_precision_loss)] // microsecond sums stay far below 2^52
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out.text, "{name}_sum {sum}");
        out.sample(&format!("{name}_count"), &[], count);
    }
}

/// What the gateway's own code counts (the rest is read at scrape time).
#[derive(Default)]
pub(crate) struct GatewayMetrics {
    /// Reply parts DingTalk accepted, by account.
    pub messages_out: LabeledCounter,
    /// Finished turns by outcome (`replied`, `failed`, `cancelled`, `ignored`, `error`).
    pub turns: LabeledCounter,
    /// From claiming a turn to its end.
    pub turn_latency: Histogram,
    /// From a message's arrival to the end of its reply.
    pub reply_latency: Histogram,
    /// From a message's arrival to the first text of its answer the user can read (a card's
    /// first streamed text, else the first part of the answer delivered).
    pub first_visible: Histogram,
    /// Messages by what became of their answer: `once` (its first part delivered), `lost`
    /// (an answer part given up for good), `duplicate` (a second answer for a message that
    /// had one, refused by the outbox).
    pub answers: LabeledCounter,
    /// "Queued, N ahead of you" notes planned, by account.
    pub queue_notes: LabeledCounter,
    /// Session workers waiting for a turn slot (`gateway.maxConcurrentTurns`) now.
    waiting_for_slot: AtomicU64,
}

impl GatewayMetrics {
    /// Counts a worker as waiting for a turn slot until the returned guard is dropped.
    pub(crate) fn wait_for_slot(&self) -> SlotWait<'_> {
        self.waiting_for_slot.fetch_add(1, Ordering::Relaxed);
        SlotWait(self)
    }

    /// Workers waiting for a turn slot now.
    pub(crate) fn waiting_for_slot(&self) -> usize {
        usize::try_from(self.waiting_for_slot.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }
}

/// A worker waiting for a turn slot; see [`GatewayMetrics::wait_for_slot`].
pub(crate) struct SlotWait<'a>(&'a GatewayMetrics);

impl Drop for SlotWait<'_> {
    fn drop(&mut self) {
        self.0.waiting_for_slot.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Figures read at scrape time, per account.
#[derive(Debug, Default, Clone)]
pub(crate) struct AccountFigures {
    pub id: String,
    pub messages_in: u64,
    pub connected: bool,
    /// Connections opened after the first.
    pub reconnects: u64,
    /// Non-zero API call counters, by endpoint name.
    pub api_calls: Vec<(&'static str, u64)>,
    pub qps_limit_hits: u64,
    /// Answers sent as markdown because the card quota was spent (`cardOverflow`).
    pub card_overflows: u64,
}

/// Queue depths read from the store at scrape time.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Depths {
    pub pending_turns: u64,
    pub planned_parts: u64,
}

/// Prometheus text format builder: one `# HELP`/`# TYPE` per family, then samples.
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            let inner: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.text, "{{{}}}", inner.join(","));
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// Label values escape backslash, quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The whole exposition.
pub(crate) fn render(own: &GatewayMetrics, accounts: &[AccountFigures], depths: Option<Depths>) -> String {
    let mut out = Exposition { text: String::new() };
    out.family(
        "clawtalk_messages_in_total",
        "counter",
        "Messages received from DingTalk.",
    );
    for a in accounts {
        out.sample("clawtalk_messages_in_total", &[("account", &a.id)], a.messages_in);
    }
    out.family(
        "clawtalk_messages_out_total",
        "counter",
        "Reply parts DingTalk accepted.",
    );
    let sent: BTreeMap<String, u64> = own.messages_out.snapshot().into_iter().collect();
    for a in accounts {
        let n = sent.get(&a.id).copied().unwrap_or(0);
        out.sample("clawtalk_messages_out_total", &[("account", &a.id)], n);
    }
    out.family(
        "clawtalk_turns_total",
        "counter",
        "Agent turns finished, by outcome.",
    );
    for (outcome, n) in own.turns.snapshot() {
        out.sample("clawtalk_turns_total", &[("outcome", &outcome)], n);
    }
    out.family(
        "clawtalk_turn_duration_seconds",
        "histogram",
        "From claiming a turn to its end.",
    );
    own.turn_latency.write(&mut out, "clawtalk_turn_duration_seconds");
    out.family(
        "clawtalk_reply_latency_seconds",
        "histogram",
        "From a message's arrival to the end of its reply.",
    );
    own.reply_latency
        .write(&mut out, "clawtalk_reply_latency_seconds");
    out.family(
        "clawtalk_first_visible_seconds",
        "histogram",
        "From a message's arrival to the first text of its answer shown to the user.",
    );
    own.first_visible
        .write(&mut out, "clawtalk_first_visible_seconds");
    out.family(
        "clawtalk_answers_total",
        "counter",
        "Messages by what became of their answer: once, lost, duplicate (refused by the outbox).",
    );
    let answers: BTreeMap<String, u64> = own.answers.snapshot().into_iter().collect();
    for result in ["once", "lost", "duplicate"] {
        let n = answers.get(result).copied().unwrap_or(0);
        out.sample("clawtalk_answers_total", &[("result", result)], n);
    }
    out.family(
        "clawtalk_queue_notes_total",
        "counter",
        "\"Queued, N ahead of you\" notes sent at once to waiting users.",
    );
    let notes: BTreeMap<String, u64> = own.queue_notes.snapshot().into_iter().collect();
    for a in accounts {
        let n = notes.get(&a.id).copied().unwrap_or(0);
        out.sample("clawtalk_queue_notes_total", &[("account", &a.id)], n);
    }
    out.family(
        "clawtalk_turns_waiting_for_slot",
        "gauge",
        "Sessions waiting for a turn slot (gateway.maxConcurrentTurns).",
    );
    out.sample(
        "clawtalk_turns_waiting_for_slot",
        &[],
        own.waiting_for_slot.load(Ordering::Relaxed),
    );
    out.family(
        "clawtalk_stream_connected",
        "gauge",
        "1 while the account's Stream connection is up.",
    );
    for a in accounts {
        out.sample(
            "clawtalk_stream_connected",
            &[("account", &a.id)],
            u64::from(a.connected),
        );
    }
    out.family(
        "clawtalk_reconnects_total",
        "counter",
        "Stream connections opened after the first.",
    );
    for a in accounts {
        out.sample("clawtalk_reconnects_total", &[("account", &a.id)], a.reconnects);
    }
    out.family(
        "clawtalk_dingtalk_api_calls_total",
        "counter",
        "DingTalk HTTP requests, by endpoint.",
    );
    for a in accounts {
        for (endpoint, n) in &a.api_calls {
            out.sample(
                "clawtalk_dingtalk_api_calls_total",
                &[("account", &a.id), ("endpoint", endpoint)],
                *n,
            );
        }
    }
    out.family(
        "clawtalk_qps_limit_hits_total",
        "counter",
        "QpsLimit answers from DingTalk.",
    );
    for a in accounts {
        out.sample(
            "clawtalk_qps_limit_hits_total",
            &[("account", &a.id)],
            a.qps_limit_hits,
        );
    }
    out.family(
        "clawtalk_card_overflow_total",
        "counter",
        "Answers sent as markdown because the AI card quota was spent (cardOverflow).",
    );
    for a in accounts {
        out.sample(
            "clawtalk_card_overflow_total",
            &[("account", &a.id)],
            a.card_overflows,
        );
    }
    if let Some(d) = depths {
        out.family(
            "clawtalk_pending_turns",
            "gauge",
            "Messages queued or running for an agent turn.",
        );
        out.sample("clawtalk_pending_turns", &[], d.pending_turns);
        out.family(
            "clawtalk_outbox_planned_parts",
            "gauge",
            "Reply parts planned but not yet sent.",
        );
        out.sample("clawtalk_outbox_planned_parts", &[], d.planned_parts);
    }
    out.text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_types_labels_and_cumulative_buckets() {
        let own = GatewayMetrics::default();
        own.messages_out.inc("bot\"1");
        own.turns.inc("replied");
        own.turn_latency.observe(Duration::from_millis(300));
        own.turn_latency.observe(Duration::from_secs(3));
        let accounts = [AccountFigures {
            id: "bot\"1".into(),
            messages_in: 2,
            connected: true,
            reconnects: 1,
            api_calls: vec![("robot.batchSend", 4)],
            qps_limit_hits: 0,
            card_overflows: 3,
        }];
        own.answers.inc("once");
        own.first_visible.observe(Duration::from_secs(200));
        let waiting = own.wait_for_slot();
        let text = render(
            &own,
            &accounts,
            Some(Depths {
                pending_turns: 1,
                planned_parts: 0,
            }),
        );
        assert!(text.contains("# TYPE clawtalk_turns_total counter"), "{text}");
        assert!(
            text.contains("clawtalk_messages_in_total{account=\"bot\\\"1\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("clawtalk_messages_out_total{account=\"bot\\\"1\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("clawtalk_turns_total{outcome=\"replied\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("clawtalk_turn_duration_seconds_bucket{le=\"0.25\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("clawtalk_turn_duration_seconds_bucket{le=\"0.5\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("clawtalk_turn_duration_seconds_bucket{le=\"5\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("clawtalk_turn_duration_seconds_bucket{le=\"+Inf\"} 2"),
            "{text}"
        );
        assert!(text.contains("clawtalk_turn_duration_seconds_sum 3.3"), "{text}");
        assert!(
            text.contains(
                "clawtalk_dingtalk_api_calls_total{account=\"bot\\\"1\",endpoint=\"robot.batchSend\"} 4"
            ),
            "{text}"
        );
        assert!(text.contains("clawtalk_pending_turns 1"), "{text}");
        assert!(text.contains("clawtalk_reply_latency_seconds_count 0"), "{text}");
        assert!(
            text.contains("clawtalk_answers_total{result=\"once\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("clawtalk_answers_total{result=\"duplicate\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("clawtalk_answers_total{result=\"lost\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("clawtalk_first_visible_seconds_bucket{le=\"120\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("clawtalk_first_visible_seconds_bucket{le=\"300\"} 1"),
            "{text}"
        );
        assert!(text.contains("clawtalk_turns_waiting_for_slot 1"), "{text}");
        drop(waiting);
        assert_eq!(own.waiting_for_slot(), 0);
        assert!(
            text.contains("clawtalk_card_overflow_total{account=\"bot\\\"1\"} 3"),
            "{text}"
        );
    }
}
