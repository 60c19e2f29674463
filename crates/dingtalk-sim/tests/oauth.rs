mod common;

use std::time::Duration;

use common::*;
use dingtalk_sim::SimConfig;
use serde_json::{Value, json};

#[tokio::test]
async fn token_ok_reused_and_wrong_secret_rejected() {
    let env = env(SimConfig::fast()).await;
    let r = env
        .http
        .post(env.url("/v1.0/oauth2/accessToken"))
        .json(&json!({"appKey": APP, "appSecret": SECRET}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["expireIn"], 7200);
    let t1 = v["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(env.token().await, t1, "same token inside the validity window");

    let r = env
        .http
        .post(env.url("/v1.0/oauth2/accessToken"))
        .json(&json!({"appKey": APP, "appSecret": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "invalidClientIdOrSecret");
    assert!(v["requestid"].is_string());
    assert_eq!(env.sim.token_calls(APP), 3);

    // Legacy token endpoint shares the store.
    let v: Value = env
        .http
        .get(env.url(&format!("/gettoken?appkey={APP}&appsecret={SECRET}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["errcode"], 0);
    assert_eq!(v["access_token"], t1.as_str());
    let v: Value = env
        .http
        .get(env.url(&format!("/gettoken?appkey={APP}&appsecret=bad")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(v["errcode"], 0);
}

#[tokio::test]
async fn tokens_expire_and_can_be_force_expired() {
    let env = env(SimConfig::fast().with_token_ttl(Duration::from_millis(300))).await;
    let t1 = env.token().await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let t2 = env.token().await;
    assert_ne!(t1, t2, "a new token after expiry");
    assert_eq!(env.sim.expire_tokens(APP), 1);
    let t3 = env.token().await;
    assert_ne!(t2, t3);
}

#[tokio::test]
async fn unknown_routes_get_a_dingtalk_shaped_404() {
    let env = env(SimConfig::fast()).await;
    let r = env.http.post(env.url("/v1.0/robot/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "InvalidAction.NotFound");
}
