//! `agents` (legacy `agents.list` and current `agents.entries`), `models.providers` and
//! `bindings`, read into drafts that still remember their key paths for cross-checks.

use std::path::PathBuf;

use dingtalk::Secret;
use url::Url;

use super::agent_memory::{MemoryDraft, read_memory};
use super::channels::CHANNELS;
use super::reader::{Ctx, IGNORED_KEY, Node, Obj, is_valid_id, path_value};
use super::types::{AgentLimits, ApiKind, BootstrapLimits, Identity, ModelInfo, ModelRef, PeerKind};

/// A model reference and the key path it was written at.
#[derive(Clone)]
pub struct ModelAt {
    pub model: ModelRef,
    pub path: String,
}

/// `{primary, fallbacks}` as written; `fallbacks: None` means "not given" (inherit).
#[derive(Clone, Default)]
pub struct ModelSpec {
    pub primary: Option<ModelAt>,
    pub fallbacks: Option<Vec<ModelAt>>,
    /// A primary was written (so if `primary` is `None` it was invalid and already reported).
    pub written: bool,
}

pub struct AgentDraft {
    pub path: String,
    pub id: String,
    pub is_default: bool,
    pub name: Option<String>,
    pub model: ModelSpec,
    pub system_prompt: Option<String>,
    pub workspace: Option<PathBuf>,
    pub identity: Identity,
    pub limits: LimitsDraft,
    pub memory: MemoryDraft,
    pub tools: crate::AgentTools,
}

/// `agents.defaults`.
#[derive(Default)]
pub struct AgentDefaults {
    pub model: ModelSpec,
    pub workspace: Option<PathBuf>,
    pub system_prompt: Option<String>,
    pub limits: LimitsDraft,
    pub bootstrap: BootstrapLimits,
    pub memory: MemoryDraft,
}

/// `limits` as written; `None` = not given (inherit).
#[derive(Clone, Copy, Default)]
pub struct LimitsDraft {
    pub media_per_turn: Option<u32>,
    pub parts_per_answer: Option<u32>,
    pub tool_calls_per_round: Option<u32>,
    pub cron_min_interval_minutes: Option<u32>,
}

impl LimitsDraft {
    /// Each key from `self`, else from `defaults`, else the built-in default.
    pub fn resolve(self, defaults: Self) -> AgentLimits {
        let builtin = AgentLimits::default();
        let minutes = self
            .cron_min_interval_minutes
            .or(defaults.cron_min_interval_minutes);
        AgentLimits {
            media_per_turn: self
                .media_per_turn
                .or(defaults.media_per_turn)
                .unwrap_or(builtin.media_per_turn),
            parts_per_answer: self
                .parts_per_answer
                .or(defaults.parts_per_answer)
                .unwrap_or(builtin.parts_per_answer),
            tool_calls_per_round: self
                .tool_calls_per_round
                .or(defaults.tool_calls_per_round)
                .unwrap_or(builtin.tool_calls_per_round),
            cron_min_interval: minutes.map_or(builtin.cron_min_interval, |m| {
                std::time::Duration::from_secs(u64::from(m) * 60)
            }),
        }
    }
}

/// `limits { … }`: every cap must be at least 1 (0 would switch the feature off silently;
/// a tool the operator does not want is better left out of the agent's reach).
fn read_limits(obj: &Obj<'_>, cx: &mut Ctx<'_>) -> LimitsDraft {
    let Some(limits) = obj.get("limits").and_then(|n| n.node().object(cx)) else {
        return LimitsDraft::default();
    };
    let mut int = |key: &'static str, max: i64| {
        limits
            .get(key)
            .and_then(|n| n.node().int_in(cx, 1, max))
            .and_then(|n| u32::try_from(n).ok())
    };
    let draft = LimitsDraft {
        media_per_turn: int("mediaPerTurn", 100),
        parts_per_answer: int("partsPerAnswer", 100),
        tool_calls_per_round: int("toolCallsPerRound", 128),
        cron_min_interval_minutes: int("cronMinIntervalMinutes", 1_440),
    };
    limits.finish(cx, &[], IGNORED_KEY);
    draft
}

/// `bootstrapMaxChars`, `bootstrapTotalMaxChars`, `skipBootstrap` of `agents.defaults`
/// (OpenClaw reads them there only). A cap of 0 would hide the whole workspace without a word,
/// so caps start at 1; 10 million characters is far past any model's context.
fn read_bootstrap(defaults: &Obj<'_>, cx: &mut Ctx<'_>) -> BootstrapLimits {
    let builtin = BootstrapLimits::default();
    let mut cap = |key: &'static str| {
        defaults
            .get(key)
            .and_then(|n| n.node().int_in(cx, 1, 10_000_000))
            .and_then(|n| usize::try_from(n).ok())
    };
    let max_chars = cap("bootstrapMaxChars").unwrap_or(builtin.max_chars);
    let total_max_chars = cap("bootstrapTotalMaxChars").unwrap_or(builtin.total_max_chars);
    let skip = defaults
        .get("skipBootstrap")
        .and_then(|n| n.node().bool(cx))
        .unwrap_or(builtin.skip);
    BootstrapLimits {
        max_chars,
        total_max_chars,
        skip,
    }
}

#[derive(Default)]
pub struct Agents {
    pub list: Vec<AgentDraft>,
    pub defaults: AgentDefaults,
}

/// Per-agent OpenClaw keys clawtalk does not use.
const AGENT_KEYS_IGNORED: &[&str] = &[
    "agentDir",
    "utilityModel",
    "thinkingDefault",
    "reasoningDefault",
    "fastModeDefault",
    "params",
    "skills",
    "groupChat",
    "sandbox",
    "runtime",
    "subagents",
    "tts",
    "heartbeat",
    "memorySearch",
    "humanDelay",
    "blockStreamingDefault",
    "contextPruning",
    "compaction",
];

/// `agents.defaults` keys clawtalk does not use.
const DEFAULTS_KEYS_IGNORED: &[&str] = &[
    "models",
    "userTimezone",
    "timeFormat",
    "envelopeTimezone",
    "envelopeTimestamp",
    "envelopeElapsed",
    "imageModel",
    "thinkingDefault",
    "verboseDefault",
    "elevatedDefault",
    "blockStreamingDefault",
    "blockStreamingBreak",
    "blockStreamingChunk",
    "humanDelay",
    "timeoutSeconds",
    "mediaMaxMb",
    "typingIntervalSeconds",
    "typingMode",
    "heartbeat",
    "maxConcurrent",
    "subagents",
    "sandbox",
    "contextPruning",
    "compaction",
    "memorySearch",
    "contextTokens",
    "cliBackends",
    "repoRoot",
    "utilityModel",
    "params",
    "skills",
    "tools",
];

pub fn read_agents(agents: &Obj<'_>, cx: &mut Ctx<'_>) -> Agents {
    let mut out = Agents::default();
    if let Some(defaults) = agents.get("defaults").and_then(|n| n.node().object(cx)) {
        out.defaults = AgentDefaults {
            model: defaults
                .get("model")
                .map(|n| read_model_spec(&n.node(), cx))
                .unwrap_or_default(),
            workspace: defaults.get("workspace").and_then(|n| path_value(&n.node(), cx)),
            system_prompt: defaults.get("systemPrompt").and_then(|n| n.node().string(cx)),
            limits: read_limits(&defaults, cx),
            bootstrap: read_bootstrap(&defaults, cx),
            memory: read_memory(&defaults, cx),
        };
        defaults.finish(cx, DEFAULTS_KEYS_IGNORED, IGNORED_KEY);
    }
    let list = agents.get("list");
    let entries = agents.get("entries");
    if let (Some(_), Some(entries)) = (&list, &entries) {
        cx.diags.error(
            &entries.path,
            "both agents.list and agents.entries are set",
            "keep one of them (`openclaw doctor --fix` converts agents.list to agents.entries)",
        );
    }
    if let Some(items) = list.and_then(|n| n.node().array(cx)) {
        for item in items {
            let Some(obj) = item.node().object(cx) else {
                continue;
            };
            let id = match obj.get("id") {
                Some(n) => n.node().nonempty_string(cx),
                None => {
                    cx.diags.error(
                        obj.key_path("id"),
                        "agent has no id",
                        "add id: \"main\" (letters, digits, - or _)",
                    );
                    None
                }
            };
            if let Some(draft) = read_agent(id, &obj, cx) {
                out.list.push(draft);
            }
        }
    }
    if let Some(map) = entries.and_then(|n| n.node().object(cx)) {
        for (key, node) in map.entries() {
            let Some(obj) = node.node().object(cx) else {
                continue;
            };
            // The map key is the id; an inner `id` must agree with it.
            if let Some(inner) = obj.get("id").and_then(|n| n.node().nonempty_string(cx))
                && inner != key
            {
                cx.diags.error(
                    obj.key_path("id"),
                    format!("id {inner:?} differs from the entry key {key:?}"),
                    "remove id (the key is the id) or make them equal",
                );
            }
            if let Some(draft) = read_agent(Some(key.to_owned()), &obj, cx) {
                out.list.push(draft);
            }
        }
    }
    agents.accept(&["ownership"]);
    agents.finish(cx, &[], IGNORED_KEY);
    out
}

fn read_agent(id: Option<String>, obj: &Obj<'_>, cx: &mut Ctx<'_>) -> Option<AgentDraft> {
    let is_default = obj
        .get("default")
        .and_then(|n| n.node().bool(cx))
        .unwrap_or(false);
    let name = obj.get("name").and_then(|n| n.node().nonempty_string(cx));
    let model = obj
        .get("model")
        .map(|n| read_model_spec(&n.node(), cx))
        .unwrap_or_default();
    // `systemPrompt` is clawtalk's name; `systemPromptOverride` is OpenClaw's legacy one.
    let system_prompt = obj
        .get("systemPrompt")
        .or_else(|| obj.get("systemPromptOverride"))
        .and_then(|n| n.node().string(cx));
    obj.accept(&["systemPromptOverride"]);
    let workspace = obj.get("workspace").and_then(|n| path_value(&n.node(), cx));
    let identity = obj
        .get("identity")
        .and_then(|n| n.node().object(cx))
        .map(|ident| {
            let mut field = |k| ident.get(k).and_then(|n| n.node().nonempty_string(cx));
            let identity = Identity {
                name: field("name"),
                emoji: field("emoji"),
                theme: field("theme"),
                avatar: field("avatar"),
            };
            ident.finish(cx, &[], IGNORED_KEY);
            identity
        })
        .unwrap_or_default();
    let limits = read_limits(obj, cx);
    let memory = read_memory(obj, cx);
    let tools = obj
        .get("tools")
        .and_then(|n| n.node().object(cx))
        .map(|t| super::tools::read_agent_tools(&t, cx))
        .unwrap_or_default();
    obj.finish(cx, AGENT_KEYS_IGNORED, IGNORED_KEY);
    let id = id?;
    if !is_valid_id(&id) {
        cx.diags.error(
            obj.key_path("id"),
            format!("agent id {id:?} is not usable"),
            "use 1–64 letters, digits, - or _",
        );
        return None;
    }
    Some(AgentDraft {
        path: obj.path().to_owned(),
        id,
        is_default,
        name,
        model,
        system_prompt,
        workspace,
        identity,
        limits,
        memory,
        tools,
    })
}

/// `model: "provider/model"` (a strict primary: no fallbacks) or `{primary, fallbacks}`.
fn read_model_spec(node: &Node<'_, '_>, cx: &mut Ctx<'_>) -> ModelSpec {
    match node.value {
        super::value::Value::String(_) => ModelSpec {
            primary: read_model_ref(node, cx),
            fallbacks: Some(Vec::new()),
            written: true,
        },
        _ => {
            let Some(obj) = node.object(cx) else {
                return ModelSpec {
                    written: true,
                    ..ModelSpec::default()
                };
            };
            let primary = obj.get("primary").and_then(|n| read_model_ref(&n.node(), cx));
            let fallbacks = obj
                .get("fallbacks")
                .and_then(|n| n.node().array(cx))
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| read_model_ref(&i.node(), cx))
                        .collect()
                });
            obj.finish(cx, &[], IGNORED_KEY);
            // Without `primary` the object only sets fallbacks; the primary is inherited.
            ModelSpec {
                primary,
                fallbacks,
                written: obj.has("primary"),
            }
        }
    }
}

pub fn read_model_ref(node: &Node<'_, '_>, cx: &mut Ctx<'_>) -> Option<ModelAt> {
    let s = node.nonempty_string(cx)?;
    match ModelRef::parse(&s) {
        Some(model) => Some(ModelAt {
            model,
            path: node.path.to_owned(),
        }),
        None => {
            cx.diags.error(
                node.path,
                format!("{s:?} is not a provider/model reference"),
                "write \"provider/model\", e.g. \"deepseek/deepseek-chat\"",
            );
            None
        }
    }
}

/// A provider as written in `models.providers.<id>`.
pub struct ProviderDraft {
    pub path: String,
    pub id: String,
    pub base_url: Option<Url>,
    pub api_key: Option<Secret>,
    pub api: ApiKind,
    pub models: Vec<ModelInfo>,
    pub timeout: Option<std::time::Duration>,
}

const PROVIDER_KEYS_IGNORED: &[&str] = &[
    "headers",
    "auth",
    "authHeader",
    "params",
    "compat",
    "request",
    "timeout",
];
/// Per-model catalogue fields that only matter to OpenClaw's UI and pricing.
const MODEL_KEYS_IGNORED: &[&str] = &[
    "reasoning",
    "cost",
    "contextTokens",
    "compat",
    "headers",
    "params",
    "api",
];

pub fn read_providers(models: &Obj<'_>, cx: &mut Ctx<'_>) -> Vec<ProviderDraft> {
    let mut out = Vec::new();
    if let Some(providers) = models.get("providers").and_then(|n| n.node().object(cx)) {
        for (id, node) in providers.entries() {
            let Some(obj) = node.node().object(cx) else {
                continue;
            };
            let base_url = obj.get("baseUrl").and_then(|n| n.node().url(cx));
            let api_key = obj.get("apiKey").and_then(|n| n.node().secret(cx));
            let api = obj
                .get("api")
                .and_then(|n| {
                    n.node().choice(
                        cx,
                        &[
                            ("openai-completions", ApiKind::OpenAiCompletions),
                            ("openai-responses", ApiKind::OpenAiResponses),
                            ("anthropic-messages", ApiKind::AnthropicMessages),
                        ],
                    )
                })
                .unwrap_or(ApiKind::OpenAiCompletions);
            let catalogue = obj
                .get("models")
                .and_then(|n| n.node().array(cx))
                .unwrap_or_default();
            let mut models = Vec::new();
            for item in catalogue {
                // A bare string is a model id.
                if let super::value::Value::String(_) = item.value {
                    if let Some(id) = item.node().nonempty_string(cx) {
                        models.push(ModelInfo {
                            id,
                            name: None,
                            context_window: None,
                            max_tokens: None,
                            images: None,
                        });
                    }
                    continue;
                }
                let Some(m) = item.node().object(cx) else {
                    continue;
                };
                let mid = m.get("id").and_then(|n| n.node().nonempty_string(cx));
                if m.get("id").is_none() {
                    cx.diags.error(
                        m.key_path("id"),
                        "model entry has no id",
                        "add id: the model name the provider expects",
                    );
                }
                let name = m.get("name").and_then(|n| n.node().nonempty_string(cx));
                let context_window = m
                    .get("contextWindow")
                    .and_then(|n| n.node().int_in(cx, 1, i64::MAX))
                    .and_then(|n| u64::try_from(n).ok());
                let max_tokens = m
                    .get("maxTokens")
                    .and_then(|n| n.node().int_in(cx, 1, i64::MAX))
                    .and_then(|n| u64::try_from(n).ok());
                // OpenClaw's `input: ["text", "image"]` is how a catalogue says a model sees images.
                let images = m.get("input").and_then(|n| n.node().array(cx)).map(|kinds| {
                    kinds
                        .iter()
                        .filter_map(|k| k.node().string(cx))
                        .any(|k| k.eq_ignore_ascii_case("image"))
                });
                // Other catalogue metadata (pricing, reasoning) is descriptive; accept it quietly.
                m.accept(MODEL_KEYS_IGNORED);
                m.finish(cx, &[], IGNORED_KEY);
                if let Some(id) = mid {
                    models.push(ModelInfo {
                        id,
                        name,
                        context_window,
                        max_tokens,
                        images,
                    });
                }
            }
            let timeout = obj
                .get("timeoutSeconds")
                .and_then(|n| n.node().int_in(cx, 1, 3600))
                .and_then(|s| u64::try_from(s).ok())
                .map(std::time::Duration::from_secs);
            obj.finish(cx, PROVIDER_KEYS_IGNORED, IGNORED_KEY);
            out.push(ProviderDraft {
                path: obj.path().to_owned(),
                id: id.to_owned(),
                base_url,
                api_key,
                api,
                models,
                timeout,
            });
        }
    }
    // `mode: merge|replace` decides how OpenClaw merges with its built-in catalogue; clawtalk
    // has only presets, which never override a declared provider, so both mean the same here.
    models.accept(&["mode"]);
    models.finish(cx, &["bedrockDiscovery"], IGNORED_KEY);
    out
}

/// A binding as written, before agent/account cross-checks.
pub struct BindingDraft {
    pub path: String,
    pub agent_id: String,
    pub channel: String,
    /// `None` = omitted (the channel's default account); `Some("*")` = any.
    pub account_id: Option<String>,
    pub peer: Option<(PeerKind, String)>,
    pub department: Option<i64>,
}

pub fn read_bindings(node: &Node<'_, '_>, cx: &mut Ctx<'_>) -> Vec<BindingDraft> {
    let mut out = Vec::new();
    for item in node.array(cx).unwrap_or_default() {
        let Some(obj) = item.node().object(cx) else {
            continue;
        };
        if let Some(draft) = read_binding(&obj, cx) {
            out.push(draft);
        }
    }
    out
}

fn read_binding(obj: &Obj<'_>, cx: &mut Ctx<'_>) -> Option<BindingDraft> {
    obj.accept(&["comment"]);
    let kind = obj
        .get("type")
        .and_then(|n| n.node().choice(cx, &[("route", true), ("acp", false)]));
    let agent_id = obj.get("agentId").and_then(|n| n.node().nonempty_string(cx));
    if obj.get("agentId").is_none() {
        cx.diags.error(
            obj.key_path("agentId"),
            "binding has no agentId",
            "add agentId: the id of the agent that should answer",
        );
    }
    let matcher = obj.get("match").and_then(|n| n.node().object(cx));
    if obj.get("match").is_none() {
        cx.diags.error(
            obj.key_path("match"),
            "binding has no match",
            "add match: { channel: \"dingtalk\", … }",
        );
    }
    obj.finish(cx, &["session"], IGNORED_KEY);
    let matcher = matcher?;
    let channel = matcher.get("channel").and_then(|n| n.node().nonempty_string(cx));
    if matcher.get("channel").is_none() {
        cx.diags.error(
            matcher.key_path("channel"),
            "binding match has no channel",
            "add channel: \"dingtalk\"",
        );
    }
    let account_id = matcher.get("accountId").and_then(|n| n.node().id_string(cx));
    let peer = matcher.get("peer").and_then(|n| {
        let p = n.node().object(cx)?;
        let kind = p.get("kind").and_then(|k| {
            k.node().choice(
                cx,
                &[
                    ("direct", Some(PeerKind::Direct)),
                    ("dm", Some(PeerKind::Direct)),
                    ("group", Some(PeerKind::Group)),
                    ("channel", None),
                ],
            )
        });
        if kind == Some(None) {
            cx.diags.error(
                p.key_path("kind"),
                "DingTalk has no \"channel\" peers",
                "use kind: \"direct\" or \"group\"",
            );
        }
        if p.get("kind").is_none() {
            cx.diags.error(
                p.key_path("kind"),
                "peer has no kind",
                "add kind: \"direct\" or \"group\"",
            );
        }
        // A kind without an id matches every peer of that kind, as the DingTalk plugin's
        // setup guide binds "all DMs to one agent, all groups to another" (the
        // openclaw-stream-bindings seed). `"*"` is the same wildcard written out.
        let id = match p.get("id") {
            None => Some("*".to_owned()),
            Some(i) => i.node().id_string(cx),
        };
        p.finish(cx, &[], IGNORED_KEY);
        Some((kind??, id?))
    });
    let department = matcher
        .get("department")
        .and_then(|n| n.node().int_in(cx, 0, i64::MAX));
    matcher.finish(cx, &["guildId", "teamId", "roles"], IGNORED_KEY);

    if kind == Some(false) {
        cx.diags.warn(
            obj.path(),
            "ACP bindings are not supported by clawtalk; binding ignored",
            None,
        );
        return None;
    }
    let channel = normalize_channel(&channel?);
    if !CHANNELS.contains(&channel.as_str()) {
        cx.diags.warn(
            obj.path(),
            format!("binding for channel {channel:?} ignored: clawtalk serves DingTalk only"),
            None,
        );
        return None;
    }
    Some(BindingDraft {
        path: obj.path().to_owned(),
        agent_id: agent_id?,
        channel,
        account_id,
        peer,
        department,
    })
}

/// Lower-cases and maps the connector's aliases (`dd`, `ding`) to its channel id.
fn normalize_channel(raw: &str) -> String {
    let lower = raw.trim().to_ascii_lowercase();
    match lower.as_str() {
        "dd" | "ding" => "dingtalk-connector".to_owned(),
        _ => lower,
    }
}
