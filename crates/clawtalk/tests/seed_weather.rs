//! The seeds' own example, end to end: a user asks in DingTalk "check the weather in Beijing
//! at 9 AM every day, webhook address is <custom robot URL>"; the agent creates the daily
//! task with `cron_create`; when the task fires, the agent fetches a weather page with
//! `web_fetch` and the signed custom robot posts what the page said.
//!
//! The page is a local fake (let through `tools.web.allowPrivate` for its one port) whose
//! figures change between runs, so the post can only carry them if they came from the fetch.
//! The firing is the operator's "run now", since 9 AM cannot be waited for.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use clawtalk_core::clock::{Clock, SystemClock};
use clawtalk_store::{CronKind, SqliteStore, Store};
use dingtalk_sim::{CustomRobotSpec, GroupSpec, InjectMessage};
use llm_mock::{MockModel, Script};
use serde_json::json;
use support::in_process;

const APP: &str = "dingseedweatherbot01";
const SECRET: &str = "seed-weather-secret-not-real";
const USER: &str = "0312000000000011";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_weather_task_fetches_the_page_and_the_custom_robot_posts_its_figures() {
    // Each request gets another temperature: the post must show the one this run fetched.
    let served = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&served);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let weather = listener.local_addr().unwrap();
    let router = Router::new().route(
        "/beijing",
        get(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                let page = format!(
                    "<html><body><main><h1>北京 Beijing</h1><p>今天多云, 气温 {}°C, 北风 2 级。</p></main></body></html>",
                    17 + n
                );
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page)
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let sim = in_process::simulator(APP, SECRET, USER).await;
    let group = sim
        .create_group(GroupSpec::new("Weather", [USER]).with_bot(APP))
        .unwrap()
        .open_conversation_id;
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
    let text = in_process::config_text(&sim, &model, (APP, SECRET), dir.path(), "progressNotes: false,")
        .replacen(
            "gateway:",
            &format!(
                r#"tools: {{ web: {{ allowPrivate: ["127.0.0.1:{}"] }} }}, gateway:"#,
                weather.port()
            ),
            1,
        );
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
    let gateway = in_process::gateway(&sim, APP, &text, Arc::clone(&store), "seed-weather").await;

    let page_url = format!("http://{weather}/beijing");
    let ask = format!(
        "check the weather in Beijing at 9 AM every day, webhook address is {}",
        robot.webhook_url
    );
    let create = json!({
        "name": "Beijing weather",
        "prompt": format!("Fetch {page_url} and report today's weather in Beijing."),
        "cron": "0 9 * * *",
        "timezone": "Asia/Shanghai",
        "webhook_url": robot.webhook_url,
        "webhook_secret": robot.secret,
    });
    model
        .push(Script::tool_call("cron_create", create.to_string()).when_last_user_contains("9 AM every day"));
    model.push(
        Script::text("Done: every day at 9:00 the group robot posts Beijing's weather.")
            .when_last_user_contains("9 AM every day"),
    );
    // The run: the model fetches the page; with no script for the round after it, the mock's
    // offline model answers with the tool's result, so the post carries the page's words.
    model.push(
        Script::tool_call("web_fetch", json!({ "url": page_url }).to_string())
            .when_last_user_contains("[Scheduled task #1"),
    );
    sim.inject_message(&InjectMessage::dm_text(APP, USER, &ask))
        .unwrap();
    let reply = sim.wait_for_sent(1, Duration::from_secs(20)).await.unwrap();
    assert!(reply[0].text.contains("every day at 9:00"), "{:?}", reply[0]);

    let tasks = store.cron_list(false).await.unwrap();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0].spec.kind, CronKind::Cron);
    assert_eq!(tasks[0].spec.schedule, "0 9 * * *");

    // Served once before the run, so the run's page says 18°C.
    let _ = dingtalk::tls::client_builder()
        .build()
        .unwrap()
        .get(&page_url)
        .send()
        .await
        .unwrap();
    store.cron_run_now(tasks[0].id, SystemClock.now()).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let post = loop {
        let posts: Vec<_> = sim
            .sent_messages()
            .into_iter()
            .filter(|m| m.api == "customRobot")
            .collect();
        if let Some(post) = posts.first() {
            assert_eq!(posts.len(), 1, "{posts:?}");
            break post.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "the robot never posted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(served.load(Ordering::SeqCst), 2, "the run fetched the page once");
    assert!(
        post.text.contains("18°C"),
        "the post carries the fetched figure: {post:?}"
    );
    assert!(post.text.contains("北风 2 级"), "{post:?}");
    assert_eq!(post.conversation_id.as_deref(), Some(group.as_str()));
    gateway.shutdown(Duration::from_secs(5)).await;
}
