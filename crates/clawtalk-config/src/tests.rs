//! End-to-end tests of the config reader: whole documents in, normalized [`Config`] out.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use super::*;

/// An environment made of fixed pairs; `HOME` is `/home/u` unless given.
fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let mut pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    if !pairs.iter().any(|(k, _)| k == "HOME") {
        pairs.push(("HOME".into(), "/home/u".into()));
    }
    move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn load_ok(text: &str, env: &[(&str, &str)]) -> LoadedConfig {
    match Config::from_json5(text, &env_of(env)) {
        Ok(c) => c,
        Err(e) => panic!("{e}\nwarnings: {:?}", e.warnings),
    }
}

fn load_err(text: &str, env: &[(&str, &str)]) -> ConfigErrors {
    match Config::from_json5(text, &env_of(env)) {
        Ok(c) => panic!("expected errors, got {:#?}", c.config),
        Err(e) => e,
    }
}

fn model(s: &str) -> ModelRef {
    ModelRef::parse(s).unwrap()
}

const LEGACY: &str = r#"
// OpenClaw 2026.4-era file, as the soimy plugin docs show it.
{
  meta: { lastTouchedVersion: "2026.4.9" },
  agents: {
    defaults: { model: { primary: "bailian/qwen3.5-plus", fallbacks: ["deepseek/deepseek-chat"] }, userTimezone: "Asia/Shanghai" },
    list: [
      { id: "main", default: true, name: "Assistant", identity: { name: "Claw", emoji: "🦞" } },
      { id: "dev", workspace: "~/.openclaw/workspace-dev", model: "deepseek/deepseek-reasoner",
        systemPromptOverride: "You review code.", skills: [] },
    ],
  },
  bindings: [
    { agentId: "dev", match: { channel: "dingtalk", accountId: "bot2", peer: { kind: "group", id: "cidXYZ==" } } },
    { agentId: "main", match: { channel: "dingtalk" } },
    { agentId: "main", match: { channel: "telegram" } },
  ],
  channels: {
    dingtalk: {
      enabled: true,
      dmPolicy: "allowlist",
      allowFrom: ["manager1234", 42],
      messageType: "card",
      cardStreamingMode: "answer",
      accounts: {
        bot1: { clientId: "dingbot1", clientSecret: "${BOT1_SECRET}", name: "Ops bot" },
        bot2: { clientId: 12345, clientSecret: { source: "env", id: "BOT2_SECRET" },
                dmPolicy: "open", allowFrom: ["*"], groupPolicy: "allowlist", groupAllowFrom: ["cidXYZ=="] },
      },
    },
    telegram: { botToken: "${TELEGRAM_TOKEN}" },
  },
  models: {
    mode: "merge",
    providers: {
      bailian: {
        baseUrl: "https://dashscope.aliyuncs.com/compatible-mode/v1",
        apiKey: "${DASHSCOPE_API_KEY}",
        api: "openai-completions",
        models: [{ id: "qwen3.5-plus", name: "Qwen 3.5 Plus", contextWindow: 131072, input: ["text"] }],
      },
    },
  },
  gateway: { port: 18790, bind: "loopback", auth: { mode: "token", token: "${GW_TOKEN}" } },
  session: { reset: { mode: "idle", idleMinutes: 120 }, resetTriggers: ["/new", "/reset", "/clear"] },
  plugins: { allow: ["dingtalk"] },
}
"#;

const LEGACY_ENV: &[(&str, &str)] = &[
    ("BOT1_SECRET", "s1-value"),
    ("BOT2_SECRET", "s2-value"),
    ("DASHSCOPE_API_KEY", "sk-dash"),
    ("DEEPSEEK_API_KEY", "sk-deep"),
    ("GW_TOKEN", "gw-token-value"),
];

#[test]
fn openclaw_legacy_config() {
    let loaded = load_ok(LEGACY, LEGACY_ENV);
    let c = &loaded.config;

    assert_eq!(c.gateway.port, 18790);
    assert_eq!(c.gateway.bind, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(c.gateway.state_dir, PathBuf::from("/home/u/.clawtalk"));
    assert_eq!(c.gateway.auth_token.as_ref().unwrap().expose(), "gw-token-value");
    assert_eq!(c.store.url, "sqlite:///home/u/.clawtalk/clawtalk.db");

    assert_eq!(c.default_agent, "main");
    let main = c.agent("main").unwrap();
    assert_eq!(main.name.as_deref(), Some("Assistant"));
    assert_eq!(main.model, model("bailian/qwen3.5-plus"));
    assert_eq!(main.fallbacks, vec![model("deepseek/deepseek-chat")]);
    assert_eq!(main.identity.emoji.as_deref(), Some("🦞"));
    assert_eq!(main.workspace, PathBuf::from("/home/u/.clawtalk/workspace"));
    let dev = c.agent("dev").unwrap();
    assert_eq!(dev.model, model("deepseek/deepseek-reasoner"));
    assert!(dev.fallbacks.is_empty(), "a string model is a strict primary");
    assert_eq!(dev.system_prompt.as_deref(), Some("You review code."));
    assert_eq!(dev.workspace, PathBuf::from("/home/u/.openclaw/workspace-dev"));

    // Declared provider plus the deepseek preset that the agents use.
    let bailian = c.provider("bailian").unwrap();
    assert_eq!(bailian.preset, ProviderPreset::DashScope);
    assert_eq!(bailian.api_key.as_ref().unwrap().expose(), "sk-dash");
    assert_eq!(bailian.models[0].context_window, Some(131_072));
    let deepseek = c.provider_for(&dev.model).unwrap();
    assert_eq!(deepseek.preset, ProviderPreset::DeepSeek);
    assert_eq!(deepseek.base_url.as_str(), "https://api.deepseek.com/");
    assert_eq!(deepseek.api_key.as_ref().unwrap().expose(), "sk-deep");
    assert_eq!(c.providers.len(), 2);

    assert_eq!(c.accounts.len(), 2);
    let bot1 = c.account("bot1").unwrap();
    assert_eq!(bot1.channel, "dingtalk");
    assert_eq!(bot1.name.as_deref(), Some("Ops bot"));
    assert_eq!(bot1.client_id, "dingbot1");
    assert_eq!(bot1.robot_code, "dingbot1");
    assert_eq!(bot1.client_secret.expose(), "s1-value");
    // Inherited from the channel level.
    assert_eq!(bot1.dm_policy, DmPolicy::Allowlist);
    assert_eq!(bot1.allow_from, ["manager1234", "42"]);
    assert_eq!(bot1.message_type, MessageType::Card);
    assert!(bot1.streaming);
    assert_eq!(bot1.group_policy, GroupPolicy::Open);
    assert!(bot1.require_mention);
    let bot2 = c.account("bot2").unwrap();
    assert_eq!(bot2.client_id, "12345");
    assert_eq!(bot2.client_secret.expose(), "s2-value");
    assert_eq!(bot2.dm_policy, DmPolicy::Open);
    assert_eq!(bot2.group_policy, GroupPolicy::Allowlist);
    assert_eq!(bot2.group_allow_from, ["cidXYZ=="]);
    assert_eq!(bot2.endpoints, dingtalk::Endpoints::default());

    // The telegram binding is dropped; the one without accountId gets the first account.
    assert_eq!(
        c.bindings,
        vec![
            Binding {
                agent_id: "dev".into(),
                channel: "dingtalk".into(),
                account: AccountMatch::Id("bot2".into()),
                peer: Some(Peer {
                    kind: PeerKind::Group,
                    id: "cidXYZ==".into()
                }),
                department: None,
            },
            Binding {
                agent_id: "main".into(),
                channel: "dingtalk".into(),
                account: AccountMatch::Id("bot1".into()),
                peer: None,
                department: None,
            },
        ]
    );

    assert_eq!(
        c.session,
        SessionConfig {
            idle_reset: Some(Duration::from_secs(7200)),
            daily_reset_hour: None,
            reset_triggers: vec!["/new".into(), "/reset".into(), "/clear".into()],
        }
    );

    // Ignored OpenClaw keys are reported, never fatal; the unused telegram token needs no env.
    let warned: Vec<&str> = loaded.warnings.iter().map(|w| w.path.as_str()).collect();
    for path in [
        "meta",
        "plugins",
        "channels.telegram",
        "agents.defaults.userTimezone",
        "agents.list[1].skills",
        "bindings[2]",
    ] {
        assert!(warned.contains(&path), "no warning at {path}: {warned:?}");
    }
}

#[test]
fn openclaw_current_config_with_entries() {
    let text = r#"{
      agents: {
        ownership: "explicit",
        defaults: { model: { primary: "deepseek/deepseek-chat" }, workspace: "~/work/main" },
        entries: {
          ops: { name: "Ops", model: { primary: "kimi/kimi-k2", fallbacks: ["zai/glm-4.6"] } },
          helper: { identity: { name: "Helper", emoji: "🤖", theme: "calm" }, systemPrompt: "Be brief." },
        },
      },
      channels: { dingtalk: { clientId: "dingapp", clientSecret: "${DINGTALK_CLIENT_SECRET}", dmPolicy: "pairing" } },
      bindings: [{ agentId: "helper", match: { channel: "dingtalk", accountId: "*", peer: { kind: "direct", id: "user7" } } }],
    }"#;
    let env = [
        ("DINGTALK_CLIENT_SECRET", "app-secret"),
        ("DEEPSEEK_API_KEY", "k1"),
        ("KIMI_API_KEY", "k2"),
        ("ZHIPUAI_API_KEY", "k3"),
    ];
    let c = load_ok(text, &env).config;
    assert_eq!(
        c.agents.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["ops", "helper"]
    );
    assert_eq!(c.default_agent, "ops", "first entry in file order");
    let ops = c.agent("ops").unwrap();
    assert_eq!(ops.model, model("kimi/kimi-k2"));
    assert_eq!(ops.fallbacks, vec![model("zai/glm-4.6")]);
    assert_eq!(ops.workspace, PathBuf::from("/home/u/work/main"));
    let helper = c.agent("helper").unwrap();
    assert_eq!(helper.model, model("deepseek/deepseek-chat"));
    assert_eq!(helper.identity.theme.as_deref(), Some("calm"));
    assert_eq!(helper.system_prompt.as_deref(), Some("Be brief."));
    assert_eq!(
        helper.workspace,
        PathBuf::from("/home/u/.clawtalk/workspace-helper")
    );

    let kimi = c.provider("kimi").unwrap();
    assert_eq!(kimi.preset, ProviderPreset::Moonshot);
    assert_eq!(kimi.base_url.as_str(), "https://api.moonshot.cn/v1");
    assert_eq!(kimi.api_key.as_ref().unwrap().expose(), "k2");
    let zai = c.provider("zai").unwrap();
    assert_eq!(zai.base_url.as_str(), "https://api.z.ai/api/paas/v4");
    assert_eq!(
        zai.api_key.as_ref().unwrap().expose(),
        "k3",
        "falls back to ZHIPUAI_API_KEY"
    );

    let acct = &c.accounts[0];
    assert_eq!(
        (acct.id.as_str(), acct.client_id.as_str()),
        ("default", "dingapp")
    );
    assert_eq!(acct.client_secret.expose(), "app-secret");
    assert_eq!(acct.dm_policy, DmPolicy::Pairing);
    assert_eq!(c.bindings[0].account, AccountMatch::Any);
    assert_eq!(c.bindings[0].peer.as_ref().unwrap().kind, PeerKind::Direct);
}

#[test]
fn connector_accounts_with_session_keys() {
    let text = r#"{
      agents: { defaults: { model: "local/llama3" } },
      models: { providers: { local: { baseUrl: "http://127.0.0.1:11434/v1" } } },
      channels: {
        "dingtalk-connector": {
          clientSecret: "shared-fallback",
          requireMention: true,
          endpoint: "http://127.0.0.1:8788",
          defaultAccount: "sales",
          accounts: {
            support: { clientId: "dingsupport", clientSecret: "sup-secret", separateSessionByConversation: false,
                       groupSessionScope: "group_sender", sharedMemoryAcrossConversations: true, debug: true },
            sales: { clientId: "dingsales", name: "Sales", corpId: "ding-corp", agentId: 3003,
                     endpoints: { api: "http://127.0.0.1:9000", oapi: "http://127.0.0.1:9001" }, groupReplyMode: "text" },
          },
        },
      },
      bindings: [ { agentId: "main", match: { channel: "dingtalk-connector", department: 7 } } ],
    }"#;
    let loaded = load_ok(text, &[]);
    let c = &loaded.config;
    let local = c.provider("local").unwrap();
    assert_eq!(local.preset, ProviderPreset::Custom);
    assert!(local.api_key.is_none());

    let support = c.account("support").unwrap();
    assert_eq!(support.channel, "dingtalk-connector");
    assert_eq!(support.client_secret.expose(), "sup-secret");
    assert_eq!(
        support.session,
        SessionScope {
            separate_by_conversation: false,
            group_scope: GroupScope::GroupSender,
            shared_memory: true,
        }
    );
    assert!(support.debug);
    assert_eq!(support.endpoints.api.as_str(), "http://127.0.0.1:8788/");
    assert_eq!(support.endpoints.oapi.as_str(), "https://oapi.dingtalk.com/");
    assert_eq!(support.dm_policy, DmPolicy::Pairing, "clawtalk default");

    let sales = c.account("sales").unwrap();
    assert_eq!(
        sales.client_secret.expose(),
        "shared-fallback",
        "top-level creds are a fallback"
    );
    assert_eq!(sales.corp_id.as_deref(), Some("ding-corp"));
    assert_eq!(sales.app_agent_id.as_deref(), Some("3003"));
    assert_eq!(sales.session, SessionScope::default());
    assert_eq!(sales.endpoints.oapi.as_str(), "http://127.0.0.1:9001/");

    assert_eq!(c.default_agent, "main", "implicit agent");
    assert_eq!(
        c.bindings[0].account,
        AccountMatch::Id("sales".into()),
        "defaultAccount"
    );
    assert_eq!(c.bindings[0].department, Some(7));
    let warned: Vec<&str> = loaded.warnings.iter().map(|w| w.path.as_str()).collect();
    assert!(warned.contains(&"channels.dingtalk-connector.accounts.sales.groupReplyMode"));
}

#[test]
fn env_only_config() {
    let home = tempfile::tempdir().unwrap();
    let env = env_of(&[
        ("HOME", home.path().to_str().unwrap()),
        ("DINGTALK_CLIENT_ID", "dingenv"),
        ("DINGTALK_CLIENT_SECRET", "env-secret"),
        ("CLAWTALK_MODEL", "qwen/qwen-plus"),
        ("QWEN_API_KEY", "sk-q"),
    ]);
    let loaded = Config::load_with_env(None, &env).unwrap();
    assert_eq!(loaded.source, ConfigSource::Defaults);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert_eq!(c.accounts.len(), 1);
    let a = &c.accounts[0];
    assert_eq!(
        (a.id.as_str(), a.client_id.as_str(), a.robot_code.as_str()),
        ("default", "dingenv", "dingenv")
    );
    assert_eq!(a.client_secret.expose(), "env-secret");
    assert_eq!(a.mode, ConnectionMode::Stream);
    assert_eq!(c.default_agent().id, "main");
    assert_eq!(c.default_agent().model, model("qwen/qwen-plus"));
    assert_eq!(
        c.provider("qwen").unwrap().api_key.as_ref().unwrap().expose(),
        "sk-q"
    );
    assert_eq!(c.gateway.port, DEFAULT_PORT);
    assert_eq!(c.gateway.state_dir, home.path().join(".clawtalk"));
    assert_eq!(c.session, SessionConfig::default());
}

#[test]
fn empty_environment_says_what_to_set() {
    // Without the web console nothing could add a bot: no bot and no model are errors.
    let err = load_err("{ gateway: { controlUi: { enabled: false } } }", &[]);
    let paths: Vec<&str> = err.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["agents.defaults.model.primary", "channels.dingtalk"]);
    assert!(
        err.errors[1]
            .fix
            .as_deref()
            .unwrap()
            .contains("DINGTALK_CLIENT_ID")
    );
}

#[test]
fn a_first_run_starts_for_the_consoles_setup() {
    // The console (on by default) adds the bot and the model: the same gaps are warnings.
    let env = env_of(&[("HOME", "/nonexistent-home")]);
    let loaded = Config::load_with_env(None, &env).unwrap();
    let paths: Vec<&str> = loaded.warnings.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"agents.defaults.model.primary"), "{paths:?}");
    assert!(paths.contains(&"channels.dingtalk"), "{paths:?}");
    assert!(loaded.config.accounts.is_empty());
    // Once a bot is there, its agents need a model again.
    let err = load_err(
        r#"{ channels: { dingtalk: { clientId: "ding1", clientSecret: "s" } } }"#,
        &[],
    );
    let paths: Vec<&str> = err.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["agents.defaults.model.primary"]);
}

#[test]
fn env_fills_the_default_account_only() {
    let text = r#"{ agents: { defaults: { model: "custom/m" } },
        models: { providers: { custom: { baseUrl: "http://localhost:1/v1" } } },
        channels: { dingtalk: { dmPolicy: "open", allowFrom: ["*"] } } }"#;
    let c = load_ok(
        text,
        &[("DINGTALK_CLIENT_ID", "i"), ("DINGTALK_CLIENT_SECRET", "s")],
    )
    .config;
    assert_eq!(c.accounts[0].client_id, "i");
    assert_eq!(c.accounts[0].dm_policy, DmPolicy::Open);

    let err = load_err(text, &[("DINGTALK_CLIENT_ID", "i")]);
    assert_eq!(err.errors.len(), 1);
    assert_eq!(err.errors[0].path, "channels.dingtalk.clientSecret");
    assert!(
        err.errors[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("DINGTALK_CLIENT_SECRET")
    );
}

const BROKEN: &str = r#"{
  gateway: { port: 70000, bind: "lan" },
  agents: { list: [
    { id: "main", model: "deepseek-chat" },
    { id: "main", model: "nowhere/m1" },
  ] },
  bindings: [ { agentId: "ghost", match: { channel: "dingtalk", accountId: "bot9" } } ],
  models: { providers: { mine: { apiKey: "${MINE_KEY}" } } },
  channels: { dingtalk: { accounts: {
    bot1: { clientId: "dup", clientSecret: "x1", dmPolicy: "opne" },
    bot2: { clientId: "dup", groupPolicy: "allowlist", requireMention: "yes", mode: "http", token: "tok" },
  } } },
  session: { reset: { mode: "weekly" } },
}"#;

#[test]
fn broken_config_reports_every_error_with_its_path() {
    let err = load_err(BROKEN, &[]);
    let got: Vec<String> = err.errors.iter().map(ToString::to_string).collect();
    let expect = [
        ("gateway.port", "out of range"),
        ("agents.list[0].model", "not a provider/model reference"),
        ("agents.list[1].id", "already used"),
        ("agents.list[1].model", "not defined"),
        ("models.providers.mine.apiKey", "MINE_KEY is not set"),
        ("models.providers.mine.baseUrl", "no baseUrl"),
        ("channels.dingtalk.accounts.bot1.dmPolicy", "not a valid value"),
        (
            "channels.dingtalk.accounts.bot2.requireMention",
            "expected true or false",
        ),
        (
            "channels.dingtalk.accounts.bot2.aesKey",
            "sets token but not aesKey",
        ),
        ("channels.dingtalk.accounts.bot2.clientSecret", "no clientSecret"),
        (
            "channels.dingtalk.accounts.bot2.groupAllowFrom",
            "empty groupAllowFrom",
        ),
        ("channels.dingtalk.accounts.bot2.clientId", "already used"),
        ("bindings[0].agentId", "unknown agent"),
        (
            "bindings[0].match.accountId",
            "no dingtalk account named \"bot9\"",
        ),
        ("session.reset.mode", "not a valid value"),
        ("gateway.auth.token", "without an auth token"),
    ];
    for (path, text) in expect {
        assert!(
            err.errors
                .iter()
                .any(|e| e.path == path && e.to_string().contains(text)),
            "missing error at {path} ({text}); got:\n{}",
            got.join("\n")
        );
    }
    assert_eq!(err.errors.len(), expect.len(), "{}", got.join("\n"));
    // Every error carries a fix; the dmPolicy one lists the choices.
    assert!(err.errors.iter().all(|e| e.fix.is_some()));
    let dm = err.errors.iter().find(|e| e.path.ends_with("dmPolicy")).unwrap();
    assert_eq!(
        dm.fix.as_deref(),
        Some("expected one of pairing|allowlist|open|disabled")
    );
}

#[test]
fn secrets_never_leak() {
    // Valid config: Debug of everything.
    let loaded = load_ok(LEGACY, LEGACY_ENV);
    let dump = format!("{:?} {:?}", loaded.config, loaded.warnings);
    for (_, secret) in LEGACY_ENV {
        assert!(!dump.contains(secret), "{secret} leaked");
    }
    // Invalid config: secret-bearing keys with bad shapes and problems elsewhere.
    let text = r#"{
      gateway: { bind: "0.0.0.0", auth: { token: "" } },
      models: { providers: { deepseek: { apiKey: "sk-LITERAL-1" , api: "grpc" } } },
      agents: { defaults: { model: "deepseek/x" } },
      channels: { dingtalk: { clientId: "id", clientSecret: ["sk-LITERAL-2"], dmPolicy: "sk-LITERAL-3-not" } },
    }"#;
    let err = load_err(text, &[]);
    let dump = format!("{err} {err:?}");
    assert!(!dump.contains("sk-LITERAL-1"), "{dump}");
    assert!(!dump.contains("sk-LITERAL-2"), "{dump}");
    assert!(
        err.errors
            .iter()
            .any(|e| e.path == "channels.dingtalk.clientSecret")
    );
}

#[test]
fn escapes_and_config_env() {
    let text = r#"{
      env: { vars: { BOT_SECRET: "from-file-env" }, OTHER: "x" },
      agents: { list: [{ id: "main", model: "m/x", systemPrompt: "Use $${NAME} and ${lower} literally." }] },
      models: { providers: { m: { baseUrl: "http://localhost:9/v1" } } },
      channels: { dingtalk: { clientId: "a", clientSecret: "${BOT_SECRET}", dmPolicy: "disabled" } },
    }"#;
    let c = load_ok(text, &[]).config;
    assert_eq!(
        c.agents[0].system_prompt.as_deref(),
        Some("Use ${NAME} and ${lower} literally.")
    );
    assert_eq!(c.accounts[0].client_secret.expose(), "from-file-env");
}

#[test]
fn typos_are_warnings_with_hints() {
    let text = r#"{
      agents: { defaults: { model: "m/x" } },
      models: { providers: { m: { baseUrl: "http://localhost:9/v1" } } },
      channels: { dingtalk: { clientId: "a", clientSecret: "b", dmpolicy: "open", requireMentoin: false } },
      sesion: {},
    }"#;
    let loaded = load_ok(text, &[]);
    let w: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    let find = |p: &str| w.iter().find(|s| s.starts_with(p)).cloned().unwrap_or_default();
    assert!(
        find("channels.dingtalk.dmpolicy:").contains("did you mean `dmPolicy`"),
        "{w:?}"
    );
    assert!(
        find("channels.dingtalk.requireMentoin:").contains("did you mean `requireMention`"),
        "{w:?}"
    );
    assert!(find("sesion:").contains("did you mean `session`"), "{w:?}");
}

#[test]
fn session_reset_modes() {
    let base = r#"agents: { defaults: { model: "m/x" } },
      models: { providers: { m: { baseUrl: "http://localhost:9/v1" } } },
      channels: { dingtalk: { clientId: "a", clientSecret: "b", dmPolicy: "pairing" } },"#;
    let session = |s: &str| load_ok(&format!("{{ {base} session: {s} }}"), &[]).config.session;
    assert_eq!(session("{ reset: { mode: \"none\" } }").idle_reset, None);
    let daily = session("{ reset: { mode: \"daily\", atHour: 6 } }");
    assert_eq!((daily.idle_reset, daily.daily_reset_hour), (None, Some(6)));
    assert_eq!(
        session("{ idleMinutes: 15 }").idle_reset,
        Some(Duration::from_secs(900))
    );
    assert_eq!(
        session("{ reset: { mode: \"idle\" } }").idle_reset,
        Some(DEFAULT_IDLE_RESET)
    );
    assert_eq!(
        session("{ reset: { idleMs: 1500, idleMinutes: 5 } }").idle_reset,
        Some(Duration::from_millis(1500)),
        "idleMs (clawtalk extension) wins over idleMinutes"
    );
}

#[test]
fn lan_bind_with_token_and_custom_store() {
    let text = r#"{
      gateway: { bind: "lan", auth: { token: "${T}" }, stateDir: "/var/lib/clawtalk" },
      store: { url: "postgres://claw@db/claw" },
      agents: { defaults: { model: "m/x" } },
      models: { providers: { m: { baseUrl: "http://localhost:9/v1" } } },
      channels: { dingtalk: { clientId: "a", clientSecret: "b", dmPolicy: "pairing",
                              endpoints: "http://127.0.0.1:8788/sim" } },
    }"#;
    let c = load_ok(text, &[("T", "tok")]).config;
    assert_eq!(c.gateway.bind, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert_eq!(c.gateway.state_dir, PathBuf::from("/var/lib/clawtalk"));
    assert_eq!(c.store.url, "postgres://claw@db/claw");
    assert_eq!(
        types::redact_url_password("postgres://claw:pw@db:5432/claw"),
        "postgres://claw:***@db:5432/claw"
    );
    assert_eq!(types::redact_url_password("sqlite:///x/y.db"), "sqlite:///x/y.db");
    let e = &c.accounts[0].endpoints;
    assert_eq!(e.api_url("/v1.0/x").as_str(), "http://127.0.0.1:8788/sim/v1.0/x");
    assert_eq!(e.oapi, e.api);
}

#[test]
fn openclaw_file_gets_a_dm_policy_notice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openclaw.json");
    std::fs::write(
        &path,
        r#"{ agents: { defaults: { model: "m/x" } },
             models: { providers: { m: { baseUrl: "http://localhost:9/v1" } } },
             channels: { dingtalk: { clientId: "a", clientSecret: "b" } } }"#,
    )
    .unwrap();
    let loaded = Config::load_with_env(Some(&path), &env_of(&[])).unwrap();
    assert!(loaded.source.is_openclaw());
    let notice = loaded
        .warnings
        .iter()
        .find(|w| w.path == "channels.dingtalk.dmPolicy")
        .expect("dmPolicy notice");
    assert!(notice.message.contains("pairing"));
}

#[test]
fn one_error_per_problem() {
    // A SecretInput naming a missing variable is one error, not also "no clientSecret"; a
    // built-in provider without a key is reported once even when several agents use it.
    let text = r#"{
      agents: { list: [ { id: "a", model: "deepseek/x" }, { id: "b", model: "deepseek/y" } ] },
      channels: { dingtalk: { clientId: "i", clientSecret: { source: "env", id: "NOPE" }, dmPolicy: "pairing" } },
    }"#;
    let err = load_err(text, &[]);
    let got: Vec<String> = err.errors.iter().map(ToString::to_string).collect();
    assert_eq!(err.errors.len(), 2, "{got:#?}");
    assert_eq!(err.errors[0].path, "agents.list[0].model");
    assert!(got[0].contains("DEEPSEEK_API_KEY"));
    assert_eq!(err.errors[1].path, "channels.dingtalk.clientSecret.id");
}

#[test]
fn concurrent_turns_and_card_settings() {
    let loaded = load_ok(
        r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
             gateway: { maxConcurrentTurns: 7, turnLeaseSeconds: 5 },
             channels: { dingtalk: { clientId: "dingx", clientSecret: "s", messageType: "card",
                                     cardStreamingMode: "answer", cardTemplateId: "tpl.schema",
                                     cardStreamInterval: 500, cardQps: 10, progressNotes: false,
                                     streamIdleTimeoutSeconds: 6 } } }"#,
        &[("DEEPSEEK_API_KEY", "k")],
    );
    let c = &loaded.config;
    assert_eq!(c.gateway.max_concurrent_turns, 7);
    assert_eq!(c.gateway.turn_lease, std::time::Duration::from_secs(5));
    let account = &c.accounts[0];
    assert!(account.streaming);
    assert!(!account.progress_notes);
    assert_eq!(account.stream_idle_timeout, std::time::Duration::from_secs(6));
    assert_eq!(account.card.template_id, "tpl.schema");
    assert_eq!(account.card.min_interval, std::time::Duration::from_millis(500));
    assert_eq!(account.card.qps, 10);
    assert_eq!(account.card.update_tokens, 250);
    let defaults = load_ok(
        r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
             channels: { dingtalk: { clientId: "dingx", clientSecret: "s" } } }"#,
        &[("DEEPSEEK_API_KEY", "k")],
    );
    assert_eq!(defaults.config.gateway.max_concurrent_turns, 10_000);
    assert_eq!(
        defaults.config.accounts[0].stream_idle_timeout,
        std::time::Duration::from_secs(30)
    );
    assert_eq!(
        defaults.config.gateway.turn_lease,
        std::time::Duration::from_secs(60)
    );
}

#[test]
fn card_overflow_and_queue_notes_with_per_account_overrides() {
    let loaded = load_ok(
        r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
             gateway: { queueNoticeFrom: 50 },
             channels: { dingtalk: { clientId: "dingx", clientSecret: "s", messageType: "card",
                                     cardOverflow: "wait",
                                     accounts: { a: { clientId: "dingy", clientSecret: "t" },
                                                 b: { clientId: "dingz", clientSecret: "u",
                                                      cardOverflow: "markdown", cardOverflowAfterMs: 500 } } } } }"#,
        &[("DEEPSEEK_API_KEY", "k")],
    );
    let c = &loaded.config;
    assert_eq!(c.gateway.queue_notice_from, 50);
    let card = |id: &str| {
        c.accounts
            .iter()
            .find(|a| a.id.as_str() == id)
            .map(|a| a.card.clone())
            .unwrap_or_else(|| panic!("account {id}"))
    };
    assert_eq!(card("a").overflow, CardOverflow::Wait);
    assert_eq!(card("a").overflow_after, std::time::Duration::from_millis(2_000));
    assert_eq!(card("b").overflow, CardOverflow::Markdown);
    assert_eq!(card("b").overflow_after, std::time::Duration::from_millis(500));

    let defaults = load_ok(
        r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
             channels: { dingtalk: { clientId: "dingx", clientSecret: "s" } } }"#,
        &[("DEEPSEEK_API_KEY", "k")],
    );
    assert_eq!(defaults.config.gateway.queue_notice_from, 20);
    assert_eq!(defaults.config.accounts[0].card.overflow, CardOverflow::Markdown);

    let err = load_err(
        r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
             gateway: { queueNoticeFrom: -1 },
             channels: { dingtalk: { clientId: "dingx", clientSecret: "s", cardOverflow: "drop" } } }"#,
        &[("DEEPSEEK_API_KEY", "k")],
    );
    let paths: Vec<&str> = err.errors.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"gateway.queueNoticeFrom"), "{paths:?}");
    assert!(paths.contains(&"channels.dingtalk.cardOverflow"), "{paths:?}");
}

#[test]
fn media_limit_and_vision_capability() {
    let loaded = load_ok(
        r#"{ agents: { list: [ { id: "main", model: "bailian/qwen3.5-plus" } ] },
             models: { providers: { bailian: { apiKey: "k", models: [
               { id: "qwen3.5-plus", input: ["text", "image"] },
               { id: "qwen-vl-max", input: ["text"] },
               "qwen-turbo",
             ] } } },
             channels: { dingtalk: { clientId: "dingx", clientSecret: "s", mediaMaxMb: 5,
                                     accounts: { a: { clientId: "dingy", clientSecret: "t" },
                                                 other: { clientId: "dingz", clientSecret: "u", mediaMaxMb: 2 } } } } }"#,
        &[],
    );
    let c = &loaded.config;
    let limits: Vec<(&str, u64)> = c
        .accounts
        .iter()
        .map(|a| (a.id.as_str(), a.media_max_bytes))
        .collect();
    assert!(limits.contains(&("a", 5 * 1024 * 1024)), "{limits:?}");
    assert!(limits.contains(&("other", 2 * 1024 * 1024)), "{limits:?}");
    // A declared `input` wins over the name; undeclared models are judged by their name.
    assert!(c.model_sees_images(&model("bailian/qwen3.5-plus")));
    assert!(!c.model_sees_images(&model("bailian/qwen-vl-max")));
    assert!(!c.model_sees_images(&model("bailian/qwen-turbo")));
    assert!(c.model_sees_images(&model("bailian/qwen2.5-vl-72b-instruct")));
    assert!(c.model_sees_images(&model("zhipu/glm-4v-plus")));
    assert!(!c.model_sees_images(&model("deepseek/deepseek-chat")));

    let defaults = load_ok(
        r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
             channels: { dingtalk: { clientId: "dingx", clientSecret: "s" } } }"#,
        &[("DEEPSEEK_API_KEY", "k")],
    );
    assert_eq!(defaults.config.accounts[0].media_max_bytes, 20 * 1024 * 1024);
    let connector = load_ok(
        r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
             channels: { "dingtalk-connector": { clientId: "dingx", clientSecret: "s", maxFileSizeMB: 3 } } }"#,
        &[("DEEPSEEK_API_KEY", "k")],
    );
    assert_eq!(connector.config.accounts[0].media_max_bytes, 3 * 1024 * 1024);
    let err = load_err(
        r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
             channels: { dingtalk: { clientId: "dingx", clientSecret: "s", mediaMaxMb: 0 } } }"#,
        &[("DEEPSEEK_API_KEY", "k")],
    );
    assert!(err.errors.iter().any(|e| e.path.ends_with("mediaMaxMb")), "{err}");
}

#[test]
fn inbound_text_cap_defaults_inherits_and_rejects_zero() {
    let loaded = load_ok(
        r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
             channels: { dingtalk: { clientId: "dingx", clientSecret: "s", maxInboundChars: 5000,
                                     accounts: { a: { clientId: "dingy", clientSecret: "t" },
                                                 b: { clientId: "dingz", clientSecret: "u", maxInboundChars: 100 } } } } }"#,
        &[("DEEPSEEK_API_KEY", "k")],
    );
    let caps: Vec<(&str, usize)> = loaded
        .config
        .accounts
        .iter()
        .map(|a| (a.id.as_str(), a.max_inbound_chars))
        .collect();
    assert!(
        caps.contains(&("a", 5000)) && caps.contains(&("b", 100)),
        "{caps:?}"
    );
    let defaults = load_ok(
        r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
             channels: { dingtalk: { clientId: "dingx", clientSecret: "s" } } }"#,
        &[("DEEPSEEK_API_KEY", "k")],
    );
    assert_eq!(defaults.config.accounts[0].max_inbound_chars, 20_000);
    let err = load_err(
        r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
             channels: { dingtalk: { clientId: "dingx", clientSecret: "s", maxInboundChars: 0 } } }"#,
        &[("DEEPSEEK_API_KEY", "k")],
    );
    assert!(
        err.errors.iter().any(|e| e.path.ends_with("maxInboundChars")),
        "{err}"
    );
}

#[test]
fn control_ui_is_on_unless_disabled() {
    let base = r#"agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
             channels: { dingtalk: { clientId: "dingx", clientSecret: "s" } }"#;
    let defaults = load_ok(&format!("{{ {base} }}"), &[("DEEPSEEK_API_KEY", "k")]);
    assert!(defaults.config.gateway.control_ui);
    let off = load_ok(
        &format!("{{ {base}, gateway: {{ controlUi: {{ enabled: false, basePath: \"/ui\" }} }} }}"),
        &[("DEEPSEEK_API_KEY", "k")],
    );
    assert!(!off.config.gateway.control_ui);
}

#[test]
fn provider_timeout_seconds() {
    let text = r#"{
      agents: { defaults: { model: "local/llama3" } },
      models: { providers: { local: { baseUrl: "http://127.0.0.1:11434/v1", timeoutSeconds: 7 } } },
      channels: { dingtalk: { clientId: "dingx", clientSecret: "s" } },
    }"#;
    let loaded = load_ok(text, &[]);
    let local = loaded.config.provider("local").unwrap();
    assert_eq!(local.timeout, Some(std::time::Duration::from_secs(7)));
    let errors = load_err(&text.replace("timeoutSeconds: 7", "timeoutSeconds: 0"), &[]);
    assert!(
        errors.to_string().contains("timeoutSeconds"),
        "a zero timeout is refused at its path: {errors}"
    );
}

#[test]
fn agent_limits_inherit_key_by_key_from_the_defaults() {
    let loaded = load_ok(
        r#"{ agents: {
               defaults: { model: "deepseek/deepseek-chat", limits: { mediaPerTurn: 4, cronMinIntervalMinutes: 60 } },
               list: [ { id: "main", limits: { mediaPerTurn: 2, partsPerAnswer: 30 } }, { id: "other" } ] },
             channels: { dingtalk: { clientId: "dingx", clientSecret: "s" } } }"#,
        &[("DEEPSEEK_API_KEY", "k")],
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = &loaded.config;
    let hour = std::time::Duration::from_secs(3_600);
    let main = c.agent("main").unwrap().limits;
    assert_eq!(
        main,
        AgentLimits {
            media_per_turn: 2,
            parts_per_answer: 30,
            tool_calls_per_round: 16,
            cron_min_interval: hour,
        }
    );
    let other = c.agent("other").unwrap().limits;
    assert_eq!(
        other,
        AgentLimits {
            media_per_turn: 4,
            cron_min_interval: hour,
            ..AgentLimits::default()
        }
    );
    assert_eq!(
        AgentLimits::default(),
        AgentLimits {
            media_per_turn: 10,
            parts_per_answer: 10,
            tool_calls_per_round: 16,
            cron_min_interval: std::time::Duration::from_secs(15 * 60),
        }
    );
}

#[test]
fn store_retention_days_default_to_seven_and_stay_in_range() {
    let base = |store: &str| {
        format!(
            r#"{{ agents: {{ list: [ {{ id: "main", model: "deepseek/deepseek-chat" }} ] }},
                 channels: {{ dingtalk: {{ clientId: "dingx", clientSecret: "s" }} }}{store} }}"#
        )
    };
    let env = [("DEEPSEEK_API_KEY", "k")];
    let defaults = load_ok(&base(""), &env);
    assert_eq!(defaults.config.store.retention_days, 7);
    assert_eq!(
        defaults.config.store.retention(),
        std::time::Duration::from_secs(7 * 86_400)
    );
    let set = load_ok(&base(", store: { retentionDays: 30 }"), &env);
    assert_eq!(set.config.store.retention_days, 30);
    assert!(
        set.config.store.url.starts_with("sqlite://"),
        "the URL keeps its default"
    );
    let errors = load_err(&base(", store: { retentionDays: 0 }"), &env).to_string();
    assert!(errors.contains("store.retentionDays"), "{errors}");
}

#[test]
fn without_an_agent_list_bound_agents_run_on_the_defaults() {
    let c = load_ok(
        r#"{ agents: { defaults: { model: "deepseek/deepseek-chat" } },
             gateway: { stateDir: "/tmp/x" },
             bindings: [ { agentId: "tech-support", match: { channel: "dingtalk", peer: { kind: "group" } } } ],
             channels: { dingtalk: { clientId: "dingbot", clientSecret: "s", dmPolicy: "pairing" } } }"#,
        &[("DEEPSEEK_API_KEY", "k")],
    )
    .config;
    let ids: Vec<&str> = c.agents.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["main", "tech-support"]);
    assert_eq!(c.default_agent, "main");
    assert_eq!(c.agent("tech-support").unwrap().model.model, "deepseek-chat");
    // With a list, a binding to an unlisted agent is still a mistake.
    let err = load_err(
        r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
             gateway: { stateDir: "/tmp/x" },
             bindings: [ { agentId: "tech-suport", match: { channel: "dingtalk" } } ],
             channels: { dingtalk: { clientId: "dingbot", clientSecret: "s", dmPolicy: "pairing" } } }"#,
        &[("DEEPSEEK_API_KEY", "k")],
    );
    assert!(
        err.errors.iter().any(|e| e.path == "bindings[0].agentId"),
        "{err}"
    );
}

#[test]
fn trusted_proxies_and_listener_limits() {
    let text = r#"{
      gateway: { trustedProxies: ["127.0.0.1", "10.0.0.0/8", "::1"],
                 http: { maxConnections: 64, headerTimeoutSeconds: 5, endpoints: { chatCompletions: { enabled: true } } } },
      agents: { defaults: { model: "deepseek/deepseek-chat" } },
      channels: { dingtalk: { clientId: "dingx", clientSecret: "s" } },
    }"#;
    let loaded = load_ok(text, &[("DEEPSEEK_API_KEY", "k")]);
    let g = &loaded.config.gateway;
    let proxies: Vec<String> = g.trusted_proxies.iter().map(ToString::to_string).collect();
    assert_eq!(proxies, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
    assert!(g.reachable_beyond_loopback(), "a proxy forwards remote clients");
    assert_eq!(g.http.max_connections, 64);
    assert_eq!(g.http.header_timeout, Duration::from_secs(5));
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.path == "gateway.http.endpoints" && w.message.contains("ignored")),
        "{:?}",
        loaded.warnings
    );

    let defaults = load_ok(
        r#"{ agents: { defaults: { model: "deepseek/deepseek-chat" } },
             channels: { dingtalk: { clientId: "dingx", clientSecret: "s" } } }"#,
        &[("DEEPSEEK_API_KEY", "k")],
    );
    assert_eq!(defaults.config.gateway.http, HttpLimits::default());
    assert!(!defaults.config.gateway.reachable_beyond_loopback());

    let bad = load_err(
        r#"{ gateway: { trustedProxies: ["my-proxy"], http: { maxConnections: 2 } },
             agents: { defaults: { model: "deepseek/deepseek-chat" } },
             channels: { dingtalk: { clientId: "dingx", clientSecret: "s" } } }"#,
        &[("DEEPSEEK_API_KEY", "k")],
    );
    let shown = bad.to_string();
    assert!(
        shown.contains("gateway.trustedProxies[0]") && shown.contains("not an IP address or CIDR"),
        "{shown}"
    );
    assert!(shown.contains("gateway.http.maxConnections"), "{shown}");
}

#[test]
fn bootstrap_caps_are_read_from_agents_defaults_and_checked() {
    let env = [
        ("DEEPSEEK_API_KEY", "sk-test"),
        ("DINGTALK_CLIENT_ID", "dingtest"),
        ("DINGTALK_CLIENT_SECRET", "test-secret"),
    ];
    let base =
        r#"{ gateway: { stateDir: "/s" }, agents: { defaults: { model: "deepseek/deepseek-chat" BOOT } } }"#;
    let plain = load_ok(&base.replace("BOOT", ""), &env).config;
    assert_eq!(plain.default_agent().bootstrap, BootstrapLimits::default());
    assert_eq!(plain.default_agent().bootstrap.max_chars, 20_000);
    assert_eq!(plain.default_agent().bootstrap.total_max_chars, 150_000);
    let set = load_ok(
        &base.replace(
            "BOOT",
            ", bootstrapMaxChars: 500, bootstrapTotalMaxChars: 4000, skipBootstrap: true",
        ),
        &env,
    );
    let warnings: Vec<String> = set.warnings.iter().map(ToString::to_string).collect();
    assert!(
        !warnings.iter().any(|w| w.contains("ootstrap")),
        "the keys are known: {warnings:?}"
    );
    let boot = set.config.default_agent().bootstrap;
    assert_eq!(
        (boot.max_chars, boot.total_max_chars, boot.skip),
        (500, 4000, true)
    );
    let err = load_err(
        &base.replace("BOOT", ", bootstrapMaxChars: 0, skipBootstrap: \"yes\""),
        &env,
    );
    let got: Vec<String> = err.errors.iter().map(ToString::to_string).collect();
    assert!(
        got.iter()
            .any(|e| e.starts_with("agents.defaults.bootstrapMaxChars") && e.contains("out of range")),
        "{got:?}"
    );
    assert!(
        got.iter().any(|e| e.starts_with("agents.defaults.skipBootstrap")),
        "{got:?}"
    );
}
