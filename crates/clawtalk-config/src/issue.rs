//! Config errors and warnings, each tied to the key path it is about.

use std::fmt;

use super::load::ConfigSource;

/// One problem found in the configuration.
///
/// `path` is the dotted key path into the file (`channels.dingtalk.accounts.bot2.dmPolicy`), or
/// an environment variable / pseudo-path (`env DINGTALK_CLIENT_SECRET`, `(file)`) when the
/// problem is not at a key. Messages never contain secret values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Where the problem is.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it. Always present on errors.
    pub fix: Option<String>,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, " (fix: {fix})")?;
        }
        Ok(())
    }
}

/// Loading failed: every error found, plus the warnings, so a user fixes everything in one pass.
#[derive(Debug, Clone)]
pub struct ConfigErrors {
    /// Which file (or defaults) was read.
    pub source: ConfigSource,
    /// At least one.
    pub errors: Vec<ConfigIssue>,
    /// Unknown or ignored keys and risky settings.
    pub warnings: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "invalid configuration ({}): {n} error{}",
            self.source,
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects errors and warnings while the config is read, dropping exact repeats (a channel-level
/// key inherited by several accounts would otherwise be reported once per account).
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub errors: Vec<ConfigIssue>,
    pub warnings: Vec<ConfigIssue>,
}

impl Diagnostics {
    /// Records an error; errors must say how to fix them.
    pub fn error(&mut self, path: impl Into<String>, message: impl Into<String>, fix: impl Into<String>) {
        push_unique(
            &mut self.errors,
            ConfigIssue {
                path: path.into(),
                message: message.into(),
                fix: Some(fix.into()),
            },
        );
    }

    /// Records a warning, optionally with a suggestion.
    pub fn warn(&mut self, path: impl Into<String>, message: impl Into<String>, fix: Option<String>) {
        push_unique(
            &mut self.warnings,
            ConfigIssue {
                path: path.into(),
                message: message.into(),
                fix,
            },
        );
    }

    /// Whether an error was already reported at `path` or inside it (so a follow-up "missing"
    /// error would only repeat it).
    pub fn has_error_at(&self, path: &str) -> bool {
        self.errors.iter().any(|e| {
            e.path
                .strip_prefix(path)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        })
    }

    /// Number of errors so far, to tell whether a sub-read added any.
    pub fn error_count(&self) -> usize {
        self.errors.len()
    }
}

fn push_unique(list: &mut Vec<ConfigIssue>, issue: ConfigIssue) {
    if !list.contains(&issue) {
        list.push(issue);
    }
}
