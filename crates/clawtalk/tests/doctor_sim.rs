//! `clawtalk doctor` as a real process against the DingTalk simulator and the mock model:
//! a healthy setup passes, and each injected fault is one clear PROBLEM line.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use dingtalk_sim::{AppPatch, AppSpec, SimConfig, Simulator};
use llm_mock::MockModel;
use serde_json::json;
use tempfile::TempDir;

const APP: &str = "dingdoctorq7vxkt3mwz";
const SECRET: &str = "doctor-secret-never-printed";
const MODEL_KEY: &str = "sk-doctor-model-key-never-printed";

struct Env {
    sim: Simulator,
    model: MockModel,
    dir: TempDir,
}

impl Env {
    async fn new() -> Self {
        let sim = Simulator::start_with(SimConfig::fast())
            .await
            .expect("simulator starts");
        sim.create_app(AppSpec::new(APP, SECRET)).expect("app");
        let model = MockModel::builder()
            .zero_delay()
            .api_key("main", MODEL_KEY)
            .start()
            .await
            .expect("mock model starts");
        Self {
            sim,
            model,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A card-mode, streaming Stream account; `secret`, model `base_url` and `key` as given.
    fn config(&self, secret: &str, base_url: &str, key: &str) -> PathBuf {
        let config = json!({
            "gateway": { "stateDir": self.dir.path().join("state") },
            "agents": { "defaults": { "model": "mock/m" } },
            "models": { "providers": { "mock": { "baseUrl": base_url, "apiKey": key } } },
            "channels": { "dingtalk": {
                "clientId": APP,
                "clientSecret": secret,
                "endpoints": self.sim.base_url().to_string(),
                "messageType": "card",
                "streaming": true,
                "cardTemplateId": "doctor.schema",
            } },
        });
        let path = self.dir.path().join("clawtalk.json");
        std::fs::write(&path, config.to_string()).expect("write config");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        path
    }

    fn healthy_config(&self) -> PathBuf {
        self.config(SECRET, &self.model.base_url(), MODEL_KEY)
    }

    async fn doctor(&self, config: &Path) -> Output {
        let config = config.display().to_string();
        support::process::run_cli(self.dir.path(), &["doctor", "--config", &config]).await
    }
}

/// Stdout and stderr together, after checking no secret shows in either.
fn report(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in [
        SECRET,
        MODEL_KEY,
        "wrong-secret-also-never-printed",
        "sk-wrong-key-never-printed",
    ] {
        assert!(!text.contains(secret), "a secret leaked into the report:\n{text}");
    }
    text
}

fn problems(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("PROBLEM")).collect()
}

/// Exit 1 and exactly one PROBLEM line, which contains every needle.
fn assert_one_problem(out: &Output, needles: &[&str]) {
    let text = report(out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let problems = problems(&text);
    assert_eq!(problems.len(), 1, "one problem expected:\n{text}");
    for needle in needles {
        assert!(
            problems[0].contains(needle),
            "{needle:?} missing in {:?}\n{text}",
            problems[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_setup_passes_every_check() {
    let env = Env::new().await;
    let out = env.doctor(&env.healthy_config()).await;
    let text = report(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(problems(&text).is_empty(), "{text}");
    for needle in [
        "ok       config:",
        "store:",
        "credentials accepted and a Stream ticket issued",
        "permission Card.Instance.Write granted",
        "permission Card.Streaming.Write granted",
        "clock within",
        "model provider mock: 127.0.0.1 reachable, API key accepted",
        "doctor: no problems",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_one_problem() {
    let env = Env::new().await;
    let config = env.config(
        "wrong-secret-also-never-printed",
        &env.model.base_url(),
        MODEL_KEY,
    );
    assert_one_problem(
        &env.doctor(&config).await,
        &["account default", "wrong_credentials", "clientSecret"],
    );
}

/// `connections/open` refusing the credentials answers HTTP 401 `authFailed` "鉴权失败"
/// (zfanswer/dify-on-dingtalk#28), even when the token endpoint accepted them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failed_on_connections_open_is_a_wrong_credentials_problem() {
    let env = Env::new().await;
    env.sim.fail_next_opens(1, 401);
    assert_one_problem(
        &env.doctor(&env.healthy_config()).await,
        &[
            "account default",
            "connections/open [wrong_credentials]",
            "wrong Client ID / Client Secret",
            "authFailed",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_mode_not_enabled_is_one_problem() {
    let env = Env::new().await;
    env.sim
        .update_app(
            APP,
            &AppPatch {
                stream_enabled: Some(false),
                ..AppPatch::default()
            },
        )
        .expect("patch the app");
    assert_one_problem(
        &env.doctor(&env.healthy_config()).await,
        &["stream_not_enabled", "Stream"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_card_permission_is_named() {
    let env = Env::new().await;
    env.sim
        .update_app(
            APP,
            &AppPatch {
                permissions: Some(vec!["qyapi_robot_sendmsg".into(), "Card.Streaming.Write".into()]),
                ..AppPatch::default()
            },
        )
        .expect("patch the app");
    assert_one_problem(
        &env.doctor(&env.healthy_config()).await,
        &["missing DingTalk permission Card.Instance.Write", "AI cards"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_model_provider_is_one_problem() {
    let env = Env::new().await;
    // Port 9 (discard) has nothing listening on a test machine.
    let config = env.config(SECRET, "http://127.0.0.1:9/v1", MODEL_KEY);
    assert_one_problem(
        &env.doctor(&config).await,
        &["model provider mock", "unreachable"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_model_key_is_one_problem_without_the_key() {
    let env = Env::new().await;
    let config = env.config(SECRET, &env.model.base_url(), "sk-wrong-key-never-printed");
    assert_one_problem(
        &env.doctor(&config).await,
        &["model provider mock", "rejected the API key"],
    );
}
