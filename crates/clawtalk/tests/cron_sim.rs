//! Scheduled tasks against the simulator, with the gateway in process: a conversation creates
//! a task through the model's `cron_create` call, the task fires at its time and posts the
//! agent's answer through a signed custom robot; cancelled tasks stay silent, failures are
//! reported in the target, and runs missed while no gateway ran follow the missed-run policy
//! — once, even with two gateways on one store.
//!
//! Time is real but short: one-shot tasks are set a few seconds ahead, and tasks "missed
//! during a downtime" are written into the store with a past due time before the gateway
//! starts, which is exactly what a restart finds.

mod support;

use clawtalk_core::clock::EpochMs;
use clawtalk_core::ids::AccountId;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use clawtalk_config::Config;
use clawtalk_core::clock::{Clock, SystemClock};
use clawtalk_gateway::Gateway;
use clawtalk_store::{CronKind, CronRunStatus, CronStatus, CronTarget, NewCronTask, SqliteStore, Store};
use dingtalk_sim::{
    AppSpec, CustomRobot, CustomRobotSpec, GroupSpec, InjectMessage, SentMessage, SimConfig, Simulator,
    UserSpec,
};
use llm_mock::{MockModel, Script};
use serde_json::json;
use support::in_process;

const APP: &str = "dingcrontaskbot000001";
const SECRET: &str = "cron-secret-not-real";
const USER: &str = "0312000000000007";

struct World {
    sim: Simulator,
    model: MockModel,
    robot: CustomRobot,
    group: String,
    config: Arc<Config>,
    dir: tempfile::TempDir,
}

async fn world() -> World {
    let sim = Simulator::start_with(SimConfig::default()).await.unwrap();
    sim.create_app(AppSpec::new(APP, SECRET)).unwrap();
    sim.create_user(UserSpec::new(USER, "Alice")).unwrap();
    let group = sim
        .create_group(GroupSpec::new("Weather", [USER]).with_bot(APP))
        .unwrap()
        .open_conversation_id;
    // Signing on: a post with a wrong or missing signature is refused by the simulator.
    let robot = sim
        .create_custom_robot(CustomRobotSpec {
            group: group.clone(),
            name: Some("weather".into()),
            access_token: None,
            secret: Some(String::new()),
            keywords: Vec::new(),
        })
        .unwrap();
    let model = MockModel::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = in_process::config_text(&sim, &model, (APP, SECRET), dir.path(), "progressNotes: false,");
    let config = in_process::config(&text);
    World {
        sim,
        model,
        robot,
        group,
        config,
        dir,
    }
}

impl World {
    async fn start(&self, store: &Arc<dyn Store>, instance: &str) -> Gateway {
        Gateway::start(Arc::clone(&self.config), Arc::clone(store), instance)
            .await
            .unwrap()
    }

    fn robot_posts(&self) -> Vec<SentMessage> {
        self.sim
            .sent_messages()
            .into_iter()
            .filter(|m| m.api == "customRobot")
            .collect()
    }

    async fn wait_for_robot_posts(&self, n: usize, timeout: Duration) -> Vec<SentMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let posts = self.robot_posts();
            if posts.len() >= n || tokio::time::Instant::now() > deadline {
                return posts;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn webhook_task(&self, name: &str, schedule: &str, next_run_at_ms: i64) -> NewCronTask {
        NewCronTask {
            account_id: AccountId::new("default"),
            agent_id: "main".into(),
            name: name.into(),
            prompt: format!("{name}: report the weather in Beijing"),
            kind: CronKind::Cron,
            schedule: schedule.into(),
            timezone: "Asia/Shanghai".into(),
            target: CronTarget::Webhook {
                url: self.robot.webhook_url.clone(),
                secret: self.robot.secret.clone(),
            },
            created_by: None,
            origin: None,
            next_run_at_ms: EpochMs::from_millis(next_run_at_ms),
        }
    }
}

/// An RFC 3339 time `secs` seconds from now, as a model would write it.
fn in_secs(secs: i64) -> String {
    Utc.timestamp_millis_opt(SystemClock.now_ms() + secs * 1000)
        .unwrap()
        .to_rfc3339()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_created_in_a_chat_fires_once_through_the_signed_custom_robot() {
    let w = world().await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
    let gateway = w.start(&store, "cron-test").await;
    w.sim
        .wait_for_connections(APP, 1, Duration::from_secs(10))
        .await
        .unwrap();

    let args = json!({
        "name": "Beijing weather",
        "prompt": "Report today's weather in Beijing",
        "at": in_secs(3),
        "webhook_url": w.robot.webhook_url,
        "webhook_secret": w.robot.secret,
    });
    w.model
        .push(Script::tool_call("cron_create", args.to_string()).when_last_user_contains("schedule"));
    w.model
        .push(Script::text("Scheduled as task #1.").when_last_user_contains("schedule"));
    w.model
        .push(Script::text("Beijing: sunny, 3°C, light wind.").when_last_user_contains("[Scheduled task #1"));
    w.sim
        .inject_message(&InjectMessage::dm_text(
            APP,
            USER,
            "please schedule the Beijing weather for our group robot",
        ))
        .unwrap();
    let reply = w.sim.wait_for_sent(1, Duration::from_secs(20)).await.unwrap();
    assert!(reply[0].text.contains("Scheduled as task #1."), "{:?}", reply[0]);

    let tasks = store.cron_list(false).await.unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].spec.kind, CronKind::Once);
    assert_eq!(tasks[0].spec.created_by.as_deref(), Some(USER));
    let tool_result = w
        .model
        .requests()
        .into_iter()
        .flat_map(|r| r.messages)
        .find(|m| m["role"] == "tool")
        .expect("the tool result went back to the model");
    let shown = tool_result.to_string();
    assert!(shown.contains("created"), "{shown}");
    assert!(
        !shown.contains(&w.robot.access_token),
        "the webhook token is not echoed: {shown}"
    );

    let posts = w.wait_for_robot_posts(1, Duration::from_secs(15)).await;
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(posts[0].text.contains("Beijing: sunny"), "{:?}", posts[0]);
    assert_eq!(posts[0].conversation_id.as_deref(), Some(w.group.as_str()));
    let run = w
        .model
        .requests()
        .into_iter()
        .filter_map(|r| r.last_user_text())
        .find(|t| t.contains("[Scheduled task #1"))
        .expect("the run reached the model");
    assert!(run.contains("Report today's weather in Beijing"), "{run}");

    // Still exactly one post a while later, and the task is finished.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(w.robot_posts().len(), 1);
    let task = store.cron_get(tasks[0].id).await.unwrap().unwrap();
    assert_eq!((task.status, task.runs), (CronStatus::Done, 1));
    assert_eq!(task.last_status, Some(CronRunStatus::Ok), "{task:?}");
    gateway.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_task_stays_silent_and_a_failed_run_says_so_in_its_target() {
    let w = world().await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
    let gateway = w.start(&store, "cron-cancel-test").await;
    w.sim
        .wait_for_connections(APP, 1, Duration::from_secs(10))
        .await
        .unwrap();

    let soon = |name: &str, secs: i64| {
        json!({ "name": name, "prompt": format!("{name} report"), "at": in_secs(secs),
                "webhook_url": w.robot.webhook_url, "webhook_secret": w.robot.secret })
        .to_string()
    };
    w.model.push(
        Script::tool_call("cron_create", soon("doomed", 6))
            .and_tool_call("cron_create", soon("flaky", 6))
            .when_last_user_contains("two reports"),
    );
    w.model
        .push(Script::text("Two tasks scheduled.").when_last_user_contains("two reports"));
    w.model
        .push(Script::tool_call("cron_cancel", r#"{"id":1}"#).when_last_user_contains("cancel"));
    w.model
        .push(Script::tool_call("cron_cancel", r#"{"id":1}"#).when_last_user_contains("cancel"));
    w.model
        .push(Script::text("Cancelled task #1.").when_last_user_contains("cancel"));
    w.model.push(
        Script::error(
            400,
            r#"{"error":{"message":"bad request","type":"invalid_request_error"}}"#,
        )
        .when_last_user_contains("flaky report"),
    );

    w.sim
        .inject_message(&InjectMessage::dm_text(APP, USER, "two reports please"))
        .unwrap();
    w.sim.wait_for_sent(1, Duration::from_secs(20)).await.unwrap();
    w.sim
        .inject_message(&InjectMessage::dm_text(APP, USER, "cancel the first one"))
        .unwrap();
    let sent = w.sim.wait_for_sent(2, Duration::from_secs(20)).await.unwrap();
    assert!(sent[1].text.contains("Cancelled task #1."), "{:?}", sent[1]);
    let second_cancel = w
        .model
        .requests()
        .into_iter()
        .flat_map(|r| r.messages)
        .filter(|m| m["role"] == "tool")
        .map(|m| m.to_string())
        .find(|m| m.contains("already cancelled"));
    assert!(
        second_cancel.is_some(),
        "cancelling twice is reported to the model"
    );

    let posts = w.wait_for_robot_posts(1, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let posts_later = w.robot_posts();
    assert_eq!(posts_later.len(), 1, "only the failure notice: {posts:?}");
    let notice = &posts_later[0].text;
    assert!(
        notice.contains("定时任务「flaky」执行失败") && notice.contains("Scheduled task \"flaky\" failed"),
        "{notice}"
    );
    let tasks = store.cron_list(true).await.unwrap();
    assert_eq!(tasks[0].status, CronStatus::Cancelled);
    assert_eq!(tasks[0].runs, 0, "a cancelled task never ran");
    assert_eq!(
        tasks[1].last_status,
        Some(CronRunStatus::Failed),
        "{:?}",
        tasks[1]
    );
    assert!(tasks[1].last_error.is_some());
    gateway.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_downtime_two_gateways_run_a_recent_miss_once_and_report_an_old_one_once() {
    let w = world().await;
    let path = w.dir.path().join("shared.db");
    let first: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let now = SystemClock.now_ms();
    // Due ten minutes ago (within the 30-minute grace): it runs. Due two hours ago: skipped,
    // and the target is told.
    let recent = first
        .cron_create(
            w.webhook_task("recent", "*/30 * * * *", now - 10 * 60_000),
            EpochMs::from_millis(now),
        )
        .await
        .unwrap();
    let old = first
        .cron_create(
            w.webhook_task("old", "0 9 * * *", now - 2 * 3_600_000),
            EpochMs::from_millis(now),
        )
        .await
        .unwrap();
    w.model
        .push(Script::text("Recent run: cloudy.").when_last_user_contains("recent: report"));
    w.model
        .push(Script::text("Recent run AGAIN (must not happen).").when_last_user_contains("recent: report"));

    let second: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let (a, b) = tokio::join!(w.start(&first, "gw-a"), w.start(&second, "gw-b"));
    let posts = w.wait_for_robot_posts(2, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let posts = if posts.len() < 2 { posts } else { w.robot_posts() };
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert!(
        posts.iter().any(|p| p.text.contains("Recent run: cloudy.")),
        "{posts:?}"
    );
    let missed = posts
        .iter()
        .find(|p| p.text.contains("missed"))
        .expect("a missed-run notice");
    assert!(
        missed.text.contains("定时任务「old」错过了") && missed.text.contains("Next run:"),
        "{}",
        missed.text
    );
    let recent = first.cron_get(recent.id).await.unwrap().unwrap();
    let old = first.cron_get(old.id).await.unwrap().unwrap();
    assert_eq!((recent.runs, recent.last_status), (1, Some(CronRunStatus::Ok)));
    assert_eq!((old.runs, old.last_status), (0, Some(CronRunStatus::Missed)));
    for task in [&recent, &old] {
        assert_eq!(task.status, CronStatus::Active);
        assert!(
            task.next_run_at_ms.unwrap() > EpochMs::from_millis(now),
            "continues from the next future time: {task:?}"
        );
    }
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

/// A task stored with an every-minute schedule (before `limits.cronMinIntervalMinutes`
/// existed, or written by hand) runs, and its next run is the agent's minimum (default 15
/// minutes) later, not a minute later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_every_minute_task_runs_no_more_often_than_the_minimum_interval() {
    let w = world().await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
    let now = SystemClock.now_ms();
    let task = store
        .cron_create(
            w.webhook_task("ticker", "* * * * *", now - 60_000),
            EpochMs::from_millis(now),
        )
        .await
        .unwrap();
    w.model
        .push(Script::text("Tick.").when_last_user_contains("ticker: report"));
    let gateway = w.start(&store, "cron-spacing").await;
    let posts = w.wait_for_robot_posts(1, Duration::from_secs(20)).await;
    assert!(posts.iter().any(|p| p.text.contains("Tick.")), "{posts:?}");
    let task = store.cron_get(task.id).await.unwrap().unwrap();
    let next = task.next_run_at_ms.expect("it keeps running");
    assert!(
        next >= EpochMs::from_millis(now - 60_000 + 15 * 60_000),
        "the next run is at least 15 minutes after the one that ran, not {} s later",
        (next.as_millis() - now) / 1000
    );
    gateway.shutdown(Duration::from_secs(5)).await;
}
