//! `clawtalk gateway status` asking the running gateway over its control API.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};

use super::ops::STATUS_PATH;
use super::status::GatewayStatus;
use clawtalk_config::Config;

/// A local gateway answers at once; anything slower is treated as unreachable.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Where to reach the gateway: the address it recorded in its status file, else the
/// configured one (a wildcard bind is reached over loopback).
#[must_use]
pub fn control_addr(config: &Config, recorded: Option<SocketAddr>) -> SocketAddr {
    let addr = recorded.unwrap_or_else(|| SocketAddr::new(config.gateway.bind, config.gateway.port));
    if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
    }
}

/// Fetches the live status from the gateway at `addr`.
///
/// # Errors
/// Nothing listens there, the gateway refused (token), or it is another state directory's
/// gateway (another config on the same port).
pub async fn fetch_status(config: &Config, addr: SocketAddr) -> anyhow::Result<GatewayStatus> {
    let http = dingtalk::tls::client_builder()
        .timeout(TIMEOUT)
        .no_proxy()
        .build()
        .context("building an HTTP client")?;
    let mut request = http.get(format!("http://{addr}{STATUS_PATH}"));
    // The configured token, else the generated one: a gateway behind gateway.trustedProxies
    // asks for it even from loopback.
    if let Ok(Some((token, _))) = crate::token::existing(config) {
        request = request.bearer_auth(token.expose());
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("no gateway answers on {addr}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!(
            "the gateway on {addr} refused (HTTP {}): {}; check gateway.auth.token in this config (or the token file `clawtalk gateway token` reads)",
            status.as_u16(),
            text.trim()
        );
    }
    let body: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{addr} answered something that is not a gateway status"))?;
    let state_dir = body.get("stateDir").and_then(serde_json::Value::as_str);
    if state_dir.map(std::path::Path::new) != Some(config.gateway.state_dir.as_path()) {
        bail!(
            "the gateway on {addr} serves another state directory ({}), not {}",
            state_dir.unwrap_or("?"),
            config.gateway.state_dir.display()
        );
    }
    serde_json::from_value(body["status"].clone())
        .with_context(|| format!("{addr} answered an unreadable gateway status"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_address_wins_and_a_wildcard_is_reached_over_loopback() {
        let config = clawtalk_config::test_support::config(
            r#"{ gateway: { port: 4321, bind: "lan", auth: { token: "t" } },
                 agents: { defaults: { model: "deepseek/deepseek-chat" } },
                 channels: { dingtalk: { clientId: "dingx", clientSecret: "s" } } }"#,
        );
        assert_eq!(control_addr(&config, None), "127.0.0.1:4321".parse().unwrap());
        let recorded: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        assert_eq!(control_addr(&config, Some(recorded)), recorded);
    }
}
