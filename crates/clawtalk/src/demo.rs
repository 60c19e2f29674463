//! `clawtalk demo`: the simulator, the gateway and a model, wired together on embedded
//! defaults, so a newcomer can chat with an agent in a DingTalk-like page in one command.
//!
//! A real provider is used when one of the well-known API key variables is set; otherwise a
//! clearly labelled offline model answers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dingtalk_sim::{SimConfig, Simulator};
use llm_mock::MockModel;

use crate::config::Config;
use crate::gateway::{self, Gateway};
use crate::llm::ProviderPreset;

/// Providers tried, in order, when their key variable is set.
const REAL_PROVIDERS: [ProviderPreset; 4] = [
    ProviderPreset::DashScope,
    ProviderPreset::DeepSeek,
    ProviderPreset::Moonshot,
    ProviderPreset::Zhipu,
];

/// The model the demo talks to.
enum DemoModel {
    Offline(MockModel),
    Real(ProviderPreset),
}

/// Runs the demo until Ctrl-C.
///
/// # Errors
/// A port that is taken or a state directory that cannot be created.
pub async fn run(addr: SocketAddr) -> anyhow::Result<()> {
    let sim = Simulator::start_on(addr, SimConfig::default())
        .await
        .with_context(|| {
            format!("starting the DingTalk simulator on {addr} (is the port free? use --addr)")
        })?;
    let seed = sim.seed_demo().context("seeding the demo organisation")?;
    let model = choose_model().await?;
    let state_dir = std::env::temp_dir().join(format!("clawtalk-demo-{}", std::process::id()));
    let config = Arc::new(demo_config(
        &sim,
        &seed.client_id,
        &seed.client_secret,
        &model,
        &state_dir,
    )?);
    let store = gateway::open_store(&config).await?;
    let gateway = Gateway::start(Arc::clone(&config), store, "demo").await?;

    let base = sim.base_url();
    println!();
    println!("  ClawTalk demo is running.");
    println!("  Open the DingTalk simulator and chat with the bot:  {base}");
    match &model {
        DemoModel::Offline(_) => println!(
            "  Model: OFFLINE DEMO MODEL (it echoes). Set DASHSCOPE_API_KEY, DEEPSEEK_API_KEY, MOONSHOT_API_KEY or ZHIPUAI_API_KEY for a real one."
        ),
        DemoModel::Real(preset) => println!(
            "  Model: {} ({})",
            preset.id(),
            preset.default_model().unwrap_or_default()
        ),
    }
    println!("  State: {}", state_dir.display());
    println!("  Ctrl-C stops.");
    println!();
    gateway::serve::wait_for_signal().await;
    gateway.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&state_dir);
    Ok(())
}

async fn choose_model() -> anyhow::Result<DemoModel> {
    if let Some(preset) = REAL_PROVIDERS
        .into_iter()
        .find(|p| p.api_key_from_env().is_some())
    {
        return Ok(DemoModel::Real(preset));
    }
    let mock = MockModel::builder()
        .offline_pacing(Duration::from_millis(40))
        .start()
        .await
        .context("starting the offline demo model")?;
    Ok(DemoModel::Offline(mock))
}

fn demo_config(
    sim: &Simulator,
    client_id: &str,
    client_secret: &str,
    model: &DemoModel,
    state_dir: &std::path::Path,
) -> anyhow::Result<Config> {
    let (model_ref, providers) = match model {
        DemoModel::Offline(mock) => (
            format!("offline/{}", llm_mock::OFFLINE_MODEL),
            format!(
                r#"offline: {{ baseUrl: {}, apiKey: "offline" }}"#,
                json(&mock.base_url())
            ),
        ),
        // Preset providers need no declaration: the key comes from the environment.
        DemoModel::Real(preset) => (
            format!("{}/{}", preset.id(), preset.default_model().unwrap_or_default()),
            String::new(),
        ),
    };
    let text = format!(
        r#"{{
          agents: {{ list: [ {{ id: "main", name: "ClawBot", model: {model} }} ] }},
          models: {{ providers: {{ {providers} }} }},
          channels: {{ dingtalk: {{
            clientId: {client_id}, clientSecret: {client_secret}, endpoints: {endpoints},
            dmPolicy: "open", allowFrom: ["*"], groupPolicy: "open",
          }} }},
          gateway: {{ stateDir: {state_dir} }},
        }}"#,
        model = json(&model_ref),
        client_id = json(client_id),
        client_secret = json(client_secret),
        endpoints = json(sim.base_url().as_str()),
        state_dir = json(&state_dir.display().to_string()),
    );
    let env = |name: &str| std::env::var(name).ok();
    Config::from_json5(&text, &env)
        .map(|loaded| loaded.config)
        .map_err(|errors| anyhow::anyhow!("{errors}"))
}

fn json(value: &str) -> String {
    serde_json::Value::String(value.to_owned()).to_string()
}
