mod common;

use std::time::Duration;

use common::*;
use dingtalk_sim::{AppPatch, SentTarget, SimConfig};
use serde_json::{Value, json};

async fn post(env: &Env, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = env
        .http
        .post(env.url(path))
        .header("x-acs-dingtalk-access-token", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn batch_send_logs_one_message_per_user_and_recall_marks_them() {
    let env = env(SimConfig::fast()).await;
    let token = env.token().await;
    let (st, v) = post(
        &env,
        &token,
        "/v1.0/robot/oToMessages/batchSend",
        json!({"robotCode": APP, "userIds": [ALICE, BOB, "ghost"], "msgKey": "sampleMarkdown",
               "msgParam": "{\"title\":\"Deploy\",\"text\":\"### done\"}"}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let pqk = v["processQueryKey"].as_str().unwrap().to_owned();
    assert_eq!(v["invalidStaffIdList"], json!(["ghost"]));
    assert_eq!(v["flowControlledStaffIdList"], json!([]));
    let sent = env.sim.sent_messages();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].api, "robot.batchSend");
    assert_eq!(
        sent[0].target,
        SentTarget::User {
            staff_id: ALICE.into()
        }
    );
    assert_eq!(sent[0].text, "### done");
    assert_eq!(
        sent[0].conversation_id.as_deref(),
        Some(env.sim.dm_conversation_id(APP, ALICE).as_str())
    );
    assert!(sent[0].at_ms <= sent[1].at_ms);

    let (st, v) = post(
        &env,
        &token,
        "/v1.0/robot/otoMessages/batchRecall",
        json!({"robotCode": APP, "processQueryKeys": [pqk, "nope"]}),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["successResult"], json!([pqk]));
    assert!(v["failedResult"]["nope"].is_string());
    assert!(env.sim.sent_messages().iter().all(|m| m.recalled));
}

#[tokio::test]
async fn group_send_requires_the_bot_in_the_group_and_supports_recall() {
    let env = env(SimConfig::fast()).await;
    let token = env.token().await;
    let body = json!({"robotCode": APP, "openConversationId": env.group, "msgKey": "sampleText",
                      "msgParam": "{\"content\":\"Build #1234 passed\"}"});
    let (st, v) = post(&env, &token, "/v1.0/robot/groupMessages/send", body.clone()).await;
    assert_eq!(st, 200, "{v}");
    let pqk = v["processQueryKey"].as_str().unwrap().to_owned();
    let m = &env.sim.sent_messages()[0];
    assert_eq!(m.text, "Build #1234 passed");
    assert_eq!(m.body["msgParamParsed"]["content"], "Build #1234 passed");

    let (st, v) = post(
        &env,
        &token,
        "/v1.0/robot/groupMessages/recall",
        json!({"robotCode": APP, "openConversationId": env.group, "processQueryKeys": [pqk]}),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["successResult"].as_array().unwrap().len(), 1);

    env.sim.remove_bot_from_group(&env.group, APP).unwrap();
    let (st, v) = post(&env, &token, "/v1.0/robot/groupMessages/send", body).await;
    assert_eq!(st, 400);
    assert_eq!(v["code"], "resource.unavailable");
}

#[tokio::test]
async fn robot_send_validation_errors_are_dingtalk_shaped() {
    let env = env(SimConfig::fast()).await;
    let token = env.token().await;
    let base = json!({"robotCode": APP, "userIds": [ALICE], "msgKey": "sampleText", "msgParam": "{\"content\":\"x\"}"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases = [
        (
            with("robotCode", json!("dingother")),
            "invalidParameter.robotCode.auth",
        ),
        (
            with("msgKey", json!("sampleImage")),
            "invalidParameter.msgKey.invalid",
        ),
        (
            with("msgParam", json!({"content": "x"})),
            "invalidParameter.msgParam.invalid",
        ),
        (
            with("msgParam", json!("{not json")),
            "invalidParameter.msgParam.invalid",
        ),
        (
            with("msgParam", json!("{\"text\":\"x\"}")),
            "invalidParameter.msgParam.invalid",
        ),
        (
            with(
                "userIds",
                json!((0..21).map(|i| i.to_string()).collect::<Vec<_>>()),
            ),
            "invalidParameter.userIds.exceed",
        ),
        (with("userIds", json!([])), "invalidParameter.userIds.empty"),
        (with("msgKey", Value::Null), "MissingmsgKey"),
    ];
    for (body, code) in cases {
        let (st, v) = post(&env, &token, "/v1.0/robot/oToMessages/batchSend", body).await;
        assert_eq!(st, 400, "{code}: {v}");
        assert_eq!(v["code"], code);
        assert!(v["requestid"].is_string());
    }
    let r = env
        .http
        .post(env.url("/v1.0/robot/oToMessages/batchSend"))
        .header("x-acs-dingtalk-access-token", &token)
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(env.sim.sent_messages().is_empty());
}

#[tokio::test]
/// `api.dingtalk.com` answers a bad token with HTTP 400 `InvalidAuthentication`
/// (satorijs/satori#240), not 401.
async fn bad_expired_or_revoked_tokens_get_400_invalid_authentication() {
    let env = env(SimConfig::fast().with_token_ttl(Duration::from_millis(200))).await;
    let body = json!({"robotCode": APP, "userIds": [ALICE], "msgKey": "sampleText", "msgParam": "{\"content\":\"x\"}"});
    let (st, v) = post(&env, "bogus", "/v1.0/robot/oToMessages/batchSend", body.clone()).await;
    assert_eq!(st, 400);
    assert_eq!(v["code"], "InvalidAuthentication");
    assert_eq!(v["message"], "不合法的access_token");
    assert!(v["requestid"].as_str().is_some_and(|id| !id.is_empty()), "{v}");
    let token = env.token().await;
    assert_eq!(
        post(&env, &token, "/v1.0/robot/oToMessages/batchSend", body.clone())
            .await
            .0,
        200
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        post(&env, &token, "/v1.0/robot/oToMessages/batchSend", body.clone())
            .await
            .0,
        400
    );
    let token = env.token().await;
    env.sim.expire_tokens(APP);
    assert_eq!(
        post(&env, &token, "/v1.0/robot/oToMessages/batchSend", body)
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn missing_permission_is_403_with_required_scopes() {
    let env = env(SimConfig::fast()).await;
    env.sim
        .update_app(
            APP,
            &AppPatch {
                permissions: Some(vec![]),
                ..AppPatch::default()
            },
        )
        .unwrap();
    let token = env.token().await;
    let (st, v) = post(
        &env,
        &token,
        "/v1.0/robot/oToMessages/batchSend",
        json!({"robotCode": APP, "userIds": [ALICE], "msgKey": "sampleText", "msgParam": "{\"content\":\"x\"}"}),
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(v["code"], "Forbidden.AccessDenied.AccessTokenPermissionDenied");
    assert_eq!(
        v["accessdenieddetail"]["requiredScopes"],
        json!(["qyapi_robot_sendmsg"])
    );
}

#[tokio::test]
async fn injected_api_faults_and_latency() {
    let env = env(SimConfig::fast()).await;
    let token = env.token().await;
    let body = json!({"robotCode": APP, "userIds": [ALICE], "msgKey": "sampleText", "msgParam": "{\"content\":\"x\"}"});
    env.sim.fail_next_api("/v1.0/robot/", 1, 500, None);
    let (st, v) = post(&env, &token, "/v1.0/robot/oToMessages/batchSend", body.clone()).await;
    assert_eq!(st, 500);
    assert_eq!(v["code"], "system.busy");
    env.sim
        .set_api_latency("/v1.0/robot/", Duration::from_millis(150));
    let started = std::time::Instant::now();
    assert_eq!(
        post(&env, &token, "/v1.0/robot/oToMessages/batchSend", body)
            .await
            .0,
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(150));
    env.sim.clear_faults();
}

/// A request refused by an injected failure is answered once its body is in, and its
/// connection stays usable: the simulator does not hang up on a body it has not read.
#[tokio::test]
async fn an_injected_failure_waits_for_the_body_and_keeps_the_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = env(SimConfig::fast()).await;
    env.sim.fail_next_api("/v1.0/robot/", 1, 403, None);
    let body = r#"{"robotCode":"x","userIds":["u"],"msgKey":"sampleText","msgParam":"{}"}"#;
    let head = format!(
        "POST /v1.0/robot/oToMessages/batchSend HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        env.sim.addr(),
        body.len()
    );
    let mut socket = tokio::net::TcpStream::connect(env.sim.addr()).await.unwrap();
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 8192];
    let early = tokio::time::timeout(Duration::from_millis(300), socket.read(&mut buf)).await;
    assert!(early.is_err(), "answered before the body came");

    socket.write_all(body.as_bytes()).await.unwrap();
    let n = socket.read(&mut buf).await.unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(
        !answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );

    // The same connection carries the next request (refused for its missing token).
    socket
        .write_all(format!("{head}{body}").as_bytes())
        .await
        .unwrap();
    let n = socket.read(&mut buf).await.unwrap();
    assert!(n > 0, "the simulator hung up");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 "));
}
