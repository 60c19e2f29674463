//! The file format: OpenClaw's `openclaw.json` shape, plus clawtalk's own keys (`gateway.stateDir`,
//! `store`, account `mode`/`endpoints`, binding `match.department`). One reader serves both our
//! `clawtalk.json` and an unchanged OpenClaw file.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use dingtalk::Secret;

use super::agents::{Agents, BindingDraft, ProviderDraft, read_agents, read_bindings, read_providers};
use super::channels::{Channels, read_channels};
use super::reader::{Ctx, IGNORED_KEY, Obj, path_value};
use super::types::{DEFAULT_IDLE_RESET, DEFAULT_PORT, SessionConfig};
use super::value::Value;
use super::workflows::{WorkflowDraft, read_workflows};

/// Everything read from the document, before cross-checks.
pub struct Draft {
    pub gateway: GatewayDraft,
    pub store_url: Option<(String, String)>,
    /// `store.retentionDays`.
    pub store_retention_days: Option<i64>,
    pub session: SessionConfig,
    pub agents: Agents,
    pub providers: Vec<ProviderDraft>,
    pub bindings: Vec<BindingDraft>,
    pub channels: Channels,
    pub workflows: Vec<WorkflowDraft>,
    /// `tools.web.*`.
    pub tools_web: super::web_tools::WebToolsConfig,
    pub mcp: super::mcp::McpConfig,
    /// Top-level `responseFormat`: every account's unless it sets its own.
    pub response_format: Option<super::types::ResponseFormat>,
    /// `tools`: policy and approvals.
    pub tools: crate::ToolsConfig,
}

/// Agent turns running at once across all sessions, by default. A turn spends nearly all its
/// time waiting on the model (seconds to the first token, tens of seconds to the last), so the
/// turns at once are what the answers per second are: 10,000 people asking within a minute of
/// 12-second answers keep about 2,000 running, and a limit of 128 would queue them for
/// a quarter of an hour. Memory grows with the turns actually running (60–80 kB each against
/// a plain-HTTP/1 model, BENCHMARKS.md "Load"),
/// which is the price of answering them rather than queueing them; the gateway lowers the
/// limit when the open-files limit cannot hold a model connection for each.
pub const DEFAULT_MAX_CONCURRENT_TURNS: usize = 10_000;

/// From how many turns waiting ahead a message gets a "queued" note, by default: a few
/// seconds of waiting at a typical model's pace, never the first messages of a quiet bot.
pub const DEFAULT_QUEUE_NOTICE_FROM: usize = 20;

/// How long a claimed turn is one process's before another may take it over, by default:
/// long enough that a busy process renews in time (every third of it), short enough that a
/// crashed replica's users wait only about a minute.
pub const DEFAULT_TURN_LEASE: Duration = Duration::from_secs(60);

pub struct GatewayDraft {
    pub port: u16,
    pub bind: IpAddr,
    /// `None` when no home directory and no explicit state dir exist (reported as an error).
    pub state_dir: Option<PathBuf>,
    pub auth_token: Option<Secret>,
    /// `gateway.auth.mode: none` was set explicitly.
    pub auth_disabled: bool,
    pub max_concurrent_turns: usize,
    pub queue_notice_from: usize,
    pub turn_lease: Duration,
    /// `gateway.controlUi.enabled`, default true.
    pub control_ui: bool,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub http: super::types::HttpLimits,
    pub reload_mode: super::types::ReloadMode,
}

/// Top-level OpenClaw sections clawtalk has no use for.
const ROOT_KEYS_IGNORED: &[&str] = &[
    "$schema",
    "meta",
    "wizard",
    "auth",
    "plugins",
    "messages",
    "commands",
    "hooks",
    "cron",
    "automations",
    "skills",
    "browser",
    "ui",
    "logging",
    "diagnostics",
    "update",
    "memory",
    "talk",
    "web",
    "discovery",
    "canvasHost",
    "broadcast",
    "approvals",
    "nodeHost",
    "secrets",
    "acp",
    "media",
    "audio",
];

/// Channel ids of other OpenClaw channels, so they are not reported as typos.
const OTHER_CHANNELS: &[&str] = &[
    "telegram",
    "whatsapp",
    "discord",
    "slack",
    "signal",
    "imessage",
    "bluebubbles",
    "googlechat",
    "msteams",
    "matrix",
    "mattermost",
    "feishu",
    "lark",
    "line",
    "irc",
    "nostr",
    "twitch",
    "zalo",
    "wecom",
    "qqbot",
    "nextcloud-talk",
    "ddingtalk",
    "defaults",
    "modelByChannel",
];

/// Reads the whole document. `root` must be an object (checked by the caller's error path).
pub fn read_document(root: &Value, cx: &mut Ctx<'_>) -> Draft {
    let entries: &[(String, Value)] = match root {
        Value::Object(e) => e,
        other => {
            cx.diags.error(
                "(root)",
                format!("the file must hold an object, found {}", other.kind()),
                "wrap the settings in { … }",
            );
            &[]
        }
    };
    let root = Obj::new(entries, String::new());

    // `env` first: its variables are available to `${VAR}` everywhere else.
    if let Some(env) = root.get("env").and_then(|n| n.node().object(cx)) {
        read_env(&env, cx);
    }
    let gateway_obj = root.get("gateway").and_then(|n| n.node().object(cx));
    let gateway = read_gateway(gateway_obj.as_ref(), cx);
    let mut store_retention_days = None;
    let store_url = root
        .get("store")
        .and_then(|n| n.node().object(cx))
        .and_then(|store| {
            let url = store
                .get("url")
                .and_then(|n| n.node().nonempty_string(cx).map(|u| (u, n.path.clone())));
            // At least a day: the kept rows are the dedup of DingTalk's redeliveries.
            store_retention_days = store
                .get("retentionDays")
                .and_then(|n| n.node().int_in(cx, 1, 3650));
            store.finish(cx, &[], IGNORED_KEY);
            url
        });
    let session = root
        .get("session")
        .and_then(|n| n.node().object(cx))
        .map(|s| read_session(&s, cx))
        .unwrap_or_default();
    let providers = root
        .get("models")
        .and_then(|n| n.node().object(cx))
        .map(|m| read_providers(&m, cx))
        .unwrap_or_default();
    let agents = root
        .get("agents")
        .and_then(|n| n.node().object(cx))
        .map(|a| read_agents(&a, cx))
        .unwrap_or_default();
    let channels_obj = root.get("channels").and_then(|n| n.node().object(cx));
    let channels = read_channels(channels_obj.as_ref(), cx);
    if let Some(obj) = &channels_obj {
        obj.finish(cx, OTHER_CHANNELS, "channel not served by clawtalk; ignored");
    }
    let bindings = root
        .get("bindings")
        .map(|n| read_bindings(&n.node(), cx))
        .unwrap_or_default();
    let workflows = root
        .get("workflows")
        .map(|n| read_workflows(&n.node(), cx))
        .unwrap_or_default();
    let tools_web = super::web_tools::read(&root, cx);
    let mcp = root
        .get("mcp")
        .map(|n| super::mcp::read_mcp(&n.node(), cx))
        .unwrap_or_default();
    let response_format = root
        .get("responseFormat")
        .and_then(|n| super::response_format::read(&n.node(), cx))
        .flatten();
    let tools = root
        .get("tools")
        .and_then(|n| n.node().object(cx))
        .map(|t| super::tools::read_tools(&t, cx))
        .unwrap_or_default();
    root.finish(
        cx,
        ROOT_KEYS_IGNORED,
        "OpenClaw section not used by clawtalk; ignored",
    );

    Draft {
        gateway,
        store_url,
        store_retention_days,
        session,
        agents,
        providers,
        bindings,
        channels,
        workflows,
        tools_web,
        mcp,
        response_format,
        tools,
    }
}

/// OpenClaw's `env`: `{ vars: { K: "v" }, K: "v", shellEnv: {…} }`.
fn read_env(env: &Obj<'_>, cx: &mut Ctx<'_>) {
    let add = |k: &str, v: &Value, cx: &mut Ctx<'_>| {
        if let Value::String(s) = v {
            cx.add_config_env(k.to_owned(), s.clone());
        }
    };
    for (key, node) in env.entries() {
        match (key, node.value) {
            ("vars", Value::Object(vars)) => {
                for (k, v) in vars {
                    add(k, v, cx);
                }
            }
            ("shellEnv", _) => {}
            (k, v @ Value::String(_)) => add(k, v, cx),
            _ => cx.diags.warn(&node.path, "expected a string; ignored", None),
        }
    }
}

fn read_gateway(gateway: Option<&Obj<'_>>, cx: &mut Ctx<'_>) -> GatewayDraft {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut draft = GatewayDraft {
        port: DEFAULT_PORT,
        bind: loopback,
        state_dir: None,
        auth_token: None,
        auth_disabled: false,
        max_concurrent_turns: DEFAULT_MAX_CONCURRENT_TURNS,
        queue_notice_from: DEFAULT_QUEUE_NOTICE_FROM,
        turn_lease: DEFAULT_TURN_LEASE,
        control_ui: true,
        trusted_proxies: Vec::new(),
        http: super::types::HttpLimits::default(),
        reload_mode: super::types::ReloadMode::default(),
    };
    if let Some(g) = gateway {
        if let Some(port) = g.get("port").and_then(|n| n.node().int_in(cx, 0, 65535)) {
            draft.port = u16::try_from(port).unwrap_or(DEFAULT_PORT);
        }
        if let Some(node) = g.get("bind") {
            draft.bind = read_bind(g, &node.node(), cx).unwrap_or(loopback);
        }
        g.accept(&["customBindHost"]);
        if let Some(n) = g
            .get("maxConcurrentTurns")
            .and_then(|n| n.node().int_in(cx, 1, 100_000))
        {
            draft.max_concurrent_turns = usize::try_from(n).unwrap_or(DEFAULT_MAX_CONCURRENT_TURNS);
        }
        if let Some(n) = g
            .get("queueNoticeFrom")
            .and_then(|n| n.node().int_in(cx, 0, 1_000_000))
        {
            draft.queue_notice_from = usize::try_from(n).unwrap_or(DEFAULT_QUEUE_NOTICE_FROM);
        }
        // Below 3 s a renewal (every third of the lease) would race a loaded store.
        if let Some(s) = g
            .get("turnLeaseSeconds")
            .and_then(|n| n.node().int_in(cx, 3, 3600))
        {
            draft.turn_lease = Duration::from_secs(u64::try_from(s).unwrap_or(60));
        }
        draft.state_dir = g.get("stateDir").and_then(|n| path_value(&n.node(), cx));
        if let Some(ui) = g.get("controlUi").and_then(|n| n.node().object(cx)) {
            if let Some(enabled) = ui.get("enabled").and_then(|n| n.node().bool(cx)) {
                draft.control_ui = enabled;
            }
            ui.finish(
                cx,
                &["basePath", "allowedOrigins", "allowInsecureAuth", "root"],
                IGNORED_KEY,
            );
        }
        if let Some(auth) = g.get("auth").and_then(|n| n.node().object(cx)) {
            let mode = auth.get("mode").and_then(|n| {
                n.node().choice(
                    cx,
                    &[
                        ("token", "token"),
                        ("none", "none"),
                        ("password", "password"),
                        ("trusted-proxy", "trusted-proxy"),
                    ],
                )
            });
            if let Some(m @ ("password" | "trusted-proxy")) = mode {
                cx.diags.warn(
                    auth.key_path("mode"),
                    format!("auth mode {m:?} is not supported by clawtalk; token auth is used"),
                    Some("set gateway.auth.token".into()),
                );
            }
            draft.auth_disabled = mode == Some("none");
            draft.auth_token = auth.get("token").and_then(|n| n.node().secret(cx));
            auth.finish(
                cx,
                &["password", "allowTailscale", "rateLimit", "trustedProxy"],
                IGNORED_KEY,
            );
        }
        if let Some(node) = g.get("trustedProxies") {
            draft.trusted_proxies = read_trusted_proxies(&node.node(), cx);
        }
        if let Some(http) = g.get("http").and_then(|n| n.node().object(cx)) {
            read_http_limits(&http, &mut draft.http, cx);
        }
        if let Some(reload) = g.get("reload").and_then(|n| n.node().object(cx)) {
            draft.reload_mode = super::reload_mode::read(&reload, cx);
        }
        g.finish(
            cx,
            &[
                "mode",
                "remote",
                "tailscale",
                "tls",
                "nodes",
                "push",
                "channelHealthCheckMinutes",
            ],
            IGNORED_KEY,
        );
    }
    if draft.state_dir.is_none() {
        draft.state_dir = cx
            .var("CLAWTALK_STATE_DIR")
            .map(|d| cx.path_from(&d))
            .or_else(|| cx.home.as_ref().map(|h| h.join(".clawtalk")));
    }
    draft
}

/// `gateway.trustedProxies`: IP addresses (OpenClaw's form) or CIDR ranges.
fn read_trusted_proxies(node: &super::reader::Node<'_, '_>, cx: &mut Ctx<'_>) -> Vec<ipnet::IpNet> {
    let Some(items) = node.array(cx) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let item = item.node();
            let raw = item.nonempty_string(cx)?;
            let parsed = raw
                .parse::<ipnet::IpNet>()
                .or_else(|_| raw.parse::<IpAddr>().map(ipnet::IpNet::from));
            match parsed {
                Ok(net) => Some(net),
                Err(_) => {
                    cx.diags.error(
                        item.path,
                        format!("{raw:?} is not an IP address or CIDR range"),
                        "list the reverse proxy's address, e.g. \"127.0.0.1\" or \"10.0.0.0/24\"",
                    );
                    None
                }
            }
        })
        .collect()
}

/// `gateway.http`: clawtalk's listener limits; OpenClaw's `endpoints` (its OpenAI-compatible
/// API, which clawtalk does not serve) is ignored.
fn read_http_limits(http: &Obj<'_>, limits: &mut super::types::HttpLimits, cx: &mut Ctx<'_>) {
    if let Some(n) = http
        .get("maxConnections")
        .and_then(|n| n.node().int_in(cx, 8, 100_000))
    {
        limits.max_connections = usize::try_from(n).unwrap_or(limits.max_connections);
    }
    if let Some(s) = http
        .get("headerTimeoutSeconds")
        .and_then(|n| n.node().int_in(cx, 1, 300))
    {
        limits.header_timeout = Duration::from_secs(u64::try_from(s).unwrap_or(10));
    }
    http.finish(cx, &["endpoints"], IGNORED_KEY);
}

/// `loopback`, `lan`, an IP literal, or OpenClaw's `custom` + `customBindHost`.
fn read_bind(g: &Obj<'_>, node: &super::reader::Node<'_, '_>, cx: &mut Ctx<'_>) -> Option<IpAddr> {
    let raw = node.nonempty_string(cx)?;
    match raw.as_str() {
        "loopback" | "localhost" => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        "lan" | "all" => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        "custom" => {
            let host = g.get("customBindHost");
            let ip = host.as_ref().and_then(|h| {
                let s = h.node().nonempty_string(cx)?;
                s.parse::<IpAddr>().ok()
            });
            if ip.is_none() {
                cx.diags.error(
                    g.key_path("customBindHost"),
                    "bind \"custom\" needs customBindHost to be an IP address",
                    "set customBindHost: \"192.168.1.10\" or use bind: \"lan\"",
                );
            }
            ip
        }
        "tailnet" | "auto" => {
            cx.diags.warn(
                node.path,
                format!("bind {raw:?} is not supported by clawtalk; using loopback"),
                Some("use \"loopback\", \"lan\" or an IP address".into()),
            );
            None
        }
        other => match other.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                cx.diags.error(
                    node.path,
                    format!("{other:?} is not a bind address"),
                    "expected loopback|lan|custom or an IP address such as 0.0.0.0",
                );
                None
            }
        },
    }
}

fn read_session(s: &Obj<'_>, cx: &mut Ctx<'_>) -> SessionConfig {
    let mut out = SessionConfig::default();
    let minutes = |n: Option<super::reader::OwnedNode<'_>>, cx: &mut Ctx<'_>| {
        n.and_then(|n| n.node().int_in(cx, 1, 525_600))
            .and_then(|m| u64::try_from(m).ok())
            .map(|m| Duration::from_secs(m * 60))
    };
    // Legacy top-level `session.idleMinutes`.
    let legacy_idle = minutes(s.get("idleMinutes"), cx);
    if let Some(d) = legacy_idle {
        out.idle_reset = Some(d);
    }
    if let Some(reset) = s.get("reset").and_then(|n| n.node().object(cx)) {
        let mode = reset.get("mode").and_then(|n| {
            n.node()
                .choice(cx, &[("idle", "idle"), ("daily", "daily"), ("none", "none")])
        });
        // `idleMs` is a clawtalk extension for sub-minute idle resets (tests, demos); it
        // wins over `idleMinutes` when both are set.
        let idle_ms = reset
            .get("idleMs")
            .and_then(|n| n.node().int_in(cx, 1, 525_600 * 60_000))
            .and_then(|ms| u64::try_from(ms).ok())
            .map(Duration::from_millis);
        let idle = idle_ms.or(minutes(reset.get("idleMinutes"), cx)).or(legacy_idle);
        let hour = reset
            .get("atHour")
            .and_then(|n| n.node().int_in(cx, 0, 23))
            .and_then(|h| u8::try_from(h).ok());
        match mode {
            Some("none") => {
                out.idle_reset = None;
                out.daily_reset_hour = None;
            }
            Some("daily") => {
                // OpenClaw resets at 4 am by default; an idle limit may apply as well.
                out.daily_reset_hour = Some(hour.unwrap_or(4));
                out.idle_reset = idle;
            }
            _ => out.idle_reset = Some(idle.unwrap_or(DEFAULT_IDLE_RESET)),
        }
        reset.finish(cx, &[], IGNORED_KEY);
    }
    if let Some(items) = s.get("resetTriggers").and_then(|n| n.node().array(cx)) {
        out.reset_triggers = items
            .iter()
            .filter_map(|i| i.node().nonempty_string(cx))
            .collect();
    }
    s.finish(
        cx,
        &[
            "dmScope",
            "scope",
            "groupScope",
            "identityLinks",
            "resetByType",
            "resetByChannel",
            "store",
            "maintenance",
            "sendPolicy",
            "threadBindings",
            "sharing",
            "notifyOnCreate",
            "mainKey",
            "typingIntervalSeconds",
            "typingMode",
            "agentToAgent",
        ],
        IGNORED_KEY,
    );
    out
}
