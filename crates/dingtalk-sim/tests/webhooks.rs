mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use dingtalk_sim::{CustomRobotSpec, InjectMessage, SentTarget, SimConfig};
use hmac::{Hmac, Mac as _};
use serde_json::{Value, json};

async fn post_json(env: &Env, url: &str, body: &Value) -> Value {
    env.http
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn session_webhook_accepts_replies_until_it_expires() {
    let env = env(SimConfig::fast().with_session_webhook_ttl(Duration::from_millis(400))).await;
    let inj = env
        .sim
        .inject_message(&InjectMessage::group_text(APP, ALICE, &env.group, "hi", true))
        .unwrap();
    let md = json!({"msgtype": "markdown", "markdown": {"title": "t", "text": "### hello @0312454236781234"},
                    "at": {"atUserIds": [ALICE], "isAtAll": false}});
    assert_eq!(
        post_json(&env, &inj.session_webhook, &md).await,
        json!({"errcode": 0, "errmsg": "ok"})
    );
    let sent = env.sim.sent_messages();
    assert_eq!(sent[0].api, "sessionWebhook");
    assert_eq!(sent[0].conversation_id.as_deref(), Some(env.group.as_str()));
    assert_eq!(sent[0].body["at"]["atUserIds"], json!([ALICE]));
    assert!(matches!(sent[0].target, SentTarget::SessionWebhook { .. }));

    // Unsupported type, missing field, wrong content type, too large.
    let v = post_json(
        &env,
        &inj.session_webhook,
        &json!({"msgtype": "image", "image": {}}),
    )
    .await;
    assert_eq!(v["errcode"], 400105);
    let v = post_json(
        &env,
        &inj.session_webhook,
        &json!({"msgtype": "text", "text": {}}),
    )
    .await;
    assert_ne!(v["errcode"], 0);
    let v: Value = env
        .http
        .post(&inj.session_webhook)
        .header("Content-Type", "text/plain")
        .body(json!({"msgtype": "text", "text": {"content": "x"}}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["errcode"], 43004);
    let big = "x".repeat(20_001);
    let v = post_json(
        &env,
        &inj.session_webhook,
        &json!({"msgtype": "text", "text": {"content": big}}),
    )
    .await;
    assert_eq!(v["errcode"], 460101);

    tokio::time::sleep(Duration::from_millis(500)).await;
    let v = post_json(
        &env,
        &inj.session_webhook,
        &json!({"msgtype": "text", "text": {"content": "late"}}),
    )
    .await;
    assert_eq!(v, json!({"errcode": 300001, "errmsg": "session 不存在"}));
    assert_eq!(env.sim.sent_messages().len(), 1);
}

#[tokio::test]
async fn session_webhook_can_be_expired_by_control() {
    let env = env(SimConfig::fast()).await;
    let inj = env
        .sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "hi"))
        .unwrap();
    assert!(env.sim.expire_session_webhook(&inj.session_webhook));
    let v = post_json(
        &env,
        &inj.session_webhook,
        &json!({"msgtype": "text", "text": {"content": "x"}}),
    )
    .await;
    assert_eq!(v["errcode"], 300001);
}

fn sign(secret: &str, ts: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[tokio::test]
async fn custom_robot_checks_sign_keywords_and_content_type() {
    let env = env(SimConfig::fast()).await;
    let robot = env
        .sim
        .create_custom_robot(CustomRobotSpec {
            group: env.group.clone(),
            secret: Some(String::new()),
            keywords: vec!["alert".into()],
            ..CustomRobotSpec::default()
        })
        .unwrap();
    let secret = robot.secret.clone().unwrap();
    assert!(secret.starts_with("SEC"));
    let body = json!({"msgtype": "text", "text": {"content": "alert: disk full"}});
    let send = |ts: String, sig: String, body: Value| {
        let url =
            reqwest::Url::parse_with_params(&robot.webhook_url, &[("timestamp", ts), ("sign", sig)]).unwrap();
        let http = env.http.clone();
        async move {
            http.post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let ts = now_ms().to_string();
    assert_eq!(
        send(ts.clone(), sign(&secret, &ts), body.clone()).await["errcode"],
        0
    );
    let v = send(ts.clone(), sign("SECwrong", &ts), body.clone()).await;
    assert_eq!(v["errcode"], 310000);
    assert!(v["errmsg"].as_str().unwrap().contains("sign not match"));
    let old = (now_ms() - 2 * 3_600_000).to_string();
    let v = send(old.clone(), sign(&secret, &old), body.clone()).await;
    assert_eq!(v["errmsg"], "invalid timestamp");
    let v = send(
        ts.clone(),
        sign(&secret, &ts),
        json!({"msgtype": "text", "text": {"content": "hello"}}),
    )
    .await;
    assert_eq!(v["errmsg"], "keywords not in content");
    let v: Value = env
        .http
        .post(&robot.webhook_url)
        .header("Content-Type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["errcode"], 43004);
    let v = post_json(&env, &env.url("/robot/send?access_token=nope"), &body).await;
    assert_eq!(v["errcode"], 300005);
    let sent = env.sim.sent_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].api, "customRobot");
    assert_eq!(sent[0].conversation_id.as_deref(), Some(env.group.as_str()));
}

#[tokio::test]
async fn custom_robot_rate_limit_bans_the_robot() {
    let env = env(SimConfig::fast().with_custom_robot_limits(
        3,
        Duration::from_secs(60),
        Duration::from_millis(400),
    ))
    .await;
    let robot = env
        .sim
        .create_custom_robot(CustomRobotSpec {
            group: env.group.clone(),
            ..CustomRobotSpec::default()
        })
        .unwrap();
    let body = json!({"msgtype": "text", "text": {"content": "x"}});
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(
            post_json(&env, &robot.webhook_url, &body).await["errcode"]
                .as_i64()
                .unwrap(),
        );
    }
    assert_eq!(codes, [0, 0, 0, 410100, 410100]);
    tokio::time::sleep(Duration::from_millis(450)).await;
    // Ban over, but the rolling minute still holds 3 messages.
    assert_eq!(
        post_json(&env, &robot.webhook_url, &body).await["errcode"],
        410100
    );
    assert_eq!(env.sim.sent_messages().len(), 3);
}

/// How the client below sends its reply before it hangs up.
enum Hangup {
    /// The whole request in one write, before the simulator reads any of it.
    AllAtOnce,
    /// The head, then (once the simulator has read it) the first `n` bytes of the body, where
    /// `n` is worked out from the body's length.
    HeadFirst(fn(usize) -> usize),
}

/// Sends a sessionWebhook reply over a raw connection, as `how` says, and hangs up at once
/// after the last write (blocking calls, no await in between: the simulator, on this test's
/// one thread, reads the last bytes and the hang-up together).
async fn reply_then_hang_up(env: &Env, how: Hangup) {
    use std::io::Write as _;
    let inj = env
        .sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "hi"))
        .unwrap();
    let url = url::Url::parse(&inj.session_webhook).unwrap();
    let body = json!({"msgtype": "text", "text": {"content": "sent by a client about to die"}}).to_string();
    let head = format!(
        "POST {}?{} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        url.path(),
        url.query().unwrap_or(""),
        env.sim.addr(),
        body.len()
    );
    let mut socket = std::net::TcpStream::connect(env.sim.addr()).unwrap();
    match how {
        Hangup::AllAtOnce => socket.write_all(format!("{head}{body}").as_bytes()).unwrap(),
        Hangup::HeadFirst(body_bytes) => {
            socket.write_all(head.as_bytes()).unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            socket
                .write_all(&body.as_bytes()[..body_bytes(body.len())])
                .unwrap();
        }
    }
    drop(socket);
}

/// A reply written whole by a client that went away before the simulator read it (a gateway
/// killed just after sending, while the simulator ran late) is still taken.
#[tokio::test]
async fn a_reply_whose_client_hung_up_before_it_was_read_is_still_taken() {
    let env = env(SimConfig::fast()).await;
    reply_then_hang_up(&env, Hangup::AllAtOnce).await;
    let sent = env.sim.wait_for_sent(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].text, "sent by a client about to die");
}

/// A reply whose head came first and whose body came together with the client's hang-up
/// (a gateway that waits on its store between the two and dies right after the body left) is
/// taken: DingTalk has the whole request.
#[tokio::test]
async fn a_reply_whose_body_came_with_the_hang_up_is_still_taken() {
    let env = env(SimConfig::fast()).await;
    reply_then_hang_up(&env, Hangup::HeadFirst(|whole| whole)).await;
    let sent = env.sim.wait_for_sent(1, Duration::from_secs(3)).await.unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].text, "sent by a client about to die");
}

/// A reply cut short by the hang-up is not taken: DingTalk never had all of it.
#[tokio::test]
async fn a_reply_cut_short_by_the_hang_up_is_not_taken() {
    let env = env(SimConfig::fast()).await;
    reply_then_hang_up(&env, Hangup::HeadFirst(|whole| whole - 1)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = env.sim.sent_messages();
    assert!(sent.is_empty(), "{sent:?}");
}
