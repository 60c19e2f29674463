use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use url::Url;

use super::*;
use crate::error::ApiErrorKind;
use crate::http::test_stub::{Reply, Stub};

const TOKEN_PATH: &str = "/v1.0/oauth2/accessToken";

fn cache(stub: &Stub, flavor: TokenFlavor) -> TokenCache {
    cache_at(stub.endpoints(), flavor)
}

fn cache_at(endpoints: Endpoints, flavor: TokenFlavor) -> TokenCache {
    TokenCache::builder(ClientId::new("dingclient"), ClientSecret::new("s3cret"))
        .flavor(flavor)
        .endpoints(endpoints)
        // No client timeouts: with paused time they would fire while localhost IO is pending.
        .http_client(crate::tls::client_builder().build().unwrap())
        .build()
}

/// Answers token requests with `tok-1`, `tok-2`, … and a 7200 s lifetime.
async fn counting_stub(delay: Duration) -> Stub {
    let n = AtomicUsize::new(0);
    Stub::start(move |_| {
        let i = n.fetch_add(1, Ordering::SeqCst) + 1;
        Reply::ok(json!({"accessToken": format!("tok-{i}"), "expireIn": 7200})).after(delay)
    })
    .await
}

#[tokio::test]
async fn fetches_once_and_caches() {
    let stub = counting_stub(Duration::ZERO).await;
    let tokens = cache(&stub, TokenFlavor::OpenApi);
    let a = tokens.token().await.unwrap();
    let b = tokens.token().await.unwrap();
    assert_eq!(a.as_str(), "tok-1");
    assert_eq!(a, b);
    let req = stub.only(TOKEN_PATH);
    assert_eq!(req.method, "POST");
    assert_eq!(req.json(), json!({"appKey": "dingclient", "appSecret": "s3cret"}));
}

#[tokio::test(start_paused = true)]
async fn refreshes_within_the_margin_before_expiry() {
    let stub = counting_stub(Duration::ZERO).await;
    let tokens = cache(&stub, TokenFlavor::OpenApi);
    assert_eq!(tokens.token().await.unwrap().as_str(), "tok-1");

    // 7200 s lifetime, 300 s margin: still cached at 6890 s.
    tokio::time::advance(Duration::from_secs(6890)).await;
    assert_eq!(tokens.token().await.unwrap().as_str(), "tok-1");
    assert_eq!(stub.count(TOKEN_PATH), 1);

    // Inside the margin (6910 s): refreshed although the old token has not expired yet.
    tokio::time::advance(Duration::from_secs(20)).await;
    assert_eq!(tokens.token().await.unwrap().as_str(), "tok-2");
    assert_eq!(stub.count(TOKEN_PATH), 2);
}

#[tokio::test(start_paused = true)]
async fn margin_is_configurable() {
    let stub = counting_stub(Duration::ZERO).await;
    let tokens = TokenCache::builder(ClientId::new("c"), ClientSecret::new("s"))
        .endpoints(stub.endpoints())
        .http_client(crate::tls::client_builder().build().unwrap())
        .refresh_margin(Duration::from_secs(60))
        .build();
    tokens.token().await.unwrap();
    tokio::time::advance(Duration::from_secs(7100)).await;
    tokens.token().await.unwrap();
    assert_eq!(stub.count(TOKEN_PATH), 1);
    tokio::time::advance(Duration::from_secs(50)).await;
    tokens.token().await.unwrap();
    assert_eq!(stub.count(TOKEN_PATH), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_fetch() {
    let stub = counting_stub(Duration::from_millis(100)).await;
    let tokens = cache(&stub, TokenFlavor::OpenApi);
    let calls = (0..50).map(|_| {
        let t = tokens.clone();
        tokio::spawn(async move { t.token().await })
    });
    for call in calls.collect::<Vec<_>>() {
        assert_eq!(call.await.unwrap().unwrap().as_str(), "tok-1");
    }
    assert_eq!(stub.count(TOKEN_PATH), 1);
}

#[tokio::test]
async fn invalidate_drops_only_the_stale_token() {
    // DingTalk returns the same text inside the validity window; identity must still work.
    let stub = Stub::start(|_| Reply::ok(json!({"accessToken": "same", "expireIn": 7200}))).await;
    let tokens = cache(&stub, TokenFlavor::OpenApi);
    let first = tokens.token().await.unwrap();
    tokens.invalidate(&first);
    let second = tokens.token().await.unwrap();
    assert_eq!(stub.count(TOKEN_PATH), 2);
    assert_eq!(first, second);

    // A second caller that saw the same 401 with the old token must not cause another fetch.
    tokens.invalidate(&first);
    tokens.token().await.unwrap();
    assert_eq!(stub.count(TOKEN_PATH), 2);
}

#[tokio::test]
async fn wrong_secret_is_typed_and_not_retried() {
    let stub = Stub::start(|_| {
        Reply::json(
            400,
            json!({"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret", "requestid": "RQ1"}),
        )
    })
    .await;
    let tokens = cache(&stub, TokenFlavor::OpenApi);
    let err = tokens.token().await.unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::InvalidCredentials));
    assert!(!err.is_retryable());
    assert_eq!(stub.count(TOKEN_PATH), 1);
    let text = err.to_string();
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("RQ1"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn retryable_failures_are_retried_a_bounded_number_of_times() {
    let n = AtomicUsize::new(0);
    let stub = Stub::start(move |_| {
        if n.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::json(503, json!({"code": "system.busy", "message": "busy"}))
        } else {
            Reply::ok(json!({"accessToken": "ok", "expireIn": 7200}))
        }
    })
    .await;
    let tokens = cache(&stub, TokenFlavor::OpenApi);
    assert_eq!(tokens.token().await.unwrap().as_str(), "ok");
    assert_eq!(stub.count(TOKEN_PATH), 2);

    let stub = Stub::start(|_| Reply::json(500, json!({"code": "system.busy"}))).await;
    let tokens = cache(&stub, TokenFlavor::OpenApi);
    let err = tokens.token().await.unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::ServerBusy));
    assert_eq!(stub.count(TOKEN_PATH), DEFAULT_MAX_ATTEMPTS as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_share_a_failed_fetch() {
    let stub = Stub::start(|_| {
        Reply::json(400, json!({"code": "invalidClientIdOrSecret"})).after(Duration::from_millis(100))
    })
    .await;
    let tokens = cache(&stub, TokenFlavor::OpenApi);
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let t = tokens.clone();
            tokio::spawn(async move { t.token().await })
        })
        .collect();
    for call in calls {
        let err = call.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), Some(ApiErrorKind::InvalidCredentials));
    }
    assert_eq!(stub.count(TOKEN_PATH), 1);
}

#[tokio::test(start_paused = true)]
async fn failed_refresh_inside_the_margin_keeps_the_old_token() {
    let n = AtomicUsize::new(0);
    let stub = Stub::start(move |_| {
        if n.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::ok(json!({"accessToken": "old", "expireIn": 7200}))
        } else {
            Reply::json(503, json!({"code": "system.busy"}))
        }
    })
    .await;
    let tokens = cache(&stub, TokenFlavor::OpenApi);
    tokens.token().await.unwrap();
    tokio::time::advance(Duration::from_secs(7000)).await;
    assert_eq!(tokens.token().await.unwrap().as_str(), "old");
    let after_refresh = stub.count(TOKEN_PATH);
    // During the cool-down no new attempt is made.
    assert_eq!(tokens.token().await.unwrap().as_str(), "old");
    assert_eq!(stub.count(TOKEN_PATH), after_refresh);
    // Once really expired, the failure surfaces.
    tokio::time::advance(Duration::from_secs(300)).await;
    assert!(tokens.token().await.is_err());
}

#[tokio::test]
async fn legacy_flavour_uses_gettoken() {
    let stub = Stub::start(|_| {
        Reply::ok(json!({"errcode": 0, "errmsg": "ok", "access_token": "legacy-tok", "expires_in": 7200}))
    })
    .await;
    let tokens = cache(&stub, TokenFlavor::Legacy);
    assert_eq!(tokens.token().await.unwrap().as_str(), "legacy-tok");
    let req = stub.only("/gettoken");
    assert_eq!(req.method, "GET");
    assert_eq!(req.query_value("appkey").as_deref(), Some("dingclient"));
    assert_eq!(req.query_value("appsecret").as_deref(), Some("s3cret"));
}

#[tokio::test]
async fn legacy_errcode_is_an_error() {
    let stub =
        Stub::start(|_| Reply::ok(json!({"errcode": 40089, "errmsg": "不合法的corpid或corpsecret"}))).await;
    let tokens = cache(&stub, TokenFlavor::Legacy);
    let err = tokens.token().await.unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::InvalidCredentials));
    assert_eq!(stub.count("/gettoken"), 1);
}

#[tokio::test]
async fn empty_token_is_a_decode_error() {
    let stub = Stub::start(|_| Reply::ok(json!({"expireIn": 7200}))).await;
    let err = cache(&stub, TokenFlavor::OpenApi).token().await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn malformed_token_answer_does_not_keep_the_token_in_the_error() {
    let stub = Stub::start(|_| Reply::ok(json!({"accessToken": "leaky", "expireIn": [1]}))).await;
    let err = cache(&stub, TokenFlavor::OpenApi).token().await.unwrap_err();
    assert!(!format!("{err:?}").contains("leaky"), "{err:?}");
    // A numeric string lifetime is accepted.
    let stub = Stub::start(|_| Reply::ok(json!({"accessToken": "t", "expireIn": "7200"}))).await;
    assert_eq!(
        cache(&stub, TokenFlavor::OpenApi).token().await.unwrap().as_str(),
        "t"
    );
}

#[test]
fn debug_never_shows_secrets() {
    let secret = ClientSecret::new("s3cret");
    assert_eq!(format!("{secret:?}"), "Secret(***)");
    let token = AccessToken("tok".into());
    assert_eq!(format!("{token:?}"), "AccessToken(***)");
    let cache = TokenCache::new(ClientId::new("c"), secret, TokenFlavor::OpenApi);
    assert!(!format!("{cache:?}").contains("s3cret"));
}

/// A server that reads each request's head and hangs up without answering on its first
/// `cut` connections, then answers token requests with `tok-after-cut`. Returns its base URL
/// and how many connections it accepted.
async fn hanging_up_server(cut: usize) -> (Url, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => seen.extend_from_slice(&buf[..k]),
                    }
                }
                if n < cut {
                    return;
                }
                let body = r#"{"accessToken":"tok-after-cut","expireIn":7200}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    (base, accepted)
}

#[tokio::test(start_paused = true)]
async fn a_token_fetch_cut_off_after_it_was_sent_is_fetched_again() {
    // The everyday case is a pooled connection the server closed just as it was reused: the
    // request leaves and no answer comes. A token request carries nothing, so it is repeated.
    let (base, accepted) = hanging_up_server(1).await;
    let tokens = cache_at(Endpoints::single(base), TokenFlavor::OpenApi);
    assert_eq!(tokens.token().await.unwrap().as_str(), "tok-after-cut");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_token_fetch_that_keeps_failing_says_the_call_never_left_and_may_pass_later() {
    let (base, accepted) = hanging_up_server(usize::MAX).await;
    let tokens = cache_at(Endpoints::single(base), TokenFlavor::OpenApi);
    let err = tokens.token().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), DEFAULT_MAX_ATTEMPTS as usize);
    // A message call that failed here never sent its own request: the sender may send it
    // again without risking a duplicate.
    assert!(!err.may_have_arrived(), "{err}");
    assert!(err.is_retryable(), "{err}");
}
