//! `clawtalk doctor`: checks everything the gateway needs and prints one line per finding,
//! each saying what is wrong and what to do. Exit status 1 when any finding is a problem.
//!
//! The store is opened as the gateway opens it (created and migrated when needed); nothing
//! else changes. DingTalk is asked for a token, a Stream ticket (no WebSocket) and, for
//! permissions, deliberately empty requests that it refuses before doing anything; model
//! providers get one `GET /models`.

mod dingtalk;
mod local;
mod mcp;
mod models;

use std::io::Write;

use clap::Args;
use serde_json::json;

use super::common::ConfigArg;

/// `clawtalk doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    Ok,
    Warn,
    Problem,
}

impl Severity {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Problem => "PROBLEM",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub severity: Severity,
    /// What was checked: `config`, `state dir`, `store`, `account default`, `model deepseek`.
    pub subject: String,
    /// What was found, and for warnings and problems what to do.
    pub message: String,
}

impl Finding {
    pub(crate) fn ok(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Ok, subject, message)
    }

    pub(crate) fn warn(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Warn, subject, message)
    }

    pub(crate) fn problem(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Problem, subject, message)
    }

    fn new(severity: Severity, subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity,
            subject: subject.into(),
            message: message.into(),
        }
    }
}

/// Runs `clawtalk doctor`.
///
/// # Errors
/// Writing the report failed.
pub async fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let findings = collect(&args.config).await;
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = findings
            .findings
            .iter()
            .map(|f| json!({"severity": f.severity.label().to_ascii_lowercase(), "subject": f.subject, "message": f.message}))
            .collect();
        let text = serde_json::to_string_pretty(&json!({ "findings": list }))?;
        writeln!(out, "{}", findings.mask(&text))?;
    } else {
        for f in &findings.findings {
            let line = format!("{:<8} {}: {}", f.severity.label(), f.subject, f.message);
            writeln!(out, "{}", findings.mask(&line))?;
        }
        let problems = findings.count(Severity::Problem);
        let warnings = findings.count(Severity::Warn);
        writeln!(
            out,
            "{}",
            if problems == 0 {
                format!("doctor: no problems ({warnings} warning(s))")
            } else {
                format!("doctor: {problems} problem(s), {warnings} warning(s); fix the PROBLEM lines above")
            }
        )?;
    }
    out.flush()?;
    if findings.count(Severity::Problem) > 0 {
        // The report is the error message.
        std::process::exit(1);
    }
    Ok(())
}

/// Every finding, and the secrets the report must never show.
struct Report {
    findings: Vec<Finding>,
    secrets: Vec<String>,
}

impl Report {
    fn count(&self, severity: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == severity).count()
    }

    /// Last line of defence: no finding should quote a secret, but a provider's error
    /// message might (some echo the API key), so every configured secret is masked.
    fn mask(&self, text: &str) -> String {
        self.secrets
            .iter()
            .filter(|s| s.len() >= 4)
            .fold(text.to_owned(), |acc, secret| acc.replace(secret.as_str(), "***"))
    }
}

async fn collect(arg: &ConfigArg) -> Report {
    let mut findings = Vec::new();
    let Some(loaded) = local::check_config(arg, &mut findings) else {
        return Report {
            findings,
            secrets: Vec::new(),
        };
    };
    let config = &loaded.config;
    local::check_permissions(&loaded, &mut findings);
    local::check_gateway_token(config, &mut findings);
    local::check_store(config, &mut findings).await;
    let http = match crate::onboard::probe::probe_http_client() {
        Ok(http) => http,
        Err(error) => {
            findings.push(Finding::problem("network", format!("{error:#}")));
            return Report {
                findings,
                secrets: local::secrets_of(config),
            };
        }
    };
    let (accounts, providers, mcp_servers) = tokio::join!(
        dingtalk::check_accounts(&http, config),
        models::check_providers(&http, config),
        mcp::check_servers(config)
    );
    findings.extend(accounts);
    findings.extend(providers);
    findings.extend(mcp_servers);
    let mut secrets = local::secrets_of(config);
    secrets.extend(mcp::secrets(config));
    Report { findings, secrets }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_any_line() {
        let report = Report {
            findings: Vec::new(),
            secrets: vec!["sk-very-secret".into(), "ab".into()],
        };
        assert_eq!(
            report.mask("key sk-very-secret rejected ab"),
            "key *** rejected ab"
        );
    }
}
