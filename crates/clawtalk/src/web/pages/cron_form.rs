//! The "new scheduled task" form of `/cron`: what the operator typed, checked by the same
//! rules as the agent's `cron_create` tool and `clawtalk cron add`
//! ([`clawtalk_agent::cron::request::check`]), with each refusal shown at its field.

use std::collections::BTreeMap;

use maud::{Markup, html};
use serde::Deserialize;

use crate::web::i18n::{Lang, t};
use clawtalk_agent::cron::request::{Checked, Field, Requester, TaskRequest, check, webhook_target};
use clawtalk_config::Config;
use clawtalk_core::clock::EpochMs;
use clawtalk_store::CronTarget;

/// The form as posted. The webhook URL and its secret are credentials: a refused form is
/// shown again without them.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct TaskForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    prompt: String,
    /// `cron`, `every` or `at`.
    #[serde(default)]
    kind: String,
    #[serde(default)]
    cron: String,
    #[serde(default)]
    every: String,
    /// `minutes` or `hours`.
    #[serde(default)]
    every_unit: String,
    #[serde(default)]
    at: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    agent: String,
    /// `dm`, `group` or `webhook`.
    #[serde(default)]
    target: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    webhook_url: String,
    #[serde(default)]
    webhook_secret: String,
}

/// The form's fields a refusal can be about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum FormField {
    Name,
    Prompt,
    Schedule,
    Timezone,
    Account,
    Agent,
    Target,
}

/// What is wrong, per field.
pub(crate) type FieldErrors = BTreeMap<FormField, String>;

fn refused(field: FormField, message: impl Into<String>) -> FieldErrors {
    BTreeMap::from([(field, message.into())])
}

impl TaskForm {
    /// The form a page starts with: a daily task of the default agent.
    pub(crate) fn blank(config: &Config) -> Self {
        Self {
            kind: "cron".into(),
            every_unit: "minutes".into(),
            timezone: clawtalk_agent::cron::DEFAULT_TIMEZONE.into(),
            agent: config.default_agent.clone(),
            target: "dm".into(),
            ..Self::default()
        }
    }

    /// The form to show again after a refusal: everything but the credentials.
    pub(crate) fn without_credentials(&self) -> Self {
        Self {
            csrf: String::new(),
            webhook_url: String::new(),
            webhook_secret: String::new(),
            ..self.clone()
        }
    }

    /// Checks the form into a task to store, as the agent's tool would check it.
    pub(crate) fn check(&self, config: &Config, now: EpochMs) -> Result<Checked, FieldErrors> {
        let account = config
            .enabled_accounts()
            .find(|a| a.id == self.account)
            .ok_or_else(|| {
                refused(
                    FormField::Account,
                    format!(
                        "account {:?} is not an enabled bot account; pick one of the list",
                        self.account
                    ),
                )
            })?;
        let agent = config.agent(&self.agent).ok_or_else(|| {
            refused(
                FormField::Agent,
                format!("agent {:?} is not configured; pick one of the list", self.agent),
            )
        })?;
        let target = self.target(account)?;
        let field = |kind: &str, value: &str| (self.kind == kind).then_some(value.trim().to_owned());
        let every = field("every", &self.every).map(|n| format!("{n} {}", self.every_unit));
        let (cron, at) = (field("cron", &self.cron), field("at", &self.at));
        let request = TaskRequest {
            name: Some(&self.name),
            prompt: &self.prompt,
            cron: cron.as_deref(),
            every: every.as_deref().filter(|e| !e.starts_with(' ')),
            at: at.as_deref(),
            timezone: Some(&self.timezone),
        };
        let who = Requester {
            account,
            agent_id: &agent.id,
            created_by: None,
            origin: None,
            min_interval: agent.limits.cron_min_interval,
        };
        check(&request, target, &who, now).map_err(|refusal| {
            let field = match refusal.field {
                Field::Name => FormField::Name,
                Field::Prompt => FormField::Prompt,
                Field::Schedule => FormField::Schedule,
                Field::Timezone => FormField::Timezone,
            };
            refused(field, refusal.message)
        })
    }

    fn target(&self, account: &clawtalk_config::DingTalkAccount) -> Result<CronTarget, FieldErrors> {
        let missing = |what: &str| refused(FormField::Target, format!("give the {what} the answers go to"));
        match self.target.as_str() {
            "dm" if self.user.trim().is_empty() => Err(missing("user's staff id")),
            "dm" => Ok(CronTarget::User(self.user.trim().to_owned())),
            "group" if self.group.trim().is_empty() => Err(missing("group's openConversationId")),
            "group" => Ok(CronTarget::Group(self.group.trim().to_owned())),
            "webhook" => webhook_target(&self.webhook_url, Some(&self.webhook_secret), account)
                .map_err(|e| refused(FormField::Target, e)),
            other => Err(refused(
                FormField::Target,
                format!("unknown target {other:?}: pick a DM, a group or a custom robot"),
            )),
        }
    }
}

/// The form, filled with `form`, each error under its field.
pub(crate) fn view(lang: Lang, csrf: &str, config: &Config, form: &TaskForm, errors: &FieldErrors) -> Markup {
    let error = |field: FormField| {
        html! { @if let Some(e) = errors.get(&field) { p.error.field-error data-field=(field_name(field)) { (clawtalk_core::mask::mask_text(e)) } } }
    };
    html! {
        form #cron-create.setup method="post" action="/cron/create" {
            input type="hidden" name="csrf" value=(csrf);
            label for="cron-name" { (t(lang, "cron.form.name")) }
            input #cron-name type="text" name="name" value=(form.name) placeholder=(t(lang, "cron.form.name_hint"));
            (error(FormField::Name))
            label for="cron-prompt" { (t(lang, "cron.form.prompt")) }
            textarea #cron-prompt name="prompt" placeholder=(t(lang, "cron.form.prompt_hint")) { (form.prompt) }
            (error(FormField::Prompt))
            fieldset.choice {
                legend { (t(lang, "cron.schedule")) }
                label { input type="radio" name="kind" value="cron" checked[form.kind == "cron"]; " " (t(lang, "cron.form.kind_cron")) " "
                    input #cron-expr type="text" name="cron" value=(form.cron) placeholder="0 9 * * *"; }
                label { input type="radio" name="kind" value="every" checked[form.kind == "every"]; " " (t(lang, "cron.form.kind_every")) " "
                    input #cron-every type="number" min="1" name="every" value=(form.every) style="width:6em";
                    " "
                    select name="every_unit" style="width:auto" {
                        option value="minutes" selected[form.every_unit != "hours"] { (t(lang, "cron.form.minutes")) }
                        option value="hours" selected[form.every_unit == "hours"] { (t(lang, "cron.form.hours")) }
                    }
                }
                label { input type="radio" name="kind" value="at" checked[form.kind == "at"]; " " (t(lang, "cron.form.kind_at")) " "
                    input #cron-at type="text" name="at" value=(form.at) placeholder="2026-12-02 09:00 / in 10 minutes"; }
                (error(FormField::Schedule))
                label for="cron-tz" { (t(lang, "cron.form.timezone")) }
                input #cron-tz type="text" name="timezone" value=(form.timezone);
                (error(FormField::Timezone))
            }
            label for="cron-account" { (t(lang, "cron.form.account")) }
            select #cron-account name="account" {
                @for account in config.enabled_accounts() {
                    option value=(account.id) selected[account.id == form.account] { (account.id) }
                }
            }
            (error(FormField::Account))
            label for="cron-agent" { (t(lang, "cron.agent")) }
            select #cron-agent name="agent" {
                @for agent in &config.agents {
                    option value=(agent.id) selected[agent.id == form.agent] { (agent.id) }
                }
            }
            (error(FormField::Agent))
            fieldset.choice {
                legend { (t(lang, "cron.target")) }
                label { input type="radio" name="target" value="dm" checked[form.target == "dm"]; " " (t(lang, "cron.form.to_user")) " "
                    input #cron-user type="text" name="user" value=(form.user) placeholder="staffId"; }
                label { input type="radio" name="target" value="group" checked[form.target == "group"]; " " (t(lang, "cron.form.to_group")) " "
                    input #cron-group type="text" name="group" value=(form.group) placeholder="cid…"; }
                label { input type="radio" name="target" value="webhook" checked[form.target == "webhook"]; " " (t(lang, "cron.form.to_robot")) }
                input #cron-webhook type="url" name="webhook_url" autocomplete="off" placeholder="https://oapi.dingtalk.com/robot/send?access_token=…";
                " "
                input #cron-webhook-secret type="password" name="webhook_secret" autocomplete="off" placeholder="SEC…";
                (error(FormField::Target))
            }
            p { button #cron-create-submit type="submit" { (t(lang, "cron.form.create")) } }
        }
    }
}

fn field_name(field: FormField) -> &'static str {
    match field {
        FormField::Name => "name",
        FormField::Prompt => "prompt",
        FormField::Schedule => "schedule",
        FormField::Timezone => "timezone",
        FormField::Account => "account",
        FormField::Agent => "agent",
        FormField::Target => "target",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_config::test_support::config;

    const NOW: EpochMs = EpochMs::from_millis(1_796_162_400_000);

    fn cfg() -> Config {
        config(
            r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
                 channels: { dingtalk: { clientId: "dingbot", clientSecret: "s" } } }"#,
        )
    }

    fn form(cfg: &Config) -> TaskForm {
        TaskForm {
            prompt: "report the weather".into(),
            cron: "0 9 * * *".into(),
            account: "default".into(),
            user: "0312".into(),
            ..TaskForm::blank(cfg)
        }
    }

    #[test]
    fn a_filled_form_is_the_task_the_tool_would_store() {
        let cfg = cfg();
        let checked = form(&cfg).check(&cfg, NOW).unwrap();
        assert_eq!(checked.task.schedule, "0 9 * * *");
        assert_eq!(checked.task.target, CronTarget::User("0312".into()));
        assert_eq!(
            (checked.task.agent_id.as_str(), checked.task.timezone.as_str()),
            ("main", "Asia/Shanghai")
        );
        let every = TaskForm {
            kind: "every".into(),
            every: "2".into(),
            every_unit: "hours".into(),
            ..form(&cfg)
        };
        assert_eq!(every.check(&cfg, NOW).unwrap().task.schedule, "0 */2 * * *");
        let at = TaskForm {
            kind: "at".into(),
            at: "in 10 minutes".into(),
            ..form(&cfg)
        };
        assert_eq!(
            at.check(&cfg, NOW).unwrap().task.kind,
            clawtalk_store::CronKind::Once
        );
    }

    #[test]
    fn each_mistake_is_reported_at_its_field() {
        let cfg = cfg();
        let field_of = |form: TaskForm| {
            let errors = form.check(&cfg, NOW).unwrap_err();
            assert_eq!(errors.len(), 1);
            errors.into_keys().next().unwrap()
        };
        let base = form(&cfg);
        assert_eq!(
            field_of(TaskForm {
                prompt: " ".into(),
                ..base.clone()
            }),
            FormField::Prompt
        );
        assert_eq!(
            field_of(TaskForm {
                cron: "9 o'clock".into(),
                ..base.clone()
            }),
            FormField::Schedule
        );
        assert_eq!(
            field_of(TaskForm {
                kind: "every".into(),
                every: "7".into(),
                ..base.clone()
            }),
            FormField::Schedule
        );
        assert_eq!(
            field_of(TaskForm {
                kind: "every".into(),
                ..base.clone()
            }),
            FormField::Schedule
        );
        assert_eq!(
            field_of(TaskForm {
                timezone: "Mars/Base".into(),
                ..base.clone()
            }),
            FormField::Timezone
        );
        assert_eq!(
            field_of(TaskForm {
                account: "nope".into(),
                ..base.clone()
            }),
            FormField::Account
        );
        assert_eq!(
            field_of(TaskForm {
                agent: "nope".into(),
                ..base.clone()
            }),
            FormField::Agent
        );
        assert_eq!(
            field_of(TaskForm {
                user: String::new(),
                ..base.clone()
            }),
            FormField::Target
        );
        let robot = TaskForm {
            target: "webhook".into(),
            webhook_url: "https://evil.example/robot/send?access_token=tok9".into(),
            ..base
        };
        let errors = robot.clone().check(&cfg, NOW).unwrap_err();
        assert!(!errors[&FormField::Target].contains("tok9"), "{errors:?}");
        let again = robot.without_credentials();
        assert!(again.webhook_url.is_empty() && again.webhook_secret.is_empty());
    }

    #[test]
    fn the_form_shows_errors_at_their_fields_and_never_the_robot_secret() {
        let cfg = cfg();
        let form = TaskForm {
            webhook_secret: "SECdonotshow".into(),
            ..form(&cfg)
        }
        .without_credentials();
        let errors = refused(FormField::Schedule, "bad schedule");
        let html = view(Lang::En, "c", &cfg, &form, &errors).into_string();
        assert!(
            html.contains(r#"data-field="schedule""#) && html.contains("bad schedule"),
            "{html}"
        );
        assert!(!html.contains("SECdonotshow"), "{html}");
    }
}
