//! What one burst run is: read from `BURST_*` environment variables, with the issue's
//! defaults (10,000 users over 60 s, 1.5 s to the first token, 40 tokens/s, 400 tokens).

use std::time::Duration;

use llm_mock::Synthetic;

/// How answers are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `messageType: "card"`: AI cards streamed within the card APIs' QPS.
    Card,
    /// `messageType: "markdown"`: one markdown message per answer.
    Markdown,
}

#[derive(Debug, Clone)]
pub struct Params {
    pub users: usize,
    /// The users' messages arrive evenly over this long.
    pub spread: Duration,
    pub model: Synthetic,
    pub mode: Mode,
    /// Gateway processes sharing one PostgreSQL store (1 = one process on SQLite).
    pub replicas: usize,
    /// SIGKILL the first replica halfway through the arrivals.
    pub kill_one: bool,
    /// `gateway.maxConcurrentTurns` of each replica.
    pub max_turns: usize,
    /// The simulator's per-app, per-API calls a second (DingTalk's standard edition: 20).
    pub qps: u32,
    /// Extra keys for the DingTalk channel, e.g. an overflow setting being tried.
    pub channel_extra: String,
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("{name}={v:?} is not a valid value; using the default");
            default
        }),
        Err(_) => default,
    }
}

impl Params {
    pub fn from_env() -> Self {
        let mode = match std::env::var("BURST_MODE").as_deref() {
            Ok("markdown") => Mode::Markdown,
            Ok("card") | Err(_) => Mode::Card,
            Ok(other) => {
                eprintln!("BURST_MODE={other:?}: expected card or markdown; using card");
                Mode::Card
            }
        };
        let replicas = env("BURST_REPLICAS", 1usize).max(1);
        Self {
            users: env("BURST_USERS", 10_000usize).max(1),
            spread: Duration::from_secs_f64(env("BURST_SECONDS", 60.0f64).max(0.0)),
            model: Synthetic {
                first_token: Duration::from_millis(env("BURST_TTFT_MS", 1_500u64)),
                tokens_per_second: env("BURST_TOKENS_PER_S", 40.0f64),
                tokens: env("BURST_TOKENS", 400usize),
            },
            mode,
            replicas,
            kill_one: replicas > 1 && env("BURST_KILL", 0u8) == 1,
            max_turns: env("BURST_MAX_TURNS", 10_000usize),
            qps: env("BURST_QPS", 20u32).max(1),
            channel_extra: std::env::var("BURST_CHANNEL_EXTRA").unwrap_or_default(),
        }
    }

    /// When user `i`'s message is sent, from the start of the burst.
    pub fn arrival(&self, i: usize) -> Duration {
        if self.users <= 1 {
            return Duration::ZERO;
        }
        self.spread.mul_f64(i as f64 / (self.users - 1) as f64)
    }

    /// The question user `i` asks; the synthetic model quotes it first in its answer.
    pub fn question(i: usize) -> String {
        format!("burst u{i}?")
    }

    pub fn describe(&self) -> String {
        format!(
            "{} users over {:.0} s, model: first token {:.1} s, {} tokens/s, {} tokens; {} mode; {} replica(s){}; \
             maxConcurrentTurns {}; DingTalk QPS {} per API",
            self.users,
            self.spread.as_secs_f64(),
            self.model.first_token.as_secs_f64(),
            self.model.tokens_per_second,
            self.model.tokens,
            match self.mode {
                Mode::Card => "AI card",
                Mode::Markdown => "markdown",
            },
            self.replicas,
            if self.kill_one { ", one killed halfway" } else { "" },
            self.max_turns,
            self.qps,
        )
    }
}
