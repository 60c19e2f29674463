//! `clawtalk config validate`: report every config problem at once.

use std::io::{self, Write};
use std::path::Path;

use super::{Config, ConfigIssue, ConfigSource};

/// Output format of `config validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One line per issue, path first, then a summary.
    Text,
    /// One JSON object.
    Json,
}

/// Loads the config (as the gateway would) and writes the report to `out`.
/// Returns whether the config is valid.
pub fn validate(
    explicit_path: Option<&Path>,
    format: OutputFormat,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut dyn Write,
) -> io::Result<bool> {
    let (source, errors, warnings, summary) = match Config::load_with_env(explicit_path, env) {
        Ok(loaded) => (
            loaded.source,
            Vec::new(),
            loaded.warnings,
            Some(describe(&loaded.config)),
        ),
        Err(e) => (e.source, e.errors, e.warnings, None),
    };
    match format {
        OutputFormat::Text => write_text(out, &source, &errors, &warnings, summary.as_deref())?,
        OutputFormat::Json => write_json(out, &source, &errors, &warnings)?,
    }
    Ok(errors.is_empty())
}

fn write_text(
    out: &mut dyn Write,
    source: &ConfigSource,
    errors: &[ConfigIssue],
    warnings: &[ConfigIssue],
    summary: Option<&str>,
) -> io::Result<()> {
    writeln!(out, "config: {source}")?;
    for (severity, issue) in errors
        .iter()
        .map(|e| ("error", e))
        .chain(warnings.iter().map(|w| ("warning", w)))
    {
        write!(out, "{}: {severity}: {}", issue.path, issue.message)?;
        if let Some(fix) = &issue.fix {
            write!(out, "; fix: {fix}")?;
        }
        writeln!(out)?;
    }
    let counts = format!(
        "{} error{}, {} warning{}",
        errors.len(),
        plural(errors.len()),
        warnings.len(),
        plural(warnings.len())
    );
    match summary {
        Some(s) if errors.is_empty() => writeln!(out, "config is valid ({counts}): {s}"),
        _ => writeln!(out, "config is invalid ({counts})"),
    }
}

fn write_json(
    out: &mut dyn Write,
    source: &ConfigSource,
    errors: &[ConfigIssue],
    warnings: &[ConfigIssue],
) -> io::Result<()> {
    let list = |issues: &[ConfigIssue]| {
        issues
            .iter()
            .map(|i| serde_json::json!({ "path": i.path, "message": i.message, "fix": i.fix }))
            .collect::<Vec<_>>()
    };
    let report = serde_json::json!({
        "valid": errors.is_empty(),
        "source": source.to_string(),
        "path": source.path().map(|p| p.display().to_string()),
        "errors": list(errors),
        "warnings": list(warnings),
    });
    writeln!(out, "{report:#}")
}

fn describe(c: &Config) -> String {
    let enabled = c.enabled_accounts().count();
    format!(
        "{} agent{} (default {:?}), {} DingTalk account{} ({enabled} enabled), {} binding{}, {} provider{}",
        c.agents.len(),
        plural(c.agents.len()),
        c.default_agent,
        c.accounts.len(),
        plural(c.accounts.len()),
        c.bindings.len(),
        plural(c.bindings.len()),
        c.providers.len(),
        plural(c.providers.len()),
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
