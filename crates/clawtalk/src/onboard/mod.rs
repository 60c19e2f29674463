//! `clawtalk onboard dingtalk` and `clawtalk channels add`: set up a DingTalk bot, test it
//! against DingTalk for real, and write it into the config file.
//!
//! Every answer can be given as a flag; the wizard only asks for what is missing, so
//! `--non-interactive` with flags and the interactive wizard are the same code path. The file
//! is merged, never replaced: other keys, `${VAR}` references and unknown keys are kept (JSON5
//! comments are not: the file is rewritten as JSON, and the previous one kept as `.bak`).

mod check;
mod edit;
mod plan;
pub(crate) mod probe;
mod prompt;

use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use dingtalk::{Endpoints, Secret};
use url::Url;

use check::Outcome;
use clawtalk_config::{Value, parse_document, write_private};
use clawtalk_llm::ProviderPreset;
pub use plan::Mode;
use plan::{
    Credentials, DM_POLICIES, GROUP_POLICIES, ModelPlan, Plan, Policies, SecretEntry, default_secret_var,
    is_env_name,
};
use prompt::{Prompter, required};

/// Flags of `onboard dingtalk` / `channels add`. Each one answers a wizard question.
#[derive(Debug, Clone, Default, Args)]
pub struct OnboardArgs {
    /// Config file to write (merged when it exists). Default: $CLAWTALK_CONFIG, else
    /// ~/.clawtalk/clawtalk.json.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Never prompt: every required setting comes from flags (missing ones are an error).
    #[arg(long)]
    pub non_interactive: bool,
    /// Account id (default: `default` for the first bot).
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// Replace an existing account of the same id without asking.
    #[arg(long)]
    pub force: bool,
    /// How the bot connects.
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Client ID (AppKey) of the DingTalk app (Stream / HTTP).
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// Client Secret (AppSecret). Prefer --client-secret-env to keep it out of the file.
    #[arg(long, value_name = "SECRET")]
    pub client_secret: Option<String>,
    /// Write the Client Secret as `${VAR}`; its value is read from VAR (or --client-secret)
    /// for the connection test.
    #[arg(long, value_name = "VAR")]
    pub client_secret_env: Option<String>,
    /// HTTP mode: event subscription token.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// HTTP mode: event subscription aes_key (43 characters).
    #[arg(long, value_name = "KEY")]
    pub aes_key: Option<String>,
    /// Custom Robot: the group robot's webhook URL.
    #[arg(long, value_name = "URL")]
    pub webhook_url: Option<Url>,
    /// Custom Robot: the signing secret (`SEC…`), when the robot uses signing.
    #[arg(long, value_name = "SECRET")]
    pub webhook_secret: Option<String>,
    /// Custom Robot: write the signing secret as `${VAR}`.
    #[arg(long, value_name = "VAR")]
    pub webhook_secret_env: Option<String>,
    /// Custom Robot: post a signed test message into the group (it is visible to everyone).
    #[arg(long)]
    pub test_send: bool,
    /// Who may DM the bot: pairing (operator approves codes), allowlist, open, disabled.
    #[arg(long, value_name = "POLICY", value_parser = clap::builder::PossibleValuesParser::new(DM_POLICIES))]
    pub dm_policy: Option<String>,
    /// DM senders allowed besides paired ones (user ids, comma-separated or repeated; `*` = all).
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub allow_from: Vec<String>,
    /// Which groups the bot answers in: open, allowlist, disabled.
    #[arg(long, value_name = "POLICY", value_parser = clap::builder::PossibleValuesParser::new(GROUP_POLICIES))]
    pub group_policy: Option<String>,
    /// Answer in groups only when @-mentioned (DingTalk only delivers @-messages to app bots).
    #[arg(long, value_name = "BOOL")]
    pub require_mention: Option<bool>,
    /// DingTalk base URL (a proxy or the simulator); default: the production hosts.
    #[arg(long, value_name = "URL")]
    pub endpoints: Option<Url>,
    /// Model provider: a preset (qwen, deepseek, kimi, glm, …) or your own id with --base-url.
    #[arg(long, value_name = "ID")]
    pub provider: Option<String>,
    /// Model id (default: the preset's).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// OpenAI-compatible base URL, for a provider that is not a preset.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<Url>,
    /// API key of the provider. Prefer --api-key-env.
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Write the API key as `${VAR}`.
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// Do not test the connection (e.g. offline); the settings are still checked.
    #[arg(long)]
    pub skip_test: bool,
}

/// Which command runs the flow; they differ only in wording and in how an existing account
/// id is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `onboard dingtalk`: set up (or redo) the bot.
    Onboard,
    /// `channels add`: add another account.
    ChannelsAdd,
}

/// Runs the wizard (or the flag-only path) and writes the config.
pub async fn run(args: OnboardArgs, flavor: Flavor) -> anyhow::Result<()> {
    let path = target_path(args.config.clone())?;
    let (mut doc, existed) = read_target(&path)?;
    let ui = if args.non_interactive {
        None
    } else {
        Some(Prompter::on_terminal()?)
    };
    let before = doc.clone();
    let mut flow = Flow {
        args,
        ui,
        doc: &before,
    };
    if flow.ui.is_some() {
        println!("clawtalk: set up a DingTalk bot");
        println!(
            "  config: {} ({})",
            path.display(),
            if existed {
                "existing keys are kept"
            } else {
                "new file"
            }
        );
    }
    let account = flow.account(flavor)?;
    let mode = flow.mode()?;
    let endpoints = flow.args.endpoints.clone();
    let credentials = flow
        .credentials_tested(&account, mode, endpoints.as_ref())
        .await?;
    let policies = flow.policies(mode)?;
    let model = flow.model()?;
    let plan = Plan {
        account,
        mode,
        credentials,
        policies,
        endpoints,
        model,
    };
    edit::apply(&mut doc, &plan);
    if let Some(ui) = &flow.ui
        && !ui.confirm(&format!("Write {}?", path.display()), true)?
    {
        bail!("nothing was written");
    }
    if existed {
        let backup = path.with_extension("json.bak");
        std::fs::copy(&path, &backup).with_context(|| {
            format!(
                "cannot keep a backup of {} at {}",
                path.display(),
                backup.display()
            )
        })?;
    }
    write_private(&path, &doc.to_pretty_json())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "saved account {:?} ({}) to {} (mode 0600)",
        plan.account,
        plan.mode.key(),
        path.display()
    );
    for var in referenced_but_unset(&doc) {
        println!("note: export {var}=… before starting the gateway (the config refers to ${{{var}}})");
    }
    if edit::current_model(&doc).is_none() {
        println!(
            "note: no model is configured; run again with --provider, or export CLAWTALK_MODEL=provider/model"
        );
    }
    let config_flag = if is_default_path(&path) {
        String::new()
    } else {
        format!(" --config {}", path.display())
    };
    println!("next: clawtalk channels status --probe{config_flag}, then clawtalk gateway run{config_flag}");
    Ok(())
}

/// `--config`, else `$CLAWTALK_CONFIG`, else `~/.clawtalk/clawtalk.json`.
pub(crate) fn target_path(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    if let Some(p) = std::env::var_os("CLAWTALK_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    default_path().ok_or_else(|| anyhow!("HOME is not set; pass --config PATH"))
}

fn default_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".clawtalk").join("clawtalk.json"))
}

fn is_default_path(path: &std::path::Path) -> bool {
    default_path().is_some_and(|d| d == path)
}

/// The document to merge into, and whether the file existed.
pub(crate) fn read_target(path: &std::path::Path) -> anyhow::Result<(Value, bool)> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let doc = parse_document(&text).map_err(|e| {
                anyhow!(
                    "{} is not valid JSON5 ({e}); fix it or pass --config with another file, \
                     so that nothing in it is lost",
                    path.display()
                )
            })?;
            if !matches!(doc, Value::Object(_)) {
                bail!(
                    "{} does not hold an object; fix it or pass --config with another file",
                    path.display()
                );
            }
            Ok((doc, true))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Value::Object(Vec::new()), false)),
        Err(e) => Err(anyhow!("cannot read {}: {e}", path.display())),
    }
}

fn referenced_but_unset(doc: &Value) -> Vec<String> {
    doc.referenced_vars()
        .into_iter()
        .filter(|v| std::env::var_os(v).is_none_or(|x| x.is_empty()))
        .collect()
}

/// Answers come from flags first; the prompter (interactive runs only) asks for the rest.
struct Flow<'d> {
    args: OnboardArgs,
    ui: Option<Prompter>,
    doc: &'d Value,
}

/// The flag that answers a question, for "missing" errors in non-interactive runs.
fn missing(flag: &str, what: &str) -> anyhow::Error {
    anyhow!("{what} is required: pass {flag} (or run without --non-interactive to be asked)")
}

impl Flow<'_> {
    fn account(&mut self, flavor: Flavor) -> anyhow::Result<String> {
        let existing = edit::account_ids(self.doc);
        loop {
            let id = match (self.args.account.take(), &self.ui) {
                (Some(id), _) => id,
                (None, _) if existing.is_empty() => "default".to_owned(),
                (None, None) if flavor == Flavor::Onboard => "default".to_owned(),
                (None, None) => return Err(missing("--account ID", "an account id for the new bot")),
                (None, Some(ui)) => ui.text(
                    &format!("Account id (existing: {})", existing.join(", ")),
                    None,
                    |s| check_account_id(s).map_err(|e| e.to_string()),
                )?,
            };
            check_account_id(&id)?;
            if !existing.contains(&id) || self.args.force {
                return Ok(id);
            }
            match &self.ui {
                Some(ui) => {
                    if ui.confirm(
                        &format!("Account {id:?} exists. Replace its connection settings?"),
                        false,
                    )? {
                        return Ok(id);
                    }
                }
                None => bail!(
                    "account {id:?} already exists in the config; pass --force to replace it, or \
                     --account with a new id"
                ),
            }
        }
    }

    fn mode(&mut self) -> anyhow::Result<Mode> {
        if let Some(mode) = self.args.mode {
            return Ok(mode);
        }
        let Some(ui) = &self.ui else {
            return Ok(Mode::Stream);
        };
        let modes = [
            "Stream (recommended: outbound connection, no public URL)",
            "HTTP callback (DingTalk calls a public URL of yours)",
            "Custom Robot (a group's webhook: sends into one group)",
        ];
        Ok(match ui.select("How does the bot connect?", &modes, 0)? {
            0 => Mode::Stream,
            1 => Mode::Http,
            _ => Mode::CustomRobot,
        })
    }

    /// Credentials, tested against DingTalk; in the wizard a failed test offers to re-enter.
    async fn credentials_tested(
        &mut self,
        account: &str,
        mode: Mode,
        endpoints: Option<&Url>,
    ) -> anyhow::Result<Credentials> {
        let endpoints = endpoints.map_or_else(Endpoints::default, |u| Endpoints::single(u.clone()));
        loop {
            let credentials = self.credentials(account, mode)?;
            let outcome = self.test(mode, &credentials, &endpoints).await?;
            match outcome {
                Outcome::Passed(line) => {
                    println!("✓ {line}");
                    return Ok(credentials);
                }
                Outcome::Skipped(why) => {
                    println!("- connection not tested: {why}");
                    return Ok(credentials);
                }
                Outcome::Failed(f) => {
                    let report = format!("connection test FAILED at {} [{}]: {}", f.step, f.kind, f.message);
                    let Some(ui) = &self.ui else {
                        bail!("{report}; nothing was written (--skip-test saves without testing)");
                    };
                    println!("✗ {report}");
                    let choices = [
                        "Enter the credentials again",
                        "Save them anyway",
                        "Quit without saving",
                    ];
                    match ui.select("What now?", &choices, 0)? {
                        0 => {}
                        1 => return Ok(credentials),
                        _ => bail!("nothing was written"),
                    }
                }
            }
        }
    }

    async fn test(
        &self,
        mode: Mode,
        credentials: &Credentials,
        endpoints: &Endpoints,
    ) -> anyhow::Result<Outcome> {
        if self.args.skip_test {
            return Ok(Outcome::Skipped("--skip-test".into()));
        }
        Ok(match credentials {
            Credentials::App {
                client_id,
                client_secret,
                ..
            } => match &client_secret.value {
                Some(secret) => check::app(mode, client_id, secret, endpoints).await,
                None => Outcome::Skipped(format!(
                    "{} is not set in this shell",
                    client_secret.env.as_deref().unwrap_or("the secret variable")
                )),
            },
            Credentials::Robot { webhook_url, secret } => {
                let send = match &self.ui {
                    _ if self.args.test_send => true,
                    Some(ui) => ui.confirm(
                        "Post a test message into the group now (everyone there sees it)?",
                        false,
                    )?,
                    None => false,
                };
                if !send {
                    return Ok(Outcome::Skipped(
                        "no test message sent (--test-send sends one)".into(),
                    ));
                }
                match secret.as_ref().map(|s| &s.value) {
                    Some(None) => {
                        Outcome::Skipped("the signing secret's variable is not set in this shell".into())
                    }
                    other => check::robot(webhook_url, other.and_then(Option::as_ref)).await,
                }
            }
        })
    }

    /// Asks for the credentials; after a failed test the flags no longer answer (the user
    /// is re-entering them).
    fn credentials(&mut self, account: &str, mode: Mode) -> anyhow::Result<Credentials> {
        let from_flags = std::mem::take(&mut self.args.client_id);
        match mode {
            Mode::Stream | Mode::Http => {
                let client_id = match (from_flags, &self.ui) {
                    (Some(id), _) => id,
                    (None, None) => return Err(missing("--client-id", "the Client ID (AppKey)")),
                    (None, Some(ui)) => {
                        ui.text("Client ID (AppKey, ding…)", None, required("the Client ID"))?
                    }
                };
                let flag_secret = self.args.client_secret.take();
                let flag_env = self.args.client_secret_env.take();
                let client_secret = self
                    .secret(
                        "Client Secret (AppSecret)",
                        flag_secret,
                        flag_env,
                        &default_secret_var(account, "client_secret"),
                        ("--client-secret", "--client-secret-env"),
                        false,
                    )?
                    .ok_or_else(|| missing("--client-secret or --client-secret-env", "the Client Secret"))?;
                let (token, aes_key) = if mode == Mode::Http {
                    self.event_keys()?
                } else {
                    (None, None)
                };
                Ok(Credentials::App {
                    client_id,
                    client_secret,
                    token,
                    aes_key,
                })
            }
            Mode::CustomRobot => {
                let webhook_url = match (self.args.webhook_url.take(), &self.ui) {
                    (Some(url), _) => url,
                    (None, None) => return Err(missing("--webhook-url", "the webhook URL")),
                    (None, Some(ui)) => {
                        let text = ui.text(
                            "Webhook URL (group settings → robot → https://oapi.dingtalk.com/robot/send?access_token=…)",
                            None,
                            |s| check_webhook(s).map(|_| ()),
                        )?;
                        check_webhook(&text).map_err(|e| anyhow!(e))?
                    }
                };
                let flag_secret = self.args.webhook_secret.take();
                let flag_env = self.args.webhook_secret_env.take();
                let secret = self.secret(
                    "Signing secret (SEC…; empty if the robot uses keywords instead)",
                    flag_secret,
                    flag_env,
                    &default_secret_var(account, "robot_secret"),
                    ("--webhook-secret", "--webhook-secret-env"),
                    true,
                )?;
                Ok(Credentials::Robot { webhook_url, secret })
            }
        }
    }

    /// HTTP mode's optional event subscription keys: both or neither.
    fn event_keys(&mut self) -> anyhow::Result<(Option<SecretEntry>, Option<SecretEntry>)> {
        let (mut token, mut aes_key) = (self.args.token.take(), self.args.aes_key.take());
        if let Some(ui) = &self.ui
            && token.is_none()
            && aes_key.is_none()
            && ui.confirm(
                "Receive event subscriptions over HTTP too (needs the token and aes_key)?",
                false,
            )?
        {
            token = Some(ui.text("Event subscription token", None, required("the token"))?);
            aes_key = Some(ui.secret("Event subscription aes_key (43 characters)", false)?);
        }
        match (&token, &aes_key) {
            (Some(_), None) | (None, Some(_)) => {
                bail!(
                    "HTTP event subscription needs both the token and the aes_key (--token and --aes-key), or neither"
                )
            }
            (_, Some(key)) if key.len() != 43 => bail!(
                "the aes_key has {} characters, DingTalk's have 43; copy it again from the app's event subscription page",
                key.len()
            ),
            _ => {}
        }
        let literal = |v: String| SecretEntry {
            value: Some(Secret::new(v)),
            env: None,
        };
        Ok((token.map(literal), aes_key.map(literal)))
    }

    /// A secret from flags (value and/or variable) or prompts, and how it is written.
    fn secret(
        &self,
        prompt: &str,
        value: Option<String>,
        env: Option<String>,
        suggested_var: &str,
        flags: (&str, &str),
        optional: bool,
    ) -> anyhow::Result<Option<SecretEntry>> {
        if let Some(var) = &env
            && !is_env_name(var)
        {
            bail!(
                "{} {var:?}: variable names are upper-case letters, digits and _ (e.g. {suggested_var})",
                flags.1
            );
        }
        if value.is_some() || env.is_some() {
            let value = value
                .or_else(|| {
                    env.as_deref()
                        .and_then(|v| std::env::var(v).ok())
                        .filter(|v| !v.is_empty())
                })
                .map(Secret::new);
            return Ok(Some(SecretEntry { value, env }));
        }
        let Some(ui) = &self.ui else {
            return Ok(None);
        };
        let typed = ui.secret(prompt, optional)?;
        if typed.is_empty() {
            return Ok(None);
        }
        let storage = [
            "Write it into the config file (readable only by you, mode 0600)",
            "Keep it out of the file: write a ${VAR} reference to an environment variable",
        ];
        let env = match ui.select("Where should this secret live?", &storage, 0)? {
            0 => None,
            _ => Some(ui.text("Environment variable name", Some(suggested_var), |s| {
                if is_env_name(s) {
                    Ok(())
                } else {
                    Err("use upper-case letters, digits and _".into())
                }
            })?),
        };
        Ok(Some(SecretEntry {
            value: Some(Secret::new(typed)),
            env,
        }))
    }

    fn policies(&mut self, mode: Mode) -> anyhow::Result<Policies> {
        let ui = self.ui.as_ref();
        let pick = |flag: Option<String>,
                    prompt: &str,
                    options: &[&'static str],
                    labels: &[&str]|
         -> anyhow::Result<&'static str> {
            if let Some(v) = flag {
                return options
                    .iter()
                    .copied()
                    .find(|o| o.eq_ignore_ascii_case(&v))
                    .ok_or_else(|| anyhow!("{v:?} is not one of {}", options.join("|")));
            }
            match ui {
                None => Ok(options[0]),
                Some(ui) => Ok(options[ui.select(prompt, labels, 0)?]),
            }
        };
        let (dm_policy, mut allow_from) = if mode == Mode::CustomRobot {
            ("pairing", Vec::new())
        } else {
            let dm = pick(
                self.args.dm_policy.take(),
                "Who may message the bot directly?",
                &DM_POLICIES,
                &[
                    "pairing: strangers get a code, you approve it (clawtalk pairing approve)",
                    "allowlist: only the user ids you list",
                    "open: everyone in your organisation",
                    "disabled: no direct messages",
                ],
            )?;
            (dm, std::mem::take(&mut self.args.allow_from))
        };
        if dm_policy == "allowlist"
            && allow_from.is_empty()
            && let Some(ui) = ui
        {
            let ids = ui.text(
                "Allowed user ids (comma-separated)",
                None,
                required("at least one id"),
            )?;
            allow_from = ids
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if dm_policy == "allowlist" && allow_from.is_empty() {
            return Err(missing(
                "--allow-from IDS",
                "dmPolicy allowlist needs the allowed user ids",
            ));
        }
        let group_policy = pick(
            self.args.group_policy.take(),
            "Answer in groups?",
            &GROUP_POLICIES,
            &[
                "open: in every group the bot is added to",
                "allowlist: only listed groups (add groupAllowFrom later)",
                "disabled: never in groups",
            ],
        )?;
        let require_mention = match (self.args.require_mention, ui) {
            (Some(v), _) => v,
            (None, Some(ui)) if group_policy != "disabled" && mode != Mode::CustomRobot => {
                ui.confirm("In groups, answer only when @-mentioned?", true)?
            }
            (None, _) => true,
        };
        Ok(Policies {
            dm_policy,
            allow_from,
            group_policy,
            require_mention,
        })
    }

    fn model(&mut self) -> anyhow::Result<Option<ModelPlan>> {
        let current = edit::current_model(self.doc);
        let provider = match (self.args.provider.take(), &self.ui) {
            (Some(p), _) => p,
            (None, None) => return Ok(None),
            (None, Some(ui)) => {
                if let Some(current) = &current
                    && !ui.confirm(&format!("The default model is {current}. Change it?"), false)?
                {
                    return Ok(None);
                }
                let presets = [
                    ("qwen", "Qwen (Alibaba DashScope / 百炼)"),
                    ("deepseek", "DeepSeek"),
                    ("kimi", "Kimi (Moonshot)"),
                    ("glm", "GLM (Zhipu)"),
                    (
                        "custom",
                        "Another OpenAI-compatible server (vLLM, Ollama, one-api…)",
                    ),
                    ("", "Skip: set a model later"),
                ];
                let labels: Vec<&str> = presets.iter().map(|(_, l)| *l).collect();
                match presets[ui.select("Which model provider?", &labels, 0)?].0 {
                    "" => return Ok(None),
                    "custom" => ui.text("Provider id (used as provider/model)", Some("local"), |s| {
                        check_account_id(s).map_err(|e| e.to_string())
                    })?,
                    id => id.to_owned(),
                }
            }
        };
        check_account_id(&provider)
            .map_err(|_| anyhow!("--provider {provider:?}: use letters, digits, - and _"))?;
        let preset = ProviderPreset::from_id(&provider).filter(|p| *p != ProviderPreset::Custom);
        let base_url = match (self.args.base_url.take(), preset, &self.ui) {
            (Some(url), _, _) => Some(url),
            (None, Some(_), _) => None,
            (None, None, None) => {
                return Err(missing(
                    "--base-url URL",
                    &format!("provider {provider:?} is not a preset, so its base URL"),
                ));
            }
            (None, None, Some(ui)) => {
                let text = ui.text(
                    "Base URL (OpenAI-compatible, e.g. http://127.0.0.1:8000/v1)",
                    None,
                    |s| Url::parse(s).map(|_| ()).map_err(|e| format!("not a URL: {e}")),
                )?;
                Some(Url::parse(&text).map_err(|e| anyhow!("not a URL: {e}"))?)
            }
        };
        let default_model = preset.and_then(ProviderPreset::default_model);
        let model = match (self.args.model.take(), &self.ui) {
            (Some(m), _) => m,
            (None, Some(ui)) => ui.text("Model", default_model, required("the model id"))?,
            (None, None) => default_model
                .map(str::to_owned)
                .ok_or_else(|| missing("--model MODEL", "the model id"))?,
        };
        let key_vars = preset.map(ProviderPreset::api_key_env).unwrap_or_default();
        let suggested = key_vars.first().map_or_else(
            || format!("{}_API_KEY", provider.to_ascii_uppercase().replace('-', "_")),
            |v| (*v).to_owned(),
        );
        let from_env = key_vars
            .iter()
            .find(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
        let (value, env) = (self.args.api_key.take(), self.args.api_key_env.take());
        let api_key = match (&value, &env, &self.ui, from_env) {
            (None, None, Some(_), Some(set)) => {
                println!("  the API key comes from ${set} at start-up");
                None
            }
            (None, None, Some(_), None) => {
                // Presets read their variables by themselves; a custom server may need no key.
                let empty = if preset.is_some() {
                    format!("empty: read ${suggested} at start-up")
                } else {
                    "empty: none".to_owned()
                };
                self.secret(
                    &format!("API key ({empty})"),
                    None,
                    None,
                    &suggested,
                    ("--api-key", "--api-key-env"),
                    true,
                )?
            }
            _ => self.secret(
                "API key",
                value,
                env,
                &suggested,
                ("--api-key", "--api-key-env"),
                true,
            )?,
        };
        Ok(Some(ModelPlan {
            provider,
            model,
            base_url,
            api_key,
        }))
    }
}

fn check_account_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(anyhow!(
            "{id:?} cannot be an id: use letters, digits, - and _ (at most 64)"
        ))
    }
}

fn check_webhook(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the webhook URL starts with https://".into());
    }
    if !url
        .query_pairs()
        .any(|(k, v)| k == "access_token" && !v.is_empty())
    {
        return Err("the webhook URL has no access_token=…; copy the whole URL".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_need_an_access_token() {
        assert!(check_webhook("https://oapi.dingtalk.com/robot/send?access_token=abc").is_ok());
        assert!(
            check_webhook("https://oapi.dingtalk.com/robot/send")
                .unwrap_err()
                .contains("access_token")
        );
        assert!(check_webhook("ftp://x/?access_token=a").is_err());
        assert!(check_webhook("not a url").is_err());
    }

    #[test]
    fn ids() {
        assert!(check_account_id("sales-bot_2").is_ok());
        assert!(check_account_id("").is_err());
        assert!(check_account_id("a b").is_err());
    }
}
