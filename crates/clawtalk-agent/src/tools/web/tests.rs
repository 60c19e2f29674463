//! The web tools against local fake sites: one loopback port is the allowed "public" site
//! (through `allowPrivate`), everything else must be refused, whatever the URL's disguise.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::fetch::Fetcher;
use super::guard::{Guard, Resolve};
use super::search::{Bocha, SearchBackend, Searxng};
use super::{WebFetch, WebSearch};
use crate::tools::{Tool, ToolContext};
use clawtalk_config::{WebFetchConfig, parse_allow};
use clawtalk_core::ids::AccountId;

const WEATHER: &str = r#"<!doctype html><html><head><title>Beijing weather</title>
<script>document.write("tracking")</script></head><body>
<nav><a href="/">Home</a></nav><main><h1>Beijing</h1>
<p>Today: sunny, high <b>23 °C</b>, low 11 °C.</p></main><footer>© weather.test</footer></body></html>"#;

async fn serve(addr: SocketAddr, router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let bound = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    bound
}

fn site() -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], WEATHER) }),
        )
        .route(
            "/json",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"temp":23,"city":"北京"}"#,
                )
            }),
        )
        .route(
            "/bin",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "image/png")],
                    vec![0x89u8, b'P', b'N', b'G', 0, 0],
                )
            }),
        )
        .route(
            "/big",
            get(|| async { ([(header::CONTENT_TYPE, "text/plain")], "x".repeat(100_000)) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        )
        .route(
            "/redirect/{code}",
            get(
                |Path(code): Path<u16>, Query(q): Query<HashMap<String, String>>| async move {
                    let to = q.get("to").cloned().unwrap_or_default();
                    Response::builder()
                        .status(code)
                        .header(header::LOCATION, to)
                        .body(axum::body::Body::empty())
                        .unwrap()
                },
            ),
        )
        .route(
            "/chain/{n}",
            get(|Path(n): Path<u32>| async move {
                if n == 0 {
                    "end of chain".into_response()
                } else {
                    (
                        StatusCode::FOUND,
                        [(header::LOCATION, format!("/chain/{}", n - 1))],
                    )
                        .into_response()
                }
            }),
        )
}

/// A site nobody may reach; counts the requests it got anyway.
fn secret(hits: Arc<AtomicUsize>) -> Router {
    Router::new().fallback(move || {
        let hits = Arc::clone(&hits);
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            "SECRET internal data"
        }
    })
}

/// Answers names from a table; `rebind.test` answers the allowed site first and a forbidden
/// address afterwards, as a rebinding attacker's DNS would.
struct TestResolver {
    rebind_calls: AtomicUsize,
}

#[async_trait]
impl Resolve for TestResolver {
    async fn lookup(&self, host: &str, _port: u16) -> std::io::Result<Vec<IpAddr>> {
        let ips: &[&str] = match host.trim_end_matches('.') {
            "weather.test" => &["127.0.0.1"],
            "rebind.test" => {
                if self.rebind_calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    &["127.0.0.1"]
                } else {
                    &["127.0.0.2"]
                }
            }
            "mixed.test" => &["127.0.0.1", "10.0.0.7"],
            "private.test" => &["192.168.1.10"],
            "meta.test" => &["169.254.169.254"],
            "v6.test" => &["::1"],
            _ => return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no such host")),
        };
        Ok(ips.iter().map(|ip| ip.parse().unwrap()).collect())
    }
}

struct World {
    ok: SocketAddr,
    other: u16,
    secret_hits: Arc<AtomicUsize>,
    resolver: Arc<TestResolver>,
    fetcher: Fetcher,
}

async fn world(config: WebFetchConfig) -> World {
    let ok = serve("127.0.0.1:0".parse().unwrap(), site()).await;
    let secret_hits = Arc::new(AtomicUsize::new(0));
    let other = serve("127.0.0.1:0".parse().unwrap(), secret(Arc::clone(&secret_hits)))
        .await
        .port();
    // The address the rebinding resolver answers second, on the allowed site's port.
    serve(
        SocketAddr::new("127.0.0.2".parse().unwrap(), ok.port()),
        secret(Arc::clone(&secret_hits)),
    )
    .await;
    let resolver = Arc::new(TestResolver {
        rebind_calls: AtomicUsize::new(0),
    });
    let guard = Guard::new(vec![parse_allow(&format!("127.0.0.1:{}", ok.port())).unwrap()]);
    let fetcher = Fetcher::new(config, guard, Arc::clone(&resolver) as Arc<dyn Resolve>);
    World {
        ok,
        other,
        secret_hits,
        resolver,
        fetcher,
    }
}

fn quick() -> WebFetchConfig {
    WebFetchConfig {
        timeout: Duration::from_secs(2),
        max_response_bytes: 10_000,
        ..WebFetchConfig::default()
    }
}

#[tokio::test]
async fn the_allowed_site_is_read_as_text() {
    let w = world(quick()).await;
    let page = w
        .fetcher
        .fetch(&format!("http://127.0.0.1:{}/", w.ok.port()), 1000)
        .await
        .unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(page.title.as_deref(), Some("Beijing weather"));
    assert_eq!(page.text, "# Beijing\n\nToday: sunny, high 23 °C, low 11 °C.");
    assert!(!page.truncated);

    let json = w
        .fetcher
        .fetch(&format!("http://weather.test:{}/json", w.ok.port()), 1000)
        .await
        .unwrap();
    assert_eq!(json.content_type, "application/json");
    assert_eq!(json.text, r#"{"temp":23,"city":"北京"}"#, "JSON comes as it is");

    let moved = w
        .fetcher
        .fetch(
            &format!("http://127.0.0.1:{}/redirect/302?to=/json", w.ok.port()),
            1000,
        )
        .await
        .unwrap();
    assert!(moved.url.ends_with("/json"), "{}", moved.url);
}

#[tokio::test]
async fn binary_bodies_big_bodies_slow_sites_and_long_redirect_chains_are_bounded() {
    let w = world(quick()).await;
    let base = format!("http://127.0.0.1:{}", w.ok.port());
    let err = w.fetcher.fetch(&format!("{base}/bin"), 1000).await.unwrap_err();
    assert!(err.contains("image/png") && err.contains("not text"), "{err}");

    let big = w.fetcher.fetch(&format!("{base}/big"), 1_000_000).await.unwrap();
    assert_eq!(big.text.len(), 10_000, "the download stops at maxResponseBytes");
    assert!(big.truncated);
    let short = w.fetcher.fetch(&format!("{base}/big"), 150).await.unwrap();
    assert_eq!(short.text.len(), 150);

    let started = std::time::Instant::now();
    let err = w.fetcher.fetch(&format!("{base}/slow"), 1000).await.unwrap_err();
    assert!(err.contains("longer than 2 s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let end = w.fetcher.fetch(&format!("{base}/chain/3"), 1000).await.unwrap();
    assert_eq!(end.text, "end of chain");
    let err = w
        .fetcher
        .fetch(&format!("{base}/chain/4"), 1000)
        .await
        .unwrap_err();
    assert!(err.contains("more than 3 redirects"), "{err}");
}

#[tokio::test]
async fn ssrf_tricks_are_all_refused() {
    let w = world(quick()).await;
    let (a, b) = (w.ok.port(), w.other);
    let ok = format!("http://127.0.0.1:{a}");
    let tricks = [
        format!("http://127.0.0.1:{b}/"),
        format!("http://2130706433:{b}/"),
        format!("http://0177.0.0.1:{b}/"),
        format!("http://0x7f.0.0.1:{b}/"),
        format!("http://0x7f000001:{b}/"),
        format!("http://127.1:{b}/"),
        format!("http://127.000.000.001:{b}/"),
        format!("http://%31%32%37.0.0.1:{b}/"),
        format!("http://１２７.０.０.１:{b}/"),
        format!("http://[::1]:{b}/"),
        format!("http://[::ffff:127.0.0.1]:{b}/"),
        format!("http://[::ffff:7f00:1]:{b}/"),
        format!("http://[0:0:0:0:0:ffff:127.0.0.1]:{b}/"),
        format!("http://[::127.0.0.1]:{b}/"),
        format!("http://[64:ff9b::7f00:1]:{b}/"),
        format!("http://weather.test:{a}@127.0.0.1:{b}/"),
        format!("http://user:pass@127.0.0.1:{b}/"),
        format!("http://localhost:{a}/"),
        format!("http://localhost.:{a}/"),
        format!("http://LOCALHOST:{a}/"),
        format!("http://api.localhost:{a}/"),
        format!("http://0.0.0.0:{b}/"),
        format!("http://0:{b}/"),
        format!("http://weather.test:{b}/"),
        "http://127.0.0.1:22/".to_owned(),
        format!("http://v6.test:{b}/"),
        format!("http://mixed.test:{a}/"),
        "http://private.test/".to_owned(),
        "http://meta.test/latest/meta-data/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::ffff:169.254.169.254]/".to_owned(),
        "http://[64:ff9b::a9fe:a9fe]/".to_owned(),
        "http://100.100.100.200/latest/meta-data/".to_owned(),
        "http://[fd00:ec2::254]/".to_owned(),
        "http://metadata.google.internal/computeMetadata/v1/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        "http://192.168.0.1/".to_owned(),
        "http://172.16.0.1/".to_owned(),
        "http://100.64.0.1/".to_owned(),
        "http://[fe80::1]/".to_owned(),
        "http://224.0.0.1/".to_owned(),
        "http://255.255.255.255/".to_owned(),
        "http://198.18.0.1/".to_owned(),
        "http://[2002:7f00:1::]/".to_owned(),
        format!("{ok}/redirect/301?to=http://127.0.0.1:{b}/"),
        format!("{ok}/redirect/302?to=http://localhost:{b}/"),
        format!("{ok}/redirect/303?to=http://2130706433:{b}/"),
        format!("{ok}/redirect/307?to=http://[::1]:{b}/"),
        format!("{ok}/redirect/308?to=file:///etc/passwd"),
        format!("{ok}/redirect/302?to=http://169.254.169.254/"),
        "file:///etc/passwd".to_owned(),
        format!("gopher://127.0.0.1:{b}/_INFO"),
        "ftp://127.0.0.1/".to_owned(),
        "data:text/plain,hello".to_owned(),
        "javascript:alert(1)".to_owned(),
        "http://127.0.0.1:0/".to_owned(),
        "not a url".to_owned(),
    ];
    assert!(tricks.len() >= 15);
    for url in &tricks {
        let result = w.fetcher.fetch(url, 1000).await;
        let Err(reason) = result else {
            panic!("{url} was fetched: {result:?}");
        };
        // Refused by the guard, not merely failing to connect.
        assert!(
            ["refused", "not a valid URL", "port 0"]
                .iter()
                .any(|why| reason.contains(why)),
            "{url}: {reason}"
        );
    }
    assert_eq!(
        w.secret_hits.load(Ordering::SeqCst),
        0,
        "no refused destination saw a request"
    );
}

#[tokio::test]
async fn refusals_say_what_and_how_to_allow() {
    let w = world(quick()).await;
    let err = w
        .fetcher
        .fetch(&format!("http://2130706433:{}/", w.other), 1000)
        .await
        .unwrap_err();
    assert!(err.contains("127.0.0.1") && err.contains("loopback"), "{err}");
    assert!(err.contains("tools.web.allowPrivate"), "{err}");
    let err = w
        .fetcher
        .fetch("http://100.100.100.200/latest/meta-data/", 1000)
        .await
        .unwrap_err();
    assert!(err.contains("metadata"), "{err}");
    let err = w.fetcher.fetch("file:///etc/passwd", 1000).await.unwrap_err();
    assert!(err.contains("only http and https"), "{err}");
    let err = w
        .fetcher
        .fetch(
            &format!(
                "http://127.0.0.1:{}/redirect/302?to=http://[::1]:{}/",
                w.ok.port(),
                w.other
            ),
            1000,
        )
        .await
        .unwrap_err();
    assert!(err.contains("::1"), "the redirect's target is named: {err}");
}

#[tokio::test]
async fn dns_rebinding_between_check_and_connect_cannot_move_the_request() {
    let w = world(quick()).await;
    let page = w
        .fetcher
        .fetch(&format!("http://rebind.test:{}/", w.ok.port()), 1000)
        .await
        .unwrap();
    assert!(page.text.contains("23 °C"), "{}", page.text);
    assert_eq!(
        w.resolver.rebind_calls.load(Ordering::SeqCst),
        1,
        "the name is resolved once, and the checked answer is the one connected to"
    );
    assert_eq!(w.secret_hits.load(Ordering::SeqCst), 0);
    // A second fetch resolves again and gets the forbidden answer: refused.
    let err = w
        .fetcher
        .fetch(&format!("http://rebind.test:{}/", w.ok.port()), 1000)
        .await
        .unwrap_err();
    assert!(err.contains("127.0.0.2"), "{err}");
    assert_eq!(w.secret_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_tool_reports_text_and_refusals_to_the_model() {
    let w = world(quick()).await;
    let tool = WebFetch::new(w.fetcher);
    let cx = ToolContext::new(AccountId::new("default"), None);
    let out = tool
        .call(
            &json!({ "url": format!("http://127.0.0.1:{}/", w.ok.port()) }).to_string(),
            &cx,
        )
        .await
        .unwrap();
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["status"], 200);
    assert!(out["text"].as_str().unwrap().contains("23 °C"));
    let refused = tool
        .call(
            &json!({ "url": format!("http://127.0.0.1:{}/", w.other) }).to_string(),
            &cx,
        )
        .await
        .unwrap_err();
    assert!(refused.contains("refused"), "{refused}");
    let bad = tool.call(r#"{"uri":"x"}"#, &cx).await.unwrap_err();
    assert!(bad.contains("web_fetch takes"), "{bad}");
    assert_eq!(tool.spec().name, "web_fetch");
}

const BOCHA_KEY: &str = "sk-bocha-test-key-do-not-log";

async fn fake_search_services() -> SocketAddr {
    let router = Router::new()
        .route(
            "/searx/search",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                if q.get("format").map(String::as_str) != Some("json") {
                    return (StatusCode::FORBIDDEN, "html only").into_response();
                }
                let query = q.get("q").cloned().unwrap_or_default();
                axum::Json(json!({
                    "query": query,
                    "number_of_results": 3,
                    "results": [
                        { "url": "https://weather.example/beijing", "title": format!("{query} — forecast"),
                          "content": "Sunny,   23 °C", "engine": "bing", "publishedDate": "2026-12-06T08:00:00" },
                        { "url": "https://news.example/a", "title": "A", "content": "a" },
                        { "url": "https://news.example/b", "title": "B", "content": "b" }
                    ],
                    "answers": [], "suggestions": [], "unresponsive_engines": []
                }))
                .into_response()
            }),
        )
        .route(
            "/v1/web-search",
            post(|headers: HeaderMap, axum::Json(body): axum::Json<Value>| async move {
                let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                if auth != Some(&format!("Bearer {BOCHA_KEY}")) {
                    return (StatusCode::UNAUTHORIZED, axum::Json(json!({"code": 401, "msg": "Invalid API KEY"})))
                        .into_response();
                }
                let count = body["count"].as_u64().unwrap_or(10) as usize;
                let pages: Vec<Value> = (0..5)
                    .map(|i| json!({
                        "id": format!("https://api.bochaai.com/v1/#WebPages.{i}"),
                        "name": format!("{} 结果 {i}", body["query"].as_str().unwrap_or("")),
                        "url": format!("https://site{i}.example/"),
                        "displayUrl": format!("https://site{i}.example/"),
                        "snippet": "短摘要",
                        "summary": if i == 0 { "北京今天晴，最高 23 °C" } else { "" },
                        "siteName": "site",
                        "datePublished": "2026-12-06T08:00:00+08:00"
                    }))
                    .take(count)
                    .collect();
                axum::Json(json!({
                    "code": 200, "log_id": "abc", "msg": null,
                    "data": { "_type": "SearchResponse", "queryContext": { "originalQuery": body["query"] },
                              "webPages": { "webSearchUrl": "https://bochaai.com/search?q=x",
                                            "totalEstimatedMatches": 5, "value": pages } }
                }))
                .into_response()
            }),
        );
    serve("127.0.0.1:0".parse().unwrap(), router).await
}

#[tokio::test]
async fn searxng_results_come_back_in_the_tools_shape() {
    let addr = fake_search_services().await;
    let base = format!("http://{addr}/searx").parse().unwrap();
    let backend: Arc<dyn SearchBackend> = Arc::new(Searxng::new(
        dingtalk::tls::client_builder().build().unwrap(),
        base,
    ));
    let tool = WebSearch::new(backend, 2);
    let cx = ToolContext::new(AccountId::new("default"), None);
    let out = tool.call(r#"{"query":"北京天气"}"#, &cx).await.unwrap();
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["provider"], "searxng");
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "maxResults when the call names no count");
    assert_eq!(results[0]["title"], "北京天气 — forecast");
    assert_eq!(results[0]["snippet"], "Sunny, 23 °C");
    assert_eq!(results[0]["url"], "https://weather.example/beijing");
    let three = tool.call(r#"{"query":"x","count":3}"#, &cx).await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&three).unwrap()["results"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let empty = tool.call(r#"{"query":"  "}"#, &cx).await.unwrap_err();
    assert!(empty.contains("non-empty"), "{empty}");
}

#[tokio::test]
async fn bocha_sends_its_key_as_a_bearer_and_never_shows_it() {
    let addr = fake_search_services().await;
    let base: url::Url = format!("http://{addr}").parse().unwrap();
    let bocha = Bocha::new(
        dingtalk::tls::client_builder().build().unwrap(),
        dingtalk::Secret::new(BOCHA_KEY),
        Some(base.clone()),
    );
    let hits = bocha.search("北京天气", 3).await.unwrap();
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0].title, "北京天气 结果 0");
    assert_eq!(
        hits[0].snippet, "北京今天晴，最高 23 °C",
        "the summary when there is one"
    );
    assert_eq!(hits[1].snippet, "短摘要", "else the snippet");
    assert_eq!(hits[0].published.as_deref(), Some("2026-12-06T08:00:00+08:00"));

    let wrong = Bocha::new(
        dingtalk::tls::client_builder().build().unwrap(),
        dingtalk::Secret::new("sk-wrong-key-secret"),
        Some(base),
    );
    let err = wrong.search("x", 3).await.unwrap_err();
    assert!(err.contains("refused the API key"), "{err}");
    assert!(!err.contains("sk-wrong-key-secret"), "{err}");
}
