mod common;

use std::time::Duration;

use common::T;
use dingtalk_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

struct C {
    http: reqwest::Client,
    base: String,
}

impl C {
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn the_control_api_drives_a_whole_conversation() {
    let sim = Simulator::start_with(SimConfig::fast().with_ping_interval(Duration::from_secs(3600)))
        .await
        .unwrap();
    let c = C {
        http: dingtalk::tls::client_builder().build().unwrap(),
        base: sim.base_url().as_str().trim_end_matches('/').to_owned(),
    };
    let (st, app) = c
        .post(
            "/_sim/apps",
            json!({"client_id": "dingctl", "client_secret": "s", "name": "Ctl"}),
        )
        .await;
    assert_eq!(st, 200, "{app}");
    assert_eq!(app["robot_code"], "dingctl");
    assert_eq!(
        c.post(
            "/_sim/apps",
            json!({"client_id": "dingctl", "client_secret": "s"})
        )
        .await
        .0,
        409
    );
    c.post("/_sim/users", json!({"staff_id": "u1", "nick": "Uma"}))
        .await;
    c.post("/_sim/users", json!({"staff_id": "u2", "nick": "Ivo"}))
        .await;
    let (_, g) = c
        .post("/_sim/groups", json!({"title": "Ops", "members": ["u1", "u2"]}))
        .await;
    let cid = g["open_conversation_id"].as_str().unwrap().to_owned();
    let (st, g) = c
        .post("/_sim/groups/bots", json!({"group": cid, "app": "dingctl"}))
        .await;
    assert_eq!(st, 200);
    assert_eq!(g["bots"], json!(["dingctl"]));

    let (st, inj) = c
        .post(
            "/_sim/inject/message",
            json!({"app": "dingctl", "sender": "u1", "group": cid,
              "message": {"type": "text", "text": "status?"}, "at_bot": true}),
        )
        .await;
    assert_eq!(st, 200, "{inj}");
    assert_eq!(inj["delivered"], true);
    let (st, err) = c
        .post(
            "/_sim/inject/message",
            json!({"app": "dingctl", "sender": "nobody", "message": {"type": "text", "text": "x"}}),
        )
        .await;
    assert_eq!(st, 404, "{err}");

    // Reply through the sessionWebhook and read it back like the chat page does.
    assert_eq!(sim.sent_count(), 0);
    let none_yet = sim.wait_for_sent_count(1, Duration::from_millis(50)).await;
    assert!(none_yet.is_err(), "nothing was sent yet: {none_yet:?}");
    let webhook = inj["session_webhook"].as_str().unwrap();
    c.http
        .post(webhook)
        .json(&json!({"msgtype": "text", "text": {"content": "all green"}}))
        .send()
        .await
        .unwrap();
    sim.wait_for_sent_count(1, T).await.unwrap();
    assert_eq!(sim.sent_count(), sim.sent_messages().len());
    let sent = c.get(&format!("/_sim/sent?conversation={cid}")).await;
    assert_eq!(sent[0]["text"], "all green");
    assert_eq!(c.get("/_sim/sent?since=1").await, json!([]));
    let mine = c.get(&format!("/_sim/user_messages?conversation={cid}")).await;
    assert_eq!(mine[0]["text"], "status?");
    let dels = c.get("/_sim/deliveries").await;
    assert_eq!(dels[0]["status"], "pending");
    let stats = c.get("/_sim/stats").await;
    assert!(
        stats["api_calls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["path"] == "/robot/sendBySession")
    );
    assert!(c.get("/_sim/state").await["groups"].as_array().unwrap().len() == 1);

    for (path, body) in [
        ("/_sim/faults/fail_next_opens", json!({"n": 1, "status": 503})),
        (
            "/_sim/faults/api",
            json!({"path_prefix": "/v1.0/robot/", "latency_ms": 5}),
        ),
        (
            "/_sim/faults/qps",
            json!({"app": "dingctl", "api": "/v1.0/card/streaming", "limit": 1}),
        ),
        ("/_sim/faults/zombie", json!({"app": "dingctl", "on": false})),
        ("/_sim/faults/disconnect", json!({"app": "dingctl"})),
        ("/_sim/faults/drop_connections", json!({"app": "dingctl"})),
        ("/_sim/apps/expire_tokens", json!({"app": "dingctl"})),
        ("/_sim/faults/clear", json!({})),
    ] {
        assert_eq!(c.post(path, body).await.0, 200, "{path}");
    }
    let r = c
        .http
        .post(format!("{}/v1.0/gateway/connections/open", c.base))
        .header("Accept", "application/json")
        .json(&json!({"clientId": "dingctl", "clientSecret": "s", "subscriptions": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "faults were cleared");

    let page = c
        .http
        .get(format!("{}/", c.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("DingTalk simulator") && page.contains("/inject/message"));
    sim.shutdown().await;
}

#[tokio::test]
async fn demo_seed_creates_a_usable_org() {
    let sim = Simulator::start_with(SimConfig::fast()).await.unwrap();
    let seed = sim.seed_demo().unwrap();
    assert_eq!(sim.apps().len(), 1);
    assert_eq!(sim.users().len(), 3);
    assert!(sim.groups()[0].bots.contains(&seed.client_id));
    assert!(seed.custom_robot.secret.as_deref().unwrap().starts_with("SEC"));
    assert!(seed.custom_robot.webhook_url.starts_with(sim.base_url().as_str()));
    assert_eq!(sim.endpoints().api, sim.base_url());
}
