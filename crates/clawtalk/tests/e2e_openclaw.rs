//! End to end, migration: an existing OpenClaw `~/.openclaw/openclaw.json` (soimy DingTalk
//! plugin keys, JSON5 comments, `${VAR}` secrets) drives the gateway unchanged, found by the
//! default search (no `--config`). Only the hosts change: DingTalk's `endpoints` point at the
//! simulator and the provider's `baseUrl` at the mock model.

mod support;

use serde_json::json;
use support::world::{ALICE, APP1, BOB, texts_of};
use support::{World, WorldOptions};

const OPENCLAW_JSON: &str = r#"// OpenClaw configuration, as `openclaw onboard` and the soimy DingTalk plugin leave it.
// Docs: https://docs.openclaw.ai/gateway/configuration
{
  meta: { lastTouchedVersion: "2026.4.9", lastTouchedAt: "2026-04-20T08:12:44.120Z" },
  wizard: { lastRunAt: "2026-04-20T08:10:02.000Z", lastRunVersion: "2026.4.9", lastRunCommand: "onboard", lastRunMode: "local" },
  agents: {
    defaults: {
      model: { primary: "bailian/qwen3.5-plus" },
      workspace: "~/.openclaw/workspace",
      userTimezone: "Asia/Shanghai",
      compaction: { mode: "safeguard" },
      maxConcurrent: 4,
    },
    list: [
      { id: "main", default: true, name: "Assistant", identity: { name: "Claw", emoji: "🦞" } },
      {
        id: "ops",
        name: "Ops",
        model: "bailian/qwen3-max",
        systemPromptOverride: "You are the on-call ops assistant. Be brief.",
      },
    ],
  },
  bindings: [
    // The ops room talks to the ops agent; everything else to main.
    { agentId: "ops", match: { channel: "dingtalk", peer: { kind: "group", id: "{GROUP}" } } },
    { agentId: "main", match: { channel: "dingtalk" } },
  ],
  channels: {
    dingtalk: {
      enabled: true,
      clientId: "{APP1}",
      clientSecret: "${DINGTALK_APP_SECRET}",
      robotCode: "{APP1}",
      dmPolicy: "open",
      allowFrom: ["*"],
      groupPolicy: "open",
      requireMention: true,
      messageType: "markdown",
      ackReaction: "🤔",
      mediaMaxMb: 20,
      maxConnectionAttempts: 10,
      // The one change for this test: DingTalk's hosts are replaced by the simulator.
      endpoints: "{SIM}",
    },
  },
  models: {
    mode: "merge",
    providers: {
      bailian: {
        baseUrl: "{MODEL}", // was https://dashscope.aliyuncs.com/compatible-mode/v1
        apiKey: "${DASHSCOPE_API_KEY}",
        api: "openai-completions",
        models: [
          { id: "qwen3.5-plus", name: "Qwen3.5 Plus", reasoning: false, input: ["text", "image"], contextWindow: 1000000, maxTokens: 65536 },
          { id: "qwen3-max", name: "Qwen3 Max", reasoning: false, input: ["text"], contextWindow: 262144, maxTokens: 65536 },
        ],
      },
    },
  },
  tools: { profile: "coding" },
  commands: { native: "auto", nativeSkills: "auto" },
  session: { reset: { mode: "idle", idleMinutes: 120 } },
  gateway: {
    port: 18789,
    mode: "local",
    bind: "loopback",
    auth: { mode: "token", token: "${OPENCLAW_GATEWAY_TOKEN}" },
  },
  plugins: { allow: ["dingtalk"], entries: { dingtalk: { enabled: true } } },
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openclaw_config_is_used_as_is() {
    let world = World::start_with(WorldOptions {
        // The mock refuses any other key: proves `${DASHSCOPE_API_KEY}` was substituted.
        model_keys: vec![("dashscope".into(), "sk-e2e-dashscope-key".into())],
        ..WorldOptions::default()
    })
    .await;
    let openclaw_dir = world.home().join(".openclaw");
    std::fs::create_dir_all(&openclaw_dir).expect("create ~/.openclaw");
    std::fs::write(openclaw_dir.join("openclaw.json"), world.fill(OPENCLAW_JSON))
        .expect("write openclaw.json");
    let env = [
        ("DINGTALK_APP_SECRET", support::world::SECRET1),
        ("DASHSCOPE_API_KEY", "sk-e2e-dashscope-key"),
        ("OPENCLAW_GATEWAY_TOKEN", "e2e-gateway-token"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let gateway = world.launch(None, &env, &[APP1]).await;

    let dm = world.dm(APP1, ALICE, "hello from an OpenClaw user [o1]");
    let group = world.group_msg(APP1, BOB, "is prod healthy? [o2]", true);
    let dm_reply = world.wait_reply_containing(&dm.conversation_id, "[o1]").await;
    let group_reply = world.wait_reply_containing(&group.conversation_id, "[o2]").await;

    let main = world.wait_request_for("[o1]").await;
    assert_eq!(main.model, "qwen3.5-plus", "agents.defaults.model.primary");
    assert_eq!(
        main.auth.key_id.as_deref(),
        Some("dashscope"),
        "apiKey from ${{VAR}}"
    );
    let system = texts_of(&main, "system");
    assert!(
        system[0].contains("Claw"),
        "identity.name in the default prompt: {system:?}"
    );

    let ops = world.wait_request_for("[o2]").await;
    assert_eq!(
        ops.model, "qwen3-max",
        "the group's peer binding picks the ops agent"
    );
    assert_eq!(
        texts_of(&ops, "system"),
        ["You are the on-call ops assistant. Be brief."],
        "systemPromptOverride"
    );

    assert_eq!(dm_reply.api, "sessionWebhook");
    assert_eq!(group_reply.body["at"]["atUserIds"], json!([BOB]));
    assert!(
        world.home().join(".clawtalk/clawtalk.db").exists(),
        "state goes to ~/.clawtalk"
    );
    let in_openclaw_dir: Vec<_> = std::fs::read_dir(&openclaw_dir)
        .expect("list ~/.openclaw")
        .map(|e| e.expect("dir entry").file_name())
        .collect();
    assert_eq!(
        in_openclaw_dir,
        ["openclaw.json"],
        "OpenClaw's directory is left alone"
    );
    let log = gateway.log();
    assert!(log.contains("openclaw.json"), "the log names the file it read");
    assert!(
        !log.contains("e2e-gateway-token") && !log.contains("sk-e2e-dashscope-key"),
        "no secret is logged"
    );
}
