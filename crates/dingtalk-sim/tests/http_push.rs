mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::post;
use common::*;
use dingtalk_sim::push_crypto::{open_push, seal_reply};
use dingtalk_sim::{HttpPushSpec, InjectEvent, InjectMessage, SimConfig};
use serde_json::{Value, json};

const TOKEN: &str = "mryue";
const AES: &str = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7";

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Value>>>);

async fn receiver(
    State(seen): State<Seen>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    body: axum::Json<Value>,
) -> axum::Json<Value> {
    let (plain, owner) = open_push(
        TOKEN,
        AES,
        &q["msg_signature"],
        &q["timestamp"],
        &q["nonce"],
        body["encrypt"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(owner, APP);
    seen.0.lock().unwrap().push(serde_json::from_str(&plain).unwrap());
    axum::Json(seal_reply(TOKEN, AES, &owner, "success").unwrap())
}

async fn bad_receiver() -> &'static str {
    "success"
}

async fn bot_receiver(State(seen): State<Seen>, headers: HeaderMap, body: axum::Json<Value>) -> &'static str {
    seen.0.lock().unwrap().push(json!({
        "timestamp": headers["timestamp"].to_str().unwrap(),
        "sign": headers["sign"].to_str().unwrap(),
        "body": body.0,
    }));
    ""
}

async fn serve(router: Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, router).await.unwrap() });
    format!("http://{addr}/cb")
}

#[tokio::test]
async fn check_url_and_encrypted_events() {
    let env = env(SimConfig::fast()).await;
    let seen = Seen::default();
    let url = serve(
        Router::new()
            .route("/cb", post(receiver))
            .with_state(seen.clone()),
    )
    .await;
    env.sim
        .register_http_push(
            APP,
            HttpPushSpec {
                url,
                token: TOKEN.into(),
                aes_key: AES.into(),
                owner_key: None,
                events: true,
            },
        )
        .unwrap();
    let rec = env.sim.check_url(APP).await.unwrap();
    assert!(rec.ok, "{rec:?}");
    assert_eq!(seen.0.lock().unwrap()[0], json!({"EventType": "check_url"}));

    let id = env
        .sim
        .inject_event(&InjectEvent::new(
            APP,
            "bpms_task_change",
            json!({"processInstanceId": "p9", "type": "start"}),
        ))
        .unwrap();
    let log = env.sim.wait_for_http_pushes(2, T).await.unwrap();
    assert!(log[1].ok, "{:?}", log[1]);
    assert_eq!(log[1].key.as_deref(), Some(id.as_str()));
    let ev = seen.0.lock().unwrap()[1].clone();
    assert_eq!(ev["EventType"], "bpms_task_change");
    assert_eq!(ev["eventId"], id.as_str());
    assert_eq!(ev["processInstanceId"], "p9");
    assert!(ev["CorpId"].is_string() && ev["BizId"].is_string() && ev["EventTime"].is_string());
    assert!(
        env.sim.delivery(&id).is_none(),
        "HTTP push replaces Stream for events"
    );
}

#[tokio::test]
async fn plain_success_reply_is_rejected() {
    let env = env(SimConfig::fast()).await;
    let url = serve(Router::new().route("/cb", post(bad_receiver))).await;
    env.sim
        .register_http_push(
            APP,
            HttpPushSpec {
                url,
                token: TOKEN.into(),
                aes_key: AES.into(),
                owner_key: None,
                events: true,
            },
        )
        .unwrap();
    let rec = env.sim.check_url(APP).await.unwrap();
    assert!(!rec.ok);
    assert!(rec.error.unwrap().contains("JSON"));
}

#[tokio::test]
async fn http_mode_bot_callbacks_are_signed_with_the_app_secret() {
    let env = env(SimConfig::fast()).await;
    let seen = Seen::default();
    let url = serve(
        Router::new()
            .route("/cb", post(bot_receiver))
            .with_state(seen.clone()),
    )
    .await;
    env.sim.set_http_bot_callback(APP, Some(url)).unwrap();
    let inj = env
        .sim
        .inject_message(&InjectMessage::dm_text(APP, ALICE, "over http"))
        .unwrap();
    let log = env.sim.wait_for_http_pushes(1, T).await.unwrap();
    assert!(log[0].ok, "{:?}", log[0]);
    let got = seen.0.lock().unwrap()[0].clone();
    assert_eq!(got["body"]["msgId"], inj.msg_id.as_str());
    assert_eq!(got["body"]["text"]["content"], "over http");
    use base64::Engine as _;
    use hmac::Mac as _;
    let ts = got["timestamp"].as_str().unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{ts}\n{SECRET}").as_bytes());
    assert_eq!(
        got["sign"],
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert!(
        env.sim.delivery(&inj.msg_id).is_none(),
        "HTTP mode replaces Stream"
    );
}
