//! Terminal prompts (dialoguer), wrapped so the flow reads as questions and answers.

use anyhow::anyhow;
use dialoguer::theme::{ColorfulTheme, SimpleTheme, Theme};
use dialoguer::{Confirm, Input, Password, Select};

/// Asks the user on the terminal.
pub(crate) struct Prompter {
    theme: Box<dyn Theme>,
}

impl Prompter {
    /// Fails when stdin or stderr is not a terminal: the wizard would otherwise block on a
    /// pipe or read answers meant for someone else.
    pub(crate) fn on_terminal() -> anyhow::Result<Self> {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            return Err(anyhow!(
                "the onboarding wizard needs a terminal; pass --non-interactive with the \
                 settings as flags (e.g. --mode stream --client-id … --client-secret …), see --help"
            ));
        }
        let colors = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let theme: Box<dyn Theme> = if colors {
            Box::new(ColorfulTheme::default())
        } else {
            Box::new(SimpleTheme)
        };
        Ok(Self { theme })
    }

    /// One of `items`; returns its index.
    pub(crate) fn select(&self, prompt: &str, items: &[&str], default: usize) -> anyhow::Result<usize> {
        Select::with_theme(self.theme.as_ref())
            .with_prompt(prompt)
            .items(items)
            .default(default)
            .interact()
            .map_err(interrupted)
    }

    /// A line of text; `check` returns why an answer is not acceptable, and the question is
    /// asked again.
    pub(crate) fn text(
        &self,
        prompt: &str,
        default: Option<&str>,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> anyhow::Result<String> {
        let mut input = Input::<String>::with_theme(self.theme.as_ref())
            .with_prompt(prompt)
            .allow_empty(true)
            .validate_with(|s: &String| check(s.trim()));
        if let Some(d) = default {
            input = input.default(d.to_owned());
        }
        input
            .interact_text()
            .map(|s| s.trim().to_owned())
            .map_err(interrupted)
    }

    /// A hidden answer (secrets); empty allowed when `optional`.
    pub(crate) fn secret(&self, prompt: &str, optional: bool) -> anyhow::Result<String> {
        Password::with_theme(self.theme.as_ref())
            .with_prompt(prompt)
            .allow_empty_password(optional)
            .interact()
            .map(|s| s.trim().to_owned())
            .map_err(interrupted)
    }

    /// Yes or no.
    pub(crate) fn confirm(&self, prompt: &str, default: bool) -> anyhow::Result<bool> {
        Confirm::with_theme(self.theme.as_ref())
            .with_prompt(prompt)
            .default(default)
            .wait_for_newline(true)
            .interact()
            .map_err(interrupted)
    }
}

fn interrupted(e: dialoguer::Error) -> anyhow::Error {
    anyhow::Error::new(e).context("the prompt was interrupted; nothing was written")
}

/// Nothing to do with prompts, but every caller of the wizard wants it: a non-empty check.
pub(crate) fn required(what: &'static str) -> impl Fn(&str) -> Result<(), String> {
    move |s: &str| {
        if s.is_empty() {
            Err(format!("{what} is required"))
        } else {
            Ok(())
        }
    }
}
