//! The normalized configuration the gateway runs on, independent of the file dialect
//! (clawtalk's own file or an OpenClaw `openclaw.json`).
//!
//! Defaults that differ from OpenClaw or its DingTalk plugins are called out on the field.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use dingtalk::{Endpoints, Secret};
use url::Url;

/// Default control-plane port, the same as OpenClaw's so existing clients find us.
pub const DEFAULT_PORT: u16 = 18789;
/// Default idle time after which a conversation starts a fresh session.
pub const DEFAULT_IDLE_RESET: Duration = Duration::from_secs(30 * 60);

/// Everything the gateway needs, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Listener, auth and state directory.
    pub gateway: GatewayConfig,
    /// Where sessions, dedup records and pairing state are persisted.
    pub store: StoreConfig,
    /// Agents in file order; never empty (an implicit `main` agent exists when none is listed).
    pub agents: Vec<AgentConfig>,
    /// Id of the agent that answers when no binding matches.
    pub default_agent: String,
    /// LLM providers by id, including built-in presets that agents refer to.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Routing rules in file order; the router applies OpenClaw's precedence tiers.
    pub bindings: Vec<Binding>,
    /// DingTalk bots (one Stream connection each when enabled).
    pub accounts: Vec<DingTalkAccount>,
    /// Session lifetime rules.
    pub session: SessionConfig,
    /// `workflows[]` (clawtalk key): approval events → workflow agents, first match wins.
    pub workflows: Vec<WorkflowRule>,
    /// `tools.web.*`: the web_fetch and web_search tools (`web_tools.rs`).
    pub tools_web: super::web_tools::WebToolsConfig,
    /// `mcp.servers`: MCP servers whose tools agents may call.
    pub mcp: super::mcp::McpConfig,
    /// `tools`: the tool policy and approvals every agent starts from.
    pub tools: crate::ToolsConfig,
}

/// `gateway.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayConfig {
    /// `gateway.port`, default 18789: the HTTP listener (DingTalk webhooks in HTTP mode).
    /// `0` picks a free port, which is logged.
    pub port: u16,
    /// `gateway.bind`: `loopback` → 127.0.0.1 (default), `lan` → 0.0.0.0, or an IP address.
    pub bind: IpAddr,
    /// `gateway.stateDir` (clawtalk key), else `$CLAWTALK_STATE_DIR`, else `~/.clawtalk`.
    /// Never OpenClaw's directory, even when reading `openclaw.json`.
    pub state_dir: PathBuf,
    /// `gateway.auth.token`; required when `bind` is not loopback.
    pub auth_token: Option<Secret>,
    /// `gateway.maxConcurrentTurns` (clawtalk key), default 10,000: agent turns running at
    /// once across all sessions; more wait their turn in the store.
    pub max_concurrent_turns: usize,
    /// `gateway.queueNoticeFrom` (clawtalk key), default 20: a message with at least this
    /// many turns waiting ahead of it (for a turn slot or for the card quota) gets an
    /// immediate "queued, N ahead of you" note; 0 turns the notes off.
    pub queue_notice_from: usize,
    /// `gateway.turnLeaseSeconds` (clawtalk key), default 60: how long a claimed turn (and its
    /// unsent reply parts) stays with one process without a renewal; after a crash, another
    /// replica takes the turn over this long after the last renewal.
    pub turn_lease: Duration,
    /// `gateway.controlUi.enabled`, default true: `gateway run` serves the web UI on
    /// `bind:port` (login with the gateway token).
    pub control_ui: bool,
    /// `gateway.trustedProxies`: reverse proxies (addresses or CIDR ranges) whose
    /// `X-Forwarded-For` names the client. With any set, the control API needs the gateway
    /// token even from loopback.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `gateway.http.*` (clawtalk keys): the HTTP listener's limits.
    pub http: HttpLimits,
    /// `gateway.reload.mode`, default `hybrid`: whether edits of the config file apply
    /// while the gateway runs.
    pub reload_mode: ReloadMode,
}

/// `gateway.reload.mode`, OpenClaw's names
/// (<https://docs.openclaw.ai/gateway/configuration/hot-reload>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReloadMode {
    /// A saved edit of the config file applies at once (what can apply live).
    #[default]
    Hybrid,
    /// The file is still watched and checked, but an edit applies only when asked (SIGHUP,
    /// the web console's Reload) or at the next start.
    Off,
}

impl GatewayConfig {
    /// True when callers other than this host's own programs can reach the listener: it
    /// binds beyond loopback, or a reverse proxy forwards to it (every proxied client then
    /// looks local).
    #[must_use]
    pub fn reachable_beyond_loopback(&self) -> bool {
        !self.bind.is_loopback() || !self.trusted_proxies.is_empty()
    }
}

/// `gateway.http.*`: how many connections the listener holds and how long a client may take
/// to send a request's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// `gateway.http.maxConnections`, default 512: open connections at most (fewer when the
    /// open-files limit is low: descriptors stay in reserve for the store and outgoing calls).
    pub max_connections: usize,
    /// `gateway.http.headerTimeoutSeconds`, default 10: a connection that has not sent a whole
    /// request head this long after connecting (or after its previous response) is closed.
    pub header_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// `store.*` (clawtalk key).
#[derive(Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `store.url`, default `sqlite://<state_dir>/clawtalk.db`; `postgres://user:pass@host/db`
    /// is accepted too. May hold a password: `Debug` masks it, so never log it with `Display`.
    pub url: String,
    /// `store.retentionDays` (default [`DEFAULT_RETENTION_DAYS`]): finished messages (answered,
    /// failed, cancelled, ignored, with no reply part left to send) are deleted this long after
    /// their last change. They are the dedup record of DingTalk's redeliveries, so at least a day.
    pub retention_days: u32,
}

/// How long finished messages are kept by default.
pub const DEFAULT_RETENTION_DAYS: u32 = 7;

impl StoreConfig {
    /// `retention_days` as a duration.
    #[must_use]
    pub fn retention(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.retention_days) * 86_400)
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &redact_url_password(&self.url))
            .field("retention_days", &self.retention_days)
            .finish()
    }
}

/// `scheme://user:pass@host/…?password=…` → `scheme://user:***@host/…?password=***`; other
/// strings unchanged ([`clawtalk_core::mask::mask_url`]).
pub fn redact_url_password(url: &str) -> String {
    clawtalk_core::mask::mask_url(url)
}

/// One agent: a model, a prompt and a workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// Unique id (`[A-Za-z0-9_-]`, ≤ 64 chars); bindings refer to it.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Primary model: the agent's own `model`, else `agents.defaults.model`, else `$CLAWTALK_MODEL`.
    pub model: ModelRef,
    /// Tried in order when the primary fails.
    pub fallbacks: Vec<ModelRef>,
    /// `systemPrompt` (clawtalk) or `systemPromptOverride` (OpenClaw legacy).
    pub system_prompt: Option<String>,
    /// Workspace directory (memory files). Default `<state_dir>/workspace` for the default agent
    /// and `<state_dir>/workspace-<id>` for the others, like OpenClaw.
    pub workspace: PathBuf,
    /// Persona shown to users.
    pub identity: Identity,
    /// `limits` (clawtalk key): caps on what one turn of the model can make the bot do.
    pub limits: AgentLimits,
    /// How the workspace's bootstrap files enter the prompt (`agents.defaults.bootstrap*`).
    pub bootstrap: BootstrapLimits,
    /// `memory` (clawtalk key): how durable memories reach the prompt.
    pub memory: AgentMemory,
    /// `tools`: this agent's tool policy and approvals, over the global ones.
    pub tools: crate::AgentTools,
}

/// `agents.defaults.bootstrapMaxChars`, `bootstrapTotalMaxChars` and `skipBootstrap`
/// (OpenClaw's keys and defaults): how much of the workspace files (`AGENTS.md`, `SOUL.md`, …)
/// goes into each system prompt, and whether `clawtalk agents add` writes starter files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootstrapLimits {
    /// `bootstrapMaxChars`, default 20,000: characters of one file; a longer file keeps its
    /// head and tail around a visible truncation marker.
    pub max_chars: usize,
    /// `bootstrapTotalMaxChars`, default 150,000: characters of all files together.
    pub total_max_chars: usize,
    /// `skipBootstrap`, default false: leave new workspaces empty (for pre-seeded ones).
    pub skip: bool,
}

impl Default for BootstrapLimits {
    fn default() -> Self {
        Self {
            max_chars: 20_000,
            total_max_chars: 150_000,
            skip: false,
        }
    }
}

/// `memory { recallTokens }` (clawtalk keys) of an agent, each falling back to
/// `agents.defaults.memory`, then to the default below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentMemory {
    /// `recallTokens`, default 600: how many tokens (about one per Chinese character, one per
    /// four other characters) of the memories most relevant to a message are put in the
    /// system prompt before the turn; 0 = no recall (the memory tools stay).
    pub recall_tokens: u32,
}

impl Default for AgentMemory {
    fn default() -> Self {
        Self { recall_tokens: 600 }
    }
}

/// `limits { mediaPerTurn, partsPerAnswer, toolCallsPerRound, cronMinIntervalMinutes }`
/// (clawtalk keys) of an agent, each falling back to `agents.defaults.limits`, then to the
/// default below. A model that loops or misreads a request must not flood a chat: DingTalk
/// accepts about 20 messages a minute per conversation, and every message past that waits
/// in the queue of everything else the chat is owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentLimits {
    /// `mediaPerTurn`, default 10: `send_image`/`send_file` calls that send in one turn;
    /// later calls are refused (the model and the user are told).
    pub media_per_turn: u32,
    /// `partsPerAnswer`, default 10: messages one answer is split into (10 × 3,800
    /// characters, about half a minute of a chat's budget); the rest is cut off with a
    /// visible "answer truncated" note.
    pub parts_per_answer: u32,
    /// `toolCallsPerRound`, default 16: tool calls run from one model response; the others
    /// are answered "cap reached" without running.
    pub tool_calls_per_round: u32,
    /// `cronMinIntervalMinutes`, default 15: the shortest time between two runs of a
    /// scheduled task of this agent (each run is a model turn and a message).
    pub cron_min_interval: Duration,
}

impl Default for AgentLimits {
    fn default() -> Self {
        Self {
            media_per_turn: 10,
            parts_per_answer: 10,
            tool_calls_per_round: 16,
            cron_min_interval: Duration::from_secs(15 * 60),
        }
    }
}

/// `identity { name, emoji, theme, avatar }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Name the agent uses for itself.
    pub name: Option<String>,
    /// Emoji, e.g. for acknowledgement reactions.
    pub emoji: Option<String>,
    /// Free-form persona description.
    pub theme: Option<String>,
    /// Avatar URL or path.
    pub avatar: Option<String>,
}

/// A `provider/model` reference. The model part may itself contain `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelRef {
    /// Key into [`Config::providers`].
    pub provider: String,
    /// Model id sent to the provider.
    pub model: String,
}

impl ModelRef {
    /// Splits `provider/model` at the first `/`; `None` when either side is empty.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let (provider, model) = s.trim().split_once('/')?;
        (!provider.is_empty() && !model.is_empty()).then(|| Self {
            provider: provider.to_owned(),
            model: model.to_owned(),
        })
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// `models.providers.<id>`: an OpenAI-compatible endpoint.
#[derive(Clone, PartialEq)]
pub struct ProviderConfig {
    /// The provider id (map key).
    pub id: String,
    /// Which built-in preset the id names, if any.
    pub preset: ProviderPreset,
    /// `baseUrl`; filled from the preset when omitted. `/chat/completions` is appended to it.
    pub base_url: Url,
    /// `apiKey`, else the preset's environment variables (e.g. `DEEPSEEK_API_KEY`).
    /// `None` only for custom providers (local servers often need no key).
    pub api_key: Option<Secret>,
    /// Wire protocol.
    pub api: ApiKind,
    /// Declared models (optional catalogue; informational).
    pub models: Vec<ModelInfo>,
    /// `timeoutSeconds` (clawtalk key): the longest wait for a streamed answer's first output
    /// and the longest silence inside it (defaults 90 s and 60 s). A wait for the first
    /// output that runs out is retried; a silence mid-answer ends the turn with a notice.
    pub timeout: Option<Duration>,
}

impl fmt::Debug for ProviderConfig {
    // `baseUrl` may carry a password (`https://user:pass@host`) or a key parameter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("id", &self.id)
            .field("preset", &self.preset)
            .field("base_url", &clawtalk_core::mask::mask_url(self.base_url.as_str()))
            .field("api_key", &self.api_key)
            .field("api", &self.api)
            .field("models", &self.models)
            .field("timeout", &self.timeout)
            .finish()
    }
}

pub use clawtalk_llm::ProviderPreset;

/// `api` of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKind {
    /// `openai-completions` (default): `POST {baseUrl}/chat/completions`.
    OpenAiCompletions,
    /// `openai-responses`: `POST {baseUrl}/responses`.
    OpenAiResponses,
    /// `anthropic-messages`.
    AnthropicMessages,
}

/// One entry of `models.providers.<id>.models`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// Model id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// `contextWindow` in tokens.
    pub context_window: Option<u64>,
    /// `maxTokens` for replies.
    pub max_tokens: Option<u64>,
    /// `input` lists `image`: the model accepts image parts. `None` when `input` is absent.
    pub images: Option<bool>,
}

/// `bindings[]`: which agent answers which DingTalk conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Target agent (exists in [`Config::agents`]).
    pub agent_id: String,
    /// `match.channel`: `dingtalk` or `dingtalk-connector`, compared with
    /// [`DingTalkAccount::channel`]. Bindings for other channels are dropped with a warning.
    pub channel: String,
    /// `match.accountId`.
    pub account: AccountMatch,
    /// `match.peer`.
    pub peer: Option<Peer>,
    /// `match.department` (clawtalk extension): the sender's DingTalk department id.
    pub department: Option<i64>,
}

/// `match.accountId` of a binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountMatch {
    /// `"*"`: any account of the channel.
    Any,
    /// One account. An omitted `accountId` is resolved at load time to the channel's default
    /// account (`defaultAccount`, else `default`, else the first), as OpenClaw does.
    Id(String),
}

/// `match.peer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Direct message or group.
    pub kind: PeerKind,
    /// Sender id (DMs) or `conversationId` (`cid…`, groups).
    pub id: String,
}

/// `match.peer.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// `direct` (also `dm`).
    Direct,
    /// `group`.
    Group,
}

/// One DingTalk bot (an app's robot), from `channels.dingtalk`, `channels.dingtalk-connector`
/// (either at the top level or under `accounts.<id>`, inheriting top-level keys), or from the
/// `DINGTALK_CLIENT_ID`/`DINGTALK_CLIENT_SECRET` environment variables.
#[derive(Debug, Clone, PartialEq)]
pub struct DingTalkAccount {
    /// Account id; `default` for a single top-level or env-only account. Unique across channels.
    pub id: String,
    /// `dingtalk` or `dingtalk-connector`: the section it came from (bindings match on it).
    pub channel: String,
    /// Display name.
    pub name: Option<String>,
    /// `enabled`, default true. Disabled accounts are kept but not connected.
    pub enabled: bool,
    /// `mode`, default `stream`.
    pub mode: ConnectionMode,
    /// `token` + `aesKey`: the app's event subscription over HTTP (HTTP 推送), served at the
    /// account's webhook path. `None` = events arrive over Stream only.
    pub event_push: Option<EventPush>,
    /// `cardCallbackUrl` + `cardCallbackSecret` (clawtalk keys), used in `mode: "http"`: the
    /// public URL DingTalk POSTs presses on the account's cards to, registered at start.
    /// `None` = cards ask for their presses over Stream.
    pub card_callback: Option<CardCallbackSettings>,
    /// `clientId` (AppKey).
    pub client_id: String,
    /// `clientSecret` (AppSecret).
    pub client_secret: Secret,
    /// `robotCode`, default `client_id` (true for every Stream-mode robot).
    pub robot_code: String,
    /// `corpId`, when known.
    pub corp_id: Option<String>,
    /// `agentId` of the DingTalk app (needed for work notifications), when known.
    pub app_agent_id: Option<String>,
    /// `dmPolicy`. Default `pairing` like OpenClaw core; both DingTalk plugins default to `open`.
    pub dm_policy: DmPolicy,
    /// `groupPolicy`. Default `open` like both DingTalk plugins (OpenClaw core's default is
    /// `allowlist`, which with an empty list would silence every group).
    pub group_policy: GroupPolicy,
    /// `allowFrom`: DM senders allowed besides paired ones; `"*"` = everyone.
    pub allow_from: Vec<String>,
    /// `groupAllowFrom`: group senders or conversation ids allowed under `groupPolicy: allowlist`.
    pub group_allow_from: Vec<String>,
    /// `requireMention`, default true (DingTalk only delivers @-mentions in groups anyway).
    pub require_mention: bool,
    /// `messageType`, default `markdown` (cards cost API quota per update).
    pub message_type: MessageType,
    /// `streaming`, default false; soimy `cardStreamingMode: answer|all` also turns it on.
    pub streaming: bool,
    /// AI card settings (used when `message_type` is `card`).
    pub card: CardSettings,
    /// `progressNotes`, default true: in markdown mode, tell the user with a short note when
    /// the agent calls a tool (cards show it in the card instead).
    pub progress_notes: bool,
    /// `mediaMaxMb` (soimy) or `maxFileSizeMB` (connector), default 20: received pictures,
    /// files and videos larger than this are not downloaded, and the user is told so.
    pub media_max_bytes: u64,
    /// `maxInboundChars`, default [`super::DEFAULT_MAX_INBOUND_CHARS`]: a user message (with the
    /// message it quotes) longer than this reaches the model cut to this many characters with
    /// a note saying so, and the user is told.
    pub max_inbound_chars: usize,
    /// Session keying (connector keys).
    pub session: SessionScope,
    /// `debug`, default false.
    pub debug: bool,
    /// `endpoints { api, oapi }` (clawtalk) or `endpoint` (connector, API host). Default:
    /// production hosts. Point both at the simulator in tests.
    pub endpoints: Endpoints,
    /// `webhookUrl` + `secret` / `keywords`: the group custom robot of a `mode: "customRobot"`
    /// account (required there; ignored by other modes).
    pub custom_robot: Option<CustomRobotSettings>,
    /// `batchResponses` (also `batch_responses`), default true: short replies queued behind a
    /// rate limit (custom robot 20/min, a conversation's sessionWebhook) leave merged.
    pub batch_responses: bool,
    /// `responseFormat` (clawtalk key; `response_format` in `channels.yaml`), of the account or
    /// else the top level: the agent's answers go out as an action card with these buttons.
    /// `None` = plain markdown/text answers.
    pub response_format: Option<ResponseFormat>,
    /// `streamIdleTimeoutSeconds` (clawtalk key), default 30: a Stream connection on which
    /// nothing (no frame, no pong) arrived for this long is treated as dead and replaced; the
    /// client pings after two thirds of it.
    pub stream_idle_timeout: Duration,
    /// `monthlyApiQuota` (clawtalk key), of the account or else the top level, default
    /// [`DEFAULT_MONTHLY_API_QUOTA`]: the DingTalk API calls the organisation may make in a
    /// month (standard edition: 5 000). The console and the log warn at 80 % and 100 %; 0 =
    /// unlimited, no warning.
    pub monthly_api_quota: u32,
}

/// Default of [`DingTalkAccount::monthly_api_quota`]: a standard-edition organisation's quota.
pub const DEFAULT_MONTHLY_API_QUOTA: u32 = 5_000;

/// `responseFormat: { type: dingtalk_action_card, btn_orientation, buttons }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseFormat {
    /// One to five buttons under every answer.
    pub buttons: Vec<ResponseButton>,
    /// `btn_orientation: "1"`: two buttons side by side instead of stacked.
    pub horizontal: bool,
}

/// One fixed button of a [`ResponseFormat`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseButton {
    /// `title`: the label.
    pub title: String,
    /// `action_url`: an http(s) page or a `dingtalk://` / `dtmd://` client link.
    pub url: Url,
}

/// Default of [`DingTalkAccount::stream_idle_timeout`].
pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A group custom robot (`mode: "customRobot"`).
#[derive(Clone, PartialEq, Eq)]
pub struct CustomRobotSettings {
    /// `webhookUrl`: `https://oapi.dingtalk.com/robot/send?access_token=…` (a credential).
    pub webhook: url::Url,
    /// `secret`: the `SEC…` signing secret, when signing (加签) is on.
    pub secret: Option<Secret>,
    /// `keywords` (or one `keyword`): security keywords; a message lacking them all gets the
    /// first one added.
    pub keywords: Vec<String>,
    /// `outgoingToken`: the key of the robot's Outgoing mechanism. When set, messages that @ the
    /// robot are POSTed by DingTalk to `/webhooks/dingtalk/<accountId>`, signed like HTTP-mode
    /// bot callbacks (`timestamp` + `sign`) with this key.
    pub outgoing_token: Option<Secret>,
}

impl std::fmt::Debug for CustomRobotSettings {
    // The webhook's access_token is a credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomRobotSettings")
            .field(
                "webhook",
                &format!(
                    "{}://{}{}?…",
                    self.webhook.scheme(),
                    self.webhook.host_str().unwrap_or(""),
                    self.webhook.path()
                ),
            )
            .field("secret", &self.secret)
            .field("keywords", &self.keywords)
            .field("outgoing_token", &self.outgoing_token)
            .finish()
    }
}

/// AI card streaming: which template, and how many DingTalk API calls it may spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSettings {
    /// `cardTemplateId`: the AI card template. Create one in the DingTalk card platform
    /// (type 消息卡片, scenario AI 卡片) with a markdown component bound to a streaming
    /// variable (`content` unless `cardTemplateKey` says otherwise) and link it to the app.
    pub template_id: String,
    /// `cardTemplateKey`, default `content`: the template's streamed markdown variable.
    pub content_key: String,
    /// `cardQps`, default 20: card API calls per second this app may make, per API, shared by
    /// every conversation (DingTalk's standard-edition limit is 20/s per app per API).
    pub qps: u32,
    /// `cardStreamInterval`, default 1000 ms (min 200): least time between two updates of one card.
    pub min_interval: std::time::Duration,
    /// `cardUpdateTokens`, default 250: streamed tokens between two updates of one card, so a
    /// 2,000-token answer costs at most 12 calls (create, 8 updates, finalize, and the create
    /// and finalize of a continuation card when it outgrows the first).
    pub update_tokens: u32,
    /// `cardMaxBytes`, default 8,000: content per card; more continues in another card
    /// (cards above ~9 KB render blank in DingTalk clients).
    pub max_bytes: usize,
    /// `aicardDegradeMs`, default 30 min: after a card permission error, reply in markdown
    /// for this long before trying cards again.
    pub degrade: std::time::Duration,
    /// `cardOverflow`, default `markdown`: what an answer does when the app's card quota is
    /// spent for longer than `overflow_after` ahead of it.
    pub overflow: CardOverflow,
    /// `cardOverflowAfterMs`, default 2,000: the longest a card's first text may be expected
    /// to wait for the quota before `cardOverflow` applies.
    pub overflow_after: std::time::Duration,
}

/// `cardOverflow`: beyond the card quota, wait for a card or answer in markdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CardOverflow {
    /// `"wait"`: every answer gets a card, however long the quota makes it wait.
    Wait,
    /// `"markdown"`: the answer goes as a markdown message (sessionWebhook) instead.
    #[default]
    Markdown,
}

/// The template id used when `cardTemplateId` is not set: the official streaming tutorial's
/// template (variable `content`), which DingTalk says is for testing only.
pub const DEFAULT_CARD_TEMPLATE: &str = "8aebdfb9-28f4-4a98-98f5-396c3dde41a0.schema";

impl Default for CardSettings {
    fn default() -> Self {
        Self {
            template_id: DEFAULT_CARD_TEMPLATE.to_owned(),
            content_key: "content".to_owned(),
            qps: 20,
            min_interval: std::time::Duration::from_millis(1000),
            update_tokens: 250,
            max_bytes: 8_000,
            degrade: std::time::Duration::from_secs(30 * 60),
            overflow: CardOverflow::default(),
            overflow_after: std::time::Duration::from_millis(2_000),
        }
    }
}

/// Where DingTalk sends the presses on an HTTP-mode account's cards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardCallbackSettings {
    /// `cardCallbackUrl`: the address DingTalk can reach, ending in
    /// `/webhooks/dingtalk/<accountId>/card` (or `/webhooks/dingtalk/card` for the default
    /// account) behind whatever proxy forwards to the gateway.
    pub url: url::Url,
    /// `cardCallbackSecret`: the `apiSecret` DingTalk signs each press with. `None` = one
    /// derived from the client secret (stable across restarts and replicas).
    pub api_secret: Option<Secret>,
}

/// The console's HTTP event push credentials (both are required together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPush {
    /// `token`: signs every push (SHA1 over token, timestamp, nonce and ciphertext).
    pub token: Secret,
    /// `aesKey` (also `aes_key`): the 43-character AES key.
    pub aes_key: Secret,
}

/// How the bot receives messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionMode {
    /// DingTalk Stream (outbound WebSocket).
    Stream,
    /// HTTP callback: DingTalk POSTs signed bot messages to `/webhooks/dingtalk[/<accountId>]`
    /// on `gateway.bind:gateway.port`; no Stream connection is opened.
    Http,
    /// Group custom robot: sends through `webhookUrl` (20 messages a minute); no Stream
    /// connection and no app credentials.
    CustomRobot,
}

/// Who may talk to the bot in direct messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmPolicy {
    /// Unknown senders get a pairing code an operator approves.
    Pairing,
    /// Only `allow_from`.
    Allowlist,
    /// Everyone.
    Open,
    /// No DMs.
    Disabled,
}

/// Which groups the bot answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupPolicy {
    /// Every group it is @-mentioned in.
    Open,
    /// Only `group_allow_from`.
    Allowlist,
    /// No groups.
    Disabled,
}

/// Reply rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// Markdown message (default).
    Markdown,
    /// Plain text.
    Text,
    /// AI card (`card`, also `aicard`).
    Card,
}

/// How conversations map to sessions (DingTalk connector keys, accepted for all accounts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionScope {
    /// `separateSessionByConversation`, default true; false = one session per user across DM and groups.
    pub separate_by_conversation: bool,
    /// `groupSessionScope`, default `group`.
    pub group_scope: GroupScope,
    /// `sharedMemoryAcrossConversations`, default false.
    pub shared_memory: bool,
}

impl Default for SessionScope {
    fn default() -> Self {
        Self {
            separate_by_conversation: true,
            group_scope: GroupScope::Group,
            shared_memory: false,
        }
    }
}

/// `groupSessionScope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupScope {
    /// One session per group.
    Group,
    /// One session per member within a group (`group_sender`).
    GroupSender,
}

/// `memoryScope` (clawtalk key; `memory_scope` in `channels.yaml`): whose history an agent
/// sees, as one word instead of the connector's two session keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryScope {
    /// One history per user, shared by their DMs and every group they talk in
    /// (connector `separateSessionByConversation: false`).
    User,
    /// One history per conversation a user has with the bot: their DM, and separately their
    /// thread in each group, so group members never see each other's history
    /// (`groupSessionScope: group_sender`). OpenClaw keys DMs by sender and groups by `cid`;
    /// "conversation" is the (chat, sender) pair, which is what makes it differ from `group`.
    Conversation,
    /// One history per group shared by all its members, DMs per user (the default,
    /// `groupSessionScope: group`).
    Group,
}

impl MemoryScope {
    /// The session keying this scope stands for.
    #[must_use]
    pub fn session_scope(self) -> SessionScope {
        let (separate_by_conversation, group_scope) = match self {
            Self::User => (false, GroupScope::Group),
            Self::Conversation => (true, GroupScope::GroupSender),
            Self::Group => (true, GroupScope::Group),
        };
        SessionScope {
            separate_by_conversation,
            group_scope,
            shared_memory: false,
        }
    }
}

/// `session.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Idle time after which the next message starts a fresh session:
    /// `session.reset.idleMinutes`, or `session.reset.idleMs` (clawtalk extension for
    /// sub-minute values; wins when both are set).
    /// Default 30 minutes (OpenClaw's current default is no reset). `None` = never.
    pub idle_reset: Option<Duration>,
    /// Hour of day (0–23, local time) for a daily reset, from `session.reset.mode: "daily"`.
    pub daily_reset_hour: Option<u8>,
    /// Messages that reset the session, default `["/new", "/reset"]`.
    pub reset_triggers: Vec<String>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_reset: Some(DEFAULT_IDLE_RESET),
            daily_reset_hour: None,
            reset_triggers: vec!["/new".into(), "/reset".into()],
        }
    }
}

/// `workflows[]`: which approval events a workflow agent handles, and whom its answer goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowRule {
    /// `match.accountId`: the receiving account; `None` = any.
    pub account_id: Option<String>,
    /// `match.event`: `bpms_instance_change` or `bpms_task_change`; `None` = both.
    pub event: Option<String>,
    /// `match.processCode`: the approval template (`PROC-…`).
    pub process_code: Option<String>,
    /// `match.type`: e.g. `start`, `finish`, `terminate`.
    pub change_type: Option<String>,
    /// `match.result`: e.g. `agree`, `refuse`.
    pub result: Option<String>,
    /// `agent`: the agent that writes the notification (exists in [`Config::agents`]).
    pub agent_id: String,
    /// `notify`: where the agent's answer is posted.
    pub notify: WorkflowNotify,
}

/// `notify` of a workflow rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkflowNotify {
    /// `"approver"`: a DM to the task's approver (`staffId` of `bpms_task_change`).
    Approver,
    /// `"originator"`: a DM to the initiator (`staffId` of `bpms_instance_change`).
    Originator,
    /// `{ group: "cid…" }`: a group the bot is in.
    Group(String),
}
