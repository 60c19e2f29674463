//! The delivery stack against the DingTalk simulator: reply paths, fallbacks, @-mentions,
//! retries, rate limits and custom robots, as DingTalk would see them.

use std::sync::Arc;
use std::time::Duration;

use clawtalk_core::clock::{EpochMs, ManualClock};
use clawtalk_delivery::{
    Body, DeliveryError, DeliveryPath, DeliveryStack, DingTalkOutbound, Outbound, OutboundMessage,
    RateLimitConfig, RateQuota, ReplyContext, RetryPolicy, Target, chunk,
};
use dingtalk::api::OpenApiClient;
use dingtalk::ids::{ClientId, ConversationId, RobotCode, StaffId};
use dingtalk::{ApiErrorKind, Secret};
use dingtalk_sim::{
    AppPatch, AppSpec, CustomRobotSpec, GroupSpec, InjectMessage, Injected, SentTarget, SimConfig, Simulator,
    UserSpec,
};
use url::Url;

const APP: &str = "dingq7vxkt3mwz2hb8ns";
const SECRET: &str = "sim-secret-for-tests";
const ALICE: &str = "0312454236781234";
const BOB: &str = "0298765432109876";
const ACCOUNT: &str = "main";
const BATCH_SEND: &str = "/v1.0/robot/oToMessages/batchSend";
const GROUP_SEND: &str = "/v1.0/robot/groupMessages/send";
const SEND_BY_SESSION: &str = "/robot/sendBySession";

/// A simulator with one app, two users and a group the bot is in.
async fn sim(config: SimConfig) -> (Simulator, ConversationId) {
    let sim = Simulator::start_with(config).await.expect("simulator starts");
    sim.create_app(AppSpec::new(APP, SECRET)).expect("app");
    sim.create_user(UserSpec::new(ALICE, "Alice Zhang"))
        .expect("alice");
    sim.create_user(UserSpec::new(BOB, "Bob Li")).expect("bob");
    let group = sim
        .create_group(GroupSpec::new("Gateway Test Group", [ALICE, BOB]).with_bot(APP))
        .expect("group");
    (sim, ConversationId::new(group.open_conversation_id))
}

fn sender_as(sim: &Simulator, robot_code: &str) -> DingTalkOutbound {
    let api = OpenApiClient::builder(ClientId::new(APP), Secret::new(SECRET))
        .endpoints(sim.endpoints())
        .build();
    DingTalkOutbound::new(ACCOUNT, RobotCode::new(robot_code), api)
}

fn sender(sim: &Simulator) -> DingTalkOutbound {
    sender_as(sim, APP)
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        max_elapsed: Duration::from_secs(10),
        jitter: true,
    }
}

/// sessionWebhook posts, counted by the sim under the app, or under "-" once the session is gone.
fn webhook_posts(sim: &Simulator) -> u64 {
    sim.api_call_count(APP, SEND_BY_SESSION) + sim.api_call_count("-", SEND_BY_SESSION)
}

fn reply_to(injected: &Injected, sender: &str, is_group: bool) -> ReplyContext {
    ReplyContext {
        session_webhook: Url::parse(&injected.session_webhook).expect("sim gives a URL"),
        expires_at_ms: EpochMs::from_millis(
            i64::try_from(injected.session_webhook_expired_time).expect("fits"),
        ),
        sender_staff_id: Some(StaffId::new(sender)),
        is_group,
        conversation_id: injected.conversation_id.clone(),
    }
}

fn group_reply(sim: &Simulator, group: &ConversationId, text: &str) -> OutboundMessage {
    let injected = sim
        .inject_message(&InjectMessage::group_text(
            APP,
            ALICE,
            group.as_str(),
            "hi bot",
            true,
        ))
        .expect("inject");
    OutboundMessage::new(
        ACCOUNT,
        Target::Group(group.clone()),
        Body::markdown("Reply", text),
        "turn-1/part-1",
    )
    .in_reply(reply_to(&injected, ALICE, true))
}

#[tokio::test]
async fn group_reply_goes_through_the_session_webhook_and_mentions_the_sender() {
    let (sim, group) = sim(SimConfig::fast()).await;
    let out = sender(&sim);
    let msg = group_reply(&sim, &group, "**Build** passed");
    let receipt = out.send(&msg).await.unwrap();
    assert_eq!(receipt.path, DeliveryPath::SessionWebhook);
    assert_eq!(receipt.process_query_key, None);

    let sent = sim.sent_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].api, "sessionWebhook");
    assert_eq!(sent[0].msg_type, "markdown");
    assert_eq!(sent[0].conversation_id.as_deref(), Some(group.as_str()));
    assert_eq!(sent[0].body["at"]["atUserIds"], serde_json::json!([ALICE]));
    assert_eq!(sent[0].text, format!("**Build** passed\n\n@{ALICE}"));
}

#[tokio::test]
async fn expired_group_webhook_falls_back_to_group_send_without_the_mention() {
    let (sim, group) = sim(SimConfig::fast()).await;
    let out = sender(&sim);
    let msg = group_reply(&sim, &group, "late answer");
    let webhook = msg.reply.as_ref().unwrap().session_webhook.to_string();
    assert!(sim.expire_session_webhook(&webhook));

    let receipt = out.send(&msg).await.unwrap();
    assert_eq!(receipt.path, DeliveryPath::RobotApi);
    assert!(receipt.process_query_key.is_some());
    let sent = sim.sent_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].api, "robot.groupSend");
    assert_eq!(sent[0].msg_type, "sampleMarkdown");
    assert_eq!(sent[0].conversation_id.as_deref(), Some(group.as_str()));
    // Robot APIs cannot @: a bare "@id" would only clutter the text.
    assert_eq!(sent[0].text, "late answer");

    // The next part of the same reply does not try the dead webhook again.
    out.send(&msg).await.unwrap();
    assert_eq!(webhook_posts(&sim), 1);
    assert_eq!(sim.api_call_count(APP, GROUP_SEND), 2);
}

#[tokio::test]
async fn a_webhook_past_its_expiry_time_is_not_even_tried() {
    let (sim, group) = sim(SimConfig::fast()).await;
    let msg = group_reply(&sim, &group, "answer");
    let expires = msg.reply.as_ref().unwrap().expires_at_ms;
    // 30 s before expiry is inside the 60 s safety margin.
    let out = sender(&sim).with_clock(Arc::new(ManualClock::at(expires.minus(Duration::from_secs(30)))));
    assert_eq!(out.planned_path(&msg), DeliveryPath::RobotApi);
    let receipt = out.send(&msg).await.unwrap();
    assert_eq!(receipt.path, DeliveryPath::RobotApi);
    assert_eq!(webhook_posts(&sim), 0);
}

#[tokio::test]
async fn dm_reply_falls_back_to_batch_send() {
    let (sim, _) = sim(SimConfig::fast()).await;
    let out = sender(&sim);
    let injected = sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "ping"))
        .unwrap();
    assert!(sim.expire_session_webhook(&injected.session_webhook));
    let msg = OutboundMessage::new(
        ACCOUNT,
        Target::User(StaffId::new(ALICE)),
        Body::text("pong"),
        "k",
    )
    .in_reply(reply_to(&injected, ALICE, false));

    let receipt = out.send(&msg).await.unwrap();
    assert_eq!(receipt.path, DeliveryPath::RobotApi);
    let sent = sim.sent_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].api, "robot.batchSend");
    assert_eq!(sent[0].msg_type, "sampleText");
    assert_eq!(
        sent[0].target,
        SentTarget::User {
            staff_id: ALICE.into()
        }
    );
    assert_eq!(sent[0].text, "pong");
}

#[tokio::test]
async fn dm_reply_through_a_live_webhook_does_not_mention() {
    let (sim, _) = sim(SimConfig::fast()).await;
    let injected = sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "ping"))
        .unwrap();
    let msg = OutboundMessage::new(
        ACCOUNT,
        Target::User(StaffId::new(ALICE)),
        Body::text("pong"),
        "k",
    )
    .in_reply(reply_to(&injected, ALICE, false));
    let receipt = sender(&sim).send(&msg).await.unwrap();
    assert_eq!(receipt.path, DeliveryPath::SessionWebhook);
    let sent = sim.sent_messages();
    assert_eq!(
        (sent[0].msg_type.as_str(), sent[0].text.as_str()),
        ("text", "pong")
    );
    assert!(sent[0].body.get("at").is_none());
}

#[tokio::test]
async fn long_reply_is_sent_as_marked_parts() {
    let (sim, group) = sim(SimConfig::fast()).await;
    let out = sender(&sim);
    let code: String = (0..400).map(|i| format!("println!(\"line {i}\");\n")).collect();
    let text = format!("Here is the script:\n\n```rust\n{code}```\n\nDone.");
    let parts = chunk::split(&text, chunk::DEFAULT_MAX_CHARS);
    assert!(parts.len() >= 3, "{}", parts.len());
    let template = group_reply(&sim, &group, "");
    for (i, part) in parts.iter().enumerate() {
        let msg = OutboundMessage {
            body: Body::markdown("Reply", part.clone()),
            idempotency_key: format!("turn-1/part-{i}"),
            ..template.clone()
        };
        assert_eq!(out.send(&msg).await.unwrap().path, DeliveryPath::SessionWebhook);
    }
    let sent = sim.sent_messages();
    assert_eq!(sent.len(), parts.len());
    let n = parts.len();
    for (i, m) in sent.iter().enumerate() {
        assert!(m.text.contains(&format!("({}/{n})", i + 1)), "{}", m.text);
        assert!(m.text.ends_with(&format!("@{ALICE}")));
    }
    assert!(sent[1].text.starts_with("```rust\n"));
}

#[tokio::test]
async fn a_503_from_the_robot_api_is_retried_until_it_succeeds() {
    let (sim, group) = sim(SimConfig::fast()).await;
    let stack = DeliveryStack::new(Arc::new(sender(&sim)))
        .with_retry(fast_retry())
        .with_trace()
        .build();
    sim.fail_next_api(GROUP_SEND, 2, 503, None);
    let msg = OutboundMessage::new(
        ACCOUNT,
        Target::Group(group.clone()),
        Body::text("deploy finished"),
        "cron-1",
    );
    let receipt = stack.send(&msg).await.unwrap();
    assert_eq!(receipt.path, DeliveryPath::RobotApi);
    let sent = sim.sent_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].text, "deploy finished");
}

#[tokio::test]
async fn a_qps_limit_makes_the_rate_limit_layer_wait_and_nothing_is_dropped() {
    let (sim, _) = sim(SimConfig::fast()).await;
    sim.set_qps_limit(APP, BATCH_SEND, 10);
    let config = RateLimitConfig {
        robot_api: RateQuota::new(10, Duration::from_secs(1)).unwrap(),
        ..RateLimitConfig::default()
    };
    let stack = DeliveryStack::new(Arc::new(sender(&sim)))
        .with_rate_limit(config)
        .with_retry(fast_retry())
        .build();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let stack = Arc::clone(&stack);
            tokio::spawn(async move {
                let msg = OutboundMessage::new(
                    ACCOUNT,
                    Target::User(StaffId::new(if i % 2 == 0 { ALICE } else { BOB })),
                    Body::text(format!("alert {i}")),
                    format!("alert-{i}"),
                );
                stack.send(&msg).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let mut texts: Vec<String> = sim.sent_messages().into_iter().map(|m| m.text).collect();
    texts.sort();
    let mut expected: Vec<String> = (0..20).map(|i| format!("alert {i}")).collect();
    expected.sort();
    assert_eq!(texts, expected);
    assert_eq!(
        sim.qps_rejections(APP, BATCH_SEND),
        0,
        "the limiter kept under the limit"
    );
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let (sim, group) = sim(SimConfig::fast()).await;
    let msg = OutboundMessage::new(ACCOUNT, Target::Group(group), Body::text("x"), "k");

    let wrong_robot = DeliveryStack::new(Arc::new(sender_as(&sim, "dingnotourrobot")))
        .with_retry(fast_retry())
        .build();
    let err = wrong_robot.send(&msg).await.unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert_eq!(
        err.dingtalk_error().and_then(dingtalk::Error::kind),
        Some(ApiErrorKind::InvalidParam)
    );
    assert_eq!(sim.api_call_count(APP, GROUP_SEND), 1);

    sim.update_app(
        APP,
        &AppPatch {
            permissions: Some(["Card.Instance.Write".to_owned()].into()),
            ..AppPatch::default()
        },
    )
    .unwrap();
    let stack = DeliveryStack::new(Arc::new(sender(&sim)))
        .with_retry(fast_retry())
        .build();
    let err = stack.send(&msg).await.unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert!(err.to_string().contains("qyapi_robot_sendmsg"), "{err}");
    assert_eq!(sim.api_call_count(APP, GROUP_SEND), 2);
    assert!(sim.sent_messages().is_empty());
}

#[tokio::test]
async fn unknown_users_and_wrong_accounts_are_permanent() {
    let (sim, _) = sim(SimConfig::fast()).await;
    let out = sender(&sim);
    let msg = OutboundMessage::new(
        ACCOUNT,
        Target::User(StaffId::new("nobody")),
        Body::text("x"),
        "k",
    );
    let err = out.send(&msg).await.unwrap_err();
    assert!(matches!(err, DeliveryError::UnknownRecipient { .. }), "{err}");

    let other = OutboundMessage {
        account_id: "other".into(),
        ..msg
    };
    let err = out.send(&other).await.unwrap_err();
    assert!(matches!(err, DeliveryError::WrongAccount { .. }) && err.is_permanent());
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_sending() {
    let (sim, group) = sim(SimConfig::fast()).await;
    let out = sender(&sim);
    // 21 000 bytes: over the 20 000-byte webhook limit (and group msgParam's 15 000).
    let msg = group_reply(&sim, &group, &"x".repeat(21_000));
    let err = out.send(&msg).await.unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert!(err.to_string().contains("too large"), "{err}");
    assert_eq!(webhook_posts(&sim), 0);
    assert!(sim.sent_messages().is_empty());
}

#[tokio::test]
async fn custom_robot_burst_is_paced_under_its_limit_without_a_ban() {
    let window = Duration::from_secs(1);
    let (sim, group) =
        sim(SimConfig::fast().with_custom_robot_limits(20, window, Duration::from_secs(600))).await;
    let robot = sim
        .create_custom_robot(CustomRobotSpec {
            group: group.as_str().to_owned(),
            name: Some("alerts".into()),
            access_token: None,
            secret: Some("SECexample0123456789".into()),
            keywords: Vec::new(),
        })
        .unwrap();
    let target = Target::CustomRobot {
        webhook: Url::parse(&robot.webhook_url).unwrap(),
        secret: robot.secret.clone().map(Secret::new),
        keywords: Vec::new(),
    };
    let config = RateLimitConfig {
        custom_robot: RateQuota::new(20, window).unwrap(),
        ..RateLimitConfig::default()
    };
    // No retry layer: a single 410100 would fail the test.
    let stack = DeliveryStack::new(Arc::new(sender(&sim)))
        .with_rate_limit(config)
        .build();
    for i in 0..25 {
        let msg = OutboundMessage::new(
            ACCOUNT,
            target.clone(),
            Body::markdown("Alert", format!("disk {i}")),
            format!("alert-{i}"),
        );
        let receipt = stack
            .send(&msg)
            .await
            .unwrap_or_else(|e| panic!("message {i}: {e}"));
        assert_eq!(receipt.path, DeliveryPath::CustomRobot);
    }
    let sent = sim.sent_messages();
    assert_eq!(sent.len(), 25);
    assert!(sent.iter().all(|m| m.api == "customRobot"));
    assert_eq!(sent[3].body["msgUuid"], "alert-3");
}

/// What the outbox is told about each request, and what DingTalk had been sent when each
/// mark was made.
struct Marks {
    sim: Arc<Simulator>,
    answer: Result<bool, String>,
    handing: std::sync::Mutex<Vec<usize>>,
    refused: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl clawtalk_delivery::HandoverLog for Marks {
    async fn handing_over(&self) -> Result<bool, String> {
        self.handing.lock().unwrap().push(self.sim.sent_messages().len());
        self.answer.clone()
    }

    async fn not_taken(&self) {
        self.refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn marks(sim: &Arc<Simulator>, answer: Result<bool, String>) -> (clawtalk_delivery::Handover, Arc<Marks>) {
    let marks = Arc::new(Marks {
        sim: Arc::clone(sim),
        answer,
        handing: std::sync::Mutex::new(Vec::new()),
        refused: std::sync::atomic::AtomicUsize::new(0),
    });
    (clawtalk_delivery::Handover::new(marks.clone()), marks)
}

/// The outbox marks a message as leaving before DingTalk has it (so a sender that dies
/// during the request leaves it marked, never sent twice), unmarks it when DingTalk refused
/// it, and nothing is sent when the mark cannot be made or the outbox holds the message
/// as sent already.
#[tokio::test]
async fn each_request_is_marked_leaving_before_it_goes_and_unmarked_when_refused() {
    let (sim, group) = sim(SimConfig::fast()).await;
    let sim = Arc::new(sim);
    let out = sender(&sim);

    let (handover, log) = marks(&sim, Ok(true));
    let msg = group_reply(&sim, &group, "first").with_handover(handover);
    out.send(&msg).await.unwrap();
    assert_eq!(
        *log.handing.lock().unwrap(),
        [0],
        "marked once, before DingTalk had it"
    );
    assert_eq!(log.refused.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(sim.sent_messages().len(), 1);

    sim.fail_next_api(BATCH_SEND, 1, 400, None);
    let (handover, log) = marks(&sim, Ok(true));
    let proactive = OutboundMessage::new(
        ACCOUNT,
        Target::User(StaffId::new(ALICE)),
        Body::text("second"),
        "second",
    )
    .with_handover(handover);
    let refused = out.send(&proactive).await.unwrap_err();
    assert!(!refused.may_have_arrived(), "{refused}");
    assert_eq!(*log.handing.lock().unwrap(), [1]);
    assert_eq!(
        log.refused.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "DingTalk said no: unmarked"
    );

    let (handover, _) = marks(&sim, Ok(false));
    let err = out
        .send(&group_reply(&sim, &group, "third").with_handover(handover))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeliveryError::Superseded) && err.is_permanent(),
        "{err}"
    );
    let (handover, log) = marks(&sim, Err("the database is unreachable".into()));
    let err = out
        .send(&group_reply(&sim, &group, "fourth").with_handover(handover))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeliveryError::NotHandedOver { .. }) && err.is_retryable(),
        "{err}"
    );
    assert!(err.to_string().contains("the database is unreachable"), "{err}");
    assert_eq!(log.refused.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(sim.sent_messages().len(), 1, "neither was sent");
}

/// A caller that stops waiting once its message is marked as leaving (its turn lost its
/// lease) does not cut the request off: the message marked as leaving does reach DingTalk.
#[tokio::test]
async fn a_marked_request_goes_out_though_its_caller_stops_waiting() {
    let (sim, group) = sim(SimConfig::fast()).await;
    let sim = Arc::new(sim);
    sim.set_api_latency(SEND_BY_SESSION, Duration::from_millis(300));
    let out = Arc::new(sender(&sim));
    let (handover, log) = marks(&sim, Ok(true));
    let msg = group_reply(&sim, &group, "marked").with_handover(handover);
    let caller = tokio::spawn({
        let out = Arc::clone(&out);
        async move { out.send(&msg).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while log.handing.lock().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "never marked");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    caller.abort();

    let sent = sim.wait_for_sent(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].text.contains("marked"), "{:?}", sent[0].text);
}
