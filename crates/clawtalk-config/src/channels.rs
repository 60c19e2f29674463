//! `channels.dingtalk` (soimy / openclaw-china plugins) and `channels.dingtalk-connector`
//! (DingTalk's official connector) → [`DingTalkAccount`]s.
//!
//! Both sections accept the same keys here: a single bot at the top level, or several under
//! `accounts.<id>` that inherit the top-level keys (the top-level credentials then only fill in
//! for accounts that omit their own, as the connector documents).

use std::time::Duration;

use dingtalk::{Endpoints, Secret};

use super::reader::{Ctx, IGNORED_KEY, Layered, Obj, OwnedNode};
use super::types::{
    CardOverflow, CardSettings, ConnectionMode, DEFAULT_MONTHLY_API_QUOTA, DEFAULT_STREAM_IDLE_TIMEOUT,
    DingTalkAccount, DmPolicy, GroupPolicy, GroupScope, MemoryScope, MessageType, SessionScope,
};

/// Channel ids clawtalk serves.
pub const CHANNELS: [&str; 2] = ["dingtalk", "dingtalk-connector"];

/// An account plus where it was written, for later cross-checks.
pub struct AccountDraft {
    pub account: DingTalkAccount,
    /// Object path of the account (`channels.dingtalk.accounts.bot2`); `None` for env-only.
    pub path: Option<String>,
    /// Whether `dmPolicy` was written (the default differs from the plugins').
    pub dm_policy_set: bool,
    /// `token` and `aesKey` as written; validation requires both or neither.
    pub push_keys: PushKeys,
    /// Whether the account (or its channel section) sets `responseFormat`; otherwise the top
    /// level's applies.
    pub response_format_set: bool,
}

/// The HTTP event push credentials as written, before the both-or-neither check.
#[derive(Default)]
pub struct PushKeys {
    pub token: Option<Secret>,
    pub aes_key: Option<Secret>,
    /// The spelling the aes key was written with (`aesKey` or `aes_key`), for messages.
    pub aes_key_name: &'static str,
}

impl AccountDraft {
    /// Path of a key of this account. An env-only account has no object: its credentials are
    /// named by their variables, anything else by where it would go in the file.
    pub fn key_path(&self, key: &str) -> String {
        match (&self.path, key) {
            (Some(p), _) => super::value::join_key(p, key),
            (None, "clientId") => "env DINGTALK_CLIENT_ID".into(),
            (None, "clientSecret") => "env DINGTALK_CLIENT_SECRET".into(),
            (None, _) => super::value::join_key("channels.dingtalk", key),
        }
    }
}

/// Accounts of both channel sections plus each channel's default account id.
#[derive(Default)]
pub struct Channels {
    pub accounts: Vec<AccountDraft>,
    /// `(channel, default account id)`.
    pub defaults: Vec<(String, String)>,
}

/// Characters of a user message the model gets by default: a long question or a pasted
/// document fits, a pasted log of hundreds of kilobytes does not flood the context window.
pub const DEFAULT_MAX_INBOUND_CHARS: usize = 20_000;
/// Largest `maxInboundChars` accepted (a few MB of text is no chat message).
const MAX_INBOUND_CHARS: i64 = 2_000_000;

/// Received media above this size are not downloaded (DingTalk's own upload limit is 20 MB).
pub const DEFAULT_MEDIA_MAX_BYTES: u64 = 20 * 1024 * 1024;
/// Largest `mediaMaxMb` accepted: everything is written to disk, but a gigabyte is a mistake.
const MAX_MEDIA_MB: i64 = 1024;

/// Keys the DingTalk plugins define that clawtalk does not (yet) honour.
const PLUGIN_KEYS_IGNORED: &[&str] = &[
    // soimy
    "groups",
    "cardRealTimeStream",
    "cardAtSender",
    "cardStatusLine",
    "convertMarkdownTables",
    "ackReaction",
    "contextVisibility",
    "displayNameResolution",
    "journalTTLDays",
    "mediaUrlAllowlist",
    "bypassProxyForSend",
    "proactivePermissionHint",
    "learningEnabled",
    "learningAutoApply",
    "learningNoteTtlMs",
    "maxConnectionAttempts",
    "initialReconnectDelay",
    "maxReconnectDelay",
    "reconnectJitter",
    "maxReconnectCycles",
    "reconnectDeadlineMs",
    "useConnectionManager",
    "keepAlive",
    "showThinkingStream",
    // connector
    "asyncMode",
    "ackText",
    "groupReplyMode",
    "textChunkLimit",
    "tools",
    "historyLimit",
    "dmHistoryLimit",
    "typingIndicator",
    "resolveSenderNames",
    "enableMediaUpload",
    "systemPrompt",
    "chatbotUserId",
    "chatbotCorpId",
    "gatewayToken",
    "gatewayPassword",
    // openclaw-china
    "enableAICard",
    "longTaskNoticeDelayMs",
    "inboundMedia",
    // OpenClaw channel conventions
    "dms",
    "configWrites",
    "implicitMentions",
];

/// Reads both DingTalk sections of `channels` and applies the `DINGTALK_CLIENT_*` variables.
pub fn read_channels(channels: Option<&Obj<'_>>, cx: &mut Ctx<'_>) -> Channels {
    let mut out = Channels::default();
    if let Some(channels) = channels {
        for channel in CHANNELS {
            if let Some(section) = channels.get(channel).and_then(|n| n.node().object(cx)) {
                read_section(channel, &section, cx, &mut out);
                section.finish(cx, PLUGIN_KEYS_IGNORED, IGNORED_KEY);
            }
        }
    }
    apply_env(cx, &mut out);
    out
}

fn read_section(channel: &str, section: &Obj<'_>, cx: &mut Ctx<'_>, out: &mut Channels) {
    let accounts = section.get("accounts").and_then(|n| n.node().object(cx));
    let default_account = section
        .get("defaultAccount")
        .and_then(|n| n.node().nonempty_string(cx));
    let first_index = out.accounts.len();
    match accounts.as_ref().filter(|a| !a.is_empty()) {
        Some(accounts) => {
            let mut all_have_own_creds = true;
            for (id, node) in accounts.entries() {
                let Some(own) = node.node().object(cx) else {
                    continue;
                };
                all_have_own_creds &= own.has("clientId");
                let layer = Layered {
                    own: Some(&own),
                    base: Some(section),
                };
                out.accounts
                    .push(read_account(id, channel, &layer, own.path(), cx));
                own.finish(cx, PLUGIN_KEYS_IGNORED, IGNORED_KEY);
            }
            // Top-level credentials next to `accounts` only fill in for accounts without their
            // own; say so rather than silently ignoring them.
            if all_have_own_creds && section.has("clientId") {
                cx.diags.warn(
                    section.key_path("clientId"),
                    "unused: every account under accounts sets its own clientId",
                    Some("move it into accounts.<id> or delete it".into()),
                );
            }
        }
        None => {
            let layer = Layered {
                own: None,
                base: Some(section),
            };
            out.accounts
                .push(read_account("default", channel, &layer, section.path(), cx));
        }
    }
    let ours = &out.accounts[first_index..];
    let default_id = match default_account {
        Some(id) => {
            if !ours.iter().any(|a| a.account.id == id) {
                cx.diags.error(
                    section.key_path("defaultAccount"),
                    format!("no account named {id:?} under accounts"),
                    format!("use one of: {}", ids(ours)),
                );
            }
            Some(id)
        }
        None => ours
            .iter()
            .find(|a| a.account.id == "default")
            .or(ours.first())
            .map(|a| a.account.id.clone()),
    };
    if let Some(id) = default_id {
        out.defaults.push((channel.to_owned(), id));
    }
}

fn ids(accounts: &[AccountDraft]) -> String {
    accounts
        .iter()
        .map(|a| a.account.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_account(
    id: &str,
    channel: &str,
    layer: &Layered<'_, '_>,
    path: &str,
    cx: &mut Ctx<'_>,
) -> AccountDraft {
    let get = |key| layer.get(key);
    let bool_or = |node: Option<OwnedNode<'_>>, cx: &mut Ctx<'_>, default| {
        node.and_then(|n| n.node().bool(cx)).unwrap_or(default)
    };

    let enabled = bool_or(get("enabled"), cx, true);
    let name = get("name").and_then(|n| n.node().nonempty_string(cx));
    let mode = read_mode(layer, cx);
    let client_id = get("clientId")
        .and_then(|n| n.node().id_string(cx))
        .unwrap_or_default();
    let client_secret = get("clientSecret")
        .and_then(|n| n.node().secret(cx))
        .unwrap_or_default();
    let robot_code = get("robotCode").and_then(|n| n.node().id_string(cx));
    let corp_id = get("corpId").and_then(|n| n.node().id_string(cx));
    let app_agent_id = get("agentId").and_then(|n| n.node().id_string(cx));
    let (dm_policy, dm_policy_set) = read_dm_policy(layer, cx);
    let group_policy = read_group_policy(layer, cx);
    let allow_from = get("allowFrom")
        .and_then(|n| n.node().id_list(cx))
        .unwrap_or_default();
    let group_allow_from = get("groupAllowFrom")
        .and_then(|n| n.node().id_list(cx))
        .unwrap_or_default();
    let require_mention = bool_or(get("requireMention"), cx, true);
    let message_type = read_message_type(layer, cx);
    let streaming = read_streaming(layer, cx);
    let card = read_card_settings(layer, cx);
    let progress_notes = bool_or(get("progressNotes"), cx, true);
    let media_max_bytes = read_media_max_bytes(layer, cx);
    let max_inbound_chars = get("maxInboundChars")
        .and_then(|n| n.node().int_in(cx, 1, MAX_INBOUND_CHARS))
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(DEFAULT_MAX_INBOUND_CHARS);
    let session = read_session_scope(layer, cx);
    let debug = bool_or(get("debug"), cx, false);
    let endpoints = read_endpoints(layer, cx);
    let push_keys = read_push_keys(layer, cx);
    let card_callback = super::card_callback::read(layer, cx);
    let custom_robot = super::custom_robot::read(layer, cx);
    let batch_responses = super::custom_robot::batch_responses(layer, cx);
    let response_format = get("responseFormat").and_then(|n| super::response_format::read(&n.node(), cx));
    let stream_idle_timeout = get("streamIdleTimeoutSeconds")
        .and_then(|n| n.node().int_in(cx, 3, 600))
        .and_then(|s| u64::try_from(s).ok())
        .map_or(DEFAULT_STREAM_IDLE_TIMEOUT, Duration::from_secs);
    let monthly_api_quota = get("monthlyApiQuota")
        .and_then(|n| n.node().int_in(cx, 0, i64::from(u32::MAX)))
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(DEFAULT_MONTHLY_API_QUOTA);

    // Without `mode`, a webhook and no app credentials can only be a group custom robot:
    // the soimy plugin's Custom Robot setup writes just `webhookUrl` + `secret`.
    let mode = mode.unwrap_or(if client_id.is_empty() && custom_robot.is_some() {
        ConnectionMode::CustomRobot
    } else {
        ConnectionMode::Stream
    });
    let robot_code = robot_code.unwrap_or_else(|| client_id.clone());
    AccountDraft {
        account: DingTalkAccount {
            id: id.to_owned(),
            channel: channel.to_owned(),
            name,
            enabled,
            mode,
            event_push: None,
            card_callback,
            client_id,
            client_secret,
            robot_code,
            corp_id,
            app_agent_id,
            dm_policy,
            group_policy,
            allow_from,
            group_allow_from,
            require_mention,
            message_type,
            streaming,
            card,
            progress_notes,
            media_max_bytes,
            max_inbound_chars,
            session,
            debug,
            endpoints,
            custom_robot,
            batch_responses,
            response_format: response_format.clone().flatten(),
            stream_idle_timeout,
            monthly_api_quota,
        },
        path: Some(path.to_owned()),
        dm_policy_set,
        push_keys,
        response_format_set: response_format.is_some(),
    }
}

/// `mode`: how the account talks to DingTalk; `None` when unset (inferred by the caller).
fn read_mode(layer: &Layered<'_, '_>, cx: &mut Ctx<'_>) -> Option<ConnectionMode> {
    layer.get("mode").and_then(|n| {
        n.node().choice(
            cx,
            &[
                ("stream", ConnectionMode::Stream),
                ("http", ConnectionMode::Http),
                ("customRobot", ConnectionMode::CustomRobot),
            ],
        )
    })
}

/// `dmPolicy` (default `pairing`) and whether the file set it.
fn read_dm_policy(layer: &Layered<'_, '_>, cx: &mut Ctx<'_>) -> (DmPolicy, bool) {
    let node = layer.get("dmPolicy");
    let set = node.is_some();
    let policy = node
        .and_then(|n| {
            n.node().choice(
                cx,
                &[
                    ("pairing", DmPolicy::Pairing),
                    ("allowlist", DmPolicy::Allowlist),
                    ("open", DmPolicy::Open),
                    ("disabled", DmPolicy::Disabled),
                ],
            )
        })
        .unwrap_or(DmPolicy::Pairing);
    (policy, set)
}

/// `groupPolicy`, default `open`.
fn read_group_policy(layer: &Layered<'_, '_>, cx: &mut Ctx<'_>) -> GroupPolicy {
    layer
        .get("groupPolicy")
        .and_then(|n| {
            n.node().choice(
                cx,
                &[
                    ("open", GroupPolicy::Open),
                    ("allowlist", GroupPolicy::Allowlist),
                    ("disabled", GroupPolicy::Disabled),
                ],
            )
        })
        .unwrap_or(GroupPolicy::Open)
}

/// `messageType`, default `markdown` (`aicard` is the plugins' spelling of `card`).
fn read_message_type(layer: &Layered<'_, '_>, cx: &mut Ctx<'_>) -> MessageType {
    layer
        .get("messageType")
        .and_then(|n| {
            n.node().choice(
                cx,
                &[
                    ("markdown", MessageType::Markdown),
                    ("text", MessageType::Text),
                    ("card", MessageType::Card),
                    ("aicard", MessageType::Card),
                ],
            )
        })
        .unwrap_or(MessageType::Markdown)
}

/// `streaming`, default off. soimy's `cardStreamingMode` maps onto the same on/off switch; an
/// explicit `streaming` wins.
fn read_streaming(layer: &Layered<'_, '_>, cx: &mut Ctx<'_>) -> bool {
    let card_streaming = layer.get("cardStreamingMode").and_then(|n| {
        n.node()
            .choice(cx, &[("off", false), ("answer", true), ("all", true)])
    });
    layer
        .get("streaming")
        .and_then(|n| n.node().bool(cx))
        .or(card_streaming)
        .unwrap_or(false)
}

/// soimy's `mediaMaxMb`, else the connector's `maxFileSizeMB`, in bytes.
fn read_media_max_bytes(layer: &Layered<'_, '_>, cx: &mut Ctx<'_>) -> u64 {
    layer
        .get("mediaMaxMb")
        .or_else(|| layer.get("maxFileSizeMB"))
        .and_then(|n| n.node().int_in(cx, 1, MAX_MEDIA_MB))
        .map_or(DEFAULT_MEDIA_MAX_BYTES, |mb| {
            u64::try_from(mb).unwrap_or(1) * 1024 * 1024
        })
}

/// `token` and `aesKey` (the seed files' `aes_key` is accepted too).
fn read_push_keys(layer: &Layered<'_, '_>, cx: &mut Ctx<'_>) -> PushKeys {
    let token = layer.get("token").and_then(|n| n.node().secret(cx));
    let (aes_key_name, aes_node) = match (layer.get("aesKey"), layer.get("aes_key")) {
        (None, Some(node)) => ("aes_key", Some(node)),
        (node, _) => ("aesKey", node),
    };
    PushKeys {
        token: token.filter(|t| !t.is_empty()),
        aes_key: aes_node
            .and_then(|n| n.node().secret(cx))
            .filter(|k| !k.is_empty()),
        aes_key_name,
    }
}

/// `memoryScope`, or the connector's `separateSessionByConversation` / `groupSessionScope` /
/// `sharedMemoryAcrossConversations`; not both, since they would contradict each other.
fn read_session_scope(layer: &Layered<'_, '_>, cx: &mut Ctx<'_>) -> SessionScope {
    let defaults = SessionScope::default();
    let bool_or = |node: Option<OwnedNode<'_>>, cx: &mut Ctx<'_>, default| {
        node.and_then(|n| n.node().bool(cx)).unwrap_or(default)
    };
    let get = |key| layer.get(key);
    if let Some(node) = get("memoryScope") {
        let scope = node.node().choice(
            cx,
            &[
                ("user", MemoryScope::User),
                ("conversation", MemoryScope::Conversation),
                ("group", MemoryScope::Group),
            ],
        );
        for key in ["separateSessionByConversation", "groupSessionScope"] {
            if let Some(other) = get(key) {
                cx.diags.error(
                    other.path,
                    format!("conflicts with {}", node.path),
                    "keep memoryScope (user|conversation|group) and delete this key",
                );
            }
        }
        return scope.map_or(defaults, MemoryScope::session_scope);
    }
    SessionScope {
        separate_by_conversation: bool_or(
            get("separateSessionByConversation"),
            cx,
            defaults.separate_by_conversation,
        ),
        group_scope: get("groupSessionScope")
            .and_then(|n| {
                n.node().choice(
                    cx,
                    &[
                        ("group", GroupScope::Group),
                        ("group_sender", GroupScope::GroupSender),
                    ],
                )
            })
            .unwrap_or(defaults.group_scope),
        shared_memory: bool_or(get("sharedMemoryAcrossConversations"), cx, defaults.shared_memory),
    }
}

/// The AI card keys (soimy's names where they exist).
fn read_card_settings(layer: &Layered<'_, '_>, cx: &mut Ctx<'_>) -> CardSettings {
    let d = CardSettings::default();
    let int = |key, min, max, cx: &mut Ctx<'_>| layer.get(key).and_then(|n| n.node().int_in(cx, min, max));
    let ms = |v: i64| Duration::from_millis(u64::try_from(v).unwrap_or(0));
    CardSettings {
        template_id: layer
            .get("cardTemplateId")
            .and_then(|n| n.node().nonempty_string(cx))
            .unwrap_or(d.template_id),
        content_key: layer
            .get("cardTemplateKey")
            .and_then(|n| n.node().nonempty_string(cx))
            .unwrap_or(d.content_key),
        qps: int("cardQps", 1, 1_000, cx).map_or(d.qps, |v| u32::try_from(v).unwrap_or(d.qps)),
        min_interval: int("cardStreamInterval", 200, 60_000, cx).map_or(d.min_interval, ms),
        update_tokens: int("cardUpdateTokens", 1, 100_000, cx)
            .map_or(d.update_tokens, |v| u32::try_from(v).unwrap_or(d.update_tokens)),
        max_bytes: int("cardMaxBytes", 1_000, 1_000_000, cx)
            .map_or(d.max_bytes, |v| usize::try_from(v).unwrap_or(d.max_bytes)),
        degrade: int("aicardDegradeMs", 60_000, 86_400_000, cx).map_or(d.degrade, ms),
        overflow: layer
            .get("cardOverflow")
            .and_then(|n| {
                n.node().choice(
                    cx,
                    &[("wait", CardOverflow::Wait), ("markdown", CardOverflow::Markdown)],
                )
            })
            .unwrap_or(d.overflow),
        overflow_after: int("cardOverflowAfterMs", 0, 3_600_000, cx).map_or(d.overflow_after, ms),
    }
}

/// `endpoints: "http://sim"` (both APIs on one host), `endpoints: { api, oapi }`, or the
/// connector's `endpoint` (API host only).
fn read_endpoints(layer: &Layered<'_, '_>, cx: &mut Ctx<'_>) -> Endpoints {
    let mut endpoints = Endpoints::default();
    if let Some(url) = layer.get("endpoint").and_then(|n| n.node().url(cx)) {
        endpoints.api = url;
    }
    if let Some(node) = layer.get("endpoints") {
        let node = node.node();
        if matches!(node.value, super::value::Value::String(_)) {
            if let Some(url) = node.url(cx) {
                endpoints = Endpoints::single(url);
            }
        } else if let Some(obj) = node.object(cx) {
            if let Some(url) = obj.get("api").and_then(|n| n.node().url(cx)) {
                endpoints.api = url;
            }
            if let Some(url) = obj.get("oapi").and_then(|n| n.node().url(cx)) {
                endpoints.oapi = url;
            }
            obj.finish(cx, &[], IGNORED_KEY);
        }
    }
    endpoints
}

/// `DINGTALK_CLIENT_ID` / `DINGTALK_CLIENT_SECRET` fill in the `default` account, creating it
/// when no DingTalk account is configured at all (OpenClaw: env credentials only apply to the
/// default account).
fn apply_env(cx: &mut Ctx<'_>, out: &mut Channels) {
    let id = cx.var("DINGTALK_CLIENT_ID");
    let secret = cx.var("DINGTALK_CLIENT_SECRET");
    if id.is_none() && secret.is_none() {
        return;
    }
    if out.accounts.is_empty() {
        let mut draft = env_account();
        draft.account.client_id = id.unwrap_or_default();
        draft.account.robot_code = draft.account.client_id.clone();
        draft.account.client_secret = secret.map(Secret::new).unwrap_or_default();
        out.defaults.push(("dingtalk".into(), "default".into()));
        out.accounts.push(draft);
        return;
    }
    if let Some(draft) = out.accounts.iter_mut().find(|a| a.account.id == "default") {
        let account = &mut draft.account;
        if account.client_id.is_empty()
            && let Some(id) = id
        {
            if account.robot_code.is_empty() {
                account.robot_code = id.clone();
            }
            account.client_id = id;
        }
        if account.client_secret.is_empty()
            && let Some(secret) = secret
        {
            account.client_secret = Secret::new(secret);
        }
    }
}

/// An account made only from environment variables, with every default applied.
fn env_account() -> AccountDraft {
    AccountDraft {
        account: DingTalkAccount {
            id: "default".into(),
            channel: "dingtalk".into(),
            name: None,
            enabled: true,
            mode: ConnectionMode::Stream,
            event_push: None,
            card_callback: None,
            client_id: String::new(),
            client_secret: Secret::default(),
            robot_code: String::new(),
            corp_id: None,
            app_agent_id: None,
            dm_policy: DmPolicy::Pairing,
            group_policy: GroupPolicy::Open,
            allow_from: Vec::new(),
            group_allow_from: Vec::new(),
            require_mention: true,
            message_type: MessageType::Markdown,
            streaming: false,
            card: CardSettings::default(),
            progress_notes: true,
            media_max_bytes: DEFAULT_MEDIA_MAX_BYTES,
            max_inbound_chars: DEFAULT_MAX_INBOUND_CHARS,
            session: SessionScope::default(),
            debug: false,
            endpoints: Endpoints::default(),
            custom_robot: None,
            batch_responses: true,
            response_format: None,
            stream_idle_timeout: DEFAULT_STREAM_IDLE_TIMEOUT,
            monthly_api_quota: DEFAULT_MONTHLY_API_QUOTA,
        },
        path: None,
        dm_policy_set: false,
        push_keys: PushKeys::default(),
        response_format_set: false,
    }
}
