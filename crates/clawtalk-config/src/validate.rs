//! Cross-checks between sections (bindings → agents/accounts, agents → providers, account
//! credentials and policies) and assembly of the final [`Config`].
//!
//! Every problem is recorded; nothing stops early, so `clawtalk config validate` lists them all.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use url::Url;

use super::agents::{AgentDraft, BindingDraft, ModelAt, ModelSpec, ProviderDraft};
use super::channels::AccountDraft;
use super::openclaw::Draft;
use super::presets::{PRESET_IDS, preset_for};
use super::reader::{Ctx, is_valid_id};
use super::types::{
    AccountMatch, AgentConfig, ApiKind, Binding, Config, ConnectionMode, DEFAULT_RETENTION_DAYS,
    DingTalkAccount, DmPolicy, EventPush, GatewayConfig, GroupPolicy, MessageType, ModelRef, Peer,
    ProviderConfig, ProviderPreset, ResponseFormat, StoreConfig,
};

/// Id of the agent created when the file lists none (OpenClaw's default agent id).
const IMPLICIT_AGENT: &str = "main";

/// Turns the draft into a [`Config`], recording every cross-section problem in `cx`.
/// The result is only meaningful when `cx` holds no errors.
pub fn assemble(draft: Draft, cx: &mut Ctx<'_>, openclaw_file: bool) -> Config {
    let gateway = gateway(&draft, cx);
    let store = store(&draft, &gateway, cx);
    let (agents, default_agent, used_models) = agents(&draft, &gateway, cx);
    let providers = providers(draft.providers, &used_models, cx);
    let approvals = !draft.tools.approval.require.is_empty()
        || agents
            .iter()
            .any(|a| a.tools.approval.as_ref().is_some_and(|p| !p.require.is_empty()));
    super::card_callback::check(&draft.channels.accounts, approvals, cx);
    let accounts = accounts(
        draft.channels.accounts,
        draft.response_format.as_ref(),
        cx,
        openclaw_file,
        gateway.control_ui,
    );
    let bindings = bindings(draft.bindings, &agents, &accounts, &draft.channels.defaults, cx);
    let workflows = super::workflows::check_workflows(draft.workflows, &agents, &accounts, cx);
    Config {
        gateway,
        store,
        agents,
        default_agent,
        providers,
        bindings,
        accounts,
        session: draft.session,
        workflows,
        tools_web: draft.tools_web,
        mcp: draft.mcp,
        tools: draft.tools,
    }
}

fn gateway(draft: &Draft, cx: &mut Ctx<'_>) -> GatewayConfig {
    let g = &draft.gateway;
    let state_dir = g.state_dir.clone().unwrap_or_else(|| {
        cx.diags.error(
            "gateway.stateDir",
            "no home directory to put the state directory in",
            "set gateway.stateDir or export CLAWTALK_STATE_DIR",
        );
        PathBuf::from(".clawtalk")
    });
    if !g.bind.is_loopback() && (g.auth_token.is_none() || g.auth_disabled) {
        cx.diags.error(
            "gateway.auth.token",
            format!("gateway binds to {} (not loopback) without an auth token", g.bind),
            "set gateway.auth.token (e.g. \"${CLAWTALK_GATEWAY_TOKEN}\") or bind: \"loopback\"",
        );
    }
    GatewayConfig {
        port: g.port,
        bind: g.bind,
        state_dir,
        auth_token: if g.auth_disabled {
            None
        } else {
            g.auth_token.clone()
        },
        max_concurrent_turns: g.max_concurrent_turns,
        queue_notice_from: g.queue_notice_from,
        turn_lease: g.turn_lease,
        control_ui: g.control_ui,
        trusted_proxies: g.trusted_proxies.clone(),
        http: g.http,
        reload_mode: g.reload_mode,
    }
}

fn store(draft: &Draft, gateway: &GatewayConfig, cx: &mut Ctx<'_>) -> StoreConfig {
    let retention_days = draft
        .store_retention_days
        .and_then(|d| u32::try_from(d).ok())
        .unwrap_or(DEFAULT_RETENTION_DAYS);
    let url = match &draft.store_url {
        Some((url, path)) => {
            let ok = url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://");
            if !ok {
                // The URL may carry a password, so it is not echoed.
                cx.diags.error(
                    path,
                    "not a supported store URL (sqlite: or postgres://)",
                    "use sqlite:///path/to/clawtalk.db or postgres://user@host/db",
                );
            }
            url.clone()
        }
        None => format!("sqlite://{}", gateway.state_dir.join("clawtalk.db").display()),
    };
    StoreConfig { url, retention_days }
}

/// Resolves agents and returns them with the default agent id and every model they use.
fn agents(
    draft: &Draft,
    gateway: &GatewayConfig,
    cx: &mut Ctx<'_>,
) -> (Vec<AgentConfig>, String, Vec<ModelAt>) {
    let defaults = &draft.agents.defaults;
    let env_model = env_model(cx);

    let implicit: Vec<AgentDraft>;
    let list: Vec<&AgentDraft> = if draft.agents.list.is_empty() {
        implicit = implicit_agents(draft);
        implicit.iter().collect()
    } else {
        draft.agents.list.iter().collect()
    };

    let mut seen: HashMap<&str, &str> = HashMap::new();
    for a in &list {
        if let Some(first) = seen.insert(&a.id, &a.path) {
            cx.diags.error(
                format!("{}.id", a.path),
                format!("agent id {:?} is already used at {first}", a.id),
                "give every agent a unique id",
            );
        }
    }
    let defaults_marked: Vec<&&AgentDraft> = list.iter().filter(|a| a.is_default).collect();
    if defaults_marked.len() > 1 {
        cx.diags.warn(
            format!("{}.default", defaults_marked[1].path),
            format!(
                "more than one agent has default: true; {:?} is the default",
                defaults_marked[0].id
            ),
            Some("mark only one agent as default".into()),
        );
    }
    let default_id = defaults_marked
        .first()
        .map(|a| a.id.clone())
        .unwrap_or_else(|| list[0].id.clone());

    let mut used = Vec::new();
    let mut out = Vec::new();
    for a in list {
        let primary = a
            .model
            .primary
            .clone()
            .or_else(|| defaults.model.primary.clone())
            .or_else(|| env_model.clone());
        // A string model is a strict primary (no fallbacks); an object without fallbacks
        // inherits the defaults' list, as in OpenClaw.
        let fallbacks = match (&a.model.primary, &a.model.fallbacks) {
            (_, Some(f)) => f.clone(),
            (_, None) => defaults.model.fallbacks.clone().unwrap_or_default(),
        };
        let primary = primary.unwrap_or_else(|| missing_model(a, first_run(draft, gateway), cx));
        let has_model = !primary.model.provider.is_empty();
        if has_model {
            used.push(primary.clone());
        }
        used.extend(fallbacks.iter().cloned());
        let is_default = a.id == default_id;
        let workspace = a
            .workspace
            .clone()
            .unwrap_or_else(|| match (is_default, &defaults.workspace) {
                (true, Some(w)) => w.clone(),
                (true, None) => gateway.state_dir.join("workspace"),
                (false, _) => gateway.state_dir.join(format!("workspace-{}", a.id)),
            });
        out.push(AgentConfig {
            id: a.id.clone(),
            name: a.name.clone(),
            model: primary.model,
            fallbacks: fallbacks.into_iter().map(|m| m.model).collect(),
            system_prompt: a.system_prompt.clone().or_else(|| defaults.system_prompt.clone()),
            workspace,
            identity: a.identity.clone(),
            limits: a.limits.resolve(defaults.limits),
            bootstrap: defaults.bootstrap,
            memory: a.memory.resolve(defaults.memory),
            tools: a.tools.clone(),
        });
    }
    (out, default_id, used)
}

/// `CLAWTALK_MODEL`, the model of last resort, when set and well-formed.
fn env_model(cx: &mut Ctx<'_>) -> Option<ModelAt> {
    cx.var("CLAWTALK_MODEL").and_then(|s| match ModelRef::parse(&s) {
        Some(model) => Some(ModelAt {
            model,
            path: "env CLAWTALK_MODEL".into(),
        }),
        None => {
            cx.diags.error(
                "env CLAWTALK_MODEL",
                format!("{s:?} is not a provider/model reference"),
                "export CLAWTALK_MODEL=provider/model, e.g. deepseek/deepseek-chat",
            );
            None
        }
    })
}

/// Without `agents.list`: `main`, plus every agent the bindings name (as OpenClaw runs any
/// bound agent id on the defaults; the plugin guides bind "main" and "tech-support" without
/// listing them). With a list, an unlisted id stays an error (a typo).
fn implicit_agents(draft: &Draft) -> Vec<AgentDraft> {
    let mut ids = vec![IMPLICIT_AGENT.to_owned()];
    for b in &draft.bindings {
        if is_valid_id(&b.agent_id) && !ids.contains(&b.agent_id) {
            ids.push(b.agent_id.clone());
        }
    }
    ids.into_iter()
        .map(|id| AgentDraft {
            path: "agents".into(),
            is_default: id == IMPLICIT_AGENT,
            id,
            name: None,
            model: ModelSpec::default(),
            system_prompt: None,
            workspace: None,
            identity: Default::default(),
            limits: Default::default(),
            memory: Default::default(),
            tools: Default::default(),
        })
        .collect()
}

/// A first run: no DingTalk bot yet and the web console on, whose Setup page adds the bot
/// and the model. The gateway then starts with only the console, so neither is an error.
fn first_run(draft: &Draft, gateway: &GatewayConfig) -> bool {
    draft.channels.accounts.is_empty() && gateway.control_ui
}

/// Reports an agent without any model, and stands in for it so later checks (bindings) still
/// see the agent; the config is not returned because an error was recorded (on a
/// [`first_run`] it is only a warning: no message can reach the agent yet).
fn missing_model(agent: &AgentDraft, first_run: bool, cx: &mut Ctx<'_>) -> ModelAt {
    // An invalid `model` value was reported where it was read; only a model that is missing
    // everywhere needs its own error.
    if !agent.model.written {
        let path = if agent.path == "agents" {
            "agents.defaults.model.primary".to_owned()
        } else {
            format!("{}.model", agent.path)
        };
        let message = format!("agent {:?} has no model", agent.id);
        let fix =
            "set agents.defaults.model.primary (e.g. \"deepseek/deepseek-chat\") or export CLAWTALK_MODEL";
        if first_run {
            cx.diags.warn(
                path,
                message,
                Some(format!("{fix}, or choose one on the web console's Setup page")),
            );
        } else {
            cx.diags.error(path, message, fix);
        }
    }
    ModelAt {
        model: ModelRef {
            provider: String::new(),
            model: String::new(),
        },
        path: agent.path.clone(),
    }
}

/// Declared providers plus presets that agents use without declaring them.
fn providers(
    declared: Vec<ProviderDraft>,
    used: &[ModelAt],
    cx: &mut Ctx<'_>,
) -> BTreeMap<String, ProviderConfig> {
    let mut out = BTreeMap::new();
    for p in declared {
        let preset = preset_for(&p.id);
        let is_used = used.iter().any(|m| m.model.provider == p.id);
        let base_url = p
            .base_url
            .clone()
            .or_else(|| preset.and_then(|pr| Url::parse(pr.base_url).ok()));
        let Some(base_url) = base_url else {
            cx.diags.error(
                format!("{}.baseUrl", p.path),
                format!("provider {:?} has no baseUrl", p.id),
                "set baseUrl to the OpenAI-compatible endpoint, e.g. https://host/v1",
            );
            continue;
        };
        let api_key = p.api_key.clone().or_else(|| preset_key(cx, &p.id));
        let key_path = format!("{}.apiKey", p.path);
        if api_key.is_none()
            && !cx.diags.has_error_at(&key_path)
            && let Some(pr) = preset
        {
            let (message, fix) = (
                format!("provider {:?} has no API key", p.id),
                format!(
                    "set apiKey (e.g. \"${{{}}}\") or export {}",
                    pr.key_envs[0], pr.key_envs[0]
                ),
            );
            if is_used {
                cx.diags.error(key_path, message, fix);
            } else {
                cx.diags.warn(key_path, message, Some(fix));
            }
        }
        out.insert(
            p.id.clone(),
            ProviderConfig {
                id: p.id,
                preset: preset.map_or(ProviderPreset::Custom, |pr| pr.kind),
                base_url,
                api_key,
                api: p.api,
                models: p.models,
                timeout: p.timeout,
            },
        );
    }
    let declared_ids: Vec<String> = out.keys().cloned().collect();
    for m in used {
        let id = &m.model.provider;
        if let Some(p) = out.get(id) {
            if !p.models.is_empty() && !p.models.iter().any(|x| x.id == m.model.model) {
                cx.diags.warn(
                    &m.path,
                    format!(
                        "model {:?} is not listed in models.providers.{id}.models",
                        m.model.model
                    ),
                    Some("add it to the provider's models list or check the spelling".into()),
                );
            }
            continue;
        }
        if declared_ids.contains(id) {
            continue;
        }
        let Some(preset) = preset_for(id) else {
            cx.diags.error(
                &m.path,
                format!("model {} uses provider {id:?}, which is not defined", m.model),
                format!(
                    "add models.providers.{id} with baseUrl and apiKey, or use a built-in provider ({PRESET_IDS})"
                ),
            );
            continue;
        };
        let api_key = preset_key(cx, id);
        // Inserted below even without a key, so later uses hit `out.get` above: one error per
        // provider, at its first use.
        if api_key.is_none() {
            cx.diags.error(
                &m.path,
                format!("provider {id:?} (built in) needs an API key"),
                format!(
                    "export {} or add models.providers.{id}.apiKey",
                    preset.key_envs.join(" / ")
                ),
            );
        }
        let Ok(base_url) = Url::parse(preset.base_url) else {
            continue;
        };
        out.insert(
            id.clone(),
            ProviderConfig {
                id: id.clone(),
                preset: preset.kind,
                base_url,
                api_key,
                api: ApiKind::OpenAiCompletions,
                models: Vec::new(),
                timeout: None,
            },
        );
    }
    out
}

fn preset_key(cx: &Ctx<'_>, id: &str) -> Option<dingtalk::Secret> {
    let preset = preset_for(id)?;
    preset
        .key_envs
        .iter()
        .find_map(|name| cx.var(name))
        .map(dingtalk::Secret::new)
}

fn accounts(
    drafts: Vec<AccountDraft>,
    response_format: Option<&ResponseFormat>,
    cx: &mut Ctx<'_>,
    openclaw_file: bool,
    console: bool,
) -> Vec<DingTalkAccount> {
    let fix = "set channels.dingtalk.clientId and clientSecret, or export DINGTALK_CLIENT_ID and DINGTALK_CLIENT_SECRET";
    if drafts.is_empty() && console {
        cx.diags.warn(
            "channels.dingtalk",
            "no DingTalk bot is configured yet; the gateway starts with only its web console",
            Some(format!("add one on the console's Setup page, or {fix}")),
        );
    } else if drafts.is_empty() {
        cx.diags
            .error("channels.dingtalk", "no DingTalk bot is configured", fix);
    } else if drafts.iter().all(|d| !d.account.enabled) {
        cx.diags.warn(
            "channels.dingtalk",
            "every DingTalk account has enabled: false; the gateway will not connect",
            None,
        );
    }
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut client_ids: HashMap<String, String> = HashMap::new();
    for d in &drafts {
        let a = &d.account;
        let here = d.path.clone().unwrap_or_else(|| "env".into());
        if !is_valid_id(&a.id) {
            cx.diags.error(
                &here,
                format!("account id {:?} is not usable", a.id),
                "use 1–64 letters, digits, - or _",
            );
        }
        if let Some(first) = ids.insert(a.id.clone(), here.clone()) {
            cx.diags.error(
                &here,
                format!("account id {:?} is already used at {first}", a.id),
                "give every DingTalk account a unique id across channels.dingtalk and channels.dingtalk-connector",
            );
        }
        check_account(d, cx, openclaw_file);
        if a.enabled
            && !a.client_id.is_empty()
            && let Some(first) = client_ids.insert(a.client_id.clone(), here.clone())
        {
            cx.diags.error(
                d.key_path("clientId"),
                format!(
                    "clientId {:?} is already used by {first}; two connections to one app split its messages",
                    a.client_id
                ),
                "remove the duplicate account or disable one of them",
            );
        }
    }
    drafts
        .into_iter()
        .map(|d| {
            let event_push = event_push(&d, cx);
            let response_format = if d.response_format_set {
                d.account.response_format.clone()
            } else {
                response_format.cloned()
            };
            check_response_format(&d, response_format.as_ref(), cx);
            DingTalkAccount {
                event_push,
                response_format,
                ..d.account
            }
        })
        .collect()
}

/// `token` + `aesKey`, both or neither: with only one, every push would be refused, so the
/// gateway must not start.
fn event_push(d: &AccountDraft, cx: &mut Ctx<'_>) -> Option<EventPush> {
    let keys = &d.push_keys;
    let aes_name = keys.aes_key_name;
    match (&keys.token, &keys.aes_key) {
        (None, None) => None,
        (Some(_), None) => {
            cx.diags.error(
                d.key_path(aes_name),
                format!("account {:?} sets token but not {aes_name}: encrypted event pushes could not be read", d.account.id),
                format!("copy {aes_name} (43 characters) from the app's event subscription settings, or remove token"),
            );
            None
        }
        (None, Some(_)) => {
            cx.diags.error(
                d.key_path("token"),
                format!(
                    "account {:?} sets {aes_name} but not token: event push signatures could not be checked",
                    d.account.id
                ),
                format!("copy token from the app's event subscription settings, or remove {aes_name}"),
            );
            None
        }
        (Some(token), Some(aes_key)) => {
            // The crypto's own checks (length, alphabet) name the problem without the key.
            let owner = if d.account.client_id.is_empty() {
                "-"
            } else {
                &d.account.client_id
            };
            match dingtalk::crypto::EventCrypto::new(token.expose(), aes_key.expose(), owner) {
                Ok(_) => Some(EventPush {
                    token: token.clone(),
                    aes_key: aes_key.clone(),
                }),
                Err(error) => {
                    cx.diags.error(
                        d.key_path(aes_name),
                        error.to_string(),
                        "copy the aes_key again from the app's event subscription (HTTP push) settings",
                    );
                    None
                }
            }
        }
    }
}

fn check_account(d: &AccountDraft, cx: &mut Ctx<'_>, openclaw_file: bool) {
    let a = &d.account;
    if !a.enabled {
        return;
    }
    let is_default = a.id == "default";
    if a.mode == ConnectionMode::CustomRobot {
        return check_custom_robot(d, cx);
    }
    let id_path = d.key_path("clientId");
    if a.client_id.is_empty() && !cx.diags.has_error_at(&id_path) {
        cx.diags.error(
            id_path,
            format!("account {:?} has no clientId", a.id),
            if is_default {
                "set clientId (the app's AppKey) or export DINGTALK_CLIENT_ID"
            } else {
                "set clientId (the app's AppKey)"
            },
        );
    }
    let secret_path = d.key_path("clientSecret");
    if a.client_secret.is_empty() && !cx.diags.has_error_at(&secret_path) {
        cx.diags.error(
            secret_path,
            format!("account {:?} has no clientSecret", a.id),
            if is_default {
                "set clientSecret (e.g. \"${DINGTALK_CLIENT_SECRET}\") or export DINGTALK_CLIENT_SECRET"
            } else {
                "set clientSecret (e.g. \"${BOT_SECRET}\" or {source: \"env\", id: \"BOT_SECRET\"})"
            },
        );
    }
    let dm_path = d.key_path("dmPolicy");
    match a.dm_policy {
        DmPolicy::Open if !a.allow_from.iter().any(|x| x == "*") => cx.diags.warn(
            &dm_path,
            "dmPolicy \"open\" lets anyone message the bot; OpenClaw also requires allowFrom: [\"*\"] for this",
            Some("add allowFrom: [\"*\"] to confirm, or use dmPolicy \"pairing\"".into()),
        ),
        DmPolicy::Allowlist if a.allow_from.is_empty() => cx.diags.warn(
            &dm_path,
            "dmPolicy \"allowlist\" with an empty allowFrom: nobody can message the bot directly",
            Some("list user ids in allowFrom".into()),
        ),
        _ => {}
    }
    if !d.dm_policy_set && openclaw_file && d.path.is_some() {
        cx.diags.warn(
            dm_path,
            "not set: clawtalk defaults to \"pairing\" (the DingTalk plugins default to \"open\")",
            Some("set dmPolicy explicitly to keep the old behaviour".into()),
        );
    }
    if a.group_policy == GroupPolicy::Allowlist && a.group_allow_from.is_empty() {
        cx.diags.error(
            d.key_path("groupAllowFrom"),
            "groupPolicy \"allowlist\" with an empty groupAllowFrom silences every group",
            "list the allowed group conversation ids or sender ids in groupAllowFrom, or set groupPolicy to \"open\" or \"disabled\"",
        );
    }
}

fn bindings(
    drafts: Vec<BindingDraft>,
    agents: &[AgentConfig],
    accounts: &[DingTalkAccount],
    defaults: &[(String, String)],
    cx: &mut Ctx<'_>,
) -> Vec<Binding> {
    let agent_ids = agents
        .iter()
        .map(|a| a.id.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = Vec::new();
    for b in drafts {
        let mut ok = true;
        if !agents.iter().any(|a| a.id == b.agent_id) {
            cx.diags.error(
                format!("{}.agentId", b.path),
                format!("unknown agent {:?}", b.agent_id),
                format!("use one of: {agent_ids}"),
            );
            ok = false;
        }
        let of_channel: Vec<&DingTalkAccount> = accounts.iter().filter(|a| a.channel == b.channel).collect();
        let account = match b.account_id.as_deref() {
            Some("*") => Some(AccountMatch::Any),
            Some(id) if of_channel.iter().any(|a| a.id == id) => Some(AccountMatch::Id(id.to_owned())),
            Some(id) => {
                cx.diags.error(
                    format!("{}.match.accountId", b.path),
                    format!("no {} account named {id:?}", b.channel),
                    account_fix(&b.channel, &of_channel),
                );
                None
            }
            None => match defaults.iter().find(|(c, _)| *c == b.channel) {
                Some((_, id)) => Some(AccountMatch::Id(id.clone())),
                None => {
                    cx.diags.error(
                        format!("{}.match.channel", b.path),
                        format!("no {} account is configured", b.channel),
                        account_fix(&b.channel, &of_channel),
                    );
                    None
                }
            },
        };
        let (Some(account), true) = (account, ok) else {
            continue;
        };
        out.push(Binding {
            agent_id: b.agent_id,
            channel: b.channel,
            account,
            peer: b.peer.map(|(kind, id)| Peer { kind, id }),
            department: b.department,
        });
    }
    out
}

fn account_fix(channel: &str, accounts: &[&DingTalkAccount]) -> String {
    if accounts.is_empty() {
        format!("configure channels.{channel} or change match.channel")
    } else {
        let ids: Vec<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
        format!("use \"*\" or one of: {}", ids.join(", "))
    }
}

/// A custom-robot account needs its webhook, not app credentials.
fn check_custom_robot(d: &AccountDraft, cx: &mut Ctx<'_>) {
    let a = &d.account;
    let Some(robot) = &a.custom_robot else {
        let path = d.key_path("webhookUrl");
        if !cx.diags.has_error_at(&path) {
            cx.diags.error(
                path,
                format!("account {:?} is a custom robot but has no webhookUrl", a.id),
                "set webhookUrl to the URL from the group's robot settings (https://oapi.dingtalk.com/robot/send?access_token=…)",
            );
        }
        return;
    };
    for (key, message, fix) in super::custom_robot::problems(robot) {
        cx.diags.error(d.key_path(key), message, fix);
    }
    if let Some((key, message, fix)) = super::custom_robot::secret_warning(robot) {
        cx.diags.warn(d.key_path(key), message, Some(fix));
    }
    if a.message_type == super::types::MessageType::Card {
        cx.diags.error(
            d.key_path("messageType"),
            "custom robots cannot send AI cards",
            "use messageType \"markdown\" or \"text\"",
        );
    }
}

/// AI cards stream the answer into a card of their own; an action card cannot wrap it too.
fn check_response_format(d: &AccountDraft, format: Option<&ResponseFormat>, cx: &mut Ctx<'_>) {
    if format.is_some() && d.account.enabled && d.account.message_type == MessageType::Card {
        cx.diags.error(
            d.key_path("messageType"),
            format!(
                "account {:?} answers in AI cards, but responseFormat asks for action cards",
                d.account.id
            ),
            "use messageType \"markdown\" with responseFormat, or set responseFormat: { type: \"markdown\" } on this account",
        );
    }
}
