//! Shared helpers: a seeded simulator and a raw WebSocket client (not the dingtalk crate).
#![allow(dead_code)]

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use dingtalk_sim::{AppSpec, GroupSpec, SimConfig, Simulator, UserSpec};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const APP: &str = "dingq7vxkt3mwz2hb8ns";
pub const SECRET: &str = "sim-secret-1";
pub const ALICE: &str = "0312454236781234";
pub const BOB: &str = "0298765432109876";

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct Env {
    pub sim: Simulator,
    pub http: reqwest::Client,
    pub group: String,
}

pub async fn env(config: SimConfig) -> Env {
    let sim = Simulator::start_with(config).await.expect("sim starts");
    sim.create_app(AppSpec::new(APP, SECRET).name("GatewayBot"))
        .unwrap();
    sim.create_user(UserSpec::new(ALICE, "Alice Zhang")).unwrap();
    sim.create_user(UserSpec::new(BOB, "Bob Li")).unwrap();
    let group = sim
        .create_group(GroupSpec::new("Gateway Test Group", [ALICE, BOB]).with_bot(APP))
        .unwrap();
    Env {
        sim,
        http: dingtalk::tls::client_builder().build().unwrap(),
        group: group.open_conversation_id,
    }
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sim.base_url().as_str().trim_end_matches('/'), path)
    }

    pub async fn token(&self) -> String {
        let v: Value = self
            .http
            .post(self.url("/v1.0/oauth2/accessToken"))
            .json(&json!({"appKey": APP, "appSecret": SECRET}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["accessToken"].as_str().unwrap().to_owned()
    }

    pub async fn open_raw(&self, subs: Value) -> reqwest::Response {
        self.http
            .post(self.url("/v1.0/gateway/connections/open"))
            .header("Accept", "application/json")
            .json(&json!({"clientId": APP, "clientSecret": SECRET, "subscriptions": subs, "ua": "test/0.1"}))
            .send()
            .await
            .unwrap()
    }

    /// Returns `endpoint?ticket=…`.
    pub async fn ticket_url(&self) -> String {
        let v: Value = self
            .open_raw(json!([
                {"type": "EVENT", "topic": "*"},
                {"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"},
                {"type": "CALLBACK", "topic": "/v1.0/card/instances/callback"}
            ]))
            .await
            .json()
            .await
            .unwrap();
        format!(
            "{}?ticket={}",
            v["endpoint"].as_str().unwrap(),
            v["ticket"].as_str().unwrap()
        )
    }

    pub async fn connect(&self) -> Ws {
        let url = self.ticket_url().await;
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws connects");
        ws
    }
}

/// Next text frame as JSON, within `timeout`.
pub async fn next_frame(ws: &mut Ws, timeout: Duration) -> Result<Value> {
    loop {
        let msg = tokio::time::timeout(timeout, ws.next())
            .await
            .context("timed out waiting for a frame")?
            .context("stream ended")??;
        match msg {
            Message::Text(t) => return Ok(serde_json::from_str(t.as_str())?),
            Message::Close(c) => bail!("closed: {c:?}"),
            _ => {}
        }
    }
}

/// Next non-ping frame; pings are answered.
pub async fn next_data_frame(ws: &mut Ws, timeout: Duration) -> Result<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let f = next_frame(ws, left).await?;
        if f["headers"]["topic"] == "ping" {
            ack_ping(ws, &f).await;
            continue;
        }
        return Ok(f);
    }
}

pub async fn send_json(ws: &mut Ws, v: &Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

pub async fn ack_ping(ws: &mut Ws, f: &Value) {
    send_json(
        ws,
        &json!({"code": 200, "headers": {"contentType": "application/json", "messageId": f["headers"]["messageId"]},
                "message": "OK", "data": f["data"]}),
    )
    .await;
}

pub async fn ack_callback(ws: &mut Ws, f: &Value) {
    send_json(
        ws,
        &json!({"code": 200, "headers": {"contentType": "application/json", "messageId": f["headers"]["messageId"]},
                "message": "OK", "data": "{\"response\":null}"}),
    )
    .await;
}

pub fn data(f: &Value) -> Value {
    serde_json::from_str(f["data"].as_str().expect("data is a string")).expect("data is JSON")
}

pub const T: Duration = Duration::from_secs(5);
