//! The agent runtime: one turn = the model, plus as many tool rounds as it asks for.
//!
//! Clients are built once per configured provider. A turn tries the agent's primary model
//! and then its fallbacks; it stops promptly when cancelled (`/stop`).

mod approval;
mod caps;
pub mod cron;
mod events;
pub mod media;
pub mod memory;
mod recall;
mod tools;
pub mod workspace;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use approval::{Approval, ApprovalCall, ApprovalGate};
pub use clawtalk_mcp::{Phase as McpPhase, ServerStatus as McpServerStatus};
pub use events::{AgentEvent, Observer, TextTap};
pub use memory::Memory;
pub use tools::action_card::{ActionCards, MAX_CARDS_PER_TURN};
pub use tools::cron::{CronTools, MAX_ACTIVE_TASKS};
pub use tools::mcp::McpToolSource;
pub use tools::{Tool, ToolContext, ToolRegistry, ToolSource};

use clawtalk_config::{AgentConfig, Config, ModelRef};
use clawtalk_core::notices;
use clawtalk_llm::{ChatMessage, ChatRequest, LlmClient, LlmConfig, LlmError, ProviderPreset, Usage};

/// Tool rounds allowed in one turn before the model is told to answer.
const MAX_TOOL_ROUNDS: usize = 8;

/// Why a turn produced no answer.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    /// `/stop` (or shutdown) cancelled it.
    #[error("the turn was cancelled")]
    Cancelled,
    /// Every model (primary and fallbacks) failed; the last error is kept.
    #[error("the model failed: {0}")]
    Llm(#[from] LlmError),
    /// The agent id is not configured (a binding or stored session names a removed agent).
    #[error("agent {0:?} is not configured; add it to agents.list or fix the binding")]
    UnknownAgent(String),
    /// The agent's model names a provider with no client.
    #[error("model {0} has no usable provider; check models.providers")]
    NoProvider(String),
}

impl TurnError {
    /// A short bilingual explanation for the chat user (no internals, no secrets).
    #[must_use]
    pub fn user_message(&self) -> String {
        match self {
            Self::Cancelled => notices::STOPPED.to_owned(),
            Self::Llm(e) => e.user_message(),
            Self::UnknownAgent(_) | Self::NoProvider(_) => notices::MODEL_CONFIG_BROKEN.to_owned(),
        }
    }
}

/// What a finished turn produced.
#[derive(Debug, Clone)]
pub struct TurnOutcome {
    /// The answer to send.
    pub reply: String,
    /// Assistant and tool messages to append to the transcript (after the user message).
    pub appended: Vec<ChatMessage>,
    /// Tokens used across every round, as the provider reported them (nothing for a round
    /// whose provider sent no usage).
    pub usage: Usage,
    /// Requests made to the model: one per round.
    pub model_calls: u32,
    /// `provider/model` that answered.
    pub model: String,
    /// The provider's request id of the last round.
    pub request_id: Option<String>,
}

/// Runs agent turns against the configured model providers.
#[derive(Clone)]
pub struct AgentRuntime {
    config: Arc<Config>,
    clients: BTreeMap<String, LlmClient>,
    tools: ToolRegistry,
    workspaces: workspace::Workspaces,
    /// Durable memory, for recall before each turn; `None`: no recall.
    memory: Option<Memory>,
    policies: approval::Policies,
    /// The MCP servers the tools come from, for status pages (`None`: none enabled).
    mcp: Option<clawtalk_mcp::McpHub>,
}

impl std::fmt::Debug for AgentRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentRuntime")
            .field("providers", &self.clients.keys())
            .finish_non_exhaustive()
    }
}

impl AgentRuntime {
    /// One client per configured provider.
    ///
    /// # Errors
    /// A provider whose settings the client refuses (e.g. a malformed base URL).
    pub fn new(config: Arc<Config>, tools: ToolRegistry) -> Result<Self, LlmError> {
        let mut clients = BTreeMap::new();
        for (id, provider) in &config.providers {
            // Local OpenAI-compatible servers often need no key.
            let key = provider.api_key.clone().unwrap_or_default();
            let url = provider.base_url.as_str();
            let mut llm = match provider.preset {
                ProviderPreset::Custom => LlmConfig::custom(url, key),
                preset => LlmConfig::new(preset, key).with_base_url(url),
            };
            if let Some(wait) = provider.timeout {
                llm.timeouts.first_byte = wait;
                llm.timeouts.idle = wait;
            }
            clients.insert(id.clone(), LlmClient::new(llm)?);
        }
        let policies = approval::Policies::new(&config, &tools.specs());
        Ok(Self {
            config,
            clients,
            tools,
            workspaces: workspace::Workspaces::default(),
            memory: None,
            policies,
            mcp: None,
        })
    }

    /// Recalls relevant memories into the system prompt of each turn (within each agent's
    /// `memory.recallTokens`).
    #[must_use]
    pub fn with_memory(mut self, memory: Memory) -> Self {
        self.memory = Some(memory);
        self
    }

    /// Keeps `hub` (the one its MCP tools call through) for [`AgentRuntime::mcp_status`].
    #[must_use]
    pub fn with_mcp(mut self, hub: clawtalk_mcp::McpHub) -> Self {
        self.mcp = Some(hub);
        self
    }

    /// Each MCP server's state as the running hub sees it (empty when none was started).
    #[must_use]
    pub fn mcp_status(&self) -> Vec<clawtalk_mcp::ServerStatus> {
        self.mcp
            .as_ref()
            .map(clawtalk_mcp::McpHub::status)
            .unwrap_or_default()
    }

    /// The configuration the runtime was built from.
    #[must_use]
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Runs one turn: `history` is the session so far (without system prompt), `user` the new
    /// message. Tries the primary model, then each fallback.
    ///
    /// # Errors
    /// [`TurnError`]; [`TurnError::user_message`] says what to tell the user.
    pub async fn run_turn(
        &self,
        agent_id: &str,
        history: &[ChatMessage],
        user: ChatMessage,
        context: &ToolContext,
        cancel: &CancellationToken,
    ) -> Result<TurnOutcome, TurnError> {
        self.run_turn_observed(agent_id, history, user, context, cancel, &Observer::none())
            .await
    }

    /// [`AgentRuntime::run_turn`], reporting the answer as it streams (for AI cards and
    /// progress notes) to `observer`.
    ///
    /// # Errors
    /// [`TurnError`].
    pub async fn run_turn_observed(
        &self,
        agent_id: &str,
        history: &[ChatMessage],
        user: ChatMessage,
        context: &ToolContext,
        cancel: &CancellationToken,
        observer: &Observer,
    ) -> Result<TurnOutcome, TurnError> {
        let agent = self
            .config
            .agent(agent_id)
            .ok_or_else(|| TurnError::UnknownAgent(agent_id.to_owned()))?;
        let recalled = match &self.memory {
            Some(memory) => {
                let message = user.text().unwrap_or_default();
                recall::section(memory, agent.memory.recall_tokens, context, &message).await
            }
            None => None,
        };
        let mut last_error = None;
        // Shared by every model tried: images a failed model sent were still sent.
        let mut budget = caps::TurnBudget::new(agent.limits);
        for model in std::iter::once(&agent.model).chain(&agent.fallbacks) {
            match self
                .run_with_model(
                    agent,
                    model,
                    &TurnInput {
                        history,
                        user: &user,
                        context,
                        cancel,
                        observer,
                        recalled: recalled.as_deref(),
                    },
                    &mut budget,
                )
                .await
            {
                Ok(mut outcome) => {
                    if let Some(note) = budget.user_note() {
                        tracing::warn!(agent = agent_id, "the turn hit a cap of limits: {note}");
                        outcome.reply = format!("{}\n\n{note}", outcome.reply.trim_end());
                    }
                    return Ok(outcome);
                }
                Err(TurnError::Llm(e)) => {
                    tracing::warn!(agent = agent_id, model = %model_name(model), request_id = ?e.request_id(), error = %e, "model failed");
                    last_error = Some(TurnError::Llm(e));
                }
                Err(other) => return Err(other),
            }
        }
        Err(last_error.unwrap_or_else(|| TurnError::NoProvider(model_name(&agent.model))))
    }

    async fn run_with_model(
        &self,
        agent: &AgentConfig,
        model: &ModelRef,
        input: &TurnInput<'_>,
        budget: &mut caps::TurnBudget,
    ) -> Result<TurnOutcome, TurnError> {
        let TurnInput {
            history,
            user,
            context,
            cancel,
            observer,
            recalled,
        } = *input;
        let client = self
            .clients
            .get(&model.provider)
            .ok_or_else(|| TurnError::NoProvider(model_name(model)))?;
        let mut messages = Vec::with_capacity(history.len() + 2);
        let workspace = self
            .workspaces
            .prompt(agent, workspace::SessionKind::of(context))
            .await;
        let mut prompt = system_prompt(agent, &workspace);
        if let Some(recalled) = recalled {
            prompt = format!("{prompt}\n\n{recalled}");
        }
        messages.push(ChatMessage::system(prompt));
        messages.extend_from_slice(history);
        if self.config.model_sees_images(model) {
            messages.push(user.clone());
        } else {
            messages.push(crate::media::without_images(user));
        }
        let first_new = messages.len();
        let (policy, mut visible) = self.policies.of(&agent.id);
        if self.tools.changes_at_run_time() {
            // MCP servers connect (and change their tools) after start: what this agent may
            // see is worked out from what they offer now.
            visible = self
                .tools
                .specs()
                .iter()
                .filter(|s| policy.allows(&s.name))
                .cloned()
                .collect();
        }
        let mut usage = Usage::default();
        let mut request_id = None;

        let mut round = 0;
        loop {
            // The last round offers no tools, so a model stuck calling them must answer.
            let last_round = round == MAX_TOOL_ROUNDS;
            let tools = if last_round {
                Arc::from([])
            } else {
                Arc::clone(&visible)
            };
            let request = ChatRequest::new(&model.model, messages.clone()).with_tools(tools);
            observer.send(AgentEvent::RoundStart);
            let response = tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(TurnError::Cancelled),
                // Opening the stream is boxed: it is over before the answer streams, and
                // inline it would stay reserved while every turn waits for its tokens.
                r = async { events::collect_observed(Box::pin(client.stream(request)).await?, observer).await } => r?,
            };
            if let Some(u) = &response.usage {
                usage.prompt_tokens += u.prompt_tokens;
                usage.completion_tokens += u.completion_tokens;
            }
            request_id = response.request_id.clone().or(request_id);
            if last_round && !response.tool_calls.is_empty() {
                tracing::warn!(model = %model_name(model), "model kept calling tools after {MAX_TOOL_ROUNDS} rounds");
            }
            if response.tool_calls.is_empty() || last_round {
                messages.push(ChatMessage::assistant(response.content.clone()));
                return Ok(TurnOutcome {
                    reply: response.content,
                    appended: messages.split_off(first_new),
                    usage,
                    model_calls: u32::try_from(round + 1).unwrap_or(u32::MAX),
                    model: model_name(model),
                    request_id,
                });
            }
            messages.push(response.to_message());
            let run = budget.calls_to_run(response.tool_calls.len());
            for (index, call) in response.tool_calls.iter().enumerate() {
                if cancel.is_cancelled() {
                    return Err(TurnError::Cancelled);
                }
                // Every call gets a result (the API requires one per call id), run or not.
                if index >= run {
                    messages.push(ChatMessage::tool(&call.id, budget.call_refused()));
                    continue;
                }
                // A model may name a tool it was not offered: the policy holds for calls too.
                if !policy.allows(&call.name) {
                    tracing::warn!(agent = %agent.id, tool = %call.name, "call of a tool the policy does not allow refused");
                    messages.push(ChatMessage::tool(&call.id, approval::not_allowed(&call.name)));
                    continue;
                }
                if policy.needs_approval(&call.name) {
                    let decision = tokio::select! {
                        biased;
                        () = cancel.cancelled() => return Err(TurnError::Cancelled),
                        d = ask(context, &agent.id, call, policy.approval_timeout()) => d,
                    };
                    if let Approval::Denied(reason) = decision {
                        tracing::info!(agent = %agent.id, tool = %call.name, %reason, "tool call not approved");
                        messages.push(ChatMessage::tool(
                            &call.id,
                            approval::refused(&call.name, &reason),
                        ));
                        continue;
                    }
                }
                if self.tools.sends_media(&call.name)
                    && let Err(refused) = budget.take_media()
                {
                    messages.push(ChatMessage::tool(&call.id, refused));
                    continue;
                }
                tracing::debug!(tool = %call.name, "tool call");
                observer.send(AgentEvent::ToolStart(call.name.clone()));
                let result = self.tools.call(&call.name, &call.arguments, context).await;
                observer.send(AgentEvent::ToolDone(call.name.clone()));
                messages.push(ChatMessage::tool(&call.id, result));
            }
            round += 1;
        }
    }
}

/// What one turn works from, the same for every model tried.
#[derive(Clone, Copy)]
struct TurnInput<'a> {
    history: &'a [ChatMessage],
    user: &'a ChatMessage,
    context: &'a ToolContext,
    cancel: &'a CancellationToken,
    observer: &'a Observer,
    /// Memories recalled for the message, for the system prompt.
    recalled: Option<&'a str>,
}

/// The requester's decision on `call`, through the turn's gate; without a gate (nobody to
/// ask, e.g. a scheduled run) the call is refused.
async fn ask(
    context: &ToolContext,
    agent_id: &str,
    call: &clawtalk_llm::ToolCall,
    timeout: std::time::Duration,
) -> Approval {
    match &context.approvals {
        Some(gate) => {
            gate.decide(ApprovalCall {
                agent_id,
                tool: &call.name,
                arguments: &call.arguments,
                timeout,
            })
            .await
        }
        None => Approval::Denied("it needs approval and nobody can be asked here".to_owned()),
    }
}

fn model_name(model: &ModelRef) -> String {
    format!("{}/{}", model.provider, model.model)
}

/// `systemPrompt` when set, else the built-in introduction; then the workspace's identity and
/// bootstrap files, which `systemPrompt` extends rather than replaces.
fn system_prompt(agent: &AgentConfig, workspace: &workspace::WorkspacePrompt) -> String {
    let base = match agent.system_prompt.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(prompt) => prompt.to_owned(),
        None => {
            let name = workspace
                .identity
                .name
                .as_deref()
                .or(agent.name.as_deref())
                .unwrap_or("ClawTalk");
            format!(
                "You are {name}, a helpful assistant talking with colleagues in DingTalk (钉钉). \
                 Answer in the language the user writes in. Keep answers concise; use Markdown sparingly \
                 (headings, lists, bold, code blocks and links render; tables do not)."
            )
        }
    };
    if workspace.text.is_empty() {
        base
    } else {
        format!("{base}\n\n{}", workspace.text)
    }
}

#[cfg(test)]
mod tests;
