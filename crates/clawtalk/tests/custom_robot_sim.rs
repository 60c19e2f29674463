//! Custom robots against the simulator: ordered, merged, paced sends that never trip the ban,
//! signing, keywords, size limits, @-mentions and every message type.
//!
//! The simulator and the limiter share a shortened window (20 per 2 s instead of per minute),
//! so a minute's worth of traffic runs in seconds through the same code.

use std::sync::Arc;
use std::time::Duration;

use clawtalk_delivery::{
    Body, DeliveryError, DeliveryPath, DeliveryStack, DingTalkOutbound, Mentions, Outbound, OutboundMessage,
    RateLimitConfig, RateQuota, Target,
};
use dingtalk::api::OpenApiClient;
use dingtalk::ids::{ClientId, ConversationId, RobotCode, StaffId};
use dingtalk::model::outbound::{
    BtnOrientation, WebhookActionCard, WebhookButton, WebhookFeedLink, WebhookLink,
};
use dingtalk::{ApiErrorKind, Secret};
use dingtalk_sim::{AppSpec, CustomRobot, CustomRobotSpec, GroupSpec, SimConfig, Simulator, UserSpec};
use futures_util::future::join_all;
use url::Url;

const APP: &str = "dingq7vxkt3mwz2hb8ns";
const ALICE: &str = "0312454236781234";
const WINDOW: Duration = Duration::from_secs(2);

async fn sim() -> (Simulator, ConversationId) {
    let config = SimConfig::fast().with_custom_robot_limits(20, WINDOW, Duration::from_secs(600));
    let sim = Simulator::start_with(config).await.expect("simulator starts");
    sim.create_app(AppSpec::new(APP, "secret")).expect("app");
    sim.create_user(UserSpec::new(ALICE, "Alice Zhang"))
        .expect("alice");
    let group = sim
        .create_group(GroupSpec::new("Ops", [ALICE]).with_bot(APP))
        .expect("group");
    (sim, ConversationId::new(group.open_conversation_id))
}

fn robot(sim: &Simulator, group: &ConversationId, secret: Option<&str>, keywords: &[&str]) -> CustomRobot {
    sim.create_custom_robot(CustomRobotSpec {
        group: group.as_str().to_owned(),
        name: Some("alerts".into()),
        access_token: None,
        secret: secret.map(str::to_owned),
        keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
    })
    .expect("custom robot")
}

fn target(robot: &CustomRobot, keywords: &[&str]) -> Target {
    Target::CustomRobot {
        webhook: Url::parse(&robot.webhook_url).unwrap(),
        secret: robot.secret.clone().map(Secret::new),
        keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
    }
}

fn stack(sim: &Simulator, batch_responses: bool) -> Arc<dyn Outbound> {
    let api = OpenApiClient::builder(ClientId::new(APP), Secret::new("secret"))
        .endpoints(sim.endpoints())
        .build();
    let sender = DingTalkOutbound::new("ops", RobotCode::new(APP), api);
    // No retry layer: a single 410100 must fail the test, not be papered over.
    DeliveryStack::new(Arc::new(sender))
        .with_rate_limit(RateLimitConfig {
            custom_robot: RateQuota::new(20, WINDOW).unwrap(),
            batch_responses,
            ..RateLimitConfig::default()
        })
        .build()
}

fn text(target: &Target, i: usize) -> OutboundMessage {
    OutboundMessage::new(
        "ops",
        target.clone(),
        Body::text(format!("reply {i}")),
        format!("r{i}"),
    )
}

/// The `reply N` numbers in the order the group shows them.
fn numbers_seen(sim: &Simulator) -> Vec<usize> {
    sim.sent_messages()
        .iter()
        .flat_map(|m| {
            m.text
                .split("\n\n")
                .filter_map(|line| line.strip_prefix("reply ")?.parse().ok())
                .collect::<Vec<usize>>()
        })
        .collect()
}

/// Most messages the simulator accepted within any window.
fn busiest_window(sim: &Simulator) -> usize {
    let at: Vec<u64> = sim.sent_messages().iter().map(|m| m.at_ms).collect();
    let window = u64::try_from(WINDOW.as_millis()).unwrap();
    at.iter()
        .map(|start| {
            at.iter()
                .filter(|t| **t >= *start && **t < start + window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn sixty_replies_in_a_window_all_arrive_in_order_merged_without_a_ban() {
    let (sim, group) = sim().await;
    let robot = robot(&sim, &group, Some(""), &[]);
    let target = target(&robot, &[]);
    let stack = stack(&sim, true);
    // Sixty replies spread over one window, each caller waiting for its own.
    let sends = (0..60).map(|i| {
        let (stack, msg) = (Arc::clone(&stack), text(&target, i));
        async move {
            tokio::time::sleep(Duration::from_millis(30 * u64::try_from(i).unwrap())).await;
            stack.send(&msg).await
        }
    });
    for (i, result) in join_all(sends).await.into_iter().enumerate() {
        let receipt = result.unwrap_or_else(|e| panic!("reply {i}: {e}"));
        assert_eq!(receipt.path, DeliveryPath::CustomRobot);
    }
    assert_eq!(numbers_seen(&sim), (0..60).collect::<Vec<_>>());
    let sent = sim.sent_messages().len();
    assert!(sent < 60, "queued replies were merged: {sent} messages");
    assert!(
        busiest_window(&sim) < 20,
        "{} in one window",
        busiest_window(&sim)
    );
}

#[tokio::test]
async fn without_batching_every_reply_waits_its_turn_in_order() {
    let (sim, group) = sim().await;
    let robot = robot(&sim, &group, None, &[]);
    let target = target(&robot, &[]);
    let stack = stack(&sim, false);
    // Forty at once: two windows' worth, so about half of them wait a window.
    let results = join_all((0..40).map(|i| {
        let (stack, msg) = (Arc::clone(&stack), text(&target, i));
        async move { stack.send(&msg).await }
    }))
    .await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(sim.sent_messages().len(), 40);
    assert_eq!(numbers_seen(&sim), (0..40).collect::<Vec<_>>());
    assert!(busiest_window(&sim) < 20);
}

#[tokio::test]
async fn signing_is_verified_by_the_simulator() {
    let (sim, group) = sim().await;
    let robot = robot(&sim, &group, Some(""), &[]);
    let stack = stack(&sim, true);
    stack.send(&text(&target(&robot, &[]), 1)).await.unwrap();
    let forged = Target::CustomRobot {
        webhook: Url::parse(&robot.webhook_url).unwrap(),
        secret: Some(Secret::new("SECnot-the-robots-secret")),
        keywords: Vec::new(),
    };
    let err = stack.send(&text(&forged, 2)).await.unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert_eq!(
        err.dingtalk_error().and_then(dingtalk::Error::kind),
        Some(ApiErrorKind::SecurityCheckFailed),
        "{err}"
    );
    let unsigned = Target::CustomRobot {
        webhook: Url::parse(&robot.webhook_url).unwrap(),
        secret: None,
        keywords: Vec::new(),
    };
    assert!(stack.send(&text(&unsigned, 3)).await.is_err());
    assert_eq!(numbers_seen(&sim), vec![1]);
}

#[tokio::test]
async fn a_missing_keyword_is_added_and_a_present_one_kept() {
    let (sim, group) = sim().await;
    let robot = robot(&sim, &group, None, &["告警"]);
    let stack = stack(&sim, true);
    let with = target(&robot, &["告警"]);
    stack.send(&text(&with, 1)).await.unwrap();
    let present = OutboundMessage::new("ops", with.clone(), Body::markdown("告警", "disk full"), "k");
    stack.send(&present).await.unwrap();
    let sent = sim.sent_messages();
    assert_eq!(sent[0].text, "reply 1\n\n告警");
    assert_eq!(sent[1].body["markdown"]["text"], "disk full");
    // Without the configured keyword DingTalk refuses the message.
    let err = stack.send(&text(&target(&robot, &[]), 2)).await.unwrap_err();
    assert!(err.to_string().contains("keywords not in content"), "{err}");
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_posting() {
    let (sim, group) = sim().await;
    let robot = robot(&sim, &group, None, &[]);
    let stack = stack(&sim, true);
    let big = OutboundMessage::new(
        "ops",
        target(&robot, &[]),
        Body::markdown("big", "字".repeat(7_000)),
        "big",
    );
    let err = stack.send(&big).await.unwrap_err();
    assert!(err.is_permanent());
    assert!(
        matches!(
            err.dingtalk_error(),
            Some(dingtalk::Error::TooLarge { limit: 20_000, .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("20000"), "{err}");
    assert!(sim.sent_messages().is_empty());
}

#[tokio::test]
async fn mentions_and_every_message_type_reach_the_group() {
    let (sim, group) = sim().await;
    let robot = robot(&sim, &group, Some(""), &[]);
    let stack = stack(&sim, true);
    let to = target(&robot, &[]);
    let typed = "@13800138000 please review";
    let mut everyone = Mentions::from_text(typed);
    everyone.user_ids.push(StaffId::new(ALICE));
    everyone.all = true;
    let bodies = [
        Body::text(typed),
        Body::Link(WebhookLink {
            title: "Build 42".into(),
            text: "green".into(),
            message_url: "https://ci.example.com/42".into(),
            pic_url: String::new(),
        }),
        Body::ActionCard(WebhookActionCard {
            title: "Release".into(),
            text: "ship it?".into(),
            single_title: None,
            single_url: None,
            btn_orientation: Some(BtnOrientation::Vertical),
            btns: vec![
                WebhookButton {
                    title: "Yes".into(),
                    action_url: "https://e.com/y".into(),
                },
                WebhookButton {
                    title: "No".into(),
                    action_url: "https://e.com/n".into(),
                },
            ],
        }),
        Body::FeedCard(vec![WebhookFeedLink {
            title: "News".into(),
            message_url: "https://e.com/1".into(),
            pic_url: "https://e.com/1.png".into(),
        }]),
    ];
    for (i, body) in bodies.into_iter().enumerate() {
        let msg =
            OutboundMessage::new("ops", to.clone(), body, format!("m{i}")).with_mentions(everyone.clone());
        stack
            .send(&msg)
            .await
            .unwrap_or_else(|e| panic!("message {i}: {e}"));
    }
    let sent = sim.sent_messages();
    let kinds: Vec<&str> = sent.iter().map(|m| m.msg_type.as_str()).collect();
    assert_eq!(kinds, ["text", "link", "actionCard", "feedCard"]);
    let at = &sent[0].body["at"];
    assert_eq!(at["atMobiles"][0], "13800138000");
    assert_eq!(at["atUserIds"][0], ALICE);
    assert_eq!(at["isAtAll"], true);
    // The mobile stays in the text (DingTalk needs it there); the user id is appended.
    assert_eq!(sent[0].body["text"]["content"], format!("{typed}\n\n@{ALICE}"));
    assert!(sent[1].body.get("at").is_none());
    assert_eq!(
        sent[2].body["actionCard"]["btns"][1]["actionURL"],
        "https://e.com/n"
    );
    // A feed card has no robot-API equivalent: refused with the reason.
    let err = stack
        .send(&OutboundMessage::new(
            "ops",
            Target::Group(group.clone()),
            Body::FeedCard(Vec::new()),
            "f",
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeliveryError::DingTalk { .. }) && err.is_permanent(),
        "{err}"
    );
}
