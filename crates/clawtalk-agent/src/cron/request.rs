//! A task as a user or the operator asks for it, checked and turned into a [`NewCronTask`].
//! The agent's `cron_create` tool and `clawtalk cron add` share these rules.

use clawtalk_core::clock::EpochMs;
use clawtalk_core::ids::AccountId;
use std::time::Duration;

use url::Url;

use super::schedule::{Schedule, local, timezone};
use clawtalk_config::DingTalkAccount;
use clawtalk_store::{CronTarget, NewCronTask};

/// Longest prompt a task may carry (it is sent to the model at every run).
pub const MAX_PROMPT_CHARS: usize = 4_000;
/// Longest task name.
pub const MAX_NAME_CHARS: usize = 60;

/// What was asked for.
#[derive(Debug, Clone, Default)]
pub struct TaskRequest<'a> {
    /// Short name; default: the start of the prompt.
    pub name: Option<&'a str>,
    /// What the agent should do at each run.
    pub prompt: &'a str,
    /// A cron expression (exactly one of `cron`, `every` and `at`).
    pub cron: Option<&'a str>,
    /// A repeating interval that divides an hour or a day: "15 minutes", "2 hours" (the
    /// console's "every N"; stored as the cron expression it stands for).
    pub every: Option<&'a str>,
    /// A one-shot time.
    pub at: Option<&'a str>,
    /// IANA zone; default Asia/Shanghai.
    pub timezone: Option<&'a str>,
}

/// Who asked, from where, for which agent.
#[derive(Debug, Clone)]
pub struct Requester<'a> {
    /// The account whose agent runs the task and whose credentials deliver it.
    pub account: &'a DingTalkAccount,
    /// The agent that answers.
    pub agent_id: &'a str,
    /// Staff id of the user (none for the CLI).
    pub created_by: Option<String>,
    /// The chat it was asked in (`user:<staffId>` / `group:<cid>`).
    pub origin: Option<String>,
    /// The agent's `limits.cronMinIntervalMinutes`: the shortest time between two runs.
    pub min_interval: Duration,
}

/// The part of a request a refusal is about, so a form can show it at its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `name`.
    Name,
    /// `prompt`.
    Prompt,
    /// `cron`, `every` or `at`.
    Schedule,
    /// `timezone`.
    Timezone,
}

/// Why a request was refused: the field and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// What is wrong.
    pub field: Field,
    /// What to write instead.
    pub message: String,
}

impl Refusal {
    fn new(field: Field, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl From<Refusal> for String {
    fn from(refusal: Refusal) -> Self {
        refusal.message
    }
}

/// A checked request: the task to store and its schedule.
#[derive(Debug, Clone)]
pub struct Checked {
    /// To store.
    pub task: NewCronTask,
    /// Parsed.
    pub schedule: Schedule,
}

/// Checks `request`; the error says what to change.
///
/// # Errors
/// A message naming the wrong field and what to write instead.
pub fn check(
    request: &TaskRequest<'_>,
    target: CronTarget,
    who: &Requester<'_>,
    now: EpochMs,
) -> Result<Checked, Refusal> {
    use Field::{Name, Prompt, Schedule as When, Timezone};
    let prompt = request.prompt.trim();
    if prompt.is_empty() {
        return Err(Refusal::new(
            Prompt,
            "`prompt` is empty; say what should be done at each run, e.g. \"report today's weather in Beijing\"",
        ));
    }
    if prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(Refusal::new(
            Prompt,
            format!("`prompt` is longer than {MAX_PROMPT_CHARS} characters; shorten it"),
        ));
    }
    let tz = timezone(request.timezone).map_err(|e| Refusal::new(Timezone, e.to_string()))?;
    let every = non_empty(request.every).map(every_expression).transpose()?;
    let schedule = match (non_empty(request.cron), every.as_deref(), non_empty(request.at)) {
        (Some(expr), None, None) | (None, Some(expr), None) => Schedule::cron(expr, tz),
        (None, None, Some(at)) => Schedule::once(at, tz, now),
        (None, None, None) => {
            return Err(Refusal::new(When, "give `cron` (e.g. \"0 9 * * *\" for 9:00 daily) or `at` (e.g. \"2026-12-02 09:00\" or \"in 10 minutes\")"));
        }
        _ => return Err(Refusal::new(When, "give either `cron` (repeating) or `at` (once), not both")),
    }
    .map_err(|e| Refusal::new(When, e.to_string()))?;
    let Some(next) = schedule.next_after(now) else {
        return Err(Refusal::new(When, "that schedule has no future run"));
    };
    check_spacing(&schedule, who, now).map_err(|e| Refusal::new(When, e))?;
    let name = non_empty(request.name).map_or_else(|| default_name(prompt), str::to_owned);
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Refusal::new(
            Name,
            format!("`name` is longer than {MAX_NAME_CHARS} characters; shorten it"),
        ));
    }
    let (kind, text) = schedule.to_stored();
    Ok(Checked {
        task: NewCronTask {
            account_id: AccountId::new(who.account.id.clone()),
            agent_id: who.agent_id.to_owned(),
            name,
            prompt: prompt.to_owned(),
            kind,
            schedule: text,
            timezone: schedule.tz().name().to_owned(),
            target,
            created_by: who.created_by.clone(),
            origin: who.origin.clone(),
            next_run_at_ms: next,
        },
        schedule,
    })
}

/// The cron expression of "every N minutes|hours": N must divide an hour (a day), since a
/// cron step restarts at each hour (day).
fn every_expression(text: &str) -> Result<String, Refusal> {
    let wrong = || {
        Refusal::new(
            Field::Schedule,
            format!(
                "cannot read the interval {text:?}; write a number and a unit, e.g. \"15 minutes\" or \"2 hours\""
            ),
        )
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u32 = number.parse().map_err(|_| wrong())?;
    let unit = unit.trim().to_ascii_lowercase();
    let (per, expression) = match unit.as_str() {
        "m" | "min" | "mins" | "minute" | "minutes" => (60, format!("*/{n} * * * *")),
        "h" | "hour" | "hours" => (24, format!("0 */{n} * * *")),
        _ => return Err(wrong()),
    };
    if n == 0 || n > per || per % n != 0 {
        let fits: Vec<String> = (1..=per)
            .filter(|d| per % d == 0)
            .map(|d| d.to_string())
            .collect();
        return Err(Refusal::new(
            Field::Schedule,
            format!(
                "every {n} {unit} does not divide {}; use one of {} or write a cron expression",
                if per == 60 { "an hour" } else { "a day" },
                fits.join(", ")
            ),
        ));
    }
    Ok(expression)
}

/// Refuses a schedule with two runs closer than the agent's minimum interval.
fn check_spacing(schedule: &Schedule, who: &Requester<'_>, now: EpochMs) -> Result<(), String> {
    let Some((first, second)) = schedule.runs_closer_than(who.min_interval, now) else {
        return Ok(());
    };
    let minutes = who.min_interval.as_secs().div_ceil(60);
    let (tz, gap) = (schedule.tz(), second.since(first).as_secs() / 60);
    let wider = match minutes {
        0..60 => format!("\"*/{minutes} * * * *\" (every {minutes} minutes)"),
        60 => "\"0 * * * *\" (hourly)".to_owned(),
        _ => "\"0 9 * * *\" (9:00 daily)".to_owned(),
    };
    Err(format!(
        "the schedule runs too often: {} and {} are {gap} minute(s) apart, and tasks of agent {:?} \
         may run at most every {minutes} minutes (limits.cronMinIntervalMinutes); use a wider \
         schedule such as {wider}, or ask the operator to lower limits.cronMinIntervalMinutes",
        local(first, tz),
        local(second, tz),
        who.agent_id,
    ))
}

/// A custom robot target. The URL must be the account's DingTalk host's `/robot/send` with
/// an `access_token`: the gateway must not be made to post to arbitrary addresses.
///
/// # Errors
/// What is wrong with the URL or the secret (never echoing the token).
pub fn webhook_target(
    url: &str,
    secret: Option<&str>,
    account: &DingTalkAccount,
) -> Result<CronTarget, String> {
    let oapi = &account.endpoints.oapi;
    let example = format!(
        "{}://{}/robot/send?access_token=…",
        oapi.scheme(),
        oapi.host_str().unwrap_or("oapi.dingtalk.com")
    );
    let wrong = || {
        format!(
            "the webhook is not a DingTalk custom robot URL; copy it from the group's robot settings: {example}"
        )
    };
    let parsed = Url::parse(url.trim()).map_err(|_| wrong())?;
    let same_host = parsed.scheme() == oapi.scheme()
        && parsed.host_str() == oapi.host_str()
        && parsed.port_or_known_default() == oapi.port_or_known_default();
    let token = parsed
        .query_pairs()
        .any(|(k, v)| k == "access_token" && !v.trim().is_empty());
    if !same_host || parsed.path() != "/robot/send" {
        return Err(wrong());
    }
    if !token {
        return Err(format!(
            "the webhook URL has no access_token; copy the whole URL: {example}"
        ));
    }
    let secret = non_empty(secret).map(str::to_owned);
    if let Some(s) = &secret
        && !s.starts_with("SEC")
    {
        return Err("the signing secret must start with SEC (the robot's 加签 secret); leave it out when signing is off".into());
    }
    Ok(CronTarget::Webhook {
        url: parsed.to_string(),
        secret,
    })
}

/// The next run, for people: `2026-12-02 09:00 (Asia/Shanghai)`.
#[must_use]
pub fn next_run_text(schedule: &Schedule, next: Option<EpochMs>) -> String {
    next.map_or_else(
        || "none".to_owned(),
        |at| format!("{} ({})", local(at, schedule.tz()), schedule.tz().name()),
    )
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

fn default_name(prompt: &str) -> String {
    let first = prompt.lines().next().unwrap_or(prompt);
    let mut name: String = first.chars().take(24).collect();
    if first.chars().count() > 24 {
        name.push('…');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_config::test_support::config;
    use clawtalk_store::CronKind;

    const NOW: EpochMs = EpochMs::from_millis(1_796_162_400_000);

    fn account() -> DingTalkAccount {
        let cfg = config(
            r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
                 channels: { dingtalk: { clientId: "dingbot", clientSecret: "s" } } }"#,
        );
        cfg.accounts[0].clone()
    }

    fn who(account: &DingTalkAccount) -> Requester<'_> {
        Requester {
            account,
            agent_id: "main",
            created_by: Some("0312".into()),
            origin: Some("user:0312".into()),
            min_interval: Duration::from_secs(15 * 60),
        }
    }

    #[test]
    fn a_daily_task_defaults_to_shanghai_and_gets_a_name() {
        let account = account();
        let request = TaskRequest {
            prompt: "Check the weather in Beijing and summarise it",
            cron: Some("0 9 * * *"),
            ..TaskRequest::default()
        };
        let checked = check(&request, CronTarget::User("0312".into()), &who(&account), NOW).unwrap();
        assert_eq!(checked.task.kind, CronKind::Cron);
        assert_eq!(checked.task.timezone, "Asia/Shanghai");
        assert_eq!(checked.task.name, "Check the weather in Bei…");
        assert_eq!(
            next_run_text(&checked.schedule, Some(checked.task.next_run_at_ms)),
            "2026-12-02 09:00 (Asia/Shanghai)"
        );
    }

    #[test]
    fn requests_with_mistakes_are_refused_with_the_fix() {
        let account = account();
        let target = || CronTarget::User("0312".into());
        let cases: [(TaskRequest<'_>, &str); 5] = [
            (
                TaskRequest {
                    prompt: " ",
                    cron: Some("0 9 * * *"),
                    ..TaskRequest::default()
                },
                "`prompt` is empty",
            ),
            (
                TaskRequest {
                    prompt: "x",
                    ..TaskRequest::default()
                },
                "give `cron`",
            ),
            (
                TaskRequest {
                    prompt: "x",
                    cron: Some("0 9 * * *"),
                    at: Some("in 1h"),
                    ..TaskRequest::default()
                },
                "not both",
            ),
            (
                TaskRequest {
                    prompt: "x",
                    cron: Some("0 9 * *"),
                    ..TaskRequest::default()
                },
                "five fields",
            ),
            (
                TaskRequest {
                    prompt: "x",
                    at: Some("in 5 minutes"),
                    timezone: Some("Mars/Base"),
                    ..TaskRequest::default()
                },
                "unknown time zone",
            ),
        ];
        for (request, expected) in cases {
            let err = check(&request, target(), &who(&account), NOW).unwrap_err();
            assert!(err.message.contains(expected), "{request:?}: {err}");
        }
    }

    #[test]
    fn a_schedule_tighter_than_the_minimum_interval_is_refused() {
        let account = account();
        let request = |cron| TaskRequest {
            prompt: "poll the build",
            cron: Some(cron),
            ..TaskRequest::default()
        };
        let target = || CronTarget::User("0312".into());
        let err = check(&request("*/1 * * * *"), target(), &who(&account), NOW)
            .unwrap_err()
            .message;
        assert!(
            err.contains("1 minute(s) apart")
                && err.contains("every 15 minutes")
                && err.contains("limits.cronMinIntervalMinutes")
                && err.contains("\"*/15 * * * *\""),
            "{err}"
        );
        assert!(check(&request("*/15 * * * *"), target(), &who(&account), NOW).is_ok());
        let hourly = Requester {
            min_interval: Duration::from_secs(3_600),
            ..who(&account)
        };
        let err = check(&request("*/30 * * * *"), target(), &hourly, NOW)
            .unwrap_err()
            .message;
        assert!(
            err.contains("every 60 minutes") && err.contains("\"0 * * * *\""),
            "{err}"
        );
    }

    #[test]
    fn refusals_name_their_field() {
        let account = account();
        let target = || CronTarget::User("0312".into());
        let field =
            |request: TaskRequest<'_>| check(&request, target(), &who(&account), NOW).unwrap_err().field;
        let base = TaskRequest {
            prompt: "x",
            cron: Some("0 9 * * *"),
            ..TaskRequest::default()
        };
        assert_eq!(
            field(TaskRequest {
                prompt: "",
                ..base.clone()
            }),
            Field::Prompt
        );
        assert_eq!(
            field(TaskRequest {
                timezone: Some("Mars/Base"),
                ..base.clone()
            }),
            Field::Timezone
        );
        assert_eq!(
            field(TaskRequest {
                cron: Some("0 9 *"),
                ..base.clone()
            }),
            Field::Schedule
        );
        assert_eq!(
            field(TaskRequest {
                name: Some(&"n".repeat(61)),
                ..base
            }),
            Field::Name
        );
    }

    #[test]
    fn every_n_minutes_or_hours_is_the_cron_expression_it_stands_for() {
        let account = account();
        let target = || CronTarget::User("0312".into());
        let every = |text| {
            let request = TaskRequest {
                prompt: "poll",
                every: Some(text),
                ..TaskRequest::default()
            };
            check(&request, target(), &who(&account), NOW).map(|c| c.task.schedule)
        };
        assert_eq!(every("15 minutes").unwrap(), "*/15 * * * *");
        assert_eq!(every("30m").unwrap(), "*/30 * * * *");
        assert_eq!(every("2 hours").unwrap(), "0 */2 * * *");
        let err = every("7 minutes").unwrap_err();
        assert_eq!(err.field, Field::Schedule);
        assert!(
            err.message.contains("1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60"),
            "{err}"
        );
        assert!(
            every("5 minutes")
                .unwrap_err()
                .message
                .contains("minute(s) apart"),
            "the minimum interval still applies"
        );
        assert!(every("soon").unwrap_err().message.contains("\"15 minutes\""));
        let both = TaskRequest {
            prompt: "poll",
            every: Some("1 hour"),
            at: Some("in 5 minutes"),
            ..TaskRequest::default()
        };
        assert!(
            check(&both, target(), &who(&account), NOW)
                .unwrap_err()
                .message
                .contains("not both")
        );
    }

    #[test]
    fn webhooks_must_be_the_accounts_dingtalk_robot_url() {
        let account = account();
        let ok = webhook_target(
            "https://oapi.dingtalk.com/robot/send?access_token=abc",
            Some("SECx"),
            &account,
        )
        .unwrap();
        assert!(matches!(ok, CronTarget::Webhook { secret: Some(_), .. }));
        for (url, expected) in [
            (
                "https://evil.example/robot/send?access_token=abc",
                "not a DingTalk custom robot URL",
            ),
            (
                "http://169.254.169.254/robot/send?access_token=abc",
                "not a DingTalk custom robot URL",
            ),
            (
                "https://oapi.dingtalk.com/other?access_token=abc",
                "not a DingTalk custom robot URL",
            ),
            ("https://oapi.dingtalk.com/robot/send", "no access_token"),
            ("not a url", "not a DingTalk custom robot URL"),
        ] {
            let err = webhook_target(url, None, &account).unwrap_err();
            assert!(err.contains(expected), "{url}: {err}");
            assert!(!err.contains("abc"), "the token is never echoed: {err}");
        }
        let err = webhook_target(
            "https://oapi.dingtalk.com/robot/send?access_token=abc",
            Some("nope"),
            &account,
        )
        .unwrap_err();
        assert!(err.contains("SEC"), "{err}");
    }
}
