use std::sync::Arc;
use std::time::Duration;

use llm_mock::{Failure, MockModel, Script};
use tokio_util::sync::CancellationToken;

use super::*;
use clawtalk_config::test_support::config;
use clawtalk_core::ids::AccountId;
use clawtalk_llm::Role;

async fn runtime(mock: &MockModel, extra_agent: &str) -> AgentRuntime {
    let cfg = config(&format!(
        r#"{{ agents: {{ list: [ {{ id: "main", model: {{ primary: "mock/primary-model", fallbacks: ["mock/backup-model"] }},
                                   systemPrompt: "You are the test agent." }} {extra_agent} ] }},
              models: {{ providers: {{ mock: {{ baseUrl: "{}", apiKey: "sk-mock" }} }} }},
              channels: {{ dingtalk: {{ clientId: "dingbot", clientSecret: "s" }} }} }}"#,
        mock.base_url()
    ));
    AgentRuntime::new(Arc::new(cfg), ToolRegistry::builtin()).unwrap()
}

#[tokio::test]
async fn a_tool_round_trip_ends_with_the_models_answer() {
    let mock = MockModel::start().await.unwrap();
    mock.push(Script::tool_call("get_time", "{}"));
    mock.push(Script::text("It is morning in Beijing."));
    let rt = runtime(&mock, "").await;
    let out = rt
        .run_turn(
            "main",
            &[],
            ChatMessage::user("what time is it?"),
            &ToolContext::new(AccountId::new("default"), None),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(out.reply, "It is morning in Beijing.");
    assert_eq!(out.model, "mock/primary-model");
    // assistant(tool call), tool result, final assistant.
    let roles: Vec<Role> = out.appended.iter().map(|m| m.role).collect();
    assert_eq!(roles, vec![Role::Assistant, Role::Tool, Role::Assistant]);
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].messages[0]["content"], "You are the test agent.");
    assert!(
        requests[0]
            .tools
            .iter()
            .any(|t| t["function"]["name"] == "get_time")
    );
    assert!(
        requests[1]
            .messages
            .iter()
            .any(|m| m["role"] == "tool" && m["content"].as_str().unwrap().contains("+08:00"))
    );
}

#[tokio::test]
async fn the_fallback_model_answers_when_the_primary_fails() {
    let mock = MockModel::start().await.unwrap();
    mock.inject(Failure::status(400).for_model("primary-model").times(10));
    mock.push(Script::text("backup here"));
    let rt = runtime(&mock, "").await;
    let out = rt
        .run_turn(
            "main",
            &[],
            ChatMessage::user("hi"),
            &ToolContext::new(AccountId::new("default"), None),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(out.reply, "backup here");
    assert_eq!(out.model, "mock/backup-model");
}

#[tokio::test]
async fn cancelling_stops_a_slow_turn() {
    let mock = MockModel::start().await.unwrap();
    mock.push(Script::text("too late").delay(Duration::from_secs(30), Duration::ZERO));
    let rt = runtime(&mock, "").await;
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stopper.cancel();
    });
    let started = std::time::Instant::now();
    let err = rt
        .run_turn(
            "main",
            &[],
            ChatMessage::user("hi"),
            &ToolContext::new(AccountId::new("default"), None),
            &cancel,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TurnError::Cancelled));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(err.user_message().contains("Stopped"));
}

#[tokio::test]
async fn failures_become_a_plain_bilingual_message() {
    let mock = MockModel::start().await.unwrap();
    mock.inject(Failure::status(401).times(10));
    let rt = runtime(&mock, "").await;
    let err = rt
        .run_turn(
            "main",
            &[],
            ChatMessage::user("hi"),
            &ToolContext::new(AccountId::new("default"), None),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    let text = err.user_message();
    assert!(text.contains("API Key") && text.contains("API key"), "{text}");
    assert!(!text.contains("sk-mock"));
    let unknown = rt
        .run_turn(
            "ghost",
            &[],
            ChatMessage::user("hi"),
            &ToolContext::new(AccountId::new("default"), None),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(unknown, TurnError::UnknownAgent(_)));
}

#[tokio::test]
async fn images_reach_vision_models_and_become_a_note_for_the_others() {
    let mock = MockModel::start().await.unwrap();
    let cfg = config(&format!(
        r#"{{ agents: {{ list: [ {{ id: "main", model: "mock/text-model" }}, {{ id: "eyes", model: "mock/eyes-model" }} ] }},
              models: {{ providers: {{ mock: {{ baseUrl: "{}", apiKey: "sk-mock",
                         models: [ {{ id: "eyes-model", input: ["text", "image"] }} ] }} }} }},
              channels: {{ dingtalk: {{ clientId: "dingbot", clientSecret: "s" }} }} }}"#,
        mock.base_url()
    ));
    let rt = AgentRuntime::new(Arc::new(cfg), ToolRegistry::builtin()).unwrap();
    let user = ChatMessage::user_parts(vec![
        clawtalk_llm::ContentPart::Text {
            text: "what is in this picture?".into(),
        },
        clawtalk_llm::ContentPart::ImageUrl {
            image_url: clawtalk_llm::ImageUrl {
                url: "data:image/png;base64,iVBORw0KGgo=".into(),
                detail: None,
            },
        },
    ]);
    for agent in ["eyes", "main"] {
        mock.push(Script::text("ok"));
        rt.run_turn(
            agent,
            &[],
            user.clone(),
            &ToolContext::new(AccountId::new("default"), None),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    }
    let requests = mock.requests();
    let last_user = |i: usize| requests[i].messages.last().unwrap()["content"].clone();
    assert_eq!(
        last_user(0)[1]["type"],
        "image_url",
        "the vision model gets the image part"
    );
    assert_eq!(
        last_user(0)[1]["image_url"]["url"],
        "data:image/png;base64,iVBORw0KGgo="
    );
    let text_only = last_user(1);
    let text_only = text_only.as_str().expect("plain text for a text-only model");
    assert!(text_only.starts_with("what is in this picture?"), "{text_only}");
    assert!(text_only.contains("cannot view images"), "{text_only}");
    assert!(!text_only.contains("base64"), "{text_only}");
}

/// Counts its calls; `media` makes it count against `limits.mediaPerTurn`.
struct Counting {
    name: &'static str,
    media: bool,
    calls: Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait::async_trait]
impl Tool for Counting {
    fn spec(&self) -> clawtalk_llm::ToolSpec {
        clawtalk_llm::ToolSpec {
            name: self.name.into(),
            description: "counts".into(),
            parameters: serde_json::json!({ "type": "object", "properties": {} }),
        }
    }

    async fn call(&self, _arguments: &str, _context: &ToolContext) -> Result<String, String> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok("\"done\"".into())
    }

    fn sends_media(&self) -> bool {
        self.media
    }
}

fn counting(
    registry: &mut ToolRegistry,
    name: &'static str,
    media: bool,
) -> Arc<std::sync::atomic::AtomicUsize> {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    registry.register(Arc::new(Counting {
        name,
        media,
        calls: Arc::clone(&calls),
    }));
    calls
}

fn calls(name: &str, n: usize) -> Script {
    (1..n).fold(Script::tool_call(name, "{}"), |s, _| s.and_tool_call(name, "{}"))
}

#[tokio::test]
async fn tool_calls_past_the_round_cap_and_media_past_the_turn_cap_do_not_run() {
    let mock = MockModel::start().await.unwrap();
    let cfg = config(&format!(
        r#"{{ agents: {{ list: [ {{ id: "main", model: "mock/m", limits: {{ toolCallsPerRound: 4, mediaPerTurn: 3 }} }} ] }},
              models: {{ providers: {{ mock: {{ baseUrl: "{}", apiKey: "sk-mock" }} }} }},
              channels: {{ dingtalk: {{ clientId: "dingbot", clientSecret: "s" }} }} }}"#,
        mock.base_url()
    ));
    let mut registry = ToolRegistry::builtin();
    let lookups = counting(&mut registry, "lookup", false);
    let pictures = counting(&mut registry, "picture", true);
    mock.push(calls("lookup", 20));
    mock.push(calls("picture", 2));
    mock.push(calls("picture", 4));
    mock.push(Script::text("Done."));
    let rt = AgentRuntime::new(Arc::new(cfg), registry).unwrap();
    let out = rt
        .run_turn(
            "main",
            &[],
            ChatMessage::user("go"),
            &ToolContext::new(AccountId::new("default"), None),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    use std::sync::atomic::Ordering::SeqCst;
    assert_eq!(lookups.load(SeqCst), 4, "limits.toolCallsPerRound");
    assert_eq!(
        pictures.load(SeqCst),
        3,
        "limits.mediaPerTurn counts across rounds"
    );
    let requests = mock.requests();
    let results = |i: usize| -> Vec<String> {
        requests[i]
            .messages
            .iter()
            .filter(|m| m["role"] == "tool")
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = results(1);
    assert_eq!(first.len(), 20, "every call id has a result");
    assert_eq!(
        first
            .iter()
            .filter(|r| r.contains("cap reached: at most 4 tool calls"))
            .count(),
        16
    );
    let last = results(3);
    assert_eq!(
        last.iter()
            .filter(|r| r.contains("cap reached: this turn already sent 3 images/files"))
            .count(),
        3
    );
    assert!(out.reply.starts_with("Done.\n\n⚠️"), "{}", out.reply);
    assert!(out.reply.contains("3 more were not sent"), "{}", out.reply);
    assert!(
        out.reply
            .contains("more than 4 tool calls at once; 16 were not run"),
        "{}",
        out.reply
    );
    assert!(
        !out.appended
            .last()
            .unwrap()
            .text()
            .unwrap_or_default()
            .contains("⚠️"),
        "the note is for the user, not the transcript"
    );
}

#[tokio::test]
async fn system_prompt_is_extended_by_the_workspace_files() {
    let mock = MockModel::start().await.unwrap();
    mock.push(Script::text("ok"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("SOUL.md"), "Speak softly [soul]").unwrap();
    std::fs::write(dir.path().join("MEMORY.md"), "private note [memory]").unwrap();
    let cfg = config(&format!(
        r#"{{ agents: {{ list: [ {{ id: "main", model: "mock/m", workspace: "{}",
                                   systemPrompt: "You are the test agent." }} ] }},
              models: {{ providers: {{ mock: {{ baseUrl: "{}", apiKey: "sk-mock" }} }} }},
              channels: {{ dingtalk: {{ clientId: "dingbot", clientSecret: "s" }} }} }}"#,
        dir.path().display(),
        mock.base_url()
    ));
    let rt = AgentRuntime::new(Arc::new(cfg), ToolRegistry::builtin()).unwrap();
    // No readable session key: treated as shared, so MEMORY.md stays out.
    rt.run_turn(
        "main",
        &[],
        ChatMessage::user("hi"),
        &ToolContext::new(AccountId::new("default"), None),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    let system = mock.requests()[0].messages[0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(system.starts_with("You are the test agent.\n\n"), "{system}");
    assert!(system.contains("## SOUL.md\nSpeak softly [soul]"), "{system}");
    assert!(!system.contains("[memory]"), "{system}");
}
