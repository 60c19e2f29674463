//! `cron_create`, `cron_list`, `cron_cancel`: users schedule agent runs by asking for them.
//!
//! A task belongs to the chat it was created in: from a conversation the agent sees (and can
//! cancel) the tasks its sender created and those created in the same chat, nobody else's.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::tool::{Tool, ToolContext};
use crate::cron::Schedule;
use crate::cron::request::{Requester, TaskRequest, check, next_run_text, webhook_target};
use clawtalk_config::Config;
use clawtalk_core::clock::Clock;
use clawtalk_delivery::Target;
use clawtalk_llm::ToolSpec;
use clawtalk_store::{CronStatus, CronStore, CronTarget, CronTask};

/// Active tasks one user (or one chat) may have: each run is a model turn and a message.
pub const MAX_ACTIVE_TASKS: usize = 20;

/// What the three tools share.
#[derive(Clone)]
pub struct CronTools {
    config: Arc<Config>,
    store: Arc<dyn CronStore>,
    wake: Arc<Notify>,
    clock: Arc<dyn Clock>,
}

impl CronTools {
    /// Tools on `store`; `wake` tells the gateway's scheduler a task was added; times are
    /// read from `clock`.
    #[must_use]
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn CronStore>,
        wake: Arc<Notify>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            config,
            store,
            wake,
            clock,
        }
    }

    /// The three tools.
    pub(super) fn tools(self) -> Vec<Arc<dyn Tool>> {
        vec![
            Arc::new(Create(self.clone())),
            Arc::new(List(self.clone())),
            Arc::new(Cancel(self)),
        ]
    }

    /// The tasks visible from `context`'s conversation, active ones only.
    async fn visible(&self, context: &ToolContext) -> Result<Vec<CronTask>, String> {
        let tasks = self
            .store
            .cron_list(false)
            .await
            .map_err(|e| format!("the task list is unavailable right now ({e}); try again later"))?;
        Ok(tasks.into_iter().filter(|t| visible_from(t, context)).collect())
    }
}

fn visible_from(task: &CronTask, context: &ToolContext) -> bool {
    let origin = origin_of(context);
    task.spec.account_id == context.account_id
        && ((context.sender.is_some() && task.spec.created_by == context.sender)
            || (origin.is_some() && task.spec.origin == origin))
}

/// `user:<staffId>` or `group:<cid>`: the chat a task is created in.
fn origin_of(context: &ToolContext) -> Option<String> {
    match context.target.as_ref()? {
        Target::User(id) => Some(format!("user:{}", id.as_str())),
        Target::Group(cid) => Some(format!("group:{}", cid.as_str())),
        _ => None,
    }
}

fn summary(task: &CronTask) -> Value {
    let schedule = Schedule::stored(task.spec.kind, &task.spec.schedule, &task.spec.timezone);
    let (schedule_text, next) = match &schedule {
        Ok(s) => (s.describe(), next_run_text(s, task.next_run_at_ms)),
        Err(e) => (format!("unusable: {e}"), "none".to_owned()),
    };
    json!({
        "id": task.id,
        "name": task.spec.name,
        "prompt": task.spec.prompt,
        "schedule": schedule_text,
        "next_run": next,
        "deliver_to": task.spec.target.describe(),
        "status": task.status.as_str(),
        "last_run": task.last_status.map(|s| s.as_str()),
        "last_error": task.last_error,
    })
}

struct Create(CronTools);
struct List(CronTools);
struct Cancel(CronTools);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateArgs {
    #[serde(default)]
    name: Option<String>,
    prompt: String,
    #[serde(default)]
    cron: Option<String>,
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    deliver_to: Option<String>,
    #[serde(default)]
    webhook_url: Option<String>,
    #[serde(default)]
    webhook_secret: Option<String>,
}

#[async_trait]
impl Tool for Create {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "cron_create".into(),
            description: "Schedule a task: at each run you get `prompt` as an instruction and your answer is posted \
                to the target. Repeating with `cron` (five fields: minute hour day-of-month month day-of-week, \
                e.g. \"0 9 * * *\" = 9:00 daily, \"30 8 * * 1-5\" = 8:30 on weekdays; runs must be at least \
                15 minutes apart unless the operator configured otherwise) or once with `at` \
                (\"2026-12-02 09:00\", an RFC 3339 time, or \"in 10 minutes\"). Times are read in `timezone` \
                (default Asia/Shanghai). The answer goes to this chat by default, to the user's DM with \
                deliver_to \"dm\", or to a group custom robot when the user gives its webhook URL \
                (https://oapi.dingtalk.com/robot/send?access_token=…) and optional SEC… secret."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "Short name, e.g. \"Beijing weather\"."},
                    "prompt": {"type": "string", "description": "What to do at each run, as an instruction to yourself, e.g. \"Report today's weather in Beijing\"."},
                    "cron": {"type": "string", "description": "Cron expression for a repeating task."},
                    "at": {"type": "string", "description": "When a one-time task runs."},
                    "timezone": {"type": "string", "description": "IANA time zone, default Asia/Shanghai."},
                    "deliver_to": {"type": "string", "enum": ["chat", "dm", "webhook"], "description": "chat (default): this conversation; dm: the user's direct messages; webhook: the custom robot in webhook_url."},
                    "webhook_url": {"type": "string", "description": "Custom robot webhook URL, exactly as the user gave it."},
                    "webhook_secret": {"type": "string", "description": "The robot's signing secret (starts with SEC), if the user gave one."}
                },
                "required": ["prompt"]
            }),
        }
    }

    async fn call(&self, arguments: &str, context: &ToolContext) -> Result<String, String> {
        let tools = &self.0;
        let args: CreateArgs = serde_json::from_str(arguments).map_err(|e| {
            format!("arguments must be a JSON object with `prompt` and `cron` or `at` (and optional name, timezone, deliver_to, webhook_url, webhook_secret): {e}")
        })?;
        let account = tools
            .config
            .account(context.account_id.as_str())
            .ok_or("this conversation's bot account is not configured; tasks cannot be created here")?;
        let session = context
            .session_key
            .as_ref()
            .ok_or("this conversation has no agent to run the task")?;
        let agent_id = session.agent.as_str();
        let target = target_for(&args, context, account)?;
        let request = TaskRequest {
            name: args.name.as_deref(),
            prompt: &args.prompt,
            cron: args.cron.as_deref(),
            every: None,
            at: args.at.as_deref(),
            timezone: args.timezone.as_deref(),
        };
        let min_interval = tools
            .config
            .agent(agent_id)
            .ok_or("this conversation's agent is no longer configured; tasks cannot be created here")?
            .limits
            .cron_min_interval;
        let who = Requester {
            account,
            agent_id,
            created_by: context.sender.clone(),
            origin: origin_of(context),
            min_interval,
        };
        let now = self.0.clock.now();
        let checked = check(&request, target, &who, now)?;
        if tools.visible(context).await?.len() >= MAX_ACTIVE_TASKS {
            return Err(format!(
                "this conversation already has {MAX_ACTIVE_TASKS} active tasks; cancel one (cron_list, cron_cancel) first"
            ));
        }
        let task = tools
            .store
            .cron_create(checked.task, now)
            .await
            .map_err(|e| format!("the task could not be saved ({e}); try again later"))?;
        tools.wake.notify_one();
        tracing::info!(task = task.id, account = %task.spec.account_id, agent = %task.spec.agent_id, schedule = %checked.schedule.describe(), target = ?task.spec.target, "scheduled task created");
        let mut out = summary(&task);
        out["status"] = "created".into();
        out["note"] = "Tell the user the task id, schedule and next run. They can ask you to cancel it \
                       (cron_cancel), or the operator can run `clawtalk cron rm <id>`."
            .into();
        Ok(out.to_string())
    }
}

/// Where the task's answers go, from the arguments and the conversation.
fn target_for(
    args: &CreateArgs,
    context: &ToolContext,
    account: &clawtalk_config::DingTalkAccount,
) -> Result<CronTarget, String> {
    let deliver_to = args
        .deliver_to
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    let webhook = args
        .webhook_url
        .as_deref()
        .map(str::trim)
        .filter(|w| !w.is_empty());
    match (deliver_to, webhook) {
        (None | Some("webhook"), Some(url)) => webhook_target(url, args.webhook_secret.as_deref(), account),
        (Some("webhook"), None) => Err("deliver_to is \"webhook\" but `webhook_url` is missing; ask the user for the custom robot's webhook URL".into()),
        (Some(other @ ("chat" | "dm")), Some(_)) => Err(format!(
            "deliver_to is {other:?} but a webhook_url was given; use deliver_to \"webhook\" or leave the URL out"
        )),
        (Some("dm"), None) => context
            .sender
            .clone()
            .map(CronTarget::User)
            .ok_or_else(|| "the user has no staff id (an external contact), so the bot cannot DM them; use a webhook".to_owned()),
        (None | Some("chat"), None) => match &context.target {
            Some(Target::User(id)) => Ok(CronTarget::User(id.as_str().to_owned())),
            Some(Target::Group(cid)) => Ok(CronTarget::Group(cid.as_str().to_owned())),
            Some(Target::CustomRobot { webhook, secret, .. }) => Ok(CronTarget::Webhook {
                url: webhook.to_string(),
                secret: secret.as_ref().map(|s| s.expose().to_owned()),
            }),
            _ => Err("this conversation cannot receive scheduled messages (an external contact); give a custom robot webhook".into()),
        },
        (Some(other), _) => Err(format!("deliver_to must be \"chat\", \"dm\" or \"webhook\", not {other:?}")),
    }
}

#[async_trait]
impl Tool for List {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "cron_list".into(),
            description: "List the active scheduled tasks of this conversation and its user (id, schedule, next run, target, last result).".into(),
            parameters: json!({ "type": "object", "properties": {} }),
        }
    }

    async fn call(&self, _arguments: &str, context: &ToolContext) -> Result<String, String> {
        let tasks = self.0.visible(context).await?;
        Ok(json!({ "tasks": tasks.iter().map(summary).collect::<Vec<_>>() }).to_string())
    }
}

#[derive(Deserialize)]
struct CancelArgs {
    id: i64,
}

#[async_trait]
impl Tool for Cancel {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "cron_cancel".into(),
            description: "Cancel a scheduled task of this conversation by its id (see cron_list).".into(),
            parameters: json!({
                "type": "object",
                "properties": { "id": {"type": "integer", "description": "The task id."} },
                "required": ["id"]
            }),
        }
    }

    async fn call(&self, arguments: &str, context: &ToolContext) -> Result<String, String> {
        let args: CancelArgs = serde_json::from_str(arguments)
            .map_err(|e| format!("arguments must be a JSON object like {{\"id\": 3}}: {e}"))?;
        let store = &self.0.store;
        let unavailable = |e: clawtalk_store::StoreError| {
            format!("the task list is unavailable right now ({e}); try again later")
        };
        let task = store.cron_get(args.id).await.map_err(unavailable)?;
        let Some(task) = task.filter(|t| visible_from(t, context)) else {
            return Err(format!(
                "there is no task #{} in this conversation; cron_list shows the ones here",
                args.id
            ));
        };
        if task.status != CronStatus::Active {
            return Err(format!("task #{} is already {}", task.id, task.status));
        }
        match store
            .cron_cancel(task.id, self.0.clock.now())
            .await
            .map_err(unavailable)?
        {
            Some(cancelled) => {
                tracing::info!(
                    task = cancelled.id,
                    "scheduled task cancelled from a conversation"
                );
                Ok(
                    json!({ "status": "cancelled", "id": cancelled.id, "name": cancelled.spec.name })
                        .to_string(),
                )
            }
            None => Err(format!("task #{} has just finished or been cancelled", task.id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_config::test_support::config;
    use clawtalk_core::ids::{AccountId, SessionKey};
    use clawtalk_store::SqliteStore;
    use dingtalk::ids::{ConversationId, StaffId};

    async fn tools() -> (Vec<Arc<dyn Tool>>, Arc<SqliteStore>) {
        let cfg = Arc::new(config(
            r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
                 channels: { dingtalk: { clientId: "dingbot", clientSecret: "s" } } }"#,
        ));
        let store = Arc::new(SqliteStore::in_memory().await.unwrap());
        let cron = CronTools::new(
            cfg,
            Arc::clone(&store) as Arc<dyn CronStore>,
            Arc::new(Notify::new()),
            Arc::new(clawtalk_core::clock::SystemClock),
        );
        (cron.tools(), store)
    }

    fn dm(user: &str) -> ToolContext {
        let key = SessionKey::parse(&format!("agent:main:dingtalk:default:dm:{user}")).unwrap();
        ToolContext {
            sender: Some(user.into()),
            target: Some(Target::User(StaffId::new(user))),
            ..ToolContext::new(AccountId::new("default"), Some(key))
        }
    }

    #[tokio::test]
    async fn create_list_and_cancel_from_a_conversation() {
        let (tools, store) = tools().await;
        let (create, list, cancel) = (&tools[0], &tools[1], &tools[2]);
        let alice = dm("alice");
        let out = create
            .call(
                r#"{"name":"weather","prompt":"Beijing weather","cron":"0 9 * * *",
                    "webhook_url":"https://oapi.dingtalk.com/robot/send?access_token=tok-x","webhook_secret":"SECy"}"#,
                &alice,
            )
            .await
            .unwrap();
        assert!(
            out.contains("\"status\":\"created\"") && out.contains("cron 0 9 * * * (Asia/Shanghai)"),
            "{out}"
        );
        assert!(!out.contains("tok-x") && !out.contains("SECy"), "{out}");
        let task = store.cron_get(1).await.unwrap().unwrap();
        assert_eq!(task.spec.agent_id, "main");
        assert_eq!(task.spec.origin.as_deref(), Some("user:alice"));

        let here = create
            .call(r#"{"prompt":"stand-up reminder","at":"in 1 hour"}"#, &alice)
            .await
            .unwrap();
        assert!(here.contains("DM to alice"), "defaults to this chat: {here}");
        let group = ToolContext {
            target: Some(Target::Group(ConversationId::new("cidG=="))),
            ..dm("bob")
        };
        let dm_target = create
            .call(
                r#"{"prompt":"report","at":"in 1 hour","deliver_to":"dm"}"#,
                &group,
            )
            .await
            .unwrap();
        assert!(dm_target.contains("DM to bob"), "{dm_target}");

        let listed = list.call("{}", &alice).await.unwrap();
        assert!(
            listed.contains("weather") && listed.contains("stand-up"),
            "{listed}"
        );
        assert!(
            !listed.contains("\"report\""),
            "bob's task is not alice's: {listed}"
        );
        let err = cancel.call(r#"{"id":3}"#, &alice).await.unwrap_err();
        assert!(err.contains("no task #3 in this conversation"), "{err}");
        assert!(
            cancel
                .call(r#"{"id":1}"#, &alice)
                .await
                .unwrap()
                .contains("cancelled")
        );
        let err = cancel.call(r#"{"id":1}"#, &alice).await.unwrap_err();
        assert!(err.contains("no task #1") || err.contains("already"), "{err}");
        assert_eq!(
            store.cron_get(1).await.unwrap().unwrap().status,
            CronStatus::Cancelled
        );
    }

    #[tokio::test]
    async fn mistakes_are_explained_to_the_model() {
        let (tools, _store) = tools().await;
        let create = &tools[0];
        let alice = dm("alice");
        for (args, expected) in [
            ("nope", "must be a JSON object"),
            (r#"{"prompt":"x"}"#, "give `cron`"),
            (r#"{"prompt":"x","cron":"9am daily"}"#, "five fields"),
            (r#"{"prompt":"x","at":"2020-01-01 09:00"}"#, "already passed"),
            (
                r#"{"prompt":"x","cron":"0 9 * * *","deliver_to":"webhook"}"#,
                "`webhook_url` is missing",
            ),
            (
                r#"{"prompt":"x","cron":"0 9 * * *","deliver_to":"email"}"#,
                "must be \"chat\"",
            ),
            (
                r#"{"prompt":"x","cron":"0 9 * * *","webhook_url":"http://10.0.0.1/robot/send?access_token=a"}"#,
                "not a DingTalk custom robot URL",
            ),
            (
                r#"{"prompt":"x","cron":"0 9 * * *","when":"now"}"#,
                "unknown field",
            ),
            (
                r#"{"prompt":"x","cron":"*/1 * * * *"}"#,
                "at most every 15 minutes (limits.cronMinIntervalMinutes)",
            ),
        ] {
            let err = create.call(args, &alice).await.unwrap_err();
            assert!(err.contains(expected), "{args}: {err}");
        }
        let nobody = ToolContext {
            sender: None,
            target: None,
            ..dm("x")
        };
        let err = create
            .call(r#"{"prompt":"x","cron":"0 9 * * *"}"#, &nobody)
            .await
            .unwrap_err();
        assert!(err.contains("cannot receive scheduled messages"), "{err}");
    }
}
