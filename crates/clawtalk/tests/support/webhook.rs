//! HTTP-mode helpers: where the gateway listens, and hand-made (signed, forged, replayed)
//! requests to it.

use std::net::SocketAddr;

use serde_json::json;

use super::process::GatewayProcess;
use super::{TIMEOUT, wait_until};

/// Waits for the gateway's "DingTalk webhooks listening on http://…" line (it binds
/// `gateway.port: 0`, so the port is only known from the log).
pub async fn listen_addr(process: &mut GatewayProcess) -> SocketAddr {
    const MARK: &str = "DingTalk webhooks listening on http://";
    wait_until("the gateway to log its webhook address", TIMEOUT, || {
        process.assert_running();
        let log = process.log();
        let rest = &log[log.find(MARK)? + MARK.len()..];
        rest[..rest.find('/')?].parse().ok()
    })
    .await
}

/// Waits for the gateway's "gateway HTTP listening on http://…" line: the listener's address
/// whether or not an account receives webhooks yet.
pub async fn gateway_addr(process: &mut GatewayProcess) -> SocketAddr {
    const MARK: &str = "gateway HTTP listening on http://";
    wait_until("the gateway to log its HTTP address", TIMEOUT, || {
        process.assert_running();
        let log = process.log();
        let rest = &log[log.find(MARK)? + MARK.len()..];
        let end = rest.find([' ', '"', '\n'])?;
        rest[..end].parse().ok()
    })
    .await
}

/// POSTs a bot callback body with the given `timestamp` / `sign` headers.
pub async fn post_callback(
    url: &str,
    timestamp: &str,
    sign: &str,
    body: &serde_json::Value,
) -> (u16, String) {
    let response = dingtalk::tls::client_builder()
        .build()
        .unwrap()
        .post(url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("timestamp", timestamp)
        .header("sign", sign)
        .body(body.to_string())
        .send()
        .await
        .expect("the gateway answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// A copy of a delivered bot payload with a new msgId and text.
pub fn variant(payload: &serde_json::Value, msg_id: &str, text: &str) -> serde_json::Value {
    let mut p = payload.clone();
    p["msgId"] = json!(msg_id);
    p["text"] = json!({ "content": text });
    p
}
