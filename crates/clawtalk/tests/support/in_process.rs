//! For tests that run the gateway inside the test process (`Gateway::start`) instead of as
//! a child process: a simulator with one bot and one user, the gateway's config (read as
//! the binary would read it), and the gateway started on it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clawtalk_config::Config;
use clawtalk_gateway::Gateway;
use clawtalk_store::Store;
use dingtalk_sim::{AppSpec, SimConfig, Simulator, UserSpec};
use llm_mock::MockModel;

/// A simulator with the Stream bot `app` (`secret`) and one user, `user`, named Alice.
pub async fn simulator(app: &str, secret: &str, user: &str) -> Simulator {
    let sim = Simulator::start_with(SimConfig::default()).await.unwrap();
    sim.create_app(AppSpec::new(app, secret)).unwrap();
    sim.create_user(UserSpec::new(user, "Alice")).unwrap();
    sim
}

/// The gateway on the config `text` and `store`, started once its bot `app` is connected.
pub async fn gateway(
    sim: &Simulator,
    app: &str,
    text: &str,
    store: Arc<dyn Store>,
    instance: &str,
) -> Gateway {
    let gateway = Gateway::start(config(text), store, instance).await.unwrap();
    sim.wait_for_connections(app, 1, Duration::from_secs(10))
        .await
        .unwrap();
    gateway
}

/// One agent on the mock model and one Stream bot (`app`, `secret`) on the simulator, open
/// to everyone in DMs, its state in `state_dir`; `dingtalk_extra` adds keys to the
/// `channels.dingtalk` object (e.g. `progressNotes: false,`).
pub fn config_text(
    sim: &Simulator,
    model: &MockModel,
    (app, secret): (&str, &str),
    state_dir: &Path,
    dingtalk_extra: &str,
) -> String {
    format!(
        r#"{{
          agents: {{ list: [ {{ id: "main", model: "mock/m" }} ] }},
          models: {{ providers: {{ mock: {{ baseUrl: "{}", apiKey: "k" }} }} }},
          channels: {{ dingtalk: {{ clientId: "{app}", clientSecret: "{secret}", endpoints: "{}",
            dmPolicy: "open", allowFrom: ["*"], {dingtalk_extra} }} }},
          gateway: {{ stateDir: "{}" }},
        }}"#,
        model.base_url(),
        sim.base_url(),
        state_dir.display()
    )
}

/// Parses a config text; `HOME` points nowhere, so no file of the machine's user is read.
pub fn config(text: &str) -> Arc<Config> {
    let env = |name: &str| (name == "HOME").then(|| "/nonexistent".to_owned());
    Arc::new(Config::from_json5(text, &env).unwrap().config)
}
