//! The OpenAPI, sessionWebhook and custom-robot clients against the simulator: bodies the
//! platform accepts, and DingTalk's errors arriving as the right typed errors.

mod support;

use std::sync::Arc;
use std::time::Duration;

use dingtalk::api::{ApiMetrics, CustomRobotClient, MediaKind, OpenApiClient};
use dingtalk::ids::{ClientId, ConversationId, DownloadCode, OutTrackId, RobotCode, StaffId};
use dingtalk::model::outbound::{
    CreateAndDeliverRequest, RobotMessage, StreamingUpdateRequest, WebhookMessage,
};
use dingtalk::{ApiErrorKind, Secret};
use dingtalk_sim::{AppPatch, CardStatus, CustomRobotSpec, InjectMessage, SimConfig, Simulator};
use support::*;
use url::Url;

fn client(sim: &Simulator) -> OpenApiClient {
    OpenApiClient::builder(ClientId::new(APP), Secret::new(SECRET))
        .endpoints(sim.endpoints())
        .build()
}

fn robot() -> RobotCode {
    RobotCode::new(APP)
}

#[tokio::test]
async fn dm_and_group_sends_land_in_the_chat_and_can_be_recalled() {
    let (sim, group) = sim(SimConfig::fast()).await;
    let api = client(&sim);

    let dm = api
        .batch_send_to_users(
            &robot(),
            &[StaffId::new(ALICE)],
            &RobotMessage::markdown("Deploy", "### Deploy\n- ok"),
        )
        .await
        .unwrap();
    let pqk = dm.process_query_key.clone();
    assert!(!pqk.is_empty());
    let cid = ConversationId::new(group.clone());
    let grp = api
        .send_to_group(&robot(), &cid, &RobotMessage::text("Build #1234 passed"), None)
        .await
        .unwrap();

    let sent = sim.wait_for_sent(2, Duration::from_secs(2)).await.unwrap();
    assert_eq!(sent[0].msg_type, "sampleMarkdown");
    assert!(sent[0].text.contains("### Deploy"));
    assert_eq!(sent[1].conversation_id.as_deref(), Some(group.as_str()));
    assert_eq!(sent[1].text, "Build #1234 passed");

    let recalled = api.recall_dm(&robot(), &[pqk]).await.unwrap();
    assert_eq!(recalled.success_result.len(), 1, "{recalled:?}");
    api.recall_group(&robot(), &cid, &[grp.process_query_key])
        .await
        .unwrap();
    assert!(sim.sent_messages().iter().all(|m| m.recalled));
    // One token for all of it.
    assert_eq!(sim.token_calls(APP), 1);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_call_retried() {
    let (sim, _) = sim(SimConfig::fast()).await;
    let api = client(&sim);
    api.batch_send_to_users(&robot(), &[StaffId::new(ALICE)], &RobotMessage::text("one"))
        .await
        .unwrap();
    assert_eq!(sim.expire_tokens(APP), 1);
    api.batch_send_to_users(&robot(), &[StaffId::new(ALICE)], &RobotMessage::text("two"))
        .await
        .unwrap();
    assert_eq!(sim.token_calls(APP), 2);
    assert_eq!(sim.sent_messages().len(), 2);
}

#[tokio::test]
async fn wrong_secret_is_a_credentials_error_without_the_secret() {
    let (sim, _) = sim(SimConfig::fast()).await;
    let api = OpenApiClient::builder(ClientId::new(APP), Secret::new("wrong-secret-value"))
        .endpoints(sim.endpoints())
        .build();
    let err = api
        .batch_send_to_users(&robot(), &[StaffId::new(ALICE)], &RobotMessage::text("x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::InvalidCredentials), "{err}");
    assert!(!err.to_string().contains("wrong-secret-value"));
}

#[tokio::test]
async fn session_webhook_works_until_it_expires() {
    let (sim, group) = sim(SimConfig::fast()).await;
    let api = client(&sim);
    let injected = sim
        .inject_message(&InjectMessage::group_text(APP, ALICE, &group, "hi", true))
        .unwrap();
    let url = Url::parse(&injected.session_webhook).unwrap();
    let hooks = api.session_webhook_client();
    hooks
        .send(
            &url,
            &WebhookMessage::markdown("Reply", "**hello** @0312454236781234"),
        )
        .await
        .unwrap();
    let sent = sim.wait_for_sent(1, Duration::from_secs(2)).await.unwrap();
    assert_eq!(sent[0].conversation_id.as_deref(), Some(group.as_str()));

    assert!(sim.expire_session_webhook(&injected.session_webhook));
    let err = hooks.send(&url, &WebhookMessage::text("late")).await.unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::SessionWebhookExpired), "{err}");
}

#[tokio::test]
async fn card_is_created_streamed_and_finalized() {
    let (sim, group) = sim(SimConfig::fast()).await;
    let api = client(&sim);
    let track = OutTrackId::new("card_test_0001");
    let request =
        CreateAndDeliverRequest::group("tmpl.schema", track.clone(), robot(), &ConversationId::new(group))
            .param("content", "");
    api.create_and_deliver_card(&request).await.unwrap();
    for text in ["Hel", "Hello, wor", "Hello, world"] {
        api.stream_card(&StreamingUpdateRequest::full(track.clone(), "content", text))
            .await
            .unwrap();
    }
    api.stream_card(&StreamingUpdateRequest::full(track.clone(), "content", "Hello, world!").finalize())
        .await
        .unwrap();
    let card = sim.card(track.as_str()).unwrap();
    assert_eq!(card.status, CardStatus::Finished);
    assert_eq!(
        card.stream_history.last().map(|u| u.content.as_str()),
        Some("Hello, world!")
    );
    assert_eq!(api.metrics().card_calls(), 5);
}

#[tokio::test]
async fn qps_limit_and_missing_permission_are_typed() {
    let (sim, _) = sim(SimConfig::fast()).await;
    let api = client(&sim);
    sim.set_qps_limit(APP, "/v1.0/robot/oToMessages/batchSend", 2);
    let mut kinds = Vec::new();
    for i in 0..4 {
        let r = api
            .batch_send_to_users(
                &robot(),
                &[StaffId::new(ALICE)],
                &RobotMessage::text(format!("{i}")),
            )
            .await;
        kinds.push(r.err().and_then(|e| e.kind()));
    }
    assert!(kinds.contains(&Some(ApiErrorKind::QpsLimited)), "{kinds:?}");

    sim.update_app(
        APP,
        &AppPatch {
            permissions: Some(["qyapi_robot_sendmsg".to_owned()].into()),
            ..AppPatch::default()
        },
    )
    .unwrap();
    let track = OutTrackId::new("card_noperm");
    let err = api
        .create_and_deliver_card(&CreateAndDeliverRequest::robot_dm(
            "tmpl.schema",
            track,
            robot(),
            &StaffId::new(ALICE),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::PermissionMissing), "{err}");
    assert_eq!(
        err.api().and_then(|a| a.permission.as_deref()),
        Some("Card.Instance.Write")
    );
}

#[tokio::test]
async fn media_round_trip() {
    let (sim, _) = sim(SimConfig::fast()).await;
    let api = client(&sim);
    let media = api
        .upload_media(MediaKind::File, "report.pdf", b"%PDF-1.4 tiny".to_vec())
        .await
        .unwrap();
    let (bytes, _) = sim
        .uploaded_media(media.as_str())
        .expect("stored by the simulator");
    assert_eq!(bytes, b"%PDF-1.4 tiny");

    let injected = sim
        .inject_message(&InjectMessage::new(
            APP,
            ALICE,
            dingtalk_sim::MessageSpec::File {
                file_name: "notes.txt".into(),
                media: Some(dingtalk_sim::MediaSpec::bytes(b"hello file", "text/plain")),
            },
        ))
        .unwrap();
    let code = DownloadCode::new(injected.download_codes[0].clone());
    let mut out = Vec::new();
    api.download_to(&robot(), &code, &mut out, 1024).await.unwrap();
    assert_eq!(out, b"hello file");
    let err = api
        .download_to(&robot(), &code, &mut Vec::new(), 4)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("4"), "{err}");
}

#[tokio::test]
async fn custom_robot_signs_and_respects_the_ban() {
    let (sim, group) = sim(SimConfig::fast().with_custom_robot_limits(
        20,
        Duration::from_secs(60),
        Duration::from_secs(600),
    ))
    .await;
    let bot = sim
        .create_custom_robot(CustomRobotSpec {
            group,
            name: Some("alerts".into()),
            access_token: None,
            secret: Some("SECexample0123456789".into()),
            keywords: Vec::new(),
        })
        .unwrap();
    let url = Url::parse(&bot.webhook_url).unwrap();
    let robots = CustomRobotClient::new(
        dingtalk::tls::client_builder().build().unwrap(),
        Arc::new(ApiMetrics::new()),
    );
    robots
        .send(&url, bot.secret.as_deref(), &WebhookMessage::text("signed hello"))
        .await
        .unwrap();

    let err = robots
        .send(&url, Some("SECwrong"), &WebhookMessage::text("forged"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::SecurityCheckFailed), "{err}");

    for i in 1..20 {
        robots
            .send(
                &url,
                bot.secret.as_deref(),
                &WebhookMessage::text(format!("n{i}")),
            )
            .await
            .unwrap();
    }
    let err = robots
        .send(&url, bot.secret.as_deref(), &WebhookMessage::text("21st"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ApiErrorKind::RateLimitedRobot), "{err}");
    assert_eq!(sim.sent_messages().len(), 20);
}
