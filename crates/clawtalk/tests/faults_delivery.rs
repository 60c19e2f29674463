//! Fault suite, replies: 403 QpsLimit storms on the robot OpenAPI and on AI cards, the access
//! token expiring while turns run, sessionWebhooks expiring while turns run. Replies may be
//! late; none is lost and none is sent twice.

mod support;

use std::time::Duration;

use dingtalk_sim::{CardStatus, SimConfig};
use llm_mock::Script;
use support::faults::{self, Asked, Expect};
use support::world::{APP1, ConfigExtras, OPEN, sim_config};
use support::{TIMEOUT, World, WorldOptions, wait_until};

const BATCH_SEND: &str = "/v1.0/robot/oToMessages/batchSend";

/// sessionWebhooks that are already past their expiry when the message arrives: every reply
/// goes through the robot OpenAPI (token, QPS limits).
fn no_webhooks() -> SimConfig {
    sim_config().with_session_webhook_ttl(Duration::from_millis(1))
}

/// Leases short enough that a reply given up by one worker is taken over within seconds.
fn config(world: &World, channels: &str) -> std::path::PathBuf {
    world.write_config(&world.config_with(&ConfigExtras {
        channels,
        gateway: "turnLeaseSeconds: 3,",
        ..ConfigExtras::default()
    }))
}

/// Each message's answer takes `delay` at the model.
fn slow_answers(world: &World, batch: &str, n: usize, delay: Duration) {
    for i in 0..n {
        let tag = faults::tag(batch, i);
        world.model.push(
            Script::text(format!("The answer to {tag}."))
                .delay(delay, Duration::ZERO)
                .when_last_user_contains(tag),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qps_storm_on_the_robot_api_delays_replies_but_loses_and_repeats_none() {
    let world = World::start_with(WorldOptions {
        sim: no_webhooks(),
        ..WorldOptions::default()
    })
    .await;
    let _gateway = world.start_gateway(&config(&world, OPEN)).await;
    // Two sends a second, and on top the next eight calls answer 403 QpsLimit whatever the rate.
    world.sim.set_qps_limit(APP1, BATCH_SEND, 2);
    world.sim.fail_next_api(BATCH_SEND, 8, 403, None);
    let asked = faults::ask_many(&world, "qps", 0, 10);
    let db = world.state_dir().join("clawtalk.db");
    faults::assert_settled_once(&world, &db, &asked, TIMEOUT * 2, |_| Expect::Answer).await;
    // The eight injected 403s met the first eight sends; the rate limit refused more.
    let rejected = world.sim.qps_rejections(APP1, BATCH_SEND);
    assert!(rejected > 0, "the QPS limit bit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qps_storm_on_ai_cards_still_finishes_one_card_per_message() {
    let world = World::start_with(WorldOptions {
        sim: no_webhooks(),
        ..WorldOptions::default()
    })
    .await;
    let channels = format!(
        "{OPEN} messageType: \"card\", streaming: true, cardStreamInterval: 200, cardUpdateTokens: 2,"
    );
    let _gateway = world.start_gateway(&config(&world, &channels)).await;
    world.sim.set_qps_limit(APP1, "/v1.0/card/streaming", 2);
    world
        .sim
        .fail_next_api("/v1.0/card/instances/createAndDeliver", 3, 403, None);
    world.sim.fail_next_api("/v1.0/card/streaming", 6, 403, None);
    let n = 5;
    let answers: Vec<String> = (0..n)
        .map(|i| format!("{} ", faults::tag("card", i)) + &"流式卡片的内容 ".repeat(30))
        .collect();
    for (i, text) in answers.iter().enumerate() {
        let words: Vec<String> = text.split_inclusive(' ').map(str::to_owned).collect();
        world.model.push(
            Script::chunks(words)
                .delay(Duration::ZERO, Duration::from_millis(20))
                .when_last_user_contains(faults::tag("card", i)),
        );
    }
    let asked = faults::ask_many(&world, "card", 0, n);
    let db = world.state_dir().join("clawtalk.db");
    faults::assert_settled_once(&world, &db, &asked, TIMEOUT * 2, |_| Expect::Answer).await;
    // The card delivered once per message holds the whole answer, finished.
    let sent = world.sim.sent_messages();
    for (a, text) in asked.iter().zip(&answers) {
        let track = faults::replies_to(&sent, a)[0]
            .out_track_id
            .clone()
            .expect("the answer is a card");
        let card = wait_until("the card to finish", TIMEOUT, || {
            world
                .sim
                .card(&track)
                .filter(|c| c.status == CardStatus::Finished)
        })
        .await;
        let content = card.card_data.get("content").cloned().unwrap_or_default();
        assert_eq!(&content, text, "{}: the card holds the whole answer", a.tag);
    }
    let rejected = world.sim.qps_rejections(APP1, "/v1.0/card/streaming");
    assert!(rejected > 0, "the QPS limit bit");
    // The injected 403s met the first calls of their paths (every card was created and
    // streamed afterwards), so each refused call was made again.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_expiring_mid_turn_is_refreshed_and_each_reply_sent_once() {
    let world = World::start_with(WorldOptions {
        sim: no_webhooks(),
        model_delays: true,
        ..WorldOptions::default()
    })
    .await;
    let _gateway = world.start_gateway(&config(&world, OPEN)).await;
    // A first reply, so the gateway holds a token.
    let mut asked = faults::ask_many(&world, "warm", 0, 1);
    faults::wait_all_replied(&world, &asked, TIMEOUT).await;
    let tokens_before = world.sim.token_calls(APP1);

    slow_answers(&world, "token", 6, Duration::from_millis(1500));
    let batch = faults::ask_many(&world, "token", 0, 6);
    for a in &batch {
        world.wait_request_for(&a.tag).await;
    }
    // Every turn is at the model now; the token dies before any of them replies.
    assert!(world.sim.expire_tokens(APP1) >= 1, "a token to expire");
    asked.extend(batch);
    let db = world.state_dir().join("clawtalk.db");
    faults::assert_settled_once(&world, &db, &asked, TIMEOUT, |_| Expect::Answer).await;
    assert!(
        world.sim.token_calls(APP1) > tokens_before,
        "the gateway fetched a new token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_webhook_expiring_mid_turn_falls_back_to_the_robot_api_once() {
    let world = World::start_with(WorldOptions {
        model_delays: true,
        ..WorldOptions::default()
    })
    .await;
    let _gateway = world.start_gateway(&config(&world, OPEN)).await;
    slow_answers(&world, "hook", 6, Duration::from_millis(1500));
    let asked: Vec<Asked> = faults::ask_many(&world, "hook", 0, 6);
    for a in &asked {
        world.wait_request_for(&a.tag).await;
    }
    // The webhooks of half the messages die while their turns run.
    for a in asked.iter().step_by(2) {
        let webhook = world
            .sim
            .deliveries()
            .into_iter()
            .find(|d| d.key == a.msg_id)
            .and_then(|d| serde_json::from_str::<serde_json::Value>(&d.data).ok())
            .and_then(|data| data["sessionWebhook"].as_str().map(str::to_owned))
            .expect("the message carries a sessionWebhook");
        assert!(world.sim.expire_session_webhook(&webhook), "{}: expired", a.tag);
    }
    let db = world.state_dir().join("clawtalk.db");
    faults::assert_settled_once(&world, &db, &asked, TIMEOUT, |_| Expect::Answer).await;
    let sent = world.sim.sent_messages();
    for (i, a) in asked.iter().enumerate() {
        let api = &faults::replies_to(&sent, a)[0].api;
        let expected = if i % 2 == 0 {
            "robot.batchSend"
        } else {
            "sessionWebhook"
        };
        assert_eq!(api, expected, "{}: sent through the right API", a.tag);
    }
}
