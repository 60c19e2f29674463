//! The world around the gateway: a DingTalk simulator and a mock model, in process.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dingtalk_sim::{
    AppSpec, GroupSpec, InjectMessage, Injected, SentMessage, SimConfig, Simulator, UserSpec,
};
use llm_mock::{MockModel, RecordedRequest};
use tempfile::TempDir;

use super::process::{GatewayProcess, Launch};
use super::{TIMEOUT, wait_until};

pub const APP1: &str = "dinge2ebot1q7vxkt3mw";
pub const SECRET1: &str = "e2e-secret-bot1-not-real";
pub const APP2: &str = "dinge2ebot2z2hb8nsk4";
pub const SECRET2: &str = "e2e-secret-bot2-not-real";
pub const ALICE: &str = "0312454236781234";
pub const BOB: &str = "0298765432109876";
pub const CAROL: &str = "0456123498761234";

/// Policies that let everyone in (the plugins' defaults), for `channels_extra`.
pub const OPEN: &str = r#"dmPolicy: "open", allowFrom: ["*"], groupPolicy: "open","#;

/// Keys spliced into the sections of [`World::config_with`] (each ends with a comma).
#[derive(Debug, Clone, Copy, Default)]
pub struct ConfigExtras<'a> {
    /// Into `channels.dingtalk` (policies, e.g. [`OPEN`]).
    pub channels: &'a str,
    /// Into `gateway`.
    pub gateway: &'a str,
    /// Into `models.providers.mock`.
    pub provider: &'a str,
    /// At the top level.
    pub top: &'a str,
}

/// How to build a [`World`].
#[derive(Debug, Clone)]
pub struct WorldOptions {
    /// Also create a second app (`APP2`, "OpsBot"), in the group too.
    pub second_app: bool,
    /// Honour scripted model delays (`Script::delay`); off = every answer is immediate.
    pub model_delays: bool,
    /// Simulator timings.
    pub sim: SimConfig,
    /// API keys the mock model insists on (`(id, key)`); none = any key.
    pub model_keys: Vec<(String, String)>,
}

impl Default for WorldOptions {
    fn default() -> Self {
        Self {
            second_app: false,
            model_delays: false,
            sim: sim_config(),
            model_keys: Vec::new(),
        }
    }
}

/// Millisecond-scale Stream timings, but a redelivery timeout and attempt budget that a
/// debug-build gateway under load cannot exhaust (a given-up delivery would be a lost message
/// that is the simulator's doing, not the gateway's).
pub fn sim_config() -> SimConfig {
    SimConfig::fast()
        .with_redelivery_timeout(Duration::from_secs(3))
        .with_max_delivery_attempts(20)
}

/// A simulator with one or two bots, three users and a group, a mock model, and a temp HOME.
pub struct World {
    pub sim: Simulator,
    pub model: MockModel,
    /// openConversationId of the group (alice, bob, carol and the bot(s)).
    pub group: String,
    dir: TempDir,
    launches: AtomicUsize,
}

impl World {
    /// One bot, immediate model answers.
    pub async fn start() -> Self {
        Self::start_with(WorldOptions::default()).await
    }

    pub async fn start_with(options: WorldOptions) -> Self {
        let sim = Simulator::start_with(options.sim.clone())
            .await
            .expect("the simulator starts");
        sim.create_app(AppSpec::new(APP1, SECRET1).name("ClawBot"))
            .expect("create app 1");
        if options.second_app {
            sim.create_app(AppSpec::new(APP2, SECRET2).name("OpsBot"))
                .expect("create app 2");
        }
        for (id, nick) in [(ALICE, "Alice Zhang"), (BOB, "Bob Li"), (CAROL, "Carol Wang")] {
            sim.create_user(UserSpec::new(id, nick)).expect("create a user");
        }
        let mut spec = GroupSpec::new("E2E Group", [ALICE, BOB, CAROL]).with_bot(APP1);
        if options.second_app {
            spec = spec.with_bot(APP2);
        }
        let group = sim.create_group(spec).expect("create the group");
        let mut builder = MockModel::builder();
        if !options.model_delays {
            builder = builder.zero_delay();
        }
        for (id, key) in &options.model_keys {
            builder = builder.api_key(id.clone(), key.clone());
        }
        let model = builder.start().await.expect("the mock model starts");
        let dir = tempfile::tempdir().expect("create a temp dir");
        Self {
            sim,
            model,
            group: group.open_conversation_id,
            dir,
            launches: AtomicUsize::new(0),
        }
    }

    /// The temp dir, used as the gateway's HOME.
    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    /// `gateway.stateDir` of the configs built by [`World::config`].
    pub fn state_dir(&self) -> PathBuf {
        self.home().join("state")
    }

    /// Replaces `{SIM}`, `{MODEL}`, `{STATE}`, `{GROUP}`, `{APP1}`, `{SECRET1}`, `{APP2}` and
    /// `{SECRET2}` in a config template (JSON5 braces make `format!` awkward here).
    pub fn fill(&self, template: &str) -> String {
        template
            .replace("{SIM}", self.sim.base_url().as_str())
            .replace("{MODEL}", &self.model.base_url())
            .replace("{STATE}", &self.state_dir().display().to_string())
            .replace("{GROUP}", &self.group)
            .replace("{APP1}", APP1)
            .replace("{SECRET1}", SECRET1)
            .replace("{APP2}", APP2)
            .replace("{SECRET2}", SECRET2)
    }

    /// The usual config: one bot (`default` account), agent `main` on `mock/e2e-model`, and
    /// `channels_extra` / `top_extra` spliced into `channels.dingtalk` and the top level
    /// (policies go in `channels_extra`, e.g. [`OPEN`]).
    pub fn config(&self, channels_extra: &str, top_extra: &str) -> String {
        self.config_with(&ConfigExtras {
            channels: channels_extra,
            top: top_extra,
            ..ConfigExtras::default()
        })
    }

    /// [`World::config`] with keys spliced into more sections.
    pub fn config_with(&self, extra: &ConfigExtras<'_>) -> String {
        let ConfigExtras {
            channels,
            gateway,
            provider,
            top,
        } = extra;
        self.fill(&format!(
            r#"// Written by the e2e harness.
{{
  agents: {{ list: [ {{ id: "main", name: "E2E Bot", model: "mock/e2e-model" }} ] }},
  models: {{ providers: {{ mock: {{ baseUrl: "{{MODEL}}", apiKey: "sk-e2e-mock", {provider} }} }} }},
  channels: {{ dingtalk: {{
    clientId: "{{APP1}}", clientSecret: "{{SECRET1}}", endpoints: "{{SIM}}",
    {channels}
  }} }},
  gateway: {{ stateDir: "{{STATE}}", {gateway} }},
  {top}
}}"#
        ))
    }

    /// Writes `text` to `<home>/clawtalk.json`.
    pub fn write_config(&self, text: &str) -> PathBuf {
        let path = self.home().join("clawtalk.json");
        std::fs::write(&path, text).expect("write the config file");
        path
    }

    /// Spawns `clawtalk gateway run --config <config>` and waits for APP1's Stream connection.
    pub async fn start_gateway(&self, config: &Path) -> GatewayProcess {
        self.launch(Some(config), &[], &[APP1]).await
    }

    /// Spawns the gateway and waits until every app in `apps` has a Stream connection opened
    /// by this process (connections of an earlier, killed process do not count).
    pub async fn launch(
        &self,
        config: Option<&Path>,
        env: &[(String, String)],
        apps: &[&str],
    ) -> GatewayProcess {
        self.launch_on(config, env, apps, None).await
    }

    /// [`World::launch`] listening on `port` (`None`: a free one).
    pub async fn launch_on(
        &self,
        config: Option<&Path>,
        env: &[(String, String)],
        apps: &[&str],
        port: Option<u16>,
    ) -> GatewayProcess {
        let before: HashSet<String> = self
            .sim
            .connections()
            .into_iter()
            .map(|c| c.connection_id)
            .collect();
        let n = self.launches.fetch_add(1, Ordering::Relaxed) + 1;
        let mut process = GatewayProcess::spawn(&Launch {
            home: self.home(),
            config,
            env,
            log: self.home().join(format!("gateway-{n}.log")),
            port,
        });
        for app in apps {
            let what = format!("gateway #{n} to open a Stream connection for {app}");
            wait_until(&what, TIMEOUT, || {
                process.assert_running();
                self.sim
                    .open_connections(app)
                    .into_iter()
                    .find(|c| !before.contains(&c.connection_id))
            })
            .await;
        }
        process
    }

    /// A DM from `user` to the bot of `app`.
    pub fn dm(&self, app: &str, user: &str, text: &str) -> Injected {
        let injected = self
            .sim
            .inject_message(&InjectMessage::dm_text(app, user, text))
            .expect("inject a DM");
        assert!(injected.delivered, "the sim delivers DMs: {injected:?}");
        injected
    }

    /// A group message from `user`, @-ing the bot of `app` or not.
    pub fn group_msg(&self, app: &str, user: &str, text: &str, at_bot: bool) -> Injected {
        self.sim
            .inject_message(&InjectMessage::group_text(app, user, &self.group, text, at_bot))
            .expect("inject a group message")
    }

    /// Everything the bots sent into `conversation_id`, in order.
    pub fn replies(&self, conversation_id: &str) -> Vec<SentMessage> {
        self.sim
            .sent_messages()
            .into_iter()
            .filter(|m| m.conversation_id.as_deref() == Some(conversation_id))
            .collect()
    }

    /// Waits until the bots sent at least `n` messages into `conversation_id`; returns them.
    pub async fn wait_replies(&self, conversation_id: &str, n: usize) -> Vec<SentMessage> {
        let what = format!("{n} bot message(s) in {conversation_id}");
        wait_until(&what, TIMEOUT, || {
            let replies = self.replies(conversation_id);
            (replies.len() >= n).then_some(replies)
        })
        .await
    }

    /// Waits for the first bot message in `conversation_id` that contains `needle`.
    pub async fn wait_reply_containing(&self, conversation_id: &str, needle: &str) -> SentMessage {
        let what = format!("a bot message containing {needle:?} in {conversation_id}");
        wait_until(&what, TIMEOUT, || {
            self.replies(conversation_id)
                .into_iter()
                .find(|m| m.text.contains(needle))
        })
        .await
    }

    /// Model requests whose last user message contains `needle`.
    pub fn requests_for(&self, needle: &str) -> Vec<RecordedRequest> {
        self.model
            .requests()
            .into_iter()
            .filter(|r| r.last_user_text().is_some_and(|t| t.contains(needle)))
            .collect()
    }

    /// Waits until the model was asked about `needle` (the turn is running).
    pub async fn wait_request_for(&self, needle: &str) -> RecordedRequest {
        let what = format!("a model request about {needle:?}");
        wait_until(&what, TIMEOUT, || self.requests_for(needle).into_iter().next()).await
    }

    /// The access token the simulator hands `app` right now: it repeats a live token, so this
    /// is the one a running gateway holds.
    pub async fn access_token(&self, app: &str, secret: &str) -> String {
        let body = serde_json::json!({"appKey": app, "appSecret": secret});
        let answer = self.post_to_sim("/v1.0/oauth2/accessToken", None, &body).await;
        answer["accessToken"].as_str().expect("a token").to_owned()
    }

    /// POSTs `body` to the simulator's `path`, with the access token `token` when given, and
    /// returns its JSON answer.
    pub async fn post_to_sim(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> serde_json::Value {
        let mut request = dingtalk::tls::client_builder()
            .build()
            .expect("HTTP client")
            .post(self.sim.base_url().join(path).unwrap())
            .json(body);
        if let Some(token) = token {
            request = request.header("x-acs-dingtalk-access-token", token);
        }
        request.send().await.unwrap().json().await.unwrap()
    }
}

/// The texts of the messages of a request, by role (`system`, `user`, `assistant`).
pub fn texts_of(request: &RecordedRequest, role: &str) -> Vec<String> {
    request
        .messages
        .iter()
        .filter(|m| m.get("role").and_then(serde_json::Value::as_str) == Some(role))
        .map(|m| match m.get("content") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        })
        .collect()
}
