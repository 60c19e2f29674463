//! The 9 AM burst (issue 23): N users each ask once within T seconds; a model with real
//! latency (time to first token, token rate, answer length) answers each; DingTalk's QPS
//! limits apply. The release `clawtalk` binary runs as a child process (or several, on one
//! PostgreSQL), the simulator and the mock model in this process.
//!
//! Reports answered exactly once (lost, duplicated), time to first visible text and to a
//! complete answer, peak RSS and CPU of the gateway(s), the bench's own CPU (simulator and
//! mock: they share the cores), DingTalk API calls (total, per answer, refused for QPS), the
//! store's size, and in card mode the first-text times the card quota allows at best
//! (`bound.rs`). Exits non-zero when an answer is lost, duplicated or left unfinished.
//!
//! ```text
//! cargo bench -p clawtalk --bench burst                      # 10,000 users, 60 s, cards
//! BURST_MODE=markdown cargo bench -p clawtalk --bench burst
//! BURST_REPLICAS=3 BURST_KILL=1 CLAWTALK_TEST_PG=postgres://… cargo bench -p clawtalk --bench burst
//! ```
//!
//! Knobs: `BURST_USERS`, `BURST_SECONDS`, `BURST_TTFT_MS`, `BURST_TOKENS_PER_S`,
//! `BURST_TOKENS`, `BURST_MODE` (card | markdown), `BURST_REPLICAS`, `BURST_KILL` (1: SIGKILL
//! one replica halfway), `BURST_MAX_TURNS`, `BURST_QPS` (the simulator's calls a second per
//! app and API), `BURST_CHANNEL_EXTRA` (more DingTalk channel keys), `BURST_GRACE_SECONDS`,
//! `BURST_EXPLAIN` (how many users with duplicates or answers missing tokens to describe; 3).

#[path = "../support/mod.rs"]
mod support;

#[path = "../../../clawtalk-store/tests/support/pg.rs"]
#[allow(dead_code)]
mod pg;

mod answers;
mod bound;
mod params;
mod report;
mod store_trail;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dingtalk_sim::{AppSpec, CardStatus, InjectMessage, SimConfig, Simulator, UserSpec};
use llm_mock::MockModel;
use params::{Mode, Params};
use support::{APP, Gateway, RssSampler, SECRET, config_text_full, cpu_time, staff};

/// After the last answer, how long to watch for a duplicate.
const SETTLE: Duration = Duration::from_secs(5);
/// How long a killed replica's turns stay leased before another takes them.
const LEASE_SECONDS: u64 = 10;

fn main() {
    let params = Params::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let failures = runtime.block_on(run(&params));
    if !failures.is_empty() {
        for failure in &failures {
            eprintln!("FAILED: {failure}");
        }
        std::process::exit(1);
    }
}

/// One gateway process and what it is measured by.
struct Replica {
    gateway: Gateway,
    state: PathBuf,
    sampler: Option<RssSampler>,
    cpu_before: Duration,
}

async fn run(params: &Params) -> Vec<String> {
    eprintln!("burst: {}", params.describe());
    let sim = Simulator::start_with(SimConfig {
        default_qps_limit: params.qps,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    sim.create_app(AppSpec::new(APP, SECRET)).expect("app");
    for i in 0..params.users {
        sim.create_user(UserSpec::new(staff(i), format!("User {i}")))
            .expect("user");
    }
    let model = MockModel::builder()
        .synthetic(params.model)
        .record(false)
        .start()
        .await
        .expect("mock model");
    let dir = tempfile::tempdir().expect("temp dir");
    let schema = if params.replicas > 1 {
        match pg::TestSchema::create("burst").await {
            Some(schema) => Some(schema),
            None => {
                return vec![format!(
                    "{} replicas need PostgreSQL: set {}",
                    params.replicas,
                    pg::ENV
                )];
            }
        }
    } else {
        None
    };
    let store = schema
        .as_ref()
        .map(|s| format!("store: {{ url: {} }},", serde_json::json!(s.url())))
        .unwrap_or_default();
    let channel_extra = match params.mode {
        Mode::Card => format!(
            r#"messageType: "card", streaming: true, {}"#,
            params.channel_extra
        ),
        Mode::Markdown => format!(r#"messageType: "markdown", {}"#, params.channel_extra),
    };
    // Port 0: replicas on one host each get a free port for their listener. A short lease
    // only where a replica may die and another must take its turns over; one gateway runs
    // with the default lease, renewing each running turn's as rarely as users' gateways do.
    let lease = if params.replicas > 1 {
        format!("turnLeaseSeconds: {LEASE_SECONDS},")
    } else {
        String::new()
    };
    let gateway_extra = format!("maxConcurrentTurns: {}, {lease} port: 0,", params.max_turns);
    let mut replicas = Vec::with_capacity(params.replicas);
    for r in 0..params.replicas {
        let state = dir.path().join(format!("replica-{r}"));
        std::fs::create_dir_all(&state).expect("state dir");
        let config = state.join("clawtalk.json");
        let text = config_text_full(&sim, &model, &state, &gateway_extra, &channel_extra, &store);
        std::fs::write(&config, text).expect("config");
        let gateway = Gateway::spawn(&config, &state);
        // One at a time: the first migrates the store, the others find it done.
        sim.wait_for_connections(APP, r + 1, Duration::from_secs(60))
            .await
            .expect("the gateway connects");
        replicas.push(Replica {
            sampler: None,
            cpu_before: cpu_time(gateway.pid()),
            gateway,
            state,
        });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for replica in &mut replicas {
        replica.sampler = Some(RssSampler::start(replica.gateway.pid()));
        replica.cpu_before = cpu_time(replica.gateway.pid());
    }
    let own_cpu_before = cpu_time(std::process::id());

    let started = Instant::now();
    let sim_start_ms = sim.now_ms();
    let mut arrivals_ms = Vec::with_capacity(params.users);
    let mut killed = None;
    for i in 0..params.users {
        let due = started + params.arrival(i);
        tokio::time::sleep_until(due.into()).await;
        if params.kill_one && killed.is_none() && i >= params.users / 2 {
            replicas[0].gateway.kill();
            killed = Some(0);
            eprintln!(
                "burst: replica 0 killed after {i} arrivals, at epoch {} ms",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis())
            );
        }
        arrivals_ms.push(sim.now_ms());
        sim.inject_message(&InjectMessage::dm_text(APP, staff(i), Params::question(i)))
            .expect("inject");
    }
    let arrivals_done = started.elapsed();

    let bounds = bound::first_text_bounds(
        &arrivals_ms
            .iter()
            .map(|ms| Duration::from_millis(ms - sim_start_ms))
            .collect::<Vec<_>>(),
        params.model.first_token,
        params.qps,
    );
    let worst_bound = bounds.iter().max().copied().unwrap_or_default();
    let deadline = started
        + params.spread
        + params.model.answer_time()
        + if params.mode == Mode::Card {
            worst_bound * 2
        } else {
            Duration::ZERO
        }
        + Duration::from_secs(grace_seconds() + LEASE_SECONDS);
    wait_for_answers(&sim, params, deadline).await;
    let finished_at = started.elapsed();
    tokio::time::sleep(SETTLE).await;

    let own_cpu = cpu_time(std::process::id()) - own_cpu_before;
    let mut figures = Vec::with_capacity(replicas.len());
    for (r, replica) in replicas.iter_mut().enumerate() {
        let alive = killed != Some(r);
        let peak_kb = replica.sampler.take().map_or(0, RssSampler::stop);
        let cpu = if alive {
            cpu_time(replica.gateway.pid()) - replica.cpu_before
        } else {
            Duration::ZERO
        };
        figures.push(report::ReplicaFigures {
            peak_kb,
            cpu,
            alive,
            store_bytes: if schema.is_none() {
                dir_size(&replica.state)
            } else {
                0
            },
        });
    }
    let store_bytes = match &schema {
        Some(schema) => schema_size(schema).await,
        None => figures.iter().map(|f| f.store_bytes).sum(),
    };
    let sent = sim.sent_messages();
    let cards = sim.cards();
    let seen = answers::seen_by_user(params.users, params.model.tokens, &sent, &cards);
    // `BURST_EXPLAIN=n`: how many users with duplicates or answers missing tokens to describe.
    let explain = std::env::var("BURST_EXPLAIN")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let explained = answers::explain_users_amiss(&seen, &sent, &cards, explain);
    if let Some(schema) = &schema {
        store_trail::explain(schema, &explained).await;
    }
    answers::explain_orphan_rests(&sent);
    let report = report::Report {
        params,
        arrivals_ms: &arrivals_ms,
        seen: &seen,
        bounds: &bounds,
        replicas: &figures,
        own_cpu,
        arrivals_done,
        finished_at,
        api_calls: sim.api_calls(),
        qps_rejections: sim.qps_rejection_counts(),
        store_bytes,
    };
    report.print();
    drop(replicas);
    report.failures()
}

/// How long past the expected end the run waits for the last answers (`BURST_GRACE_SECONDS`,
/// default 120): a debug build on a loaded machine needs more.
fn grace_seconds() -> u64 {
    std::env::var("BURST_GRACE_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120)
}

/// Until every user has a whole answer and no card is open (counted cheaply), or the
/// deadline.
async fn wait_for_answers(sim: &Simulator, params: &Params, deadline: Instant) {
    loop {
        let cards = sim.card_status_counts();
        let total_cards: usize = cards.iter().map(|(_, n)| n).sum();
        let closed: usize = cards
            .iter()
            .filter(|(s, _)| matches!(s, CardStatus::Finished | CardStatus::Failed))
            .map(|(_, n)| n)
            .sum();
        // Card deliveries are in the sent log too; the rest are markdown answers and queue
        // notes, told apart (an expensive look) only when the count says it may be done.
        // Cards closed early (a taken-over turn's card that could not be adopted) count too:
        // once the counts say done, no card may be open and every user must have an answer
        // (read in full only then), else the run ends while answers still stream or queue.
        let mut messages = sim.sent_count().saturating_sub(total_cards);
        if closed + messages >= params.users && closed == total_cards {
            let (sent, cards) = (sim.sent_messages(), sim.cards());
            let notes = sent.iter().filter(|m| answers::is_queue_note(&m.text)).count();
            messages = messages.saturating_sub(notes);
            let seen = answers::seen_by_user(params.users, params.model.tokens, &sent, &cards);
            // Whole answers: an opening alone counts as an answer, and a run read while its
            // rest is on its way would report that answer cut.
            if closed + messages >= params.users && seen.iter().all(|s| s.answers > 0 && s.whole) {
                return;
            }
        }
        if Instant::now() >= deadline {
            eprintln!(
                "burst: deadline reached with {closed} cards closed, {} open, {messages} messages",
                total_cards - closed
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains(".db"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

async fn schema_size(schema: &pg::TestSchema) -> u64 {
    let pool = schema.pool().await;
    let bytes: Option<i64> = sqlx::query_scalar(
        "SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind = 'r'",
    )
    .fetch_one(&pool)
    .await
    .unwrap_or(None);
    u64::try_from(bytes.unwrap_or(0)).unwrap_or(0)
}
