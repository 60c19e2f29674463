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
