//! Doctor checks on this machine: the config, file permissions, the store.

use std::path::Path;

use crate::cli::common::ConfigArg;
use clawtalk_config::{Config, LoadedConfig};

use super::Finding;

/// Loads and validates the config; every error is a problem line, every warning a warn line.
pub(super) fn check_config(arg: &ConfigArg, findings: &mut Vec<Finding>) -> Option<LoadedConfig> {
    match Config::load(arg.config.as_deref()) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                findings.push(Finding::warn("config", warning.to_string()));
            }
            findings.push(Finding::ok(
                "config",
                format!(
                    "{} is valid ({} account(s), {} agent(s))",
                    loaded.source,
                    loaded.config.accounts.len(),
                    loaded.config.agents.len()
                ),
            ));
            Some(loaded)
        }
        Err(errors) => {
            for error in &errors.errors {
                findings.push(Finding::problem("config", format!("{} — {error}", errors.source)));
            }
            None
        }
    }
}

/// Every secret of the config, to mask in the report.
pub(super) fn secrets_of(config: &Config) -> Vec<String> {
    let mut secrets = Vec::new();
    for account in &config.accounts {
        secrets.push(account.client_secret.expose().to_owned());
        if let Some(push) = &account.event_push {
            secrets.push(push.token.expose().to_owned());
            secrets.push(push.aes_key.expose().to_owned());
        }
        if let Some(robot) = &account.custom_robot {
            secrets.push(robot.webhook.to_string());
            if let Some(query) = robot.webhook.query() {
                secrets.push(query.to_owned());
            }
            if let Some(secret) = &robot.secret {
                secrets.push(secret.expose().to_owned());
            }
        }
    }
    for provider in config.providers.values() {
        if let Some(key) = &provider.api_key {
            secrets.push(key.expose().to_owned());
        }
    }
    if let Some(token) = &config.gateway.auth_token {
        secrets.push(token.expose().to_owned());
    }
    secrets.retain(|s| !s.is_empty());
    secrets
}

/// Tokens shorter than this can be guessed online however they were made.
const MIN_TOKEN_CHARS: usize = 16;
/// Estimated bits below which a token counts as guessable (a random 16-character
/// lowercase-and-digits token has about 82).
const MIN_TOKEN_BITS: f64 = 64.0;

/// A weak `gateway.auth.token` on a listener reachable beyond loopback (a LAN bind, or a
/// reverse proxy in front): anyone who reaches the port may guess it, and the login throttle
/// only slows a guesser down.
pub(super) fn check_gateway_token(config: &Config, findings: &mut Vec<Finding>) {
    let gateway = &config.gateway;
    let Some(token) = gateway.auth_token.as_ref().filter(|t| !t.is_empty()) else {
        return;
    };
    if !gateway.reachable_beyond_loopback() {
        return;
    }
    let exposure = if gateway.bind.is_loopback() {
        "gateway.trustedProxies forwards remote clients to it".to_owned()
    } else {
        format!("the gateway listens on {} (beyond loopback)", gateway.bind)
    };
    match token_weakness(token.expose()) {
        Some(why) => findings.push(Finding::warn(
            "gateway token",
            format!(
                "gateway.auth.token is weak ({why}) and {exposure}: anyone who reaches the port can guess it; \
                 use a random token of 32+ characters, e.g. the output of `openssl rand -hex 32`"
            ),
        )),
        None => findings.push(Finding::ok(
            "gateway token",
            format!("gateway.auth.token is long and varied enough for a listener reachable beyond loopback ({exposure})"),
        )),
    }
}

/// Why `token` is easy to guess, or `None`. The estimate is length × log2(the alphabet its
/// character classes span), capped by how many distinct characters it uses.
fn token_weakness(token: &str) -> Option<String> {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() < MIN_TOKEN_CHARS {
        return Some(format!(
            "{} character{}, fewer than {MIN_TOKEN_CHARS}",
            chars.len(),
            if chars.len() == 1 { "" } else { "s" }
        ));
    }
    let classes = [
        (chars.iter().any(char::is_ascii_lowercase), 26.0),
        (chars.iter().any(char::is_ascii_uppercase), 26.0),
        (chars.iter().any(char::is_ascii_digit), 10.0),
        (chars.iter().any(|c| !c.is_ascii_alphanumeric()), 33.0),
    ];
    let alphabet: f64 = classes
        .iter()
        .filter(|(present, _)| *present)
        .map(|(_, n)| n)
        .sum();
    let mut distinct = chars.clone();
    distinct.sort_unstable();
    distinct.dedup();
    #[allow(clippy::cast_precision_loss)] // token lengths are far below 2^52
    let (len, distinct) = (chars.len() as f64, distinct.len() as f64);
    let bits = len * alphabet.min(distinct).max(1.0).log2();
    (bits < MIN_TOKEN_BITS)
        .then(|| format!("about {bits:.0} bits of randomness, fewer than {MIN_TOKEN_BITS:.0}"))
}

/// State directory owner-only; a config file holding secrets not readable by others.
pub(super) fn check_permissions(loaded: &LoadedConfig, findings: &mut Vec<Finding>) {
    let state_dir = &loaded.config.gateway.state_dir;
    match mode_of(state_dir) {
        None => findings.push(Finding::ok(
            "state dir",
            format!("{} does not exist yet; the gateway creates it (mode 0700)", state_dir.display()),
        )),
        Some(mode) if mode & 0o077 != 0 => findings.push(Finding::warn(
            "state dir",
            format!(
                "{} is accessible to other users (mode {:o}) and holds messages and the allowlist; run `chmod 700 {}`",
                state_dir.display(),
                mode & 0o777,
                state_dir.display()
            ),
        )),
        Some(_) => findings.push(Finding::ok("state dir", format!("{} is owner-only", state_dir.display()))),
    }
    check_log_files(state_dir, findings);
    let Some(path) = loaded.source.path() else {
        return;
    };
    let Some(mode) = mode_of(path) else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let holds_secrets = secrets_of(&loaded.config)
        .iter()
        .any(|s| s.len() >= 4 && text.contains(s.as_str()));
    if mode & 0o044 != 0 && holds_secrets {
        findings.push(Finding::warn(
            "config file",
            format!(
                "{} holds secrets and is readable by other users (mode {:o}); run `chmod 600 {}` or use ${{VAR}} references",
                path.display(),
                mode & 0o777,
                path.display()
            ),
        ));
    } else {
        findings.push(Finding::ok(
            "config file",
            format!("{} permissions are fine", path.display()),
        ));
    }
}

/// The log files quote messages: a loose one is reported (the gateway tightens it at start).
fn check_log_files(state_dir: &Path, findings: &mut Vec<Finding>) {
    for path in [
        clawtalk_gateway::logfile::path(state_dir),
        clawtalk_gateway::logfile::rotated_path(state_dir),
    ] {
        match mode_of(&path) {
            Some(mode) if mode & 0o077 != 0 => findings.push(Finding::warn(
                "log file",
                format!(
                    "{} is readable by other users (mode {:04o}) and quotes messages; run `chmod 600 {}` \
                     (the gateway also corrects it when it starts)",
                    path.display(),
                    mode & 0o777,
                    path.display()
                ),
            )),
            Some(_) => findings.push(Finding::ok(
                "log file",
                format!("{} is owner-only", path.display()),
            )),
            None => {}
        }
    }
}

fn mode_of(path: &Path) -> Option<u32> {
    clawtalk_gateway::owner_only::mode_of(path)
}

/// Opens the store as the gateway does (which applies pending migrations) and reads from it;
/// names the backend (PostgreSQL URLs with the password masked) and, for SQLite, checks the
/// database file is writable.
pub(super) async fn check_store(config: &Config, findings: &mut Vec<Finding>) {
    let backend = match clawtalk_store::StoreBackend::from_url(&config.store.url) {
        Ok(backend) => backend,
        Err(error) => {
            findings.push(Finding::problem("store", format!("{error:#}")));
            return;
        }
    };
    let shown = backend.describe();
    let store = match clawtalk_store::open_configured(config).await {
        Ok(store) => store,
        Err(error) => {
            findings.push(Finding::problem("store", format!("{shown}: {error:#}")));
            return;
        }
    };
    let depths = store.queue_depths().await;
    store.close().await;
    let writable = match &backend {
        clawtalk_store::StoreBackend::Sqlite(path) => {
            std::fs::OpenOptions::new().append(true).open(path).map(drop)
        }
        // The server decides; the migration that just ran proves we may write.
        clawtalk_store::StoreBackend::Postgres(_) => Ok(()),
    };
    let reached = match backend {
        clawtalk_store::StoreBackend::Sqlite(_) => "opens",
        clawtalk_store::StoreBackend::Postgres(_) => "reachable",
    };
    match (depths, writable) {
        (Err(error), _) => findings.push(Finding::problem(
            "store",
            format!("{shown} {reached} but cannot be read ({error}); restore it from a backup or move it away"),
        )),
        (_, Err(error)) => findings.push(Finding::problem(
            "store",
            format!("{shown} is not writable ({error}); fix its owner and mode (0600)"),
        )),
        (Ok(d), Ok(())) => findings.push(Finding::ok(
            "store",
            format!(
                "{shown} {reached}, schema up to date, writable ({} pending turn(s), {} unsent reply part(s))",
                d.pending_turns, d.planned_parts
            ),
        )),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::cli::doctor::Severity;

    fn loaded(state_dir: &Path) -> LoadedConfig {
        let text = format!(
            r#"{{ gateway: {{ stateDir: {} }}, agents: {{ defaults: {{ model: {{ primary: "deepseek/deepseek-chat" }} }} }},
                 channels: {{ dingtalk: {{ clientId: "dingdoctor", clientSecret: "doctor-secret" }} }} }}"#,
            serde_json::Value::String(state_dir.display().to_string())
        );
        let env = |name: &str| (name == "DEEPSEEK_API_KEY").then(|| "sk-test".to_owned());
        Config::from_json5(&text, &env).unwrap()
    }

    #[test]
    fn loose_state_directory_and_log_file_are_reported() {
        let root = tempfile::tempdir().unwrap();
        let state = root.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
        let log = clawtalk_gateway::logfile::path(&state);
        std::fs::write(&log, "{}\n").unwrap();
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();

        let mut findings = Vec::new();
        check_permissions(&loaded(&state), &mut findings);
        let warned = |subject: &str| {
            findings
                .iter()
                .find(|f| f.subject == subject && f.severity == Severity::Warn)
                .map(|f| f.message.clone())
        };
        let dir = warned("state dir").expect("the loose directory is reported");
        assert!(dir.contains("chmod 700"), "{dir}");
        let file = warned("log file").expect("the loose log file is reported");
        assert!(
            file.contains("gateway.log") && file.contains("0644") && file.contains("chmod 600"),
            "{file}"
        );

        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut findings = Vec::new();
        check_permissions(&loaded(&state), &mut findings);
        assert!(
            findings.iter().all(|f| f.severity == Severity::Ok),
            "{findings:?}"
        );
    }
}

#[cfg(test)]
mod token_tests {
    use super::*;

    #[test]
    fn short_repetitive_or_narrow_tokens_are_weak() {
        assert!(token_weakness("1").is_some_and(|w| w.contains("1 character,")));
        assert!(token_weakness("password123").is_some_and(|w| w.contains("11 characters")));
        assert!(
            token_weakness("aaaaaaaaaaaaaaaaaaaaaaaa").is_some(),
            "one character repeated"
        );
        assert!(
            token_weakness("abababababababababababab").is_some(),
            "two characters"
        );
        assert!(token_weakness("1234567890123456").is_some(), "16 digits: 53 bits");
        assert_eq!(token_weakness("k3v9q2m7x8w1p4z6"), None);
        assert_eq!(
            token_weakness("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
            None
        );
    }

    fn config(gateway: &str) -> Config {
        clawtalk_config::test_support::config(&format!(
            r#"{{ gateway: {gateway},
                 agents: {{ defaults: {{ model: "deepseek/deepseek-chat" }} }},
                 channels: {{ dingtalk: {{ clientId: "dingx", clientSecret: "s" }} }} }}"#
        ))
    }

    #[test]
    fn a_weak_token_is_a_warning_only_when_the_listener_is_reachable() {
        let mut findings = Vec::new();
        check_gateway_token(&config(r#"{ bind: "lan", auth: { token: "1" } }"#), &mut findings);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, super::super::Severity::Warn);
        assert!(
            findings[0]
                .message
                .contains("gateway.auth.token is weak (1 character"),
            "{}",
            findings[0].message
        );
        assert!(findings[0].message.contains("0.0.0.0"), "{}", findings[0].message);

        let mut findings = Vec::new();
        let proxied = r#"{ trustedProxies: ["127.0.0.1"], auth: { token: "hunter2" } }"#;
        check_gateway_token(&config(proxied), &mut findings);
        assert_eq!(findings[0].severity, super::super::Severity::Warn);
        assert!(
            findings[0].message.contains("trustedProxies"),
            "{}",
            findings[0].message
        );

        let mut findings = Vec::new();
        check_gateway_token(&config(r#"{ auth: { token: "1" } }"#), &mut findings);
        assert!(findings.is_empty(), "loopback only: nobody else can try");
    }
}
