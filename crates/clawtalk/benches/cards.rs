//! AI card streaming figures: card API calls per 1,000 streamed tokens, and the latency from
//! the model's first answer token to that text showing in the card.
//!
//! The gateway runs in process against the simulator and a mock model that streams one token
//! per chunk at a given pace. `cargo bench -p clawtalk --bench cards`.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clawtalk_config::Config;
use clawtalk_gateway::Gateway;
use clawtalk_store::{SqliteStore, Store};
use dingtalk_sim::{AppSpec, CardStatus, InjectMessage, SimConfig, Simulator, UserSpec};
use llm_mock::{MockModel, Script};
use support::{APP, SECRET, config_text_with, staff};

const TOKENS: usize = 2_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "| scenario | answers | tokens | card API calls | calls per 1,000 tokens | first text p50 / p99 / max | wall time |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (conversations, per_token) in [
        (1, Duration::ZERO),
        (1, Duration::from_millis(20)),
        (20, Duration::from_millis(10)),
    ] {
        runtime.block_on(scenario(conversations, per_token));
    }
}

async fn scenario(conversations: usize, per_token: Duration) {
    let sim = Simulator::start_with(SimConfig::default())
        .await
        .expect("simulator");
    sim.create_app(AppSpec::new(APP, SECRET)).expect("app");
    for i in 0..conversations {
        sim.create_user(UserSpec::new(staff(i), format!("User {i}")))
            .expect("user");
    }
    let model = MockModel::builder()
        .record(false)
        .start()
        .await
        .expect("mock model");
    let dir = tempfile::tempdir().expect("temp dir");
    let text = config_text_with(
        &sim,
        &model,
        dir.path(),
        "",
        r#"messageType: "card", streaming: true,"#,
    );
    let env = |name: &str| (name == "HOME").then(|| "/nonexistent".to_owned());
    let config = Arc::new(Config::from_json5(&text, &env).expect("config").config);
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(dir.path().join("state.db"))
            .await
            .expect("store"),
    );
    let gateway = Gateway::start(config, store, "card-bench")
        .await
        .expect("gateway");
    sim.wait_for_connections(APP, 1, Duration::from_secs(10))
        .await
        .expect("connected");

    // Four-byte tokens, as English averages.
    let answer: Vec<String> = (0..TOKENS).map(|i| format!("t{} ", i % 10)).collect();
    for i in 0..conversations {
        model.push(
            Script::chunks(answer.clone())
                .delay(Duration::ZERO, per_token)
                .when_last_user_contains(format!("bench {i}?")),
        );
    }
    let started = Instant::now();
    for i in 0..conversations {
        sim.inject_message(&InjectMessage::dm_text(APP, staff(i), format!("bench {i}?")))
            .expect("inject");
    }
    let expected = answer.concat();
    loop {
        let cards = sim.cards();
        let finished = (0..conversations).all(|i| {
            let mine: Vec<_> = cards
                .iter()
                .filter(|c| c.spaces.iter().any(|s| s.space_id == staff(i)))
                .collect();
            !mine.is_empty()
                && mine.iter().all(|c| c.status == CardStatus::Finished)
                && mine
                    .iter()
                    .map(|c| c.card_data.get("content").map_or(0, String::len))
                    .sum::<usize>()
                    == expected.len()
        });
        if finished {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "cards never finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = started.elapsed();
    let stats = gateway
        .card_stats()
        .into_iter()
        .next()
        .map(|(_, s)| s)
        .unwrap_or_default();
    gateway.shutdown(Duration::from_secs(5)).await;

    let tokens = conversations * TOKENS;
    let mut first = stats.first_text.clone();
    first.sort_unstable();
    let pct = |p: f64| {
        first
            .get(((first.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let pace = if per_token.is_zero() {
        "zero-delay model".to_owned()
    } else {
        format!("{} tokens/s", 1000 / per_token.as_millis().max(1))
    };
    println!(
        "| {conversations} concurrent, {pace} | {conversations} | {tokens} | {} | {:.1} | {:.1} / {:.1} / {:.1} ms | {:.1} s |",
        stats.calls,
        stats.calls as f64 * 1000.0 / tokens as f64,
        pct(0.5),
        pct(0.99),
        first.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        wall.as_secs_f64()
    );
}
