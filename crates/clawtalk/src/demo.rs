//! `clawtalk demo`: the simulator, the gateway and a model, wired together on embedded
//! defaults, so a newcomer can chat with an agent in a DingTalk-like page in one command.
//!
//! A real provider is used when one of the well-known API key variables is set; otherwise a
//! clearly labelled offline model answers.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dingtalk_sim::{SimConfig, Simulator};
use llm_mock::MockModel;

use clawtalk_config::Config;
use clawtalk_gateway::Gateway;
use clawtalk_llm::ProviderPreset;

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
    let state = DemoStateDir::create(&std::env::temp_dir())?;
    let state_dir = state.path().to_path_buf();
    let config = Arc::new(demo_config(
        &sim,
        &seed.client_id,
        &seed.client_secret,
        &model,
        &state_dir,
    )?);
    let store = clawtalk_gateway::open_store(&config).await?;
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
    clawtalk_gateway::wait_for_signal().await;
    gateway.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
    if let Err(error) = state.remove() {
        eprintln!("  {error:#}");
    }
    Ok(())
}

/// The demo's state directory: made like `mkdtemp` (a fresh random name, mode 0700, failing
/// rather than reusing an existing entry), so another local user cannot prepare it or a
/// symlink in its place the way they could a name made of the process id. At exit it is
/// removed only while it is still the directory made here.
struct DemoStateDir {
    dir: tempfile::TempDir,
    #[cfg(unix)]
    identity: (u64, u64),
}

impl DemoStateDir {
    fn create(parent: &Path) -> anyhow::Result<Self> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("clawtalk-demo-");
        // Owner only, like every state directory (mkdtemp's own mode; tempfile would leave
        // the umask's 0755).
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let dir = builder
            .tempdir_in(parent)
            .with_context(|| format!("creating the demo's state directory in {}", parent.display()))?;
        #[cfg(unix)]
        let identity = identity_of(dir.path())
            .with_context(|| format!("reading the demo's state directory {}", dir.path().display()))?;
        Ok(Self {
            dir,
            #[cfg(unix)]
            identity,
        })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Deletes the directory, unless the path now names something else (the directory was
    /// replaced, for example by a symlink to files that are not the demo's).
    fn remove(self) -> anyhow::Result<()> {
        #[cfg(unix)]
        if identity_of(self.dir.path()).ok() != Some(self.identity) {
            let path = self.dir.keep();
            anyhow::bail!(
                "{} is no longer the directory the demo created; it was left alone, remove it yourself",
                path.display()
            );
        }
        let path = self.dir.path().to_path_buf();
        self.dir
            .close()
            .with_context(|| format!("removing the demo's state directory {}", path.display()))
    }
}

/// Device and inode of `path` itself (a symlink is not followed), when it is a directory.
#[cfg(unix)]
fn identity_of(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return Err(std::io::Error::other("not a directory"));
    }
    Ok((meta.dev(), meta.ino()))
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
    state_dir: &Path,
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

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_state_directory_is_fresh_private_and_never_a_prepared_one() {
        let tmp = tempfile::tempdir().unwrap();
        // What another user could prepare for the name the pid predicts.
        let predictable = tmp.path().join(format!("clawtalk-demo-{}", std::process::id()));
        std::fs::create_dir(&predictable).unwrap();
        std::fs::set_permissions(&predictable, std::fs::Permissions::from_mode(0o777)).unwrap();

        let a = DemoStateDir::create(tmp.path()).unwrap();
        let b = DemoStateDir::create(tmp.path()).unwrap();
        assert_ne!(a.path(), predictable.as_path());
        assert_ne!(a.path(), b.path());
        assert!(a.path().starts_with(tmp.path()));
        let mode = std::fs::metadata(a.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);

        let a_path = a.path().to_path_buf();
        a.remove().unwrap();
        assert!(!a_path.exists(), "removed at exit");
        assert!(predictable.exists(), "the prepared directory is not touched");
        drop(b);
    }

    #[test]
    fn a_swapped_directory_is_not_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        std::fs::write(victim.join("keep.txt"), "mine").unwrap();
        let state = DemoStateDir::create(tmp.path()).unwrap();
        let path = state.path().to_path_buf();
        std::fs::remove_dir(&path).unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();

        let error = state.remove().unwrap_err().to_string();
        assert!(
            error.contains("no longer the directory the demo created"),
            "{error}"
        );
        assert!(
            victim.join("keep.txt").exists(),
            "the symlink's target is untouched"
        );
    }
}
