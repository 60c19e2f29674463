//! AI card streaming against the simulator, with the gateway in process: exact content,
//! shared QPS budget, long answers, `QpsLimit` storms, the call budget, and fallbacks.

mod support;

use std::sync::Arc;
use std::time::Duration;

use clawtalk_gateway::Gateway;
use clawtalk_store::{SqliteStore, Store};
use dingtalk_sim::{
    AppSpec, Card, CardStatus, InjectMessage, SCOPE_ROBOT_SEND, SentMessage, SimConfig, Simulator, UserSpec,
};
use llm_mock::{MockModel, Script};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::in_process;

const APP: &str = "dingcardbot000000001";
const SECRET: &str = "card-secret-not-real";
const CARD_PATHS: [&str; 3] = [
    "/v1.0/card/instances/createAndDeliver",
    "/v1.0/card/streaming",
    "/v1.0/card/instances",
];

struct World {
    sim: Simulator,
    model: MockModel,
    gateway: Option<Gateway>,
    config_text: String,
    _dir: tempfile::TempDir,
}

async fn open_store(db: Option<&std::path::Path>) -> Arc<dyn Store> {
    match db {
        Some(path) => Arc::new(SqliteStore::open(path).await.unwrap()),
        None => Arc::new(SqliteStore::in_memory().await.unwrap()),
    }
}

fn staff(i: usize) -> String {
    format!("03{i:014}")
}

impl World {
    async fn start(users: usize, card_keys: &str, app: AppSpec) -> Self {
        Self::start_on(users, card_keys, app, None).await
    }

    /// With `db`, the store is that SQLite file (to restart on it); else in memory.
    async fn start_on(users: usize, card_keys: &str, app: AppSpec, db: Option<&std::path::Path>) -> Self {
        Self::start_with_agent(users, card_keys, app, db, "").await
    }

    /// `agent_keys` are added to the agent's object (e.g. its `limits`).
    async fn start_with_agent(
        users: usize,
        card_keys: &str,
        app: AppSpec,
        db: Option<&std::path::Path>,
        agent_keys: &str,
    ) -> Self {
        let sim = Simulator::start_with(SimConfig::default()).await.unwrap();
        sim.create_app(app).unwrap();
        for i in 0..users {
            sim.create_user(UserSpec::new(staff(i), format!("User {i}")))
                .unwrap();
        }
        let model = MockModel::builder().record(false).start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let text = in_process::config_text(
            &sim,
            &model,
            (APP, SECRET),
            dir.path(),
            &format!(r#"messageType: "card", {card_keys}"#),
        )
        .replace(
            r#"model: "mock/m" }"#,
            &format!(r#"model: "mock/m", {agent_keys} }}"#),
        );
        let config = in_process::config(&text);
        let store = open_store(db).await;
        let gateway = Gateway::start(config, store, "cards-test").await.unwrap();
        sim.wait_for_connections(APP, 1, Duration::from_secs(10))
            .await
            .unwrap();
        Self {
            sim,
            model,
            gateway: Some(gateway),
            config_text: text,
            _dir: dir,
        }
    }

    /// Kills the gateway abruptly (tasks aborted mid-turn), then starts another on `db`.
    async fn crash_and_restart(&mut self, db: &std::path::Path) {
        if let Some(gateway) = self.gateway.take() {
            gateway.shutdown(Duration::ZERO).await;
        }
        let store = open_store(Some(db)).await;
        let gateway = Gateway::start(in_process::config(&self.config_text), store, "cards-test")
            .await
            .unwrap();
        self.gateway = Some(gateway);
    }

    fn ask(&self, user: usize, text: &str) {
        self.sim
            .inject_message(&InjectMessage::dm_text(APP, staff(user), text))
            .unwrap();
    }

    /// Cards of one user's DM, oldest first.
    fn cards_of(&self, user: usize) -> Vec<Card> {
        let space = staff(user);
        let mut cards: Vec<Card> = self
            .sim
            .cards()
            .into_iter()
            .filter(|c| c.spaces.iter().any(|s| s.space_id == space))
            .collect();
        cards.sort_by_key(|c| (c.created_at_ms, c.stream_history.first().map(|u| u.at_ms)));
        cards
    }

    fn content(card: &Card) -> String {
        card.card_data.get("content").cloned().unwrap_or_default()
    }

    /// Waits until `user` has cards that are all closed (finalized, and their state set to
    /// finished or failed), and returns them.
    async fn finished_cards(&self, user: usize) -> Vec<Card> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let cards = self.cards_of(user);
            let done = !cards.is_empty() && cards.iter().all(closed);
            if done {
                return cards;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "user {user}'s cards never finished: {:?}",
                cards
                    .iter()
                    .map(|c| (&c.status, Self::content(c).len()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The markdown messages sent to the chat where one of them holds `marker` (none while
    /// no message does), oldest first.
    fn markdown_of_chat_with(&self, marker: &str) -> Vec<SentMessage> {
        let messages: Vec<SentMessage> = self
            .sim
            .sent_messages()
            .into_iter()
            .filter(|m| m.msg_type == "markdown")
            .collect();
        let Some(conversation) = messages
            .iter()
            .find(|m| m.text.contains(marker))
            .and_then(|m| m.conversation_id.clone())
        else {
            return Vec::new();
        };
        messages
            .into_iter()
            .filter(|m| m.conversation_id.as_ref() == Some(&conversation))
            .collect()
    }

    fn card_calls(&self) -> u64 {
        CARD_PATHS.iter().map(|p| self.sim.api_call_count(APP, p)).sum()
    }

    fn qps_rejections(&self) -> u64 {
        CARD_PATHS.iter().map(|p| self.sim.qps_rejections(APP, p)).sum()
    }

    fn assert_no_violations(&self) {
        let violations = self.sim.violations();
        assert!(violations.is_empty(), "{violations:#?}");
    }

    async fn stop(mut self) {
        if let Some(gateway) = self.gateway.take() {
            gateway.shutdown(Duration::from_secs(5)).await;
        }
    }
}

/// The last `flowStatus` a card was given (what its template shows).
fn last_flow_status(card: &Card) -> Option<&str> {
    card.flow_status.last().map(String::as_str)
}

/// Finalized, and shown as finished (3) or failed (5): the template stops "typing".
fn closed(card: &Card) -> bool {
    matches!(card.status, CardStatus::Finished | CardStatus::Failed)
        && matches!(last_flow_status(card), Some("3" | "5"))
}

/// Splits `text` into `n`-ish chunks on char boundaries, as a model streams tokens.
fn tokens(text: &str, per_chunk: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(per_chunk.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

fn random_answer(rng: &mut StdRng) -> String {
    const PIECES: &[&str] = &[
        "你好",
        "钉钉",
        "部署",
        " the ",
        "answer",
        "\n",
        "\n\n",
        "## 标题\n",
        "- item\n",
        "```rust\nfn main() {}\n```\n",
        "**粗体**",
        "`code`",
        "😀",
        "| a | b |\n|---|---|\n| 1 | 2 |\n",
        "1. 第一\n",
        "> quote\n",
        " ",
        "é",
        "\t",
    ];
    let len = rng.random_range(1..120);
    (0..len)
        .map(|_| PIECES[rng.random_range(0..PIECES.len())])
        .collect()
}

/// Card streaming that always waits for the card quota: these tests check what the cards
/// show, so no answer may overflow to markdown (`cardOverflow`'s default) in a burst.
fn streaming(interval_ms: u64, tokens: u32) -> String {
    format!(
        "streaming: true, cardOverflow: \"wait\", cardStreamInterval: {interval_ms}, \
         cardUpdateTokens: {tokens},"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_cards_equal_the_answer_byte_for_byte_over_100_random_answers() {
    let world = World::start(100, &streaming(200, 5), AppSpec::new(APP, SECRET)).await;
    let mut rng = StdRng::seed_from_u64(0x0ca7d);
    let answers: Vec<String> = (0..100).map(|_| random_answer(&mut rng)).collect();
    for (i, answer) in answers.iter().enumerate() {
        let per_chunk = rng.random_range(1..6);
        world.model.push(
            Script::chunks(tokens(answer, per_chunk))
                .delay(Duration::from_millis(5), Duration::from_millis(2))
                .when_last_user_contains(format!("question {i}?")),
        );
    }
    for i in 0..100 {
        world.ask(i, &format!("question {i}?"));
    }
    for (i, answer) in answers.iter().enumerate() {
        let cards = world.finished_cards(i).await;
        assert_eq!(cards.len(), 1, "answer {i} fits one card");
        assert_eq!(cards[0].status, CardStatus::Finished);
        assert_eq!(World::content(&cards[0]), *answer, "answer {i}");
    }
    assert_eq!(
        world.qps_rejections(),
        0,
        "the shared budget kept every call under the limit"
    );
    world.assert_no_violations();
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_streams_never_exceed_the_qps_limit_and_all_finish() {
    // Each card alone would update ten times a second: 200 wanted calls/s against 20/s.
    let world = World::start(20, &streaming(200, 1), AppSpec::new(APP, SECRET)).await;
    let answers: Vec<String> = (0..20)
        .map(|i| format!("回答 {i}: ") + &"流式输出的内容 streaming words. ".repeat(40))
        .collect();
    for (i, answer) in answers.iter().enumerate() {
        world.model.push(
            Script::chunks(tokens(answer, 3))
                .delay(Duration::from_millis(10), Duration::from_millis(5))
                .when_last_user_contains(format!("q{i}!")),
        );
    }
    for i in 0..20 {
        world.ask(i, &format!("q{i}!"));
    }
    for (i, answer) in answers.iter().enumerate() {
        let cards = world.finished_cards(i).await;
        let joined: String = cards.iter().map(World::content).collect();
        assert_eq!(joined, *answer);
        assert!(
            cards[0].stream_history.len() >= 2,
            "card {i} streamed ({} updates)",
            cards[0].stream_history.len()
        );
    }
    assert_eq!(world.qps_rejections(), 0);
    world.assert_no_violations();
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_thousand_character_answer_arrives_whole_across_cards() {
    let world = World::start(1, &streaming(200, 50), AppSpec::new(APP, SECRET)).await;
    let answer: String = (0..10_000)
        .map(|i| match i % 97 {
            0 => '\n',
            n if n % 3 == 0 => '钉',
            n if n % 7 == 0 => ' ',
            _ => 'x',
        })
        .collect();
    assert_eq!(answer.chars().count(), 10_000);
    world
        .model
        .push(Script::chunks(tokens(&answer, 20)).delay(Duration::ZERO, Duration::from_millis(1)));
    world.ask(0, "long please");
    // The content pieces join back to the answer; the count settles once the last card closes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let cards = loop {
        let cards = world.finished_cards(0).await;
        let joined: String = cards.iter().map(World::content).collect();
        if joined == answer {
            break cards;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never whole: {} of {} bytes",
            joined.len(),
            answer.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(cards.len() >= 2, "continued in a second card");
    for card in &cards {
        assert_eq!(card.status, CardStatus::Finished);
        assert!(!World::content(card).trim().is_empty(), "no blank card");
        assert!(World::content(card).len() <= 8_000);
    }
    world.assert_no_violations();
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_past_the_parts_cap_fills_that_many_cards_and_says_it_was_cut() {
    let keys = format!("{} cardMaxBytes: 1000,", streaming(200, 200));
    let agent = "limits: { partsPerAnswer: 3 }";
    let world = World::start_with_agent(1, &keys, AppSpec::new(APP, SECRET), None, agent).await;
    let answer = "card text ".repeat(2_000);
    world
        .model
        .push(Script::chunks(tokens(&answer, 500)).delay(Duration::ZERO, Duration::from_millis(1)));
    world.ask(0, "very long please");
    // The final update creates the cards streaming never reached one after another: wait for
    // the card that carries the note, then check that no card followed it.
    let note = clawtalk_delivery::chunk::TRUNCATED_NOTE;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !world
        .finished_cards(0)
        .await
        .iter()
        .any(|c| World::content(c).ends_with(note))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no card ends with the note"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cards = world.finished_cards(0).await;
    assert_eq!(cards.len(), 3, "the parts cap holds for cards too");
    let last = World::content(&cards[2]);
    assert!(last.ends_with(note), "{last}");
    let joined: String = cards.iter().map(World::content).collect();
    let kept = joined.strip_suffix(note).unwrap();
    assert!(
        answer.starts_with(kept.trim_end()),
        "the cards keep the answer's beginning"
    );
    for card in &cards {
        assert_eq!(card.status, CardStatus::Finished);
        assert!(World::content(card).len() <= 1_000);
    }
    world.assert_no_violations();
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qps_limit_storm_loses_no_text() {
    let world = World::start(5, &streaming(200, 2), AppSpec::new(APP, SECRET)).await;
    // DingTalk allows only 2 streaming calls a second now: most updates answer 403 QpsLimit.
    world.sim.set_qps_limit(APP, "/v1.0/card/streaming", 2);
    let answers: Vec<String> = (0..5)
        .map(|i| format!("storm {i} ") + &"风暴中的文字 ".repeat(60))
        .collect();
    for (i, answer) in answers.iter().enumerate() {
        world.model.push(
            Script::chunks(tokens(answer, 2))
                .delay(Duration::ZERO, Duration::from_millis(3))
                .when_last_user_contains(format!("storm{i}?")),
        );
    }
    for i in 0..5 {
        world.ask(i, &format!("storm{i}?"));
    }
    for (i, answer) in answers.iter().enumerate() {
        let cards = world.finished_cards(i).await;
        assert_eq!(cards.len(), 1);
        assert_eq!(cards[0].status, CardStatus::Finished);
        assert_eq!(World::content(&cards[0]), *answer);
    }
    assert!(world.qps_rejections() > 0, "the storm happened");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_thousand_token_answer_costs_at_most_twelve_card_calls_by_default() {
    let world = World::start(1, "streaming: true,", AppSpec::new(APP, SECRET)).await;
    // Tokens of four bytes, as English averages: 8,000 bytes, right at one card's size.
    let answer: Vec<String> = (0..2_000).map(|i| format!("t{} ", i % 10)).collect();
    world
        .model
        .push(Script::chunks(answer.clone()).delay(Duration::ZERO, Duration::from_millis(2)));
    world.ask(0, "two thousand tokens please");
    let cards = world.finished_cards(0).await;
    let joined: String = cards.iter().map(World::content).collect();
    assert_eq!(joined, answer.concat());
    let calls = world.card_calls();
    assert!(calls <= 12, "{calls} card API calls");
    assert!(cards[0].stream_history.len() >= 3, "it still streamed");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_card_permissions_fall_back_to_markdown() {
    let app = AppSpec::new(APP, SECRET).permissions([SCOPE_ROBOT_SEND]);
    let world = World::start(1, "streaming: true,", app).await;
    world.model.push(Script::text("plain answer"));
    world.ask(0, "hello");
    let sent = world.sim.wait_for_sent(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(sent[0].msg_type, "markdown");
    assert_eq!(sent[0].text, "plain answer");
    assert!(world.sim.cards().is_empty());
    // Degraded: the next answer does not even try a card.
    let calls = world.card_calls();
    world.model.push(Script::text("second"));
    world.ask(0, "again");
    world.sim.wait_for_sent(2, Duration::from_secs(20)).await.unwrap();
    assert_eq!(world.card_calls(), calls);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_card_mode_sends_one_finished_card() {
    let world = World::start(1, "", AppSpec::new(APP, SECRET)).await;
    world.model.push(Script::text("# 结果\n完成 done"));
    world.ask(0, "hi");
    let cards = world.finished_cards(0).await;
    assert_eq!(World::content(&cards[0]), "# 结果\n完成 done");
    assert_eq!(cards[0].status, CardStatus::Finished);
    assert_eq!(cards[0].flow_status, ["2", "3"], "typing, then finished");
    assert_eq!(world.card_calls(), 3, "create + final content + finished state");
    world.stop().await;
}

/// A gateway on the SQLite file `db` whose first card shows the start of a long answer (to
/// be cut off by a crash); the model's next answer is "完整的回答 the whole answer".
async fn streaming_a_long_answer(db: &std::path::Path) -> World {
    let world = World::start_on(1, &streaming(200, 1), AppSpec::new(APP, SECRET), Some(db)).await;
    let slow: Vec<String> = (0..400).map(|i| format!("慢{i} ")).collect();
    world
        .model
        .push(Script::chunks(slow).delay(Duration::ZERO, Duration::from_millis(20)));
    world.model.push(Script::text("完整的回答 the whole answer"));
    world.ask(0, "crash me");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !world
        .cards_of(0)
        .first()
        .is_some_and(|c| World::content(c).starts_with("慢0"))
    {
        assert!(tokio::time::Instant::now() < deadline, "the card never streamed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    world
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_left_streaming_by_a_crash_is_taken_over_after_restart_and_finished_once() {
    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("state.db");
    let mut world = streaming_a_long_answer(&db).await;
    world.crash_and_restart(&db).await;
    let cards = world.finished_cards(0).await;
    assert_eq!(
        cards.len(),
        1,
        "the restarted turn answered in the card it had opened"
    );
    let card = &cards[0];
    assert_eq!(card.status, CardStatus::Finished);
    assert_eq!(World::content(card), "完整的回答 the whole answer");
    assert_eq!(last_flow_status(card), Some("3"), "shown finished");
    assert!(
        card.stream_history
            .iter()
            .all(|u| !u.content.contains("Interrupted")),
        "a card taken over is not closed as interrupted"
    );
    // Nothing else arrives later: no second card, no closing of the adopted one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(world.cards_of(0).len(), 1);
    assert_eq!(world.cards_of(0)[0].flow_status, card.flow_status);
    world.assert_no_violations();
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_that_refuses_the_takeover_is_closed_as_interrupted_and_the_answer_follows() {
    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("state.db");
    let mut world = streaming_a_long_answer(&db).await;
    // The restarted turn's first card call is the update that would adopt the card.
    world.sim.fail_next_api(CARD_PATHS[1], 1, 400, None);
    world.crash_and_restart(&db).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let cards = loop {
        let cards = world.cards_of(0);
        let all_closed = cards.len() == 2 && cards.iter().all(closed);
        if all_closed {
            break cards;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cards: {:?}",
            cards
                .iter()
                .map(|c| (&c.status, World::content(c)))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let interrupted = cards
        .iter()
        .find(|c| c.status == CardStatus::Failed)
        .expect("the old card failed");
    assert!(
        World::content(interrupted).starts_with("慢0"),
        "kept what users saw"
    );
    assert!(World::content(interrupted).contains("Interrupted"));
    assert_eq!(last_flow_status(interrupted), Some("5"), "shown failed");
    let answer = cards
        .iter()
        .find(|c| c.status == CardStatus::Finished)
        .expect("a new card");
    assert_eq!(World::content(answer), "完整的回答 the whole answer");
    assert_eq!(last_flow_status(answer), Some("3"), "shown finished");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_and_tool_use_show_as_a_status_line_and_leave_the_final_content_exact() {
    let world = World::start(1, &streaming(200, 1), AppSpec::new(APP, SECRET)).await;
    world.model.push(
        Script::reasoning_then_text("let me check the clock", "")
            .and_tool_call("get_time", "{}")
            .delay(Duration::from_millis(300), Duration::from_millis(300))
            .when_last_user_contains("what time"),
    );
    world.model.push(
        Script::text("现在是下午 it is afternoon")
            .delay(Duration::from_millis(300), Duration::ZERO)
            .when_last_user_contains("what time"),
    );
    world.ask(0, "what time is it?");
    let cards = world.finished_cards(0).await;
    assert_eq!(World::content(&cards[0]), "现在是下午 it is afternoon");
    let shown: Vec<&str> = cards[0]
        .stream_history
        .iter()
        .map(|u| u.content.as_str())
        .collect();
    assert!(
        shown.iter().any(|c| c.contains("Thinking")),
        "reasoning shows a status line: {shown:?}"
    );
    assert!(
        shown.iter().any(|c| c.contains("`get_time`")),
        "tool use shows a status line: {shown:?}"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_button_press_comes_back_to_its_session_and_is_answered_once() {
    let world = World::start(1, &streaming(200, 20), AppSpec::new(APP, SECRET)).await;
    world
        .model
        .push(Script::text("Here is the plan: ship on Friday."));
    world
        .model
        .push(Script::text("Thanks for the thumbs up!").when_last_user_contains("feedback_up"));
    world.ask(0, "make a plan");
    let first = world.finished_cards(0).await;
    assert_eq!(first.len(), 1, "one answer card");

    let press = dingtalk_sim::InjectCardCallback::new(
        first[0].out_track_id.clone(),
        staff(0),
        "feedback_up",
        serde_json::json!({ "value": "up" }),
    );
    world.sim.inject_card_callback(&press).unwrap();
    // DingTalk redelivers a callback with the same payload: it must not be answered twice.
    world.sim.inject_card_callback(&press).unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let cards = loop {
        let cards = world.finished_cards(0).await;
        if cards.len() >= 2 {
            break cards;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the press was never answered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        World::content(&cards[1]),
        "Thanks for the thumbs up!",
        "the press reached the model as the session's next turn"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(world.cards_of(0).len(), 2, "the repeated press is answered once");
    assert_eq!(world.model.pending_scripts(), 0);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_card_ends_finished_or_failed_in_flow_status() {
    let world = World::start(3, &streaming(200, 1), AppSpec::new(APP, SECRET)).await;
    world
        .model
        .push(Script::text("a good answer").when_last_user_contains("[ok]"));
    world.model.push(
        Script::error(
            400,
            r#"{"error":{"message":"invalid request","type":"invalid_request_error"}}"#,
        )
        .when_last_user_contains("[bad]"),
    );
    let slow: Vec<String> = (0..400).map(|i| format!("慢{i} ")).collect();
    world.model.push(
        Script::chunks(slow)
            .delay(Duration::ZERO, Duration::from_millis(20))
            .when_last_user_contains("[slow]"),
    );
    world.ask(0, "answer me [ok]");
    world.ask(1, "fail me [bad]");
    world.ask(2, "stop me [slow]");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !world
        .cards_of(2)
        .first()
        .is_some_and(|c| World::content(c).starts_with("慢0"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow card never streamed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    world.ask(2, "/stop");

    let answered = world.finished_cards(0).await;
    let failed = world.finished_cards(1).await;
    let stopped = world.finished_cards(2).await;
    assert_eq!(World::content(&answered[0]), "a good answer");
    assert!(
        answered.iter().all(|c| last_flow_status(c) == Some("3")),
        "an answered card ends finished: {:?}",
        answered.iter().map(|c| &c.flow_status).collect::<Vec<_>>()
    );
    for (what, cards) in [("failed", &failed), ("stopped", &stopped)] {
        assert!(
            cards.iter().all(|c| last_flow_status(c) == Some("5")),
            "a {what} turn's card ends failed: {:?}",
            cards
                .iter()
                .map(|c| (&c.flow_status, World::content(c)))
                .collect::<Vec<_>>()
        );
    }
    // No card the gateway created is left in any other state.
    for card in world.sim.cards() {
        assert!(
            matches!(last_flow_status(&card), Some("3" | "5")),
            "card {} ends in flowStatus {:?}",
            card.out_track_id,
            card.flow_status
        );
    }
    world.assert_no_violations();
    world.stop().await;
}

/// Beyond the card quota the default overflow (`cardOverflow: "markdown"`) answers in
/// markdown: every user gets the answer exactly once, as a finished card or as a message,
/// and no card is left open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_beyond_the_card_quota_overflows_to_markdown_once_per_user() {
    const USERS: usize = 60;
    let world = World::start(
        USERS,
        "streaming: true, cardQps: 4, cardOverflowAfterMs: 500,",
        AppSpec::new(APP, SECRET),
    )
    .await;
    let marker = |i: usize| format!("[overflow-{i}]");
    for i in 0..USERS {
        world.model.push(
            Script::text(format!("answer {} for user {i}", marker(i)))
                .when_last_user_contains(format!("question {i}?")),
        );
    }
    for i in 0..USERS {
        world.ask(i, &format!("question {i}?"));
    }
    // (cards finished with the answer, markdown messages with it, cards still open)
    let count = |i: usize| {
        let cards = world.cards_of(i);
        let open = cards
            .iter()
            .filter(|c| !matches!(c.status, CardStatus::Finished | CardStatus::Failed))
            .count();
        let in_cards = cards
            .iter()
            .filter(|c| c.status == CardStatus::Finished && World::content(c).contains(&marker(i)))
            .count();
        let in_messages = world
            .sim
            .sent_messages()
            .iter()
            .filter(|m| m.msg_type == "markdown" && m.text.contains(&marker(i)))
            .count();
        (in_cards, in_messages, open)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let done = (0..USERS).all(|i| {
            let (cards, messages, open) = count(i);
            cards + messages >= 1 && open == 0
        });
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every user was answered with every card closed: {:?}",
            (0..USERS).map(count).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A late duplicate would come within the next moments.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counts: Vec<_> = (0..USERS).map(count).collect();
    for (i, (cards, messages, open)) in counts.iter().enumerate() {
        assert_eq!(
            cards + messages,
            1,
            "user {i} is answered exactly once: {counts:?}"
        );
        assert_eq!(*open, 0, "user {i}'s cards are closed");
    }
    let overflowed: usize = counts.iter().map(|c| c.1).sum();
    assert!(
        overflowed > 0 && overflowed < USERS,
        "some answers go as cards and the rest overflow to markdown: {overflowed} of {USERS} in markdown"
    );
}

/// An answer that overflows the card quota to markdown shows its opening early, as a message
/// of its own, instead of nothing until the model has finished; the answer then carries only
/// the rest: together they are the answer, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_beyond_the_card_quota_shows_its_opening_before_it_is_complete() {
    const USERS: usize = 6;
    const WORDS: usize = 30;
    let world = World::start(
        USERS,
        "streaming: true, cardQps: 1, cardOverflowAfterMs: 200,",
        AppSpec::new(APP, SECRET),
    )
    .await;
    let answer = |i: usize| {
        let words: Vec<String> = (0..WORDS).map(|k| format!(" w{k}")).collect();
        (format!("Answer for user {i} [open-{i}]:"), words)
    };
    for i in 0..USERS {
        let (head, words) = answer(i);
        // Three seconds of streaming: the opening is due one second after the first words.
        world.model.push(
            Script::chunks(std::iter::once(head).chain(words))
                .delay(Duration::ZERO, Duration::from_millis(100))
                .when_last_user_contains(format!("question {i}?")),
        );
    }
    for i in 0..USERS {
        world.ask(i, &format!("question {i}?"));
    }
    let squeeze = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut overflowed = 0;
    for i in 0..USERS {
        let marker = format!("[open-{i}]");
        let (head, words) = answer(i);
        let whole = squeeze(&format!("{head}{}", words.concat()));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let in_card = loop {
            let card = world
                .cards_of(i)
                .into_iter()
                .any(|c| c.status == CardStatus::Finished && squeeze(&World::content(&c)).contains(&whole));
            let mine = world.markdown_of_chat_with(&marker);
            let text = squeeze(&mine.iter().map(|m| m.text.as_str()).collect::<Vec<_>>().join(" "));
            if card {
                assert!(mine.is_empty(), "user {i}: a card and messages: {mine:#?}");
                break true;
            }
            if text == whole {
                assert!(mine.len() >= 2, "user {i}: the opening, then the rest: {mine:#?}");
                let early = mine[mine.len() - 1].at_ms - mine[0].at_ms;
                assert!(
                    early >= 1_000,
                    "user {i}: the opening came {early} ms before the rest"
                );
                assert_eq!(
                    mine.iter().filter(|m| m.text.contains(&marker)).count(),
                    1,
                    "user {i}: the opening is not repeated: {mine:#?}"
                );
                break false;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "user {i} not answered: {text:?} against {whole:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        overflowed += usize::from(!in_card);
    }
    assert!(overflowed > 0, "the burst overflowed the card quota");
}

/// A turn whose opening went out as markdown (beyond the card quota) and whose run then
/// ended (a crash here; a lost lease on a replica) is run again with the card budget free.
/// Its answer goes on as markdown after the opening: a card would tell the user the answer's
/// start a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_whose_opening_went_out_before_a_crash_goes_on_as_markdown_not_in_a_card() {
    const USERS: usize = 4;
    const WORDS: usize = 150;
    let db_dir = tempfile::tempdir().unwrap();
    let db = db_dir.path().join("state.db");
    let mut world = World::start_on(
        USERS,
        "streaming: true, cardQps: 1, cardOverflowAfterMs: 200,",
        AppSpec::new(APP, SECRET),
        Some(&db),
    )
    .await;
    let marker = |i: usize| format!("[reopen-{i}]");
    let script = |i: usize| {
        let words = (0..WORDS).map(|k| format!(" w{k}"));
        // Six seconds of streaming: the opening is due one second after the first words.
        Script::chunks(std::iter::once(format!("Answer for user {i} {}:", marker(i))).chain(words))
            .delay(Duration::ZERO, Duration::from_millis(40))
            .when_last_user_contains(format!("question {i}?"))
    };
    // Each user's answer twice: the run cut off, and the one after the restart.
    for i in 0..USERS {
        world.model.push_all([script(i), script(i)]);
    }
    for i in 0..USERS {
        world.ask(i, &format!("question {i}?"));
    }
    let openings = |world: &World| -> Vec<usize> {
        let messages = world.sim.sent_messages();
        (0..USERS)
            .filter(|i| {
                messages
                    .iter()
                    .any(|m| m.msg_type == "markdown" && m.text.contains(&marker(*i)))
            })
            .collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let opened = loop {
        let opened = openings(&world);
        if !opened.is_empty() {
            break opened;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no answer overflowed to markdown"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Long enough for the opening's send to be recorded, far from the answer's end.
    tokio::time::sleep(Duration::from_millis(300)).await;
    world.crash_and_restart(&db).await;

    let squeeze = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let whole = |i: usize| {
        let words: String = (0..WORDS).map(|k| format!(" w{k}")).collect();
        squeeze(&format!("Answer for user {i} {}:{words}", marker(i)))
    };
    for &i in &opened {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let mine = world.markdown_of_chat_with(&marker(i));
            let text = squeeze(&mine.iter().map(|m| m.text.as_str()).collect::<Vec<_>>().join(" "));
            let in_cards = world
                .cards_of(i)
                .iter()
                .filter(|c| World::content(c).contains(&marker(i)))
                .count();
            assert_eq!(
                in_cards, 0,
                "user {i}: the answer that began as markdown went into a card"
            );
            if text == whole(i) {
                assert_eq!(
                    mine.iter().filter(|m| m.text.contains(&marker(i))).count(),
                    1,
                    "user {i}: the opening is not repeated: {mine:#?}"
                );
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "user {i} not answered: {text:?} against {:?}",
                whole(i)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // A late duplicate would come within the next moments.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for &i in &opened {
        assert!(
            world
                .cards_of(i)
                .iter()
                .all(|c| !World::content(c).contains(&marker(i))),
            "user {i}: no card repeats the answer"
        );
    }
    world.stop().await;
}
