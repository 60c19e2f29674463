//! The client against scripted servers on 127.0.0.1:0: what it writes, each framing it reads,
//! connection reuse, and the errors it reports.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use super::*;

/// Reads one request (head and a Content-Length body) from `conn`.
async fn read_request(conn: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + length {
                return Some(text);
            }
        }
    }
}

/// A server that answers each request on a connection with the next of `answers` (written in
/// the given pieces), then closes the connection when `close_after` answers were given.
async fn server(
    answers: Vec<Vec<&'static [u8]>>,
    close_after: usize,
) -> (Url, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!(
        "http://{}/v1/chat/completions?x=1",
        listener.local_addr().unwrap()
    ))
    .unwrap();
    let (seen, requests) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut answers = answers.into_iter();
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let mut given = 0;
            while let Some(request) = read_request(&mut conn).await {
                let _ = seen.send(request);
                let Some(pieces) = answers.next() else { return };
                for piece in pieces {
                    conn.write_all(piece).await.unwrap();
                    conn.flush().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                given += 1;
                if given == close_after {
                    break;
                }
            }
        }
    });
    (url, requests)
}

fn client(url: &Url) -> Http1 {
    Http1::new(url, "clawtalk/test", Duration::from_secs(2)).unwrap()
}

fn body() -> [Bytes; 2] {
    [Bytes::from_static(br#"{"model":"m""#), Bytes::from_static(b"}")]
}

async fn post(c: &Http1) -> Result<Response, SendError> {
    let [a, b] = body();
    c.post(
        &[("Accept", b"text/event-stream"), ("Authorization", b"Bearer k")],
        [&a, &b],
    )
    .await
}

#[tokio::test]
async fn writes_one_post_with_its_length_and_reads_a_chunked_stream() {
    let (url, mut requests) = server(
        vec![vec![
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"f\r\ndata: {\"a\":1}\n\n\r\n",
            b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n",
        ]],
        1,
    )
    .await;
    let c = client(&url);
    let response = post(&c).await.unwrap();
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.headers["content-type"], "text/event-stream");
    let all = response.body.collect().await.unwrap();
    assert_eq!(&all[..], b"data: {\"a\":1}\n\ndata: [DONE]\n\n");
    let request = requests.recv().await.unwrap();
    assert!(
        request.starts_with("POST /v1/chat/completions?x=1 HTTP/1.1\r\n"),
        "{request}"
    );
    for line in [
        format!("Host: {}", url.authority()),
        "User-Agent: clawtalk/test".to_owned(),
        "Content-Type: application/json".to_owned(),
        "Accept: text/event-stream".to_owned(),
        "Authorization: Bearer k".to_owned(),
        "Content-Length: 13".to_owned(),
    ] {
        assert!(request.contains(&format!("{line}\r\n")), "{line} in {request}");
    }
    assert!(request.ends_with("\r\n\r\n{\"model\":\"m\"}"), "{request}");
}

#[tokio::test]
async fn a_connection_read_to_its_end_carries_the_next_request() {
    let answer: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let (url, mut requests) = server(vec![vec![answer], vec![answer]], 2).await;
    let c = client(&url);
    for _ in 0..2 {
        let r = post(&c).await.unwrap();
        assert_eq!(&r.body.collect().await.unwrap()[..], b"ok");
    }
    requests.recv().await.unwrap();
    requests.recv().await.unwrap();
    // The server accepted one connection only: the second request had nothing else to use.
    assert_eq!(c.pool.idle.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_pooled_connection_the_server_closed_is_replaced() {
    let answer: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    // The server closes each connection after one answer, without saying so.
    let (url, _requests) = server(vec![vec![answer], vec![answer]], 1).await;
    let c = client(&url);
    let r = post(&c).await.unwrap();
    assert_eq!(&r.body.collect().await.unwrap()[..], b"ok");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = post(&c).await.unwrap();
    assert_eq!(&r.body.collect().await.unwrap()[..], b"ok");
}

#[tokio::test]
async fn a_body_to_the_close_is_read_and_its_connection_not_kept() {
    let (url, _requests) = server(
        vec![vec![
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: a\n\n",
            b"data: b\n\n",
        ]],
        1,
    )
    .await;
    let c = client(&url);
    let r = post(&c).await.unwrap();
    assert_eq!(&r.body.collect().await.unwrap()[..], b"data: a\n\ndata: b\n\n");
    assert!(c.pool.idle.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_body_cut_short_is_an_error_not_an_end() {
    let (url, _requests) = server(vec![vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"]], 1).await;
    let c = client(&url);
    let mut body = post(&c).await.unwrap().body;
    assert_eq!(&body.next().await.unwrap().unwrap()[..], b"abc");
    let err = body.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(err.to_string().contains("before the body ended"), "{err}");
    assert!(body.next().await.is_none());

    let (url, _requests) = server(
        vec![vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
        ]],
        1,
    )
    .await;
    let err = post(&client(&url))
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("hexadecimal"), "{err}");
}

#[tokio::test]
async fn an_interim_response_is_skipped_and_an_error_status_read_whole() {
    let (url, _requests) = server(
        vec![vec![
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Length: 4\r\n\r\nslow",
        ]],
        1,
    )
    .await;
    let r = post(&client(&url)).await.unwrap();
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers["retry-after"], "3");
    assert_eq!(&r.body.collect().await.unwrap()[..], b"slow");
}

#[tokio::test]
async fn failures_before_a_response_say_what_happened() {
    // Nothing listens on the port.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = Url::parse(&format!("http://127.0.0.1:{port}/v1/chat/completions")).unwrap();
    let err = post(&client(&url)).await.err().unwrap();
    assert!(err.connect && !err.timed_out, "{err:?}");
    assert!(err.message.contains("cannot connect"), "{}", err.message);

    // A server that answers with something else than HTTP.
    let (url, _requests) = server(vec![vec![b"SSH-2.0-OpenSSH_9\r\n\r\n"]], 1).await;
    let err = post(&client(&url)).await.err().unwrap();
    assert!(!err.connect);
    assert!(err.message.contains("not valid HTTP/1"), "{}", err.message);

    // A server that resets connections before reading a request (its accept queue full):
    // the request never arrived, so it may be retried like a failed connect.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!(
        "http://{}/v1/chat/completions",
        listener.local_addr().unwrap()
    ))
    .unwrap();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            // Closing with nothing read and SO_LINGER 0 resets the connection.
            let _ = conn.set_zero_linger();
            drop(conn);
        }
    });
    let c = client(&url);
    let big = Bytes::from(vec![b' '; 4 << 20]);
    let err = c.post(&[], [&big, &big]).await.err().unwrap();
    assert!(err.connect, "{err:?}");
    assert!(err.message.contains("did not get it"), "{}", err.message);

    // A server that closes without answering, on a fresh connection.
    let (url, _requests) = server(vec![], 1).await;
    let err = post(&client(&url)).await.err().unwrap();
    assert!(err.message.contains("without a response"), "{}", err.message);
}

#[tokio::test]
async fn a_waiting_body_holds_no_read_buffer() {
    let (url, _requests) = server(
        vec![vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        ]],
        2,
    )
    .await;
    let mut body = post(&client(&url)).await.unwrap().body;
    assert_eq!(&body.next().await.unwrap().unwrap()[..], b"hello");
    // The chunk's line break is still to be read; then the body waits for more.
    let waiting = tokio::time::timeout(Duration::from_millis(100), body.next()).await;
    assert!(waiting.is_err(), "the server sent nothing more");
    assert_eq!(body.buf.capacity(), 0, "a waiting body holds no read buffer");
}

#[test]
fn only_plain_http_endpoints_are_taken() {
    let https = Url::parse("https://api.deepseek.com/chat/completions").unwrap();
    assert!(Http1::new(&https, "ua", Duration::from_secs(1)).is_none());
    let v6 = Url::parse("http://[::1]:8080/v1/chat/completions").unwrap();
    let c = Http1::new(&v6, "ua", Duration::from_secs(1)).unwrap();
    assert_eq!(c.host, "::1");
    assert!(c.head_start.contains("Host: [::1]:8080\r\n"), "{}", c.head_start);
    let default_port = Url::parse("http://ollama.lan/v1/chat/completions").unwrap();
    let c = Http1::new(&default_port, "ua", Duration::from_secs(1)).unwrap();
    assert_eq!(c.port, 80);
    assert!(c.head_start.contains("Host: ollama.lan\r\n"), "{}", c.head_start);
    let with_credentials = Url::parse("http://u:p@vllm.lan/v1/chat/completions").unwrap();
    assert!(Http1::new(&with_credentials, "ua", Duration::from_secs(1)).is_none());
}

#[tokio::test]
async fn an_error_names_the_endpoint_with_its_secrets_masked() {
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = Url::parse(&format!(
        "http://127.0.0.1:{port}/v1/chat/completions?api_key=sk-secret"
    ))
    .unwrap();
    let err = post(&client(&url)).await.err().unwrap();
    assert!(
        err.message
            .contains(&format!("127.0.0.1:{port}/v1/chat/completions?api_key=")),
        "{}",
        err.message
    );
    assert!(!err.message.contains("sk-secret"), "{}", err.message);
}
