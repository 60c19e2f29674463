//! For tests that run the gateway inside the test process (`Gateway::start`) instead of as
//! a child process: its config, read as the binary would read it.

use std::path::Path;
use std::sync::Arc;

use clawtalk_config::Config;
use dingtalk_sim::Simulator;
use llm_mock::MockModel;

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
