//! Card callbacks over HTTP: registering a route (`POST /v1.0/card/callbacks/register`),
//! creating `callbackType: HTTP` cards against it, and presses POSTed to the registered URL
//! with the `x-ddpaas-signature` headers, whose answer updates the card.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use base64::Engine as _;
use common::*;
use dingtalk_sim::{InjectCardCallback, SimConfig};
use hmac::{Hmac, Mac as _};
use serde_json::{Value, json};

const REGISTER: &str = "/v1.0/card/callbacks/register";
const CREATE: &str = "/v1.0/card/instances/createAndDeliver";

async fn call(env: &Env, token: &str, path: &str, body: Value) -> (u16, Value) {
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

fn http_card(out_track_id: &str, route_key: Option<&str>) -> Value {
    let mut body = json!({
        "cardTemplateId": "approval.schema", "outTrackId": out_track_id,
        "cardData": {"cardParamMap": {"status": "pending"}},
        "callbackType": "HTTP",
        "openSpaceId": format!("dtv1.card//IM_ROBOT.{ALICE}"),
        "imRobotOpenSpaceModel": {"supportForward": true},
        "imRobotOpenDeliverModel": {"spaceType": "IM_ROBOT", "robotCode": APP},
    });
    if let Some(key) = route_key {
        body["callbackRouteKey"] = json!(key);
    }
    body
}

/// One POST as the receiver saw it: the signature headers and the body.
type Received = (Option<String>, Option<String>, Value);

/// Every POST the receiver saw.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Received>>>);

async fn receiver(
    State(seen): State<Seen>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> axum::Json<Value> {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    seen.0.lock().unwrap().push((
        header("x-ddpaas-signature-timestamp"),
        header("x-ddpaas-signature"),
        body.0,
    ));
    axum::Json(json!({
        "cardData": {"cardParamMap": {"status": "allowed"}},
        "userPrivateData": {"cardParamMap": {"pressed": "yes"}},
        "cardUpdateOptions": {"updateCardDataByKey": true, "updatePrivateDataByKey": true},
    }))
}

async fn serve(seen: Seen) -> String {
    let router = Router::new().route("/card", post(receiver)).with_state(seen);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, router).await.unwrap() });
    format!("http://{addr}/card")
}

/// Computed here, not with the sim's code: `Base64(HMAC-SHA256(apiSecret, timestamp))`.
fn expected_signature(secret: &str, timestamp: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn register_answers_the_binding_and_changes_it_only_when_forced() {
    let env = env(SimConfig::fast()).await;
    let t = env.token().await;
    let (st, v) = call(&env, &t, REGISTER, json!({"callbackUrl": "https://a.example/cb"})).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (400, Some("param.callbackRouteKeyEmpty")),
        "{v}"
    );
    let (st, v) = call(
        &env,
        &t,
        REGISTER,
        json!({"callbackRouteKey": "k1", "callbackUrl": ""}),
    )
    .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (400, Some("param.callbackUrlEmpty")),
        "{v}"
    );
    assert!(v["requestid"].is_string(), "shaped like the other 400s: {v}");
    let (st, v) = call(&env, &t, REGISTER, json!({})).await;
    assert_eq!((st, v["code"].as_str()), (400, Some("param.empty")), "{v}");
    let (st, _) = call(&env, "bad-token", REGISTER, json!({"callbackRouteKey": "k1"})).await;
    assert_eq!(st, 400, "an unknown token is refused like on every OpenAPI call");

    let first = json!({"callbackRouteKey": "k1", "callbackUrl": "https://a.example/cb", "apiSecret": "s1", "forceUpdate": false});
    let (st, v) = call(&env, &t, REGISTER, first.clone()).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v,
        json!({"success": true, "result": {"callbackUrl": "https://a.example/cb", "apiSecret": "s1"}})
    );
    // Another URL without forceUpdate: the old binding stays and is what the answer shows.
    let moved = json!({"callbackRouteKey": "k1", "callbackUrl": "https://b.example/cb", "apiSecret": "s2", "forceUpdate": false});
    let (_, v) = call(&env, &t, REGISTER, moved.clone()).await;
    assert_eq!(v["result"]["callbackUrl"], "https://a.example/cb");
    let mut forced = moved;
    forced["forceUpdate"] = json!(true);
    let (_, v) = call(&env, &t, REGISTER, forced).await;
    assert_eq!(
        v["result"],
        json!({"callbackUrl": "https://b.example/cb", "apiSecret": "s2"})
    );
    let routes = env.sim.card_callback_routes();
    assert_eq!(routes.len(), 1);
    assert_eq!(
        (routes[0].url.as_str(), routes[0].updates),
        ("https://b.example/cb", 2)
    );
}

#[tokio::test]
async fn http_cards_need_a_registered_route_key() {
    let env = env(SimConfig::fast()).await;
    let t = env.token().await;
    let (st, v) = call(&env, &t, CREATE, http_card("c1", None)).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (400, Some("param.callbackRouteKeyEmpty")),
        "{v}"
    );
    let (st, v) = call(&env, &t, CREATE, http_card("c1", Some("nobody"))).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (400, Some("param.callbackRouteKeyNotExist")),
        "{v}"
    );
    assert!(env.sim.card("c1").is_none(), "a refused card is not created");
    call(
        &env,
        &t,
        REGISTER,
        json!({"callbackRouteKey": "k1", "callbackUrl": "https://a.example/cb"}),
    )
    .await;
    let (st, v) = call(&env, &t, CREATE, http_card("c1", Some("k1"))).await;
    assert_eq!(st, 200, "{v}");
    let card = env.sim.card("c1").unwrap();
    assert_eq!(card.callback_type.as_deref(), Some("HTTP"));
    assert_eq!(card.callback_route_key.as_deref(), Some("k1"));
}

#[tokio::test]
async fn a_press_on_an_http_card_is_posted_signed_and_its_answer_updates_the_card() {
    let env = env(SimConfig::fast()).await;
    let t = env.token().await;
    let seen = Seen::default();
    let url = serve(seen.clone()).await;
    call(
        &env,
        &t,
        REGISTER,
        json!({"callbackRouteKey": "k1", "callbackUrl": url, "apiSecret": "card-secret"}),
    )
    .await;
    let (st, v) = call(&env, &t, CREATE, http_card("c1", Some("k1"))).await;
    assert_eq!(st, 200, "{v}");

    let key = env
        .sim
        .inject_card_callback(&InjectCardCallback::new(
            "c1",
            ALICE,
            "approval_allow_once",
            json!({}),
        ))
        .unwrap();
    let pushes = env
        .sim
        .wait_for_http_pushes(1, Duration::from_secs(5))
        .await
        .unwrap();
    let push = &pushes[0];
    assert_eq!(
        (push.kind.as_str(), push.key.as_deref()),
        ("card_callback", Some(key.as_str()))
    );
    assert!(push.ok && push.status == Some(200), "{push:?}");
    assert_eq!(
        push.response.as_ref().unwrap()["cardData"]["cardParamMap"]["status"],
        "allowed"
    );

    let (timestamp, signature, body) = seen.0.lock().unwrap()[0].clone();
    let timestamp = timestamp.expect("signed: the route has an apiSecret");
    assert_eq!(
        signature.as_deref(),
        Some(expected_signature("card-secret", &timestamp).as_str())
    );
    assert!(
        timestamp.parse::<u64>().unwrap() > 1_600_000_000_000,
        "epoch ms: {timestamp}"
    );
    assert_eq!(body["type"], "actionCallback");
    assert_eq!(body["outTrackId"], "c1");
    assert_eq!(body["userId"], ALICE);
    let content: Value = serde_json::from_str(body["content"].as_str().unwrap()).unwrap();
    assert_eq!(
        content["cardPrivateData"]["actionIds"],
        json!(["approval_allow_once"])
    );

    let card = env.sim.card("c1").unwrap();
    assert_eq!(card.card_data["status"], "allowed");
    assert_eq!(card.private_data[ALICE]["pressed"], "yes");
    assert!(
        env.sim.deliveries().is_empty(),
        "nothing went over Stream for an HTTP card"
    );
}

#[tokio::test]
async fn a_route_without_api_secret_posts_unsigned_and_a_refusal_changes_nothing() {
    let env = env(SimConfig::fast()).await;
    let t = env.token().await;
    // Nobody listens here: the push fails and the card keeps its data.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}/card", l.local_addr().unwrap());
    drop(l);
    call(
        &env,
        &t,
        REGISTER,
        json!({"callbackRouteKey": "k2", "callbackUrl": dead}),
    )
    .await;
    call(&env, &t, CREATE, http_card("c2", Some("k2"))).await;
    env.sim
        .inject_card_callback(&InjectCardCallback::new("c2", ALICE, "x", json!({})))
        .unwrap();
    let pushes = env
        .sim
        .wait_for_http_pushes(1, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(!pushes[0].ok && pushes[0].error.is_some(), "{:?}", pushes[0]);
    assert_eq!(env.sim.card("c2").unwrap().card_data["status"], "pending");

    let seen = Seen::default();
    let url = serve(seen.clone()).await;
    call(
        &env,
        &t,
        REGISTER,
        json!({"callbackRouteKey": "k2", "callbackUrl": url, "forceUpdate": true}),
    )
    .await;
    env.sim
        .inject_card_callback(&InjectCardCallback::new("c2", ALICE, "x", json!({})))
        .unwrap();
    env.sim
        .wait_for_http_pushes(2, Duration::from_secs(5))
        .await
        .unwrap();
    let (timestamp, signature, _) = seen.0.lock().unwrap()[0].clone();
    assert_eq!(
        (timestamp, signature),
        (None, None),
        "no apiSecret, no signature headers"
    );
}
