//! The Stream WebSocket through an HTTP proxy.
//!
//! The OpenAPI calls go through reqwest, which honours `HTTPS_PROXY` / `HTTP_PROXY` /
//! `ALL_PROXY` / `NO_PROXY`; the WebSocket is opened by tokio-tungstenite, which connects
//! directly. Behind a firewall that only lets traffic out through a proxy, the token and the
//! ticket would then arrive and the socket never open. So the socket follows the same
//! variables, read by the same matcher (hyper-util's, which reqwest uses), and goes through an
//! HTTP `CONNECT` tunnel, as browsers open WebSockets through proxies: `wss://` to DingTalk
//! is matched as `https://`, `ws://` as `http://`.

use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

use crate::stream::error::StreamError;

/// Longest proxy answer to a `CONNECT` we read before giving up on it.
const MAX_CONNECT_ANSWER: usize = 8 * 1024;

/// The proxy the environment names for the socket `url`, if any.
pub(crate) fn for_socket(url: &Url) -> Option<Intercept> {
    matcher_for(url, &Matcher::from_env())
}

fn matcher_for(url: &Url, matcher: &Matcher) -> Option<Intercept> {
    let scheme = if url.scheme() == "wss" { "https" } else { "http" };
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    let as_http: http::Uri = format!("{scheme}://{}:{port}/", bracketed(host)).parse().ok()?;
    matcher.intercept(&as_http)
}

/// A TCP connection to `url`'s host and port through `proxy`, ready for the TLS and
/// WebSocket handshakes.
pub(crate) async fn tunnel(proxy: &Intercept, url: &Url) -> Result<TcpStream, StreamError> {
    let failed = |reason: String| StreamError::Proxy {
        proxy: shown(proxy),
        reason,
    };
    let uri = proxy.uri();
    if uri.scheme_str() != Some("http") {
        return Err(failed(format!(
            "the Stream connection goes through http:// proxies only, not {}://; \
             set HTTPS_PROXY to the proxy's http:// address, or add the DingTalk host to NO_PROXY",
            uri.scheme_str().unwrap_or("?")
        )));
    }
    let proxy_host = uri
        .host()
        .ok_or_else(|| failed("the proxy address has no host".into()))?;
    let proxy_port = uri.port_u16().unwrap_or(80);
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Err(failed(format!("{url} names no host")));
    };
    let mut stream = TcpStream::connect((proxy_host.trim_matches(['[', ']']), proxy_port))
        .await
        .map_err(|e| failed(format!("cannot connect to the proxy: {e}")))?;
    // An ACK is one small frame and must not wait for a delayed ACK (as for a direct socket).
    let _ = stream.set_nodelay(true);
    let authority = format!("{}:{port}", bracketed(host));
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = proxy.basic_auth().and_then(|v| v.to_str().ok()) {
        request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| failed(format!("cannot send CONNECT: {e}")))?;
    let status = read_connect_answer(&mut stream)
        .await
        .map_err(|e| failed(format!("no answer to CONNECT: {e}")))?;
    if !(200..300).contains(&status) {
        let hint = if status == 407 {
            " (the proxy wants credentials: put them in the proxy URL, http://user:password@host:port)"
        } else {
            ""
        };
        return Err(failed(format!(
            "the proxy refused to CONNECT to {authority} with HTTP {status}{hint}"
        )));
    }
    Ok(stream)
}

/// Reads the proxy's answer head (up to the blank line) and returns its status. Nothing
/// past the head is read: after a 2xx the bytes that follow belong to the tunnel.
async fn read_connect_answer(stream: &mut TcpStream) -> std::io::Result<u16> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0_u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_CONNECT_ANSWER {
            return Err(std::io::Error::other("the answer's head is too long"));
        }
        if stream.read(&mut byte).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next().and_then(|s| s.parse().ok())) {
        (Some(version), Some(status)) if version.starts_with("HTTP/1.") => Ok(status),
        _ => Err(std::io::Error::other(format!("not an HTTP answer: {line:?}"))),
    }
}

/// IPv6 literals go in brackets in an authority.
fn bracketed(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// The proxy's address for messages, without any credentials in it.
fn shown(proxy: &Intercept) -> String {
    let uri = proxy.uri();
    format!(
        "{}://{}:{}",
        uri.scheme_str().unwrap_or("http"),
        uri.host().unwrap_or("?"),
        uri.port_u16().unwrap_or(80)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn matcher(http: &str, https: &str, no: &str) -> Matcher {
        Matcher::builder().http(http).https(https).no(no).build()
    }

    #[test]
    fn wss_goes_by_the_https_proxy_and_ws_by_the_http_one() {
        let m = matcher("http://plain.proxy:3128", "http://secure.proxy:8080", "");
        let wss = Url::parse("wss://wss-open-connection.dingtalk.com/connect?ticket=t").unwrap();
        let ws = Url::parse("ws://127.0.0.1:9000/connect").unwrap();
        assert_eq!(matcher_for(&wss, &m).unwrap().uri().host(), Some("secure.proxy"));
        assert_eq!(matcher_for(&ws, &m).unwrap().uri().host(), Some("plain.proxy"));
    }

    #[test]
    fn no_proxy_lets_the_socket_connect_directly() {
        let m = matcher("", "http://secure.proxy:8080", ".dingtalk.com");
        let wss = Url::parse("wss://wss-open-connection.dingtalk.com/connect").unwrap();
        assert!(matcher_for(&wss, &m).is_none());
        let other = Url::parse("wss://elsewhere.example/connect").unwrap();
        assert!(matcher_for(&other, &m).is_some());
    }

    /// A proxy that answers one CONNECT with `answer`, and returns the request it read.
    async fn one_shot_proxy(answer: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut byte = [0_u8; 1];
            while !request.ends_with(b"\r\n\r\n") {
                socket.read_exact(&mut byte).await.unwrap();
                request.push(byte[0]);
            }
            socket.write_all(answer.as_bytes()).await.unwrap();
            socket.write_all(b"tunnelled bytes").await.unwrap();
            String::from_utf8(request).unwrap()
        });
        (format!("http://alice:pa%20ss@{addr}"), task)
    }

    fn intercept(proxy: &str) -> Intercept {
        let m = matcher(proxy, proxy, "");
        matcher_for(
            &Url::parse("wss://wss-open-connection.dingtalk.com/connect").unwrap(),
            &m,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn the_tunnel_asks_for_dingtalks_host_with_the_proxys_credentials() {
        let (proxy, seen) = one_shot_proxy("HTTP/1.1 200 Connection established\r\n\r\n").await;
        let url = Url::parse("wss://wss-open-connection.dingtalk.com/connect?ticket=t").unwrap();
        let mut stream = tunnel(&intercept(&proxy), &url).await.unwrap();
        let request = seen.await.unwrap();
        assert!(
            request.starts_with("CONNECT wss-open-connection.dingtalk.com:443 HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains("Host: wss-open-connection.dingtalk.com:443\r\n"),
            "{request}"
        );
        // `alice:pa ss` in Base64: the URL's percent-encoding is undone first.
        assert!(
            request.contains("Proxy-Authorization: Basic YWxpY2U6cGEgc3M=\r\n"),
            "{request}"
        );
        let mut rest = String::new();
        stream.read_to_string(&mut rest).await.unwrap();
        assert_eq!(
            rest, "tunnelled bytes",
            "what follows the answer's head is the tunnel's"
        );
    }

    #[tokio::test]
    async fn a_refused_connect_says_what_the_proxy_answered_and_hides_its_credentials() {
        let (proxy, _seen) = one_shot_proxy("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").await;
        let url = Url::parse("wss://wss-open-connection.dingtalk.com/connect").unwrap();
        let error = tunnel(&intercept(&proxy), &url).await.unwrap_err().to_string();
        assert!(
            error.contains("HTTP 407") && error.contains("credentials"),
            "{error}"
        );
        assert!(!error.contains("pa%20ss") && !error.contains("alice"), "{error}");
    }

    #[tokio::test]
    async fn a_proxy_that_is_not_http_is_refused_with_what_to_do() {
        let url = Url::parse("wss://wss-open-connection.dingtalk.com/connect").unwrap();
        let error = tunnel(&intercept("socks5://127.0.0.1:1080"), &url)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("http:// proxies only") && error.contains("NO_PROXY"),
            "{error}"
        );
    }
}
