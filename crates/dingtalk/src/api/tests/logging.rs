//! Debug logs must carry endpoint, status, request id and code — and never a secret.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::{client, with_tokens};
use crate::api::{CustomRobotClient, MediaKind};
use crate::http::test_stub::{Reply, Stub};
use crate::ids::{ClientId, RobotCode, StaffId};
use crate::model::outbound::{RobotMessage, WebhookMessage};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_never_contain_tokens_or_secrets() {
    let buffer = Buffer::default();
    let sink = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let stub = Stub::start(with_tokens(|r| match r.path.as_str() {
        "/media/upload" => Reply::ok(json!({"errcode": 0, "media_id": "@m"})),
        "/robot/send" => Reply::ok(json!({"errcode": 310000, "errmsg": "sign not match"})),
        _ => Reply::json(
            403,
            json!({"code": "Forbidden.AccessDenied.QpsLimitForApi", "requestid": "REQ-42"}),
        ),
    }))
    .await;
    let api = client(&stub);
    let _ = api
        .batch_send_to_users(
            &RobotCode::new("r"),
            &[StaffId::new("u")],
            &RobotMessage::text("x"),
        )
        .await;
    api.upload_media(MediaKind::Image, "a.png", vec![1u8])
        .await
        .unwrap();
    let _ = CustomRobotClient::default()
        .send(
            &stub.url("/robot/send?access_token=hooktoken"),
            Some("SECsecret"),
            &WebhookMessage::text("x"),
        )
        .await;

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("robot.batchSend"), "{logs}");
    assert!(logs.contains("REQ-42"), "{logs}");
    assert!(logs.contains("QpsLimitForApi"), "{logs}");
    for secret in [
        "s3cret",
        "tok-1",
        "legacy-1",
        "hooktoken",
        "SECsecret",
        "access_token=",
    ] {
        assert!(!logs.contains(secret), "log leaks {secret}:\n{logs}");
    }
}

#[tokio::test]
async fn a_fresh_token_rejected_too_is_logged_as_a_credentials_problem_naming_the_account() {
    let buffer = Buffer::default();
    let sink = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let stub = Stub::start(with_tokens(|_| {
        Reply::json(
            400,
            json!({"code": "InvalidAuthentication", "requestid": "REQ-TWICE", "message": "不合法的access_token"}),
        )
    }))
    .await;
    let api = crate::api::OpenApiClient::builder(ClientId::new("dingclient"), "s3cret".into())
        .account("sales-bot")
        .endpoints(stub.endpoints())
        .http_client(crate::tls::client_builder().build().unwrap())
        .build();
    let err = api
        .batch_send_to_users(
            &RobotCode::new("r"),
            &[StaffId::new("u")],
            &RobotMessage::text("x"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(crate::ApiErrorKind::TokenExpired));
    assert_eq!(stub.count("/v1.0/robot/oToMessages/batchSend"), 2);

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("credentials problem"))
        .unwrap_or_else(|| panic!("no credentials error logged:\n{logs}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("account=\"sales-bot\""), "{line}");
    assert!(line.contains("REQ-TWICE"), "{line}");
    for secret in ["s3cret", "tok-1", "tok-2"] {
        assert!(!logs.contains(secret), "log leaks {secret}:\n{logs}");
    }
}
