//! Tool calls that need approval, against the simulator with the gateway in process: the
//! mock model calls a tool listed in `tools.approval.require`, the requester gets an approval
//! card, and the press (a card callback over Stream) decides whether the tool runs.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clawtalk_gateway::Gateway;
use clawtalk_store::{SqliteStore, Store};
use dingtalk_sim::{AppSpec, Card, InjectCardCallback, InjectMessage, SimConfig, Simulator, UserSpec};
use llm_mock::{MockModel, Script};
use support::in_process;

const APP: &str = "dingapprovalbot00001";
const SECRET: &str = "approval-secret-not-real";
const USER: &str = "0312000000000001";
const OTHER: &str = "0312000000000002";
const TEMPLATE: &str = "approval-template.schema";

struct Setup {
    sim: Simulator,
    model: MockModel,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Self {
        let sim = Simulator::start_with(SimConfig::default()).await.unwrap();
        sim.create_app(AppSpec::new(APP, SECRET)).unwrap();
        sim.create_user(UserSpec::new(USER, "Alice")).unwrap();
        sim.create_user(UserSpec::new(OTHER, "Bob")).unwrap();
        let model = MockModel::builder().start().await.unwrap();
        Self {
            sim,
            model,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn config(&self, timeout_seconds: u32) -> Arc<clawtalk_config::Config> {
        in_process::config(&format!(
            r#"{{
              agents: {{ list: [ {{ id: "main", model: "mock/m" }} ] }},
              models: {{ providers: {{ mock: {{ baseUrl: "{}", apiKey: "k" }} }} }},
              tools: {{ approval: {{ require: ["get_time", "group:automation"], timeoutSeconds: {timeout_seconds},
                                     cardTemplateId: "{TEMPLATE}" }} }},
              channels: {{ dingtalk: {{ clientId: "{APP}", clientSecret: "{SECRET}", endpoints: "{}",
                dmPolicy: "open", allowFrom: ["*"], progressNotes: false }} }},
              gateway: {{ stateDir: "{}" }},
            }}"#,
            self.model.base_url(),
            self.sim.base_url(),
            self.dir.path().display()
        ))
    }

    async fn gateway(&self, store: Arc<dyn Store>, timeout_seconds: u32) -> Gateway {
        let gateway = Gateway::start(self.config(timeout_seconds), store, "approvals-test")
            .await
            .unwrap();
        self.sim
            .wait_for_connections(APP, 1, Duration::from_secs(10))
            .await
            .unwrap();
        gateway
    }

    fn approval_cards(&self) -> Vec<Card> {
        let mut cards: Vec<Card> = self
            .sim
            .cards()
            .into_iter()
            .filter(|c| c.template_id == TEMPLATE)
            .collect();
        cards.sort_by_key(|c| c.created_at_ms);
        cards
    }

    async fn wait_cards(&self, n: usize) -> Vec<Card> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let cards = self.approval_cards();
            if cards.len() >= n {
                return cards;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no approval card number {n}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn press(&self, card: &Card, user: &str, action: &str) {
        self.sim
            .inject_card_callback(&InjectCardCallback::new(
                card.out_track_id.clone(),
                user,
                action,
                serde_json::json!({}),
            ))
            .unwrap();
    }

    /// The tool results the model was shown in the last request whose user text contains
    /// `needle`, the newest last (earlier turns' results come with the history).
    async fn tool_results(&self, needle: &str) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let results: Vec<String> = self
                .model
                .requests()
                .iter()
                .rfind(|r| r.last_user_text().is_some_and(|t| t.contains(needle)))
                .map(|r| r.messages.clone())
                .unwrap_or_default()
                .into_iter()
                .filter(|m| m["role"] == "tool")
                .filter_map(|m| m["content"].as_str().map(str::to_owned))
                .collect();
            if !results.is_empty() {
                return results;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no tool result for {needle:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for a message containing `text` (the approval cards are among the sent too).
    async fn wait_answer(&self, text: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let sent = self.sim.sent_messages();
            if sent.iter().any(|m| m.text.contains(text)) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{text:?} not among {:?}",
                sent.iter().map(|m| &m.text).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the card shows `needle` in its `statusText`.
    async fn wait_card_status(&self, out_track_id: &str, needle: &str) -> Card {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let card = self.sim.card(out_track_id).unwrap();
            if card
                .card_data
                .get("statusText")
                .is_some_and(|s| s.contains(needle))
            {
                return card;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "card never showed {needle:?}: {:?}",
                card.card_data
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn script_call(&self, tool: &str, needle: &str, answer: &str) {
        self.model
            .push(Script::tool_call(tool, "{}").when_last_user_contains(needle));
        self.model
            .push(Script::text(answer).when_last_user_contains(needle));
    }
}

async fn memory_store() -> Arc<dyn Store> {
    Arc::new(SqliteStore::in_memory().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_once_runs_the_tool_and_others_cannot_decide() {
    let s = Setup::new().await;
    let gateway = s.gateway(memory_store().await, 600).await;
    s.script_call("get_time", "what time", "It is tea time.");
    s.sim
        .inject_message(&InjectMessage::dm_text(APP, USER, "what time is it?"))
        .unwrap();
    let card = s.wait_cards(1).await.remove(0);
    assert_eq!(card.callback_type.as_deref(), Some("STREAM"));
    let content = &card.card_data["content"];
    assert!(
        content.contains("`get_time`") && content.contains("工具 / Tool"),
        "{content}"
    );
    assert!(
        card.card_data["statusText"].contains("Waiting"),
        "{:?}",
        card.card_data
    );

    // Bob is neither the requester nor an admin: his press changes nothing.
    s.press(&card, OTHER, "approval_allow_once");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        s.model.requests().len() == 1,
        "the tool waits while only Bob pressed"
    );
    assert!(s.sim.card(&card.out_track_id).unwrap().card_data["statusText"].contains("Waiting"));

    s.press(&card, USER, "approval_allow_once");
    let card = s.wait_card_status(&card.out_track_id, "Allowed once by").await;
    assert!(
        card.card_data["statusText"].contains(USER),
        "who decided is shown"
    );
    s.wait_answer("It is tea time.").await;
    let results = s.tool_results("what time").await;
    assert!(
        results.last().unwrap().contains("+08:00"),
        "the tool ran: {results:?}"
    );
    assert_eq!(
        s.model.requests().len(),
        2,
        "the presses never became model turns of their own"
    );
    gateway.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_and_expiry_refuse_the_call_and_always_allow_stops_asking() {
    let s = Setup::new().await;
    let gateway = s.gateway(memory_store().await, 4).await;

    s.script_call("cron_list", "my tasks", "I was not allowed to look.");
    s.sim
        .inject_message(&InjectMessage::dm_text(APP, USER, "list my tasks"))
        .unwrap();
    let card = s.wait_cards(1).await.remove(0);
    s.press(&card, USER, "approval_deny");
    s.wait_card_status(&card.out_track_id, "Denied by").await;
    s.wait_answer("I was not allowed to look.").await;
    let results = s.tool_results("my tasks").await;
    assert!(
        results.last().unwrap().contains("not approved: denied by"),
        "{results:?}"
    );

    s.script_call("get_time", "clock", "Nobody answered.");
    s.sim
        .inject_message(&InjectMessage::dm_text(APP, USER, "check the clock"))
        .unwrap();
    let card = s.wait_cards(2).await.remove(1);
    s.wait_card_status(&card.out_track_id, "Expired").await;
    s.wait_answer("Nobody answered.").await;
    let results = s.tool_results("clock").await;
    assert!(
        results.last().unwrap().contains("nobody approved it in time"),
        "{results:?}"
    );

    s.script_call("get_time", "hour", "First hour.");
    s.sim
        .inject_message(&InjectMessage::dm_text(APP, USER, "which hour?"))
        .unwrap();
    let card = s.wait_cards(3).await.remove(2);
    s.press(&card, USER, "approval_allow_always");
    s.wait_card_status(&card.out_track_id, "Always allowed by").await;
    s.wait_answer("First hour.").await;

    s.script_call("get_time", "again", "Second hour.");
    s.sim
        .inject_message(&InjectMessage::dm_text(APP, USER, "and again?"))
        .unwrap();
    s.wait_answer("Second hour.").await;
    let results = s.tool_results("again").await;
    assert!(results.last().unwrap().contains("+08:00"), "{results:?}");
    assert_eq!(
        s.approval_cards().len(),
        3,
        "always allow: no card for the next call"
    );
    gateway.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_waiting_asks_once_and_honours_the_decision() {
    let s = Setup::new().await;
    let path = s.dir.path().join("store.sqlite");
    let store = open(&path).await;
    let gateway = s.gateway(Arc::clone(&store), 600).await;
    // The turn runs twice (before and after the restart); the model calls the tool both times.
    s.model
        .push(Script::tool_call("get_time", "{}").when_last_user_contains("restart"));
    s.model
        .push(Script::tool_call("get_time", "{}").when_last_user_contains("restart"));
    s.model
        .push(Script::text("Back after the restart.").when_last_user_contains("restart"));
    s.sim
        .inject_message(&InjectMessage::dm_text(APP, USER, "time across a restart?"))
        .unwrap();
    let card = s.wait_cards(1).await.remove(0);
    // The waiting turn does not finish: it is stopped after the grace and resumes at the start.
    gateway.shutdown(Duration::from_secs(1)).await;

    let store = open(&path).await;
    let gateway = s.gateway(Arc::clone(&store), 600).await;
    // The re-run finds the pending request: still one card.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while s.model.requests().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the turn was not run again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.approval_cards().len(), 1, "no second card after the restart");

    s.press(&card, USER, "approval_allow_once");
    s.wait_answer("Back after the restart.").await;
    let results = s.tool_results("restart").await;
    assert!(results.iter().any(|r| r.contains("+08:00")), "{results:?}");
    assert_eq!(s.approval_cards().len(), 1);
    gateway.shutdown(Duration::from_secs(5)).await;
}

async fn open(path: &Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(path).await.unwrap())
}
