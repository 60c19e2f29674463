mod common;

use std::time::Duration;

use common::*;
use dingtalk_sim::{AppPatch, CardStatus, DeliveryStatus, InjectCardCallback, SimConfig};
use serde_json::{Value, json};

async fn call(env: &Env, token: &str, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let r = env
        .http
        .request(method, env.url(path))
        .header("x-acs-dingtalk-access-token", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn create_body(group: &str, out_track_id: &str) -> Value {
    json!({
        "cardTemplateId": "tpl.schema", "outTrackId": out_track_id,
        "cardData": {"cardParamMap": {"content": "", "flowStatus": "1"}},
        "callbackType": "STREAM",
        "openSpaceId": format!("dtv1.card//IM_GROUP.{group};IM_ROBOT.{ALICE}"),
        "imGroupOpenSpaceModel": {"supportForward": true},
        "imGroupOpenDeliverModel": {"robotCode": APP, "extension": {"dynamicSummary": "true"}},
        "imRobotOpenSpaceModel": {"supportForward": true},
        "imRobotOpenDeliverModel": {"spaceType": "IM_ROBOT", "robotCode": APP},
        "userIdType": 1
    })
}

fn stream(out_track_id: &str, content: &str, full: bool, fin: bool) -> Value {
    json!({"outTrackId": out_track_id, "guid": uuid_like(), "key": "content", "content": content,
           "isFull": full, "isFinalize": fin, "isError": false})
}

fn uuid_like() -> String {
    format!("{:032x}", rand_u128())
}

fn rand_u128() -> u128 {
    use std::time::{SystemTime, UNIX_EPOCH};
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() ^ u128::from(n) << 64
}

#[tokio::test]
async fn create_stream_finalize_and_update() {
    let env = env(SimConfig::fast()).await;
    let t = env.token().await;
    let (st, v) = call(
        &env,
        &t,
        reqwest::Method::POST,
        "/v1.0/card/instances/createAndDeliver",
        create_body(&env.group, "card_1"),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["success"], true);
    let results = v["result"]["deliverResults"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert!(
        results
            .iter()
            .all(|r| r["success"] == true && r["carrierId"].is_string())
    );
    assert_eq!(env.sim.sent_messages().len(), 2);

    let (st, v) = call(
        &env,
        &t,
        reqwest::Method::POST,
        "/v1.0/card/instances/createAndDeliver",
        create_body(&env.group, "card_1"),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(v["code"], "param.cardAlreadyExist");

    for (content, full, fin) in [
        ("Hel", true, false),
        ("lo", false, false),
        ("Hello world", true, true),
    ] {
        let (st, v) = call(
            &env,
            &t,
            reqwest::Method::PUT,
            "/v1.0/card/streaming",
            stream("card_1", content, full, fin),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v, json!({"success": true, "result": true}));
    }
    let card = env.sim.card("card_1").unwrap();
    assert_eq!(card.status, CardStatus::Finished);
    assert_eq!(card.card_data["content"], "Hello world");
    let after: Vec<&str> = card
        .stream_history
        .iter()
        .map(|u| u.value_after.as_str())
        .collect();
    assert_eq!(after, ["Hel", "Hello", "Hello world"]);
    assert!(env.sim.sent_messages().iter().all(|m| m.text == "Hello world"));

    // Merge vs replace.
    let upd = json!({"outTrackId": "card_1", "cardData": {"cardParamMap": {"flowStatus": "3"}},
                     "cardUpdateOptions": {"updateCardDataByKey": true}});
    assert_eq!(
        call(&env, &t, reqwest::Method::PUT, "/v1.0/card/instances", upd)
            .await
            .0,
        200
    );
    let card = env.sim.card("card_1").unwrap();
    assert_eq!(card.card_data["content"], "Hello world");
    assert_eq!(card.card_data["flowStatus"], "3");
    assert_eq!(card.flow_status, ["1", "3"], "creation, then the instance update");
    let upd = json!({"outTrackId": "card_1", "cardData": {"cardParamMap": {"only": "this"}}});
    assert_eq!(
        call(&env, &t, reqwest::Method::PUT, "/v1.0/card/instances", upd)
            .await
            .0,
        200
    );
    assert_eq!(env.sim.card("card_1").unwrap().card_data.len(), 1);
}

#[tokio::test]
async fn card_validation_errors() {
    let env = env(SimConfig::fast()).await;
    let t = env.token().await;
    let mut b = create_body(&env.group, "card_2");
    b["cardData"]["cardParamMap"]["config"] = json!({"autoLayout": true});
    let (st, v) = call(
        &env,
        &t,
        reqwest::Method::POST,
        "/v1.0/card/instances/createAndDeliver",
        b,
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(v["code"], "param.cardParamMapInvalid");
    let mut b = create_body(&env.group, "card_2");
    b["openSpaceId"] = json!(format!("IM_GROUP.{}", env.group));
    let (st, v) = call(
        &env,
        &t,
        reqwest::Method::POST,
        "/v1.0/card/instances/createAndDeliver",
        b,
    )
    .await;
    assert_eq!((st, v["code"].as_str()), (400, Some("param.openSpaceIdInvalid")));
    // Per-delivery failure with HTTP 200.
    let mut b = create_body(&env.group, "card_3");
    b["openSpaceId"] = json!("dtv1.card//IM_ROBOT.nobody");
    let (st, v) = call(
        &env,
        &t,
        reqwest::Method::POST,
        "/v1.0/card/instances/createAndDeliver",
        b,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["result"]["deliverResults"][0]["success"], false);
    assert!(v["result"]["deliverResults"][0]["errorMsg"].is_string());

    let (st, v) = call(
        &env,
        &t,
        reqwest::Method::PUT,
        "/v1.0/card/streaming",
        stream("missing", "x", true, false),
    )
    .await;
    assert_eq!((st, v["code"].as_str()), (400, Some("param.stream.outTrackId")));
    let mut s = stream("card_3", "x", true, false);
    s["guid"] = json!("");
    let (st, v) = call(&env, &t, reqwest::Method::PUT, "/v1.0/card/streaming", s).await;
    assert_eq!((st, v["code"].as_str()), (400, Some("param.stream.guidEmpty")));
}

#[tokio::test]
async fn streaming_permission_and_qps_limit() {
    let env = env(SimConfig::fast()).await;
    let t = env.token().await;
    call(
        &env,
        &t,
        reqwest::Method::POST,
        "/v1.0/card/instances/createAndDeliver",
        create_body(&env.group, "c"),
    )
    .await;
    env.sim.set_qps_limit(APP, "/v1.0/card/streaming", 3);
    let mut codes = Vec::new();
    for i in 0..5 {
        let (st, v) = call(
            &env,
            &t,
            reqwest::Method::PUT,
            "/v1.0/card/streaming",
            stream("c", &i.to_string(), true, false),
        )
        .await;
        codes.push(st);
        if st == 403 {
            assert_eq!(v["code"], "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi");
        }
    }
    // The 1-second window may roll over mid-loop; at least the budget holds within a window.
    assert!(codes.iter().filter(|c| **c == 403).count() >= 1, "{codes:?}");
    assert!(env.sim.qps_rejections(APP, "/v1.0/card/streaming") >= 1);
    assert_eq!(env.sim.api_call_count(APP, "/v1.0/card/streaming"), 5);
    let listed = env.sim.qps_rejection_counts();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].path, "/v1.0/card/streaming");
    assert_eq!(
        listed[0].count,
        env.sim.qps_rejections(APP, "/v1.0/card/streaming")
    );
    assert_eq!(
        env.sim.card_status_counts(),
        vec![(CardStatus::Streaming, 1)],
        "one card, streamed but not finished"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        call(
            &env,
            &t,
            reqwest::Method::PUT,
            "/v1.0/card/streaming",
            stream("c", "x", true, false)
        )
        .await
        .0,
        200
    );

    env.sim
        .update_app(
            APP,
            &AppPatch {
                permissions: Some(vec!["Card.Instance.Write".into()]),
                ..AppPatch::default()
            },
        )
        .unwrap();
    let (st, v) = call(
        &env,
        &t,
        reqwest::Method::PUT,
        "/v1.0/card/streaming",
        stream("c", "x", true, false),
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(v["code"], "Forbidden.AccessDenied.AccessTokenPermissionDenied");
    assert_eq!(
        v["accessdenieddetail"]["requiredScopes"],
        json!(["Card.Streaming.Write"])
    );
}

#[tokio::test]
async fn card_callback_over_stream_applies_the_ack_response() {
    let env = env(SimConfig::fast().with_ping_interval(Duration::from_secs(3600))).await;
    let t = env.token().await;
    call(
        &env,
        &t,
        reqwest::Method::POST,
        "/v1.0/card/instances/createAndDeliver",
        create_body(&env.group, "card_cb"),
    )
    .await;
    let mut ws = env.connect().await;
    env.sim.wait_for_connections(APP, 1, T).await.unwrap();
    let key = env
        .sim
        .inject_card_callback(&InjectCardCallback::new(
            "card_cb",
            ALICE,
            "feedback_up",
            json!({"value": "up"}),
        ))
        .unwrap();
    let f = next_data_frame(&mut ws, T).await.unwrap();
    assert_eq!(f["headers"]["topic"], "/v1.0/card/instances/callback");
    let d = data(&f);
    assert_eq!(d["type"], "actionCallback");
    assert_eq!(d["outTrackId"], "card_cb");
    assert_eq!(d["userId"], ALICE);
    assert_eq!(d["spaceType"], "IM_GROUP");
    let content: Value = serde_json::from_str(d["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["cardPrivateData"]["actionIds"], json!(["feedback_up"]));
    assert_eq!(content["cardPrivateData"]["params"]["value"], "up");
    let response = json!({"response": {"cardData": {"cardParamMap": {"feedback": "up"}},
        "userPrivateData": {"cardParamMap": {"voted": "true"}},
        "cardUpdateOptions": {"updateCardDataByKey": true, "updatePrivateDataByKey": true}}});
    send_json(&mut ws, &json!({"code": 200, "headers": {"contentType": "application/json", "messageId": f["headers"]["messageId"]},
                               "message": "OK", "data": response.to_string()})).await;
    env.sim
        .wait_for_delivery(&key, DeliveryStatus::Acked, T)
        .await
        .unwrap();
    let card = env.sim.card("card_cb").unwrap();
    assert_eq!(card.card_data["feedback"], "up");
    assert_eq!(card.card_data["flowStatus"], "1", "merged, not replaced");
    assert_eq!(card.private_data[ALICE]["voted"], "true");
}
