//! The tool policy applied to a turn: which tool specs the model sees, which calls are
//! refused, and which wait for a person through an [`ApprovalGate`] the gateway supplies.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use clawtalk_config::{Config, ToolPolicy};
use clawtalk_llm::ToolSpec;

/// One call that waits for a decision.
#[derive(Debug, Clone, Copy)]
pub struct ApprovalCall<'a> {
    /// The agent asking.
    pub agent_id: &'a str,
    /// Tool name.
    pub tool: &'a str,
    /// The model's JSON arguments, as sent.
    pub arguments: &'a str,
    /// How long to wait before the call counts as denied.
    pub timeout: Duration,
}

/// What a person (or the clock) decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// Run the call.
    Allowed,
    /// Do not run it; the reason is shown to the model.
    Denied(String),
}

/// Asks the requester of a turn to approve a tool call and waits for the answer. The
/// gateway implements it (an interactive card in DingTalk), so this crate stays below it.
#[async_trait]
pub trait ApprovalGate: std::fmt::Debug + Send + Sync {
    /// Waits for the decision on `call`; asking again for the same call of the same turn
    /// (a re-run after a restart) must find the earlier request, not ask twice.
    async fn decide(&self, call: ApprovalCall<'_>) -> Approval;
}

/// Each agent's policy and the specs it lets the model see, resolved once.
#[derive(Clone, Default)]
pub(crate) struct Policies {
    by_agent: BTreeMap<String, (Arc<ToolPolicy>, Arc<[ToolSpec]>)>,
}

impl Policies {
    pub(crate) fn new(config: &Config, specs: &[ToolSpec]) -> Self {
        let by_agent = config
            .agents
            .iter()
            .map(|agent| {
                let policy = ToolPolicy::resolve(&config.tools, &agent.tools);
                let visible: Arc<[ToolSpec]> =
                    specs.iter().filter(|s| policy.allows(&s.name)).cloned().collect();
                (agent.id.clone(), (Arc::new(policy), visible))
            })
            .collect();
        Self { by_agent }
    }

    /// The agent's policy and visible specs; an agent not in the config sees nothing.
    pub(crate) fn of(&self, agent_id: &str) -> (Arc<ToolPolicy>, Arc<[ToolSpec]>) {
        self.by_agent.get(agent_id).cloned().unwrap_or_else(|| {
            let nothing = ToolPolicy::resolve(
                &clawtalk_config::ToolsConfig {
                    policy: clawtalk_config::ToolPolicyConfig {
                        deny: vec!["*".to_owned()],
                        ..Default::default()
                    },
                    ..Default::default()
                },
                &clawtalk_config::AgentTools::default(),
            );
            (Arc::new(nothing), Arc::from([]))
        })
    }
}

/// The tool result of a call the policy does not allow.
pub(crate) fn not_allowed(tool: &str) -> String {
    json!({ "error": format!("tool {tool:?} is not available to this agent (tools.allow / tools.deny)") })
        .to_string()
}

/// The tool result of a call a person (or the timeout) refused.
pub(crate) fn refused(tool: &str, reason: &str) -> String {
    json!({ "error": format!("the call of {tool:?} was not approved: {reason}. Do not retry it; tell the user.") })
        .to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use llm_mock::{MockModel, Script};
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::{AgentRuntime, ToolContext, ToolRegistry};
    use clawtalk_config::test_support::config;
    use clawtalk_core::ids::AccountId;
    use clawtalk_llm::ChatMessage;

    /// Answers every call with a fixed decision and remembers what it was asked.
    #[derive(Debug)]
    struct FixedGate {
        answer: Approval,
        asked: Mutex<Vec<(String, String, Duration)>>,
    }

    #[async_trait]
    impl ApprovalGate for FixedGate {
        async fn decide(&self, call: ApprovalCall<'_>) -> Approval {
            self.asked
                .lock()
                .unwrap()
                .push((call.tool.to_owned(), call.arguments.to_owned(), call.timeout));
            self.answer.clone()
        }
    }

    async fn run(mock: &MockModel, tools: &str, gate: Option<Arc<FixedGate>>) -> Vec<String> {
        let cfg = config(&format!(
            r#"{{ agents: {{ list: [ {{ id: "main", model: "mock/m" }} ] }}, tools: {{ {tools} }},
                  models: {{ providers: {{ mock: {{ baseUrl: "{}", apiKey: "sk-mock" }} }} }},
                  channels: {{ dingtalk: {{ clientId: "dingbot", clientSecret: "s" }} }} }}"#,
            mock.base_url()
        ));
        let rt = AgentRuntime::new(Arc::new(cfg), ToolRegistry::builtin()).unwrap();
        let mut context = ToolContext::new(AccountId::new("default"), None);
        context.approvals = gate.map(|g| g as Arc<dyn ApprovalGate>);
        rt.run_turn(
            "main",
            &[],
            ChatMessage::user("what time is it?"),
            &context,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        mock.requests()[1]
            .messages
            .iter()
            .filter(|m| m["role"] == "tool")
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect()
    }

    fn offered(mock: &MockModel) -> Vec<String> {
        mock.requests()[0]
            .tools
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn a_denied_tool_is_never_offered_and_its_call_is_refused() {
        let mock = MockModel::start().await.unwrap();
        mock.push(Script::tool_call("get_time", "{}"));
        mock.push(Script::text("I cannot tell."));
        let results = run(&mock, r#"deny: ["get_time"]"#, None).await;
        assert_eq!(offered(&mock), vec!["send_action_card"]);
        assert_eq!(results.len(), 1);
        assert!(results[0].contains("not available to this agent"), "{results:?}");
    }

    #[tokio::test]
    async fn a_call_needing_approval_runs_only_when_allowed() {
        let mock = MockModel::start().await.unwrap();
        mock.push(Script::tool_call("get_time", r#"{"zone":"cst"}"#));
        mock.push(Script::text("It is late."));
        let gate = Arc::new(FixedGate {
            answer: Approval::Allowed,
            asked: Mutex::new(Vec::new()),
        });
        let results = run(
            &mock,
            r#"approval: { require: ["get_time"], timeoutSeconds: 30, cardTemplateId: "t.schema" }"#,
            Some(Arc::clone(&gate)),
        )
        .await;
        assert!(results[0].contains("+08:00"), "the tool ran: {results:?}");
        assert_eq!(
            *gate.asked.lock().unwrap(),
            vec![(
                "get_time".to_owned(),
                r#"{"zone":"cst"}"#.to_owned(),
                Duration::from_secs(30)
            )]
        );

        let mock = MockModel::start().await.unwrap();
        mock.push(Script::tool_call("get_time", "{}"));
        mock.push(Script::text("Not allowed."));
        let gate = Arc::new(FixedGate {
            answer: Approval::Denied("denied by 0312".into()),
            asked: Mutex::new(Vec::new()),
        });
        let results = run(
            &mock,
            r#"approval: { require: ["get_time"], cardTemplateId: "t.schema" }"#,
            Some(gate),
        )
        .await;
        assert!(
            results[0].contains("not approved: denied by 0312") && !results[0].contains("+08:00"),
            "{results:?}"
        );
    }

    #[tokio::test]
    async fn without_a_gate_a_call_needing_approval_is_refused() {
        let mock = MockModel::start().await.unwrap();
        mock.push(Script::tool_call("get_time", "{}"));
        mock.push(Script::text("No."));
        let results = run(
            &mock,
            r#"approval: { require: ["get_time"], cardTemplateId: "t.schema" }"#,
            None,
        )
        .await;
        assert!(results[0].contains("nobody can be asked"), "{results:?}");
    }
}
