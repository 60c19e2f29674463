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
    write_issues(out, errors, warnings)?;
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

/// One line per issue, errors first: `path: severity: message; fix: …`.
fn write_issues(out: &mut dyn Write, errors: &[ConfigIssue], warnings: &[ConfigIssue]) -> io::Result<()> {
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
    Ok(())
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

pub fn describe(c: &Config) -> String {
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

/// `clawtalk config import channels.yaml [--out FILE]`: translates the seed format into
/// clawtalk's JSON, merged into `out` when it exists (every other key kept), and checks the
/// result as the gateway would. Writes nothing when there are errors; prints the JSON to `out`
/// when no file is given. Returns whether it succeeded.
///
/// `${VAR}` references are kept as written; unset ones are reported as warnings, since the
/// file is usually converted on another machine than the one that runs the gateway.
pub fn import(
    yaml_path: &Path,
    out_path: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut dyn Write,
) -> io::Result<bool> {
    use super::document::write_private;
    use super::issue::Diagnostics;
    use super::reader::Ctx;
    use super::seed_yaml::{parse_yaml, translate};
    use super::value::{Value, parse_json5};

    let fail = |out: &mut dyn Write, path: &Path, message: String, fix: &str| -> io::Result<bool> {
        writeln!(out, "{}: error: {message}; fix: {fix}", path.display())?;
        Ok(false)
    };
    let yaml = match std::fs::read_to_string(yaml_path) {
        Ok(text) => text,
        Err(e) => return fail(out, yaml_path, format!("cannot read it: {e}"), "check the path"),
    };
    let yaml = match parse_yaml(&yaml) {
        Ok(v) => v,
        Err(e) => {
            return fail(
                out,
                yaml_path,
                format!("not valid YAML: {e}"),
                "fix the syntax at that position",
            );
        }
    };
    let base = match out_path.filter(|p| p.exists()) {
        None => Value::Object(Vec::new()),
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| parse_json5(&t))
        {
            Ok(v) => v,
            Err(e) => {
                return fail(
                    out,
                    p,
                    format!("cannot read the existing config: {e}"),
                    "fix it or choose another --out",
                );
            }
        },
    };
    let unset = std::cell::RefCell::new(Vec::<String>::new());
    let (doc_probe, _) = translate(&yaml, base.clone(), "", &mut Ctx::new(&|_| None, None));
    let referenced = doc_probe.referenced_vars();
    let lenient = |name: &str| {
        env(name).or_else(|| {
            // A placeholder lets the check go on; the name is reported below.
            referenced.iter().any(|r| r == name).then(|| {
                unset.borrow_mut().push(name.to_owned());
                format!("unset-{name}")
            })
        })
    };
    let home = env("HOME").map(std::path::PathBuf::from);
    let mut cx = Ctx::new(&lenient, home.clone());
    let (doc, paths) = translate(&yaml, base, "", &mut cx);
    let translate_diags = std::mem::take(&mut cx.diags);
    let source = ConfigSource::Flag(yaml_path.to_path_buf());
    let mut check_cx = Ctx::new(&lenient, home);
    check_cx.diags = Diagnostics::default();
    let checked = super::load::build(&doc, source.clone(), check_cx, false, &paths);
    let (mut errors, mut warnings) = (translate_diags.errors, translate_diags.warnings);
    match checked {
        Ok(loaded) => warnings.extend(loaded.warnings),
        Err(e) => {
            errors.extend(e.errors);
            warnings.extend(e.warnings);
        }
    }
    let mut unset = unset.into_inner();
    unset.sort();
    unset.dedup();
    for name in unset {
        warnings.push(ConfigIssue {
            path: format!("env {name}"),
            message: "referenced as ${…} but not set here".into(),
            fix: Some(format!("export {name}=… where the gateway runs")),
        });
    }
    let report = |out: &mut dyn Write| write_issues(out, &errors, &warnings);
    if !errors.is_empty() {
        report(out)?;
        writeln!(
            out,
            "{}: not imported ({} error{})",
            yaml_path.display(),
            errors.len(),
            plural(errors.len())
        )?;
        return Ok(false);
    }
    let text = doc.to_pretty_json();
    match out_path {
        None => {
            // JSON on stdout stays machine-readable; the notes go to stderr.
            out.write_all(text.as_bytes())?;
            report(&mut io::stderr())?;
        }
        Some(path) => {
            if let Err(e) = write_private(path, &text) {
                return fail(
                    out,
                    path,
                    format!("cannot write it: {e}"),
                    "check the directory and its permissions",
                );
            }
            report(out)?;
            writeln!(
                out,
                "imported {} into {} (mode 0600)",
                yaml_path.display(),
                path.display()
            )?;
        }
    }
    Ok(true)
}
