//! A [`BodyGate`] is asked once a request has its connection and its token, and a refusal
//! leaves the server nothing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::Notify;

use super::{TOKEN_PATH, client, with_tokens};
use crate::api::{BodyGate, SessionWebhookClient};
use crate::endpoints::Endpoints;
use crate::error::Error;
use crate::http::test_stub::{Reply, Stub};
use crate::ids::{RobotCode, StaffId};
use crate::model::outbound::{RobotMessage, WebhookMessage};

/// Records how many requests the stub had seen each time it was asked, and answers `answer`.
struct Gate {
    stub_seen: Mutex<Vec<Vec<String>>>,
    stub: Arc<Stub>,
    answer: Result<(), String>,
}

impl Gate {
    fn new(stub: &Arc<Stub>, answer: Result<(), String>) -> Arc<Self> {
        Arc::new(Self {
            stub_seen: Mutex::new(Vec::new()),
            stub: Arc::clone(stub),
            answer,
        })
    }

    fn asked(&self) -> Vec<Vec<String>> {
        self.stub_seen.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl BodyGate for Gate {
    async fn open(&self) -> Result<(), String> {
        let seen = self.stub.requests().into_iter().map(|r| r.path).collect();
        self.stub_seen.lock().unwrap().push(seen);
        self.answer.clone()
    }
}

/// Resolves every name to `addr`, but only once released: a connection that cannot be made yet.
struct HeldResolver {
    addr: SocketAddr,
    release: Arc<Notify>,
}

impl reqwest::dns::Resolve for HeldResolver {
    fn resolve(&self, _: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (addr, release) = (self.addr, Arc::clone(&self.release));
        Box::pin(async move {
            release.notified().await;
            Ok(Box::new(std::iter::once(addr)) as reqwest::dns::Addrs)
        })
    }
}

#[tokio::test]
async fn the_gate_is_asked_only_once_the_request_has_its_connection() {
    let stub = Arc::new(Stub::start(|_| Reply::ok(json!({"errcode": 0, "errmsg": "ok"}))).await);
    let port = stub.base.port().unwrap();
    let release = Arc::new(Notify::new());
    let http = crate::tls::client_builder()
        .dns_resolver(HeldResolver {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            release: Arc::clone(&release),
        })
        .build()
        .unwrap();
    let base = url::Url::parse(&format!("http://oapi.dingtalk.test:{port}")).unwrap();
    let gate = Gate::new(&stub, Ok(()));
    let client = SessionWebhookClient::new(http, Arc::default())
        .for_endpoints(&Endpoints::single(base.clone()))
        .with_body_gate(gate.clone());
    let message = WebhookMessage::text("hello");
    let url = base.join("/robot/sendBySession?session=s").unwrap();
    let post = tokio::spawn(async move { client.send(&url, &message).await });

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(gate.asked().is_empty(), "asked before the connection was made");
    release.notify_one();
    post.await.unwrap().unwrap();

    assert_eq!(
        gate.asked(),
        [Vec::<String>::new()],
        "asked once, before the server had it"
    );
    let request = stub.only("/robot/sendBySession");
    assert_eq!(
        request.json(),
        json!({"msgtype": "text", "text": {"content": "hello"}})
    );
    // The length is declared up front: a withheld body leaves the request visibly short.
    assert_eq!(
        request.header("content-length"),
        Some(request.body.len().to_string().as_str())
    );
    assert_eq!(request.header("transfer-encoding"), None);
}

#[tokio::test]
async fn a_gate_that_refuses_leaves_dingtalk_nothing() {
    let stub = Arc::new(Stub::start(|_| Reply::ok(json!({"errcode": 0, "errmsg": "ok"}))).await);
    let gate = Gate::new(&stub, Err("the outbox holds it as sent".into()));
    let err = SessionWebhookClient::new(crate::tls::client_builder().build().unwrap(), Arc::default())
        .for_endpoints(&stub.endpoints())
        .with_body_gate(gate.clone())
        .send(
            &stub.url("/robot/sendBySession?session=s"),
            &WebhookMessage::text("x"),
        )
        .await
        .unwrap_err();
    match &err {
        Error::Withheld { endpoint, reason } => {
            assert_eq!(*endpoint, "sessionWebhook");
            assert_eq!(reason, "the outbox holds it as sent");
        }
        other => panic!("expected Withheld, got {other:?}"),
    }
    assert!(!err.may_have_arrived() && !err.is_retryable(), "{err}");
    assert_eq!(gate.asked().len(), 1);
    // The server only ever saw a head whose body never came: no request reached a handler.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(stub.requests().is_empty(), "{:?}", stub.requests());
}

#[tokio::test]
async fn an_open_api_call_fetches_its_token_before_asking_the_gate() {
    let stub = Arc::new(
        Stub::start(with_tokens(|_| {
            Reply::ok(
                json!({"processQueryKey": "pqk", "invalidStaffIdList": [], "flowControlledStaffIdList": []}),
            )
        }))
        .await,
    );
    let gate = Gate::new(&stub, Ok(()));
    client(&stub)
        .with_body_gate(gate.clone())
        .batch_send_to_users(
            &RobotCode::new("dingbot"),
            &[StaffId::new("031")],
            &RobotMessage::text("hi"),
        )
        .await
        .unwrap();
    assert_eq!(
        gate.asked(),
        [vec![TOKEN_PATH.to_owned()]],
        "the token request is not gated and comes first"
    );
    assert_eq!(stub.count("/v1.0/robot/oToMessages/batchSend"), 1);
}

/// A lenient HTTP/1.1 server on 127.0.0.1:0 that answers the very first request with a QPS
/// limit as soon as its head is in, before its body, then reads that body on and serves the
/// connection further (answering `errcode: 0`). Returns its base URL and how many
/// connections it accepted.
async fn early_answering_server() -> (url::Url, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn answer(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let first_answered = Arc::new(AtomicBool::new(false));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let first_answered = Arc::clone(&first_answered);
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let head_end = loop {
                        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&buf[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&pending[..head_end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    let early = !first_answered.swap(true, Ordering::SeqCst);
                    let limited = r#"{"code":"Forbidden.AccessDenied.QpsLimitForAppkeyAndApi","message":"调用该接口触发QPS限流，请稍后重试"}"#;
                    if early
                        && socket
                            .write_all(answer("403 Forbidden", limited).as_bytes())
                            .await
                            .is_err()
                    {
                        return;
                    }
                    while pending.len() < head_end + length {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&buf[..n]),
                        }
                    }
                    let ok = r#"{"errcode":0,"errmsg":"ok"}"#;
                    if !early && socket.write_all(answer("200 OK", ok).as_bytes()).await.is_err() {
                        return;
                    }
                    pending.drain(..head_end + length);
                }
            });
        }
    });
    (base, accepted)
}

/// Lets every body go, after `delay`.
struct SlowGate(Duration);

#[async_trait::async_trait]
impl BodyGate for SlowGate {
    async fn open(&self) -> Result<(), String> {
        tokio::time::sleep(self.0).await;
        Ok(())
    }
}

#[tokio::test]
async fn a_request_answered_before_its_body_left_does_not_leave_its_connection_for_the_next() {
    // Most servers hang up on such a connection rather than read a body that is not there; a
    // client that sent it anyway and reused the connection would see the next request fail
    // after it was written. This server keeps it open, so reuse shows in its connection count.
    let (base, accepted) = early_answering_server().await;
    let http = crate::tls::client_builder().build().unwrap();
    let webhooks =
        SessionWebhookClient::new(http, Arc::default()).for_endpoints(&Endpoints::single(base.clone()));
    let url = base.join("/robot/sendBySession?session=s").unwrap();

    let err = webhooks
        .clone()
        .with_body_gate(Arc::new(SlowGate(Duration::from_millis(200))))
        .send(&url, &WebhookMessage::text("first"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(crate::ApiErrorKind::QpsLimited), "{err}");
    // Let the gate open and the body go (or not) before the next request looks for a connection.
    tokio::time::sleep(Duration::from_millis(400)).await;

    webhooks
        .send(&url, &WebhookMessage::text("second"))
        .await
        .unwrap();
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "the second request went over the first one's connection"
    );
}
