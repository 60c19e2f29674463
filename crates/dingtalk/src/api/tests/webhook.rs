use std::sync::Arc;

use serde_json::json;

use crate::api::{ApiEndpoint, ApiMetrics, CustomRobotClient, SessionWebhookClient};
use crate::error::{ApiErrorKind, Error};
use crate::http::test_stub::{Reply, Stub};
use crate::ids::StaffId;
use crate::model::outbound::{At, WebhookMessage};

/// A client that trusts `stub` as DingTalk's oapi host.
fn session_client(stub: &Stub, metrics: Arc<ApiMetrics>) -> SessionWebhookClient {
    SessionWebhookClient::new(crate::tls::client_builder().build().unwrap(), metrics)
        .for_endpoints(&stub.endpoints())
}

const SESSION_PATH: &str = "/robot/sendBySession?session=s";

fn robot_client() -> CustomRobotClient {
    CustomRobotClient::new(crate::tls::client_builder().build().unwrap(), Arc::default())
}

#[tokio::test]
async fn session_webhook_posts_the_message_as_is() {
    let stub = Stub::start(|_| Reply::ok(json!({"errcode": 0, "errmsg": "ok"}))).await;
    let metrics = Arc::new(ApiMetrics::new());
    let url = stub.url("/robot/sendBySession?session=abc");
    let msg = WebhookMessage::markdown("T", "hi @031").with_at(At::users([StaffId::new("031")]));
    session_client(&stub, Arc::clone(&metrics))
        .send(&url, &msg)
        .await
        .unwrap();
    let req = stub.only("/robot/sendBySession");
    assert_eq!(req.method, "POST");
    assert_eq!(req.query_value("session").as_deref(), Some("abc"));
    assert_eq!(req.json(), serde_json::to_value(&msg).unwrap());
    assert!(
        req.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(req.header("x-acs-dingtalk-access-token"), None);
    assert_eq!(metrics.count(ApiEndpoint::SessionWebhook), 1);
}

#[tokio::test]
async fn session_webhook_accepts_string_zero() {
    let stub = Stub::start(|_| Reply::ok(json!({"errcode": "0", "errmsg": "ok"}))).await;
    session_client(&stub, Arc::default())
        .send(&stub.url(SESSION_PATH), &WebhookMessage::text("hi"))
        .await
        .unwrap();
}

#[tokio::test]
async fn session_webhook_errcode_in_a_200_is_an_error() {
    let stub = Stub::start(|_| Reply::ok(json!({"errcode": 300001, "errmsg": "session 不存在"}))).await;
    let err = session_client(&stub, Arc::default())
        .send(&stub.url(SESSION_PATH), &WebhookMessage::text("hi"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::SessionWebhookExpired));
    assert_eq!(err.api().unwrap().http_status, 200);
    assert!(err.to_string().contains("robot OpenAPI"));
}

#[tokio::test]
async fn oversized_webhook_bodies_are_refused_before_sending() {
    let stub = Stub::start(|_| Reply::ok(json!({"errcode": 0}))).await;
    let big = WebhookMessage::text("字".repeat(7000)); // 21 000 bytes of UTF-8
    let err = session_client(&stub, Arc::default())
        .send(&stub.url(SESSION_PATH), &big)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 20_000, .. }), "{err:?}");
    let err = robot_client()
        .send(&stub.url("/robot/send"), None, &big)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }));
    assert!(stub.requests().is_empty());
}

#[tokio::test]
async fn custom_robot_signs_when_given_a_secret() {
    let stub = Stub::start(|_| Reply::ok(json!({"errcode": 0, "errmsg": "ok"}))).await;
    let url = stub.url("/robot/send?access_token=hooktoken");
    robot_client()
        .send(&url, Some("SECexample0123456789"), &WebhookMessage::text("alert"))
        .await
        .unwrap();
    let req = stub.only("/robot/send");
    assert_eq!(req.query_value("access_token").as_deref(), Some("hooktoken"));
    let ts: i64 = req.query_value("timestamp").unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!((now - ts).abs() < 60_000);
    // Recompute the expected signature for the timestamp the client chose.
    let expected = super::super::custom_robot::tests_support::sign_for(&url, "SECexample0123456789", ts);
    assert_eq!(
        req.query_value("sign"),
        expected
            .query_pairs()
            .find(|(k, _)| k == "sign")
            .map(|(_, v)| v.into_owned())
    );
    assert_eq!(
        req.json(),
        json!({"msgtype": "text", "text": {"content": "alert"}})
    );
}

#[tokio::test]
async fn custom_robot_without_secret_is_unsigned() {
    let stub = Stub::start(|_| Reply::ok(json!({"errcode": 0, "errmsg": "ok"}))).await;
    robot_client()
        .send(
            &stub.url("/robot/send?access_token=t"),
            None,
            &WebhookMessage::text("x"),
        )
        .await
        .unwrap();
    let req = stub.only("/robot/send");
    assert_eq!(req.query_value("sign"), None);
    assert_eq!(req.query_value("timestamp"), None);
}

#[tokio::test]
async fn custom_robot_errors_are_classified() {
    for (errcode, kind) in [
        (410100, ApiErrorKind::RateLimitedRobot),
        (130101, ApiErrorKind::RateLimitedRobot),
        (310000, ApiErrorKind::SecurityCheckFailed),
        // For custom robots 300001 means the webhook token does not exist.
        (300001, ApiErrorKind::InvalidCredentials),
        (460101, ApiErrorKind::MessageTooLong),
    ] {
        let stub = Stub::start(move |_| Reply::ok(json!({"errcode": errcode, "errmsg": "no"}))).await;
        let err = robot_client()
            .send(
                &stub.url("/robot/send?access_token=t"),
                None,
                &WebhookMessage::text("x"),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), Some(kind), "{errcode}");
    }
}
