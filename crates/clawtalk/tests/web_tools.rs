//! The web tools end to end, with the gateway in process: the mock model calls `web_fetch` on
//! a local fake weather page (let through `tools.web.allowPrivate` for that one port) and on
//! another local port; the page's text reaches the model and its answer reaches the chat, and
//! the other port is refused without a request and the model is told why.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use clawtalk_store::{SqliteStore, Store};
use dingtalk_sim::InjectMessage;
use llm_mock::{MockModel, Script};
use support::in_process;

const APP: &str = "dingwebtoolsbot00001";
const SECRET: &str = "web-tools-secret-not-real";
const USER: &str = "0312000000000009";

const PAGE: &str = r#"<!doctype html><html><head><title>北京天气预报</title>
<script>var ad = "ignore me";</script></head><body><nav>首页 | 新闻</nav>
<main><h1>北京 Beijing</h1><p>今天晴, 最高气温 <b>23°C</b>, 最低 11°C。</p>
<table><tr><th>时间</th><th>气温</th></tr><tr><td>09:00</td><td>17°C</td></tr></table></main>
</body></html>"#;

async fn serve(router: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reads_an_allowed_page_and_is_refused_another_local_port() {
    let weather = serve(Router::new().route(
        "/beijing",
        get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE) }),
    ))
    .await;
    let internal_hits = Arc::new(AtomicUsize::new(0));
    let hits = Arc::clone(&internal_hits);
    let internal = serve(Router::new().fallback(move || {
        let hits = Arc::clone(&hits);
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            "internal admin page"
        }
    }))
    .await;

    let sim = in_process::simulator(APP, SECRET, USER).await;
    let model = MockModel::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = in_process::config_text(&sim, &model, (APP, SECRET), dir.path(), "progressNotes: false,")
        .replacen(
            "gateway:",
            &format!(
                r#"tools: {{ web: {{ allowPrivate: ["127.0.0.1:{}"], fetch: {{ timeoutSeconds: 5 }} }} }}, gateway:"#,
                weather.port()
            ),
            1,
        );
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
    let gateway = in_process::gateway(&sim, APP, &text, store, "web-tools-test").await;

    let page_url = format!("http://{weather}/beijing");
    let internal_url = format!("http://{internal}/admin");
    model.push(
        Script::tool_call("web_fetch", format!(r#"{{"url":"{page_url}"}}"#))
            .and_tool_call("web_fetch", format!(r#"{{"url":"{internal_url}"}}"#))
            .when_last_user_contains("北京天气"),
    );
    model.push(
        Script::text("北京今天晴，最高 23°C。The second address is refused.")
            .when_last_user_contains("北京天气"),
    );

    sim.inject_message(&InjectMessage::dm_text(APP, USER, "北京天气怎么样？"))
        .unwrap();
    let sent = sim.wait_for_sent(1, Duration::from_secs(30)).await.unwrap();
    assert!(sent[0].text.contains("23°C"), "{:?}", sent[0]);

    let tool_results: Vec<String> = model
        .requests()
        .iter()
        .flat_map(|r| r.messages.clone())
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect();
    let page = tool_results
        .iter()
        .find(|c| c.contains(&page_url))
        .expect("the page's result went back to the model");
    assert!(page.contains("最高气温 23°C"), "{page}");
    assert!(page.contains("09:00 | 17°C"), "tables keep their rows: {page}");
    assert!(!page.contains("ignore me") && !page.contains("首页"), "{page}");
    let refusal = tool_results
        .iter()
        .find(|c| c.contains(&internal_url))
        .expect("the refusal went back to the model");
    assert!(
        refusal.contains("error") && refusal.contains("loopback") && refusal.contains("refused"),
        "{refusal}"
    );
    assert_eq!(
        internal_hits.load(Ordering::SeqCst),
        0,
        "the refused address never saw a request"
    );
    let tools = &model.requests()[0].tools;
    assert!(
        tools.iter().any(|t| t["function"]["name"] == "web_fetch"),
        "web_fetch is offered to the model"
    );
    gateway.shutdown(Duration::from_secs(5)).await;
}
