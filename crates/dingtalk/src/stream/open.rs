//! Registering for a ticket and opening the WebSocket it grants.

use reqwest::header::ACCEPT;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use url::Url;

use crate::model::connection::{OpenConnectionRequest, OpenConnectionResponse};
use crate::stream::config::StreamConfig;
use crate::stream::connection::Socket;
use crate::stream::error::StreamError;
use crate::stream::proxy;

/// Most of an error body worth keeping in a log line.
const MAX_ERROR_BODY: usize = 1024;

/// `connections/open` then the WebSocket handshake. A fresh ticket every time: tickets are
/// single-use and expire after about 90 s.
pub(crate) async fn open_socket(
    http: &reqwest::Client,
    config: &StreamConfig,
) -> Result<Socket, StreamError> {
    let work = async {
        let ticket = register(http, config).await?;
        let url = socket_url(&ticket)?;
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(config.max_frame_bytes))
            .max_frame_size(Some(config.max_frame_bytes));
        let opened = match proxy::for_socket(&url) {
            Some(proxy) => {
                let tunnel = proxy::tunnel(&proxy, &url).await?;
                tokio_tungstenite::client_async_tls_with_config(url.as_str(), tunnel, Some(ws_config), None)
                    .await
            }
            // `true` disables Nagle: an ACK is one small frame and must not wait for a
            // delayed ACK.
            None => tokio_tungstenite::connect_async_with_config(url.as_str(), Some(ws_config), true).await,
        };
        let (socket, _) = opened.map_err(|e| StreamError::WebSocket(Box::new(e)))?;
        Ok(socket)
    };
    match config.connect_timeout {
        Some(limit) => tokio::time::timeout(limit, work)
            .await
            .map_err(|_| StreamError::Timeout("opening the Stream connection"))?,
        None => work.await,
    }
}

/// Checks that DingTalk would let this app open a Stream connection, without opening one:
/// `connections/open` must issue a ticket with a usable `ws(s)://` endpoint. The ticket is
/// left unused; DingTalk drops unused tickets after about 90 s, so probing has no lasting
/// effect (no connection shows up in the developer console).
///
/// Fails with the same [`StreamError`]s as a real connection attempt would: `OpenRejected`
/// for wrong credentials, an unpublished app or a bot not in Stream mode (DingTalk's code is
/// in the body), `Http`/`Timeout` when DingTalk cannot be reached.
///
/// # Errors
/// [`StreamError::OpenRejected`] when `connections/open` answers a non-success status (see
/// [`StreamError::is_wrong_credentials`]); [`StreamError::OpenResponse`] when the answer lacks a
/// usable `ws://`/`wss://` endpoint or ticket; [`StreamError::Http`] when DingTalk cannot be
/// reached; [`StreamError::Timeout`] after [`StreamConfig::connect_timeout`].
pub async fn probe_open(http: &reqwest::Client, config: &StreamConfig) -> Result<(), StreamError> {
    let work = async {
        let ticket = register(http, config).await?;
        socket_url(&ticket).map(drop)
    };
    match config.connect_timeout {
        Some(limit) => tokio::time::timeout(limit, work)
            .await
            .map_err(|_| StreamError::Timeout("probing connections/open"))?,
        None => work.await,
    }
}

async fn register(
    http: &reqwest::Client,
    config: &StreamConfig,
) -> Result<OpenConnectionResponse, StreamError> {
    let body = OpenConnectionRequest {
        client_id: config.client_id.as_str(),
        client_secret: config.client_secret.expose(),
        subscriptions: &config.subscriptions,
        ua: &config.user_agent,
        local_ip: None,
    };
    // Without `Accept: application/json` the real server answers in XML.
    let response = http
        .post(config.endpoints.api_url("/v1.0/gateway/connections/open"))
        .header(ACCEPT, "application/json")
        .json(&body)
        .send()
        .await
        .map_err(StreamError::Http)?;
    let status = response.status();
    let text = response.text().await.map_err(StreamError::Http)?;
    if !status.is_success() {
        let body: String = text.chars().take(MAX_ERROR_BODY).collect();
        return Err(StreamError::OpenRejected {
            status: status.as_u16(),
            body,
        });
    }
    let parsed: OpenConnectionResponse =
        serde_json::from_str(&text).map_err(|e| StreamError::OpenResponse {
            reason: format!("not the expected JSON: {e}"),
        })?;
    if parsed.endpoint.is_empty() || parsed.ticket.is_empty() {
        return Err(StreamError::OpenResponse {
            reason: "endpoint or ticket is empty".into(),
        });
    }
    Ok(parsed)
}

fn socket_url(ticket: &OpenConnectionResponse) -> Result<Url, StreamError> {
    let mut url = Url::parse(&ticket.endpoint).map_err(|e| StreamError::OpenResponse {
        reason: format!("endpoint {:?} is not a URL: {e}", ticket.endpoint),
    })?;
    if !matches!(url.scheme(), "ws" | "wss") {
        return Err(StreamError::OpenResponse {
            reason: format!("endpoint {:?} is not a ws:// or wss:// URL", ticket.endpoint),
        });
    }
    url.query_pairs_mut().append_pair("ticket", &ticket.ticket);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(endpoint: &str) -> OpenConnectionResponse {
        serde_json::from_value(serde_json::json!({"endpoint": endpoint, "ticket": "a b+c"})).unwrap()
    }

    #[test]
    fn ticket_is_url_encoded_into_the_socket_url() {
        let url = socket_url(&ticket("wss://wss-open-connection.dingtalk.com:443/connect")).unwrap();
        assert_eq!(
            url.as_str(),
            "wss://wss-open-connection.dingtalk.com/connect?ticket=a+b%2Bc"
        );
    }

    #[test]
    fn non_websocket_endpoints_are_refused() {
        assert!(matches!(
            socket_url(&ticket("https://x/connect")),
            Err(StreamError::OpenResponse { .. })
        ));
        assert!(matches!(
            socket_url(&ticket("not a url")),
            Err(StreamError::OpenResponse { .. })
        ));
    }
}
