//! A sessionWebhook comes from the callback body (HTTP-mode signatures do not cover it): only
//! `sendBySession` on the configured oapi host is posted to, and no DingTalk client follows a
//! redirect anywhere.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;
use url::Url;

use super::{TOKEN_PATH, client, with_tokens};
use crate::api::{OpenApiClient, SessionWebhookClient};
use crate::endpoints::Endpoints;
use crate::error::Error;
use crate::http::test_stub::{Reply, Stub};
use crate::ids::{ClientId, DownloadCode, RobotCode};
use crate::model::outbound::WebhookMessage;
use crate::token::ClientSecret;

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

#[test]
fn only_send_by_session_on_the_oapi_host_is_trusted() {
    let mainland = SessionWebhookClient::new(crate::tls::client_builder().build().unwrap(), Arc::default());
    mainland
        .check(&url("https://oapi.dingtalk.com/robot/sendBySession?session=abc"))
        .unwrap();
    for bad in [
        "https://oapi.dingtalk.com.evil.example/robot/sendBySession?session=abc",
        "https://oapi.dingtalk.com@evil.example/robot/sendBySession?session=abc",
        "https://user:pw@oapi.dingtalk.com/robot/sendBySession?session=abc",
        "https://evil.example/robot/sendBySession?session=oapi.dingtalk.com",
        "http://oapi.dingtalk.com/robot/sendBySession?session=abc",
        "https://oapi.dingtalk.com:8443/robot/sendBySession?session=abc",
        // Someone else's custom robot on the right host would receive our replies.
        "https://oapi.dingtalk.com/robot/send?access_token=theirs",
        "https://oapi.dingtalk.com/robot/sendBySession/../send?access_token=theirs",
        "https://api.dingtalk.com/robot/sendBySession?session=abc",
        "https://127.0.0.1/robot/sendBySession?session=abc",
        "https://127.0.0.2/robot/sendBySession?session=abc",
        "https://10.0.0.7/robot/sendBySession?session=abc",
        "https://192.168.1.1/robot/sendBySession?session=abc",
        "http://169.254.169.254/latest/meta-data/",
        "https://[::1]/robot/sendBySession?session=abc",
        "file:///etc/passwd",
    ] {
        let err = mainland.check(&url(bad)).unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)), "{bad}: {err:?}");
        let text = err.to_string();
        assert!(
            text.contains("https://oapi.dingtalk.com/robot/sendBySession"),
            "{bad}: {text}"
        );
        assert!(
            !text.contains("session=") && !text.contains("access_token"),
            "{text}"
        );
    }
}

#[test]
fn the_configured_oapi_host_with_its_port_and_prefix_is_the_one_trusted() {
    let endpoints = Endpoints::single(url("http://127.0.0.1:8080/dt/"));
    let hooks = SessionWebhookClient::new(crate::tls::client_builder().build().unwrap(), Arc::default())
        .for_endpoints(&endpoints);
    hooks
        .check(&url("http://127.0.0.1:8080/dt/robot/sendBySession?session=x"))
        .unwrap();
    for bad in [
        "http://127.0.0.1:8081/dt/robot/sendBySession?session=x",
        "http://127.0.0.1:8080/robot/sendBySession?session=x",
        "http://localhost:8080/dt/robot/sendBySession?session=x",
        "http://127.0.0.2:8080/dt/robot/sendBySession?session=x",
        "http://[::1]:8080/dt/robot/sendBySession?session=x",
        "https://oapi.dingtalk.com/robot/sendBySession?session=x",
    ] {
        assert!(hooks.check(&url(bad)).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn a_webhook_on_another_loopback_port_is_never_contacted() {
    let dingtalk = Stub::start(|_| Reply::ok(json!({"errcode": 0}))).await;
    let elsewhere = Stub::start(|_| Reply::ok(json!({"errcode": 0}))).await;
    let hooks = client(&dingtalk).session_webhook_client();
    let err = hooks
        .send(
            &elsewhere.url("/robot/sendBySession?session=x"),
            &WebhookMessage::text("secret reply"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    assert!(elsewhere.requests().is_empty());
    assert!(dingtalk.requests().is_empty());
    hooks
        .send(
            &dingtalk.url("/robot/sendBySession?session=x"),
            &WebhookMessage::text("reply"),
        )
        .await
        .unwrap();
    assert_eq!(dingtalk.count("/robot/sendBySession"), 1);
}

/// A server that answers every request with `302 Found` to `target`.
async fn redirecting_to(target: Url) -> (Url, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().fallback(move || {
        let target = target.clone();
        async move { (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response() }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url(&format!("http://{addr}")), task)
}

#[tokio::test]
async fn no_dingtalk_client_follows_a_redirect() {
    let target = Stub::start(with_tokens(|_| Reply::ok(json!({"errcode": 0})))).await;
    let (redirector, task) = redirecting_to(target.url("/internal")).await;
    // The clients as the gateway builds them: the crate's default HTTP client.
    let api = OpenApiClient::builder(ClientId::new("dingclient"), ClientSecret::new("s3cret"))
        .endpoints(Endpoints::single(redirector.clone()))
        .build();

    let err = api.token_cache().token().await.unwrap_err();
    assert_eq!(err.api().map(|e| e.http_status), Some(302), "{err:?}");
    let err = api
        .session_webhook_client()
        .send(
            &redirector.join("/robot/sendBySession?session=x").unwrap(),
            &WebhookMessage::text("reply"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.api().map(|e| e.http_status), Some(302), "{err:?}");
    let err = crate::api::CustomRobotClient::default()
        .send(
            &redirector.join("/robot/send?access_token=t").unwrap(),
            None,
            &WebhookMessage::text("alert"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.api().map(|e| e.http_status), Some(302), "{err:?}");
    // A media download URL (from DingTalk's answer) that redirects.
    let blob = redirector.join("/files/blob?sig=abc").unwrap();
    let files = Stub::start(with_tokens(move |r| match r.path.as_str() {
        "/v1.0/robot/messageFiles/download" => Reply::ok(json!({"downloadUrl": blob.as_str()})),
        _ => Reply::raw(404, "not here"),
    }))
    .await;
    let api = OpenApiClient::builder(ClientId::new("dingclient"), ClientSecret::new("s3cret"))
        .endpoints(files.endpoints())
        .build();
    let mut out = Vec::new();
    let err = api
        .download_to(&RobotCode::new("robot"), &DownloadCode::new("dc"), &mut out, 1000)
        .await
        .unwrap_err();
    assert_eq!(err.api().map(|e| e.http_status), Some(302), "{err:?}");
    assert!(out.is_empty());
    assert!(
        target.requests().is_empty(),
        "a redirect was followed: {:?}",
        target.requests()
    );
    assert_eq!(target.count(TOKEN_PATH), 0);
    task.abort();
}
