mod common;

use std::time::Duration;

use common::*;
use dingtalk_sim::{
    AppPatch, DeliveryKind, DeliveryStatus, FrameCut, InjectEvent, InjectMessage, PushOutcome, SimConfig,
};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn no_ping() -> SimConfig {
    // Pings far away so frame order is predictable.
    SimConfig::fast().with_ping_interval(Duration::from_secs(3600))
}

#[tokio::test]
async fn open_returns_endpoint_and_ticket_and_validates_input() {
    let env = env(no_ping()).await;
    let r = env
        .open_raw(json!([{"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"}]))
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let endpoint = v["endpoint"].as_str().unwrap();
    assert!(
        endpoint.starts_with("ws://127.0.0.1:") && endpoint.ends_with("/connect"),
        "{endpoint}"
    );
    assert!(!v["ticket"].as_str().unwrap().is_empty());

    let r = env.open_raw(json!([{"type": "EVENT", "topic": "bpms"}])).await;
    assert_eq!(r.status(), 400);
    let r = env.open_raw(json!("nope")).await;
    assert_eq!(r.status(), 400);

    let r = env
        .http
        .post(env.url("/v1.0/gateway/connections/open"))
        .header("Accept", "application/json")
        .json(&json!({"clientId": APP, "clientSecret": "bad", "subscriptions": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    env.sim
        .update_app(
            APP,
            &AppPatch {
                stream_enabled: Some(false),
                ..AppPatch::default()
            },
        )
        .unwrap();
    let r = env.open_raw(json!([])).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "gateway.streamModeNotEnabled");

    // Without Accept: application/json the real server answers XML; recorded as a violation.
    env.sim
        .update_app(
            APP,
            &AppPatch {
                stream_enabled: Some(true),
                ..AppPatch::default()
            },
        )
        .unwrap();
    let r = env
        .http
        .post(env.url("/v1.0/gateway/connections/open"))
        .json(&json!({"clientId": APP, "clientSecret": SECRET, "subscriptions": []}))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().starts_with("<OpenConnectionResponse>"));
    assert!(
        env.sim
            .violations()
            .iter()
            .any(|v| v.kind == "open_without_accept_json")
    );
    assert_eq!(env.sim.open_log().len(), 6);
}

#[tokio::test]
async fn fail_next_opens_answers_the_injected_status() {
    let env = env(no_ping()).await;
    env.sim.fail_next_opens(2, 503);
    assert_eq!(env.open_raw(json!([])).await.status(), 503);
    assert_eq!(env.open_raw(json!([])).await.status(), 503);
    assert_eq!(env.open_raw(json!([])).await.status(), 200);
}

/// Wrong credentials on `connections/open`: HTTP 401 `authFailed` (zfanswer/dify-on-dingtalk#28).
#[tokio::test]
async fn wrong_credentials_on_open_get_401_auth_failed() {
    let env = env(no_ping()).await;
    let response = env
        .http
        .post(env.url("/v1.0/gateway/connections/open"))
        .header("accept", "application/json")
        .json(&json!({"clientId": APP, "clientSecret": "wrong", "subscriptions": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let v: Value = response.json().await.unwrap();
    assert_eq!(v["code"], "authFailed");
    assert_eq!(v["message"], "鉴权失败");
    // An injected 401 looks the same.
    env.sim.fail_next_opens(1, 401);
    let injected = env.open_raw(json!([])).await;
    assert_eq!(injected.status(), 401);
    assert_eq!(injected.json::<Value>().await.unwrap()["code"], "authFailed");
}

#[tokio::test]
async fn ticket_is_single_use_and_expires() {
    let env = env(no_ping().with_ticket_ttl(Duration::from_millis(300))).await;
    let url = env.ticket_url().await;
    let (_ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("first use works");
    let err = tokio_tungstenite::connect_async(&url)
        .await
        .expect_err("second use fails");
    assert!(err.to_string().contains("401"), "{err}");

    let url = env.ticket_url().await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let err = tokio_tungstenite::connect_async(&url).await.expect_err("expired");
    assert!(err.to_string().contains("401"), "{err}");

    let bad = url.replace("ticket=", "ticket=x");
    assert!(tokio_tungstenite::connect_async(&bad).await.is_err());
}

#[tokio::test]
async fn ping_frames_have_the_documented_shape_and_echo_is_recorded() {
    let env = env(SimConfig::fast().with_ping_interval(Duration::from_millis(100))).await;
    let mut ws = env.connect().await;
    let f = next_frame(&mut ws, T).await.unwrap();
    assert_eq!(f["specVersion"], "1.0");
    assert_eq!(f["type"], "SYSTEM");
    assert_eq!(f["headers"]["topic"], "ping");
    assert_eq!(f["headers"]["contentType"], "application/json");
    for h in ["messageId", "time", "connectionId", "appId"] {
        assert!(f["headers"][h].is_string(), "{h} must be a string");
    }
    assert!(f["headers"]["time"].as_str().unwrap().parse::<u64>().is_ok());
    let d = data(&f);
    assert!(d["opaque"].is_string());
    ack_ping(&mut ws, &f).await;

    // Second ping: answer with wrong data.
    let f2 = next_frame(&mut ws, T).await.unwrap();
    send_json(
        &mut ws,
        &json!({"code":200,"headers":{"contentType":"application/json","messageId":f2["headers"]["messageId"]},"message":"OK","data":"{}"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let pings = env.sim.pings();
    let p1 = pings
        .iter()
        .find(|p| p.message_id == f["headers"]["messageId"])
        .unwrap();
    assert_eq!(p1.echoed, Some(true));
    let p2 = pings
        .iter()
        .find(|p| p.message_id == f2["headers"]["messageId"])
        .unwrap();
    assert_eq!(p2.echoed, Some(false));
    assert!(env.sim.violations().iter().any(|v| v.kind == "ping_not_echoed"));
}

#[tokio::test]
async fn dm_text_is_delivered_with_fixture_shape() {
    let env = env(no_ping()).await;
    let mut ws = env.connect().await;
    env.sim.wait_for_connections(APP, 1, T).await.unwrap();
    let inj = env
        .sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "hello bot"))
        .unwrap();
    assert!(inj.delivered);
    let f = next_data_frame(&mut ws, T).await.unwrap();
    assert_eq!(f["type"], "CALLBACK");
    assert_eq!(f["headers"]["topic"], "/v1.0/im/bot/messages/get");
    let conn = &env.sim.open_connections(APP)[0];
    assert_eq!(f["headers"]["connectionId"], conn.connection_id.as_str());
    let d = data(&f);
    assert_eq!(d["msgId"], inj.msg_id.as_str());
    assert_eq!(d["conversationType"], "1");
    assert_eq!(d["text"]["content"], "hello bot");
    assert_eq!(d["senderStaffId"], ALICE);
    assert_eq!(d["robotCode"], APP);
    assert!(d["senderId"].as_str().unwrap().starts_with("$:LWCP_v1:$"));
    assert!(d.get("atUsers").is_none() && d.get("isInAtList").is_none());
    assert_eq!(
        d["sessionWebhookExpiredTime"].as_u64().unwrap() - d["createAt"].as_u64().unwrap(),
        90 * 60 * 1000
    );
    assert!(
        d["sessionWebhook"]
            .as_str()
            .unwrap()
            .contains("/robot/sendBySession?session=")
    );
    ack_callback(&mut ws, &f).await;
    let del = env
        .sim
        .wait_for_delivery(&inj.msg_id, DeliveryStatus::Acked, T)
        .await
        .unwrap();
    assert_eq!(del.pushes.len(), 1);
    assert_eq!(del.kind, DeliveryKind::BotMessage);
    assert!(env.sim.violations().is_empty(), "{:?}", env.sim.violations());
}

#[tokio::test]
async fn group_at_message_strips_mention_and_lists_at_users() {
    let env = env(no_ping()).await;
    let mut ws = env.connect().await;
    env.sim.wait_for_connections(APP, 1, T).await.unwrap();
    let inj = env
        .sim
        .inject_message(
            &InjectMessage::group_text(APP, ALICE, &env.group, "check the build", true).at_users([BOB]),
        )
        .unwrap();
    let d = data(&next_data_frame(&mut ws, T).await.unwrap());
    assert_eq!(d["msgId"], inj.msg_id.as_str());
    assert_eq!(d["conversationType"], "2");
    assert_eq!(d["conversationTitle"], "Gateway Test Group");
    assert_eq!(d["isInAtList"], true);
    assert_eq!(d["text"]["content"], " check the build @Bob Li ");
    let at = d["atUsers"].as_array().unwrap();
    assert_eq!(at[0]["dingtalkId"], d["chatbotUserId"]);
    assert_eq!(at[1]["staffId"], BOB);
}

#[tokio::test]
async fn non_at_group_message_is_recorded_but_not_delivered() {
    let env = env(no_ping()).await;
    let mut ws = env.connect().await;
    env.sim.wait_for_connections(APP, 1, T).await.unwrap();
    let inj = env
        .sim
        .inject_message(&InjectMessage::group_text(
            APP,
            ALICE,
            &env.group,
            "just chatting",
            false,
        ))
        .unwrap();
    assert!(!inj.delivered);
    assert!(inj.not_delivered_reason.is_some());
    assert!(
        next_data_frame(&mut ws, Duration::from_millis(300))
            .await
            .is_err()
    );
    assert!(env.sim.delivery(&inj.msg_id).is_none());
    assert_eq!(env.sim.user_messages().len(), 1);
}

#[tokio::test]
async fn unacked_callback_is_redelivered_with_new_message_id_and_same_msg_id() {
    let env = env(no_ping().with_redelivery_timeout(Duration::from_millis(200))).await;
    let mut ws = env.connect().await;
    env.sim.wait_for_connections(APP, 1, T).await.unwrap();
    let inj = env
        .sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "hi"))
        .unwrap();
    let f1 = next_data_frame(&mut ws, T).await.unwrap();
    let f2 = next_data_frame(&mut ws, T).await.unwrap();
    assert_ne!(f1["headers"]["messageId"], f2["headers"]["messageId"]);
    assert_eq!(data(&f1)["msgId"], data(&f2)["msgId"]);
    assert_eq!(f1["data"], f2["data"]);
    ack_callback(&mut ws, &f2).await;
    let d = env
        .sim
        .wait_for_delivery(&inj.msg_id, DeliveryStatus::Acked, T)
        .await
        .unwrap();
    assert_eq!(d.pushes.len(), 2);
    assert_eq!(d.pushes[0].outcome, PushOutcome::TimedOut);
    assert_eq!(d.pushes[1].outcome, PushOutcome::Acked);
}

#[tokio::test]
async fn redelivery_gives_up_after_max_attempts() {
    let env = env(no_ping()
        .with_redelivery_timeout(Duration::from_millis(100))
        .with_max_delivery_attempts(2))
    .await;
    let mut ws = env.connect().await;
    env.sim.wait_for_connections(APP, 1, T).await.unwrap();
    let inj = env
        .sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "hi"))
        .unwrap();
    let d = env
        .sim
        .wait_for_delivery(&inj.msg_id, DeliveryStatus::GaveUp, T)
        .await
        .unwrap();
    assert_eq!(d.pushes.len(), 2);
    drop(ws.next().await);
}

#[tokio::test]
async fn pending_messages_go_out_when_a_connection_opens() {
    let env = env(no_ping()).await;
    let inj = env
        .sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "early"))
        .unwrap();
    assert_eq!(
        env.sim.delivery(&inj.msg_id).unwrap().status,
        DeliveryStatus::Pending
    );
    let mut ws = env.connect().await;
    let f = next_data_frame(&mut ws, T).await.unwrap();
    assert_eq!(data(&f)["msgId"], inj.msg_id.as_str());
}

#[tokio::test]
async fn dropped_connection_moves_unacked_push_to_another_connection() {
    let env = env(no_ping()).await;
    let mut a = env.connect().await;
    env.sim.wait_for_connections(APP, 1, T).await.unwrap();
    let inj = env
        .sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "hi"))
        .unwrap();
    let f1 = next_data_frame(&mut a, T).await.unwrap();
    let mut b = env.connect().await;
    env.sim.wait_for_connections(APP, 2, T).await.unwrap();
    // Close `a` abruptly from the server side: the push moves to `b`.
    let conn_a = f1["headers"]["connectionId"].as_str().unwrap().to_owned();
    env.sim.drop_connections(APP);
    let info = env.sim.wait_for_close(&conn_a, T).await.unwrap();
    assert!(info.close_reason.unwrap().contains("dropped"));
    // The client sees the stream end without a close frame.
    let end = tokio::time::timeout(T, a.next()).await.unwrap();
    assert!(!matches!(end, Some(Ok(Message::Close(_)))), "{end:?}");
    // b was dropped too; reconnect and get the redelivery.
    drop(b.next().await);
    let mut c = env.connect().await;
    let f2 = next_data_frame(&mut c, T).await.unwrap();
    assert_eq!(data(&f2)["msgId"], inj.msg_id.as_str());
    assert_ne!(f2["headers"]["messageId"], f1["headers"]["messageId"]);
}

#[tokio::test]
async fn client_close_redelivers_immediately_to_the_other_connection() {
    let env = env(no_ping().with_redelivery_timeout(Duration::from_secs(30))).await;
    let a = env.connect().await;
    let b = env.connect().await;
    env.sim.wait_for_connections(APP, 2, T).await.unwrap();
    let inj = env
        .sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "hi"))
        .unwrap();
    let del = env.sim.wait_for_pushes(&inj.msg_id, 1, T).await.unwrap();
    let first_conn = del.pushes[0].connection_id.clone();
    let conns = env.sim.open_connections(APP);
    let (mut gone, mut stays) = if conns[0].connection_id == first_conn {
        (a, b)
    } else {
        (b, a)
    };
    let _ = next_data_frame(&mut gone, T).await.unwrap();
    gone.close(None).await.unwrap();
    let f = next_data_frame(&mut stays, T).await.unwrap();
    assert_eq!(data(&f)["msgId"], inj.msg_id.as_str());
    let del = env.sim.delivery(&inj.msg_id).unwrap();
    assert_eq!(del.pushes[0].outcome, PushOutcome::ConnectionClosed);
}

#[tokio::test]
async fn disconnect_frame_then_close_after_grace() {
    let env = env(no_ping().with_disconnect_grace(Duration::from_millis(300))).await;
    let mut ws = env.connect().await;
    let conn = env.sim.wait_for_connections(APP, 1, T).await.unwrap()[0].clone();
    assert_eq!(env.sim.send_disconnect(APP), 1);
    let f = next_frame(&mut ws, T).await.unwrap();
    assert_eq!(f["type"], "SYSTEM");
    assert_eq!(f["headers"]["topic"], "disconnect");
    assert_eq!(data(&f)["reason"], "connection is expired");
    send_json(
        &mut ws,
        &json!({"code":200,"headers":{"contentType":"application/json","messageId":f["headers"]["messageId"]},"message":"OK","data":""}),
    )
    .await;
    // Draining: new messages do not go to this connection.
    let inj = env
        .sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "hi"))
        .unwrap();
    let started = tokio::time::Instant::now();
    let err = next_frame(&mut ws, T).await.unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    let info = env.sim.wait_for_close(&conn.connection_id, T).await.unwrap();
    assert!(info.disconnect_acked);
    assert!(info.draining);
    assert_eq!(
        env.sim.delivery(&inj.msg_id).unwrap().status,
        DeliveryStatus::Pending
    );
}

#[tokio::test]
async fn a_cut_after_a_frame_drops_the_socket_before_the_ack_and_redelivers() {
    let env = env(no_ping()).await;
    let mut a = env.connect().await;
    let conn = env.sim.wait_for_connections(APP, 1, T).await.unwrap()[0].clone();
    assert_eq!(env.sim.cut_next_frame(APP, FrameCut::AfterFrame), 1);
    let inj = env
        .sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "cut"))
        .unwrap();
    // The whole frame arrives, then the stream ends without a close frame.
    let f1 = next_data_frame(&mut a, T).await.unwrap();
    assert_eq!(data(&f1)["msgId"], inj.msg_id.as_str());
    let end = tokio::time::timeout(T, a.next()).await.unwrap();
    assert!(!matches!(end, Some(Ok(Message::Close(_)))), "{end:?}");
    let info = env.sim.wait_for_close(&conn.connection_id, T).await.unwrap();
    assert!(info.close_reason.unwrap().contains("cut by simulator"));
    // Only the next frame is cut: the redelivery on a new connection arrives whole.
    let mut b = env.connect().await;
    let f2 = next_data_frame(&mut b, T).await.unwrap();
    assert_eq!(data(&f2)["msgId"], inj.msg_id.as_str());
    let d = env.sim.delivery(&inj.msg_id).unwrap();
    assert_eq!(d.pushes[0].outcome, PushOutcome::ConnectionClosed);
    ack_callback(&mut b, &f2).await;
    env.sim
        .wait_for_delivery(&inj.msg_id, DeliveryStatus::Acked, T)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_cut_mid_frame_writes_half_the_frame_then_drops_the_socket() {
    let env = env(no_ping()).await;
    let mut a = env.connect().await;
    env.sim.wait_for_connections(APP, 1, T).await.unwrap();
    env.sim.cut_next_frame(APP, FrameCut::MidFrame);
    let inj = env
        .sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "cut in half"))
        .unwrap();
    let msg = tokio::time::timeout(T, a.next()).await.unwrap().unwrap().unwrap();
    let Message::Text(text) = msg else {
        panic!("expected the cut text, got {msg:?}")
    };
    assert!(text.as_str().starts_with('{'), "{text}");
    assert!(
        serde_json::from_str::<Value>(text.as_str()).is_err(),
        "half a frame: {text}"
    );
    let end = tokio::time::timeout(T, a.next()).await.unwrap();
    assert!(!matches!(end, Some(Ok(Message::Close(_)))), "{end:?}");
    let mut b = env.connect().await;
    let f = next_data_frame(&mut b, T).await.unwrap();
    assert_eq!(data(&f)["msgId"], inj.msg_id.as_str());
}

#[tokio::test]
async fn zombie_stops_pings_and_frames() {
    let env = env(SimConfig::fast().with_ping_interval(Duration::from_millis(100))).await;
    let mut ws = env.connect().await;
    let f = next_frame(&mut ws, T).await.unwrap();
    ack_ping(&mut ws, &f).await;
    assert_eq!(env.sim.set_zombie(APP, true), 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Drain anything in flight before the switch.
    while tokio::time::timeout(Duration::from_millis(50), ws.next())
        .await
        .is_ok()
    {}
    let inj = env
        .sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "lost"))
        .unwrap();
    {
        use futures_util::SinkExt as _;
        ws.send(Message::Ping(b"are you there".to_vec().into()))
            .await
            .unwrap();
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(400), ws.next())
            .await
            .is_err(),
        "no frames and no pong from a zombie"
    );
    let conn = &env.sim.open_connections(APP)[0];
    assert!(conn.zombie);
    assert!(conn.frames_swallowed >= 1);
    let d = env.sim.delivery(&inj.msg_id).unwrap();
    assert_eq!(d.pushes[0].outcome, PushOutcome::TimedOut);
    // Back to life: the redelivery arrives.
    env.sim.set_zombie(APP, false);
    let f = next_data_frame(&mut ws, T).await.unwrap();
    assert_eq!(data(&f)["msgId"], inj.msg_id.as_str());
}

#[tokio::test]
async fn event_frames_carry_the_envelope_and_need_success() {
    let env = env(no_ping().with_redelivery_timeout(Duration::from_millis(150))).await;
    let mut ws = env.connect().await;
    env.sim.wait_for_connections(APP, 1, T).await.unwrap();
    let id = env
        .sim
        .inject_event(&InjectEvent::new(
            APP,
            "bpms_instance_change",
            json!({"processInstanceId": "p1", "type": "finish"}),
        ))
        .unwrap();
    let f = next_data_frame(&mut ws, T).await.unwrap();
    assert_eq!(f["type"], "EVENT");
    assert_eq!(f["headers"]["topic"], "*");
    assert_eq!(f["headers"]["eventType"], "bpms_instance_change");
    assert_eq!(f["headers"]["eventId"], id.as_str());
    for h in [
        "eventBornTime",
        "eventCorpId",
        "eventUnifiedAppId",
        "appId",
        "connectionId",
    ] {
        assert!(f["headers"][h].is_string(), "{h}");
    }
    assert_eq!(data(&f)["processInstanceId"], "p1");
    // LATER → redelivered (same eventId).
    send_json(&mut ws, &json!({"code":200,"headers":{"contentType":"application/json","messageId":f["headers"]["messageId"]},"message":"OK","data":"{\"status\":\"LATER\"}"})).await;
    let f2 = next_data_frame(&mut ws, T).await.unwrap();
    assert_eq!(f2["headers"]["eventId"], id.as_str());
    send_json(&mut ws, &json!({"code":200,"headers":{"contentType":"application/json","messageId":f2["headers"]["messageId"]},"message":"OK","data":"{\"status\":\"SUCCESS\",\"message\":\"success\"}"})).await;
    let d = env
        .sim
        .wait_for_delivery(&id, DeliveryStatus::Acked, T)
        .await
        .unwrap();
    assert_eq!(d.pushes[0].outcome, PushOutcome::Rejected);
}

#[tokio::test]
async fn malformed_acks_are_recorded_as_violations() {
    let env = env(no_ping()).await;
    let mut ws = env.connect().await;
    env.sim.wait_for_connections(APP, 1, T).await.unwrap();
    env.sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "hi"))
        .unwrap();
    let f = next_data_frame(&mut ws, T).await.unwrap();
    send_json(&mut ws, &json!("not an object")).await;
    ws.send_text("{oops").await;
    send_json(
        &mut ws,
        &json!({"code":200,"headers":{"contentType":"application/json"},"data":"{}"}),
    )
    .await;
    send_json(&mut ws, &json!({"code":200,"headers":{"contentType":"application/json","messageId":f["headers"]["messageId"]},"message":"OK","data":{"response":null}})).await;
    send_json(&mut ws, &json!({"code":200,"headers":{"contentType":"application/json","messageId":"never-sent"},"message":"OK","data":""})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let kinds: Vec<String> = env.sim.violations().into_iter().map(|v| v.kind).collect();
    for k in [
        "ack_not_object",
        "ack_not_json",
        "ack_missing_message_id",
        "ack_data_not_string",
        "ack_unknown_message_id",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
}

trait SendText {
    async fn send_text(&mut self, t: &str);
}

impl SendText for Ws {
    async fn send_text(&mut self, t: &str) {
        use futures_util::SinkExt as _;
        self.send(Message::Text(t.to_owned().into())).await.unwrap();
    }
}
