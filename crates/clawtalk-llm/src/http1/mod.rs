//! A small HTTP/1.1 client for plain-`http://` model endpoints (local and LAN servers:
//! Ollama, vLLM, LM Studio, and the mock model of the tests and benches).
//!
//! Why not hyper, through reqwest, as for `https://` providers: a streamed answer holds its
//! connection until the model finishes, so a burst of questions to a slow model holds one
//! connection per waiting turn. hyper keeps, per connection, a request channel (about 9 kB),
//! an 8 kB header buffer and an 8 kB read buffer, which was most of a waiting turn's memory:
//! 10,000 waiting turns took 457 MB. Here a waiting connection is its socket alone: the read
//! buffer is taken only when the socket has something to read, and given back when all of it
//! is consumed. TLS providers keep hyper, where ALPN lets them multiplex the streams over HTTP/2.
//!
//! It writes one request shape (a `POST` with a known length) and reads any response framing.
//! A connection whose body was read to its end goes back to a small idle pool; a request on
//! a pooled connection that the server closed meanwhile is sent again on a new one.

mod body;
mod chunked;
mod head;

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use url::Url;

pub(crate) use body::Body;

/// Longest response head read before giving up on it.
const MAX_HEAD: usize = 64 * 1024;
/// What one read may add to the buffer.
const READ_CHUNK: usize = 8 * 1024;
/// Idle connections kept for the next request; as many as reqwest keeps per host here.
const MAX_IDLE: usize = 64;
/// An idle connection older than this is closed rather than reused: servers close theirs
/// after a few seconds to minutes (uvicorn 5 s, nginx 75 s), and a fresh one costs a round
/// trip on a LAN.
const IDLE_FOR: Duration = Duration::from_secs(30);

/// Why a request failed before its response head was read.
#[derive(Debug)]
pub(crate) struct SendError {
    pub(crate) message: String,
    /// The connection was never established (safe to retry).
    pub(crate) connect: bool,
    /// The connection attempt ran out of time.
    pub(crate) timed_out: bool,
}

/// A response whose body is still to be read.
pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
}

/// The client for one endpoint.
#[derive(Debug)]
pub(crate) struct Http1 {
    /// The endpoint for error messages, its secrets masked.
    shown: String,
    host: String,
    port: u16,
    /// The request's first line and the header fields every request carries.
    head_start: String,
    connect_timeout: Duration,
    pool: Arc<Pool>,
}

#[derive(Debug, Default)]
pub(crate) struct Pool {
    idle: Mutex<Vec<(TcpStream, Instant)>>,
}

impl Pool {
    fn take(&self) -> Option<TcpStream> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() < IDLE_FOR && still_open(&conn) {
                return Some(conn);
            }
        }
        None
    }

    fn put(&self, conn: TcpStream) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push((conn, Instant::now()));
        }
    }
}

/// An idle connection has nothing to read; a readable one was closed (or sent bytes no
/// request asked for) and cannot carry a request.
fn still_open(conn: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(conn.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

impl Http1 {
    /// A client for `endpoint`, an `http://` URL without credentials in it (reqwest turns
    /// those into a Basic `Authorization`, which this client does not write).
    pub(crate) fn new(endpoint: &Url, user_agent: &str, connect_timeout: Duration) -> Option<Self> {
        if endpoint.scheme() != "http" || !endpoint.username().is_empty() || endpoint.password().is_some() {
            return None;
        }
        let host = endpoint.host_str()?.to_owned();
        let port = endpoint.port_or_known_default()?;
        let authority = match endpoint.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let target = &endpoint[url::Position::BeforePath..url::Position::AfterQuery];
        let head_start = format!(
            "POST {target} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {user_agent}\r\n\
             Content-Type: application/json\r\n"
        );
        Some(Self {
            shown: clawtalk_core::mask::mask_url(endpoint.as_str()),
            host: host.trim_matches(['[', ']']).to_owned(),
            port,
            head_start,
            connect_timeout,
            pool: Arc::default(),
        })
    }

    /// Sends a `POST` of `parts` (one JSON body) with `fields` (`Name: value` lines without
    /// line breaks) and reads the response head.
    pub(crate) async fn post(
        &self,
        fields: &[(&str, &[u8])],
        parts: [&Bytes; 2],
    ) -> Result<Response, SendError> {
        let length: usize = parts.iter().map(|p| p.len()).sum();
        let mut head = Vec::with_capacity(self.head_start.len() + 128);
        head.extend_from_slice(self.head_start.as_bytes());
        for (name, value) in fields {
            head.extend_from_slice(name.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value);
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(format!("Content-Length: {length}\r\n\r\n").as_bytes());

        if let Some(conn) = self.pool.take() {
            match exchange(conn, &head, parts).await {
                Ok(response) => return Ok(self.response(response)),
                // Closed by the server while idle: the request never reached it.
                Err(Failure::Unsent(_) | Failure::Stale(_)) => {}
                Err(Failure::Other(message)) => return Err(not_connect(message)),
            }
        }
        let conn = self.connect().await?;
        match exchange(conn, &head, parts).await {
            Ok(response) => Ok(self.response(response)),
            // A server too busy to take the request (a full accept queue resets new
            // connections) never saw it whole, so it may be sent again like a failed connect.
            Err(Failure::Unsent(message)) => Err(SendError {
                message,
                connect: true,
                timed_out: false,
            }),
            Err(Failure::Stale(message) | Failure::Other(message)) => Err(not_connect(message)),
        }
    }

    fn response(&self, (head, conn, rest): (head::Head, TcpStream, BytesMut)) -> Response {
        Response {
            status: head.status,
            body: Body::new(
                conn,
                rest,
                head.framing,
                head.keep_alive.then(|| Arc::clone(&self.pool)),
            ),
            headers: head.headers,
        }
    }

    async fn connect(&self) -> Result<TcpStream, SendError> {
        let failed = |message: String, timed_out: bool| SendError {
            message,
            connect: true,
            timed_out,
        };
        let attempt = async {
            let mut last = None;
            let addrs = tokio::net::lookup_host((self.host.as_str(), self.port))
                .await
                .map_err(|e| failed(format!("cannot resolve the host of {}: {e}", self.shown), false))?;
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(conn) => return Ok(conn),
                    Err(e) => last = Some(format!("cannot connect to {} ({addr}): {e}", self.shown)),
                }
            }
            Err(failed(
                last.unwrap_or_else(|| format!("the host of {} resolves to no address", self.shown)),
                false,
            ))
        };
        let conn = tokio::time::timeout(self.connect_timeout, attempt)
            .await
            .map_err(|_| {
                failed(
                    format!(
                        "connecting to {} took longer than {:?}",
                        self.shown, self.connect_timeout
                    ),
                    true,
                )
            })??;
        // Requests are written whole; a body must not wait for a delayed ACK of the head.
        let _ = conn.set_nodelay(true);
        Ok(conn)
    }
}

fn not_connect(message: String) -> SendError {
    SendError {
        message,
        connect: false,
        timed_out: false,
    }
}

enum Failure {
    /// Writing the request failed: the server never got all of it (its length is declared),
    /// so it cannot have answered it.
    Unsent(String),
    /// The connection ended before any byte of a response: on a pooled connection, the
    /// server had closed it.
    Stale(String),
    Other(String),
}

/// Writes the request and reads the response head; returns the connection and whatever of
/// the body came with the head.
async fn exchange(
    mut conn: TcpStream,
    head: &[u8],
    parts: [&Bytes; 2],
) -> Result<(head::Head, TcpStream, BytesMut), Failure> {
    let write = async {
        conn.write_all(head).await?;
        for part in parts {
            conn.write_all(part).await?;
        }
        conn.flush().await
    };
    if let Err(e) = write.await {
        return Err(Failure::Unsent(format!(
            "the connection closed while sending the request, so the model server did not get it: {e}"
        )));
    }
    let mut buf = BytesMut::new();
    loop {
        let n = body::read_some(&mut conn, &mut buf).await.map_err(|e| {
            if buf.is_empty() && e.kind() == io::ErrorKind::ConnectionReset {
                Failure::Stale(format!("the connection was reset before a response: {e}"))
            } else {
                Failure::Other(format!("reading the response failed: {e}"))
            }
        })?;
        if n == 0 {
            let message = "the model server closed the connection without a response".to_owned();
            return Err(if buf.is_empty() {
                Failure::Stale(message)
            } else {
                Failure::Other(message)
            });
        }
        match head::parse(&buf).map_err(Failure::Other)? {
            Some((head, len)) if head.status.is_informational() => {
                // `100 Continue` and friends precede the real response.
                let _ = buf.split_to(len);
            }
            Some((head, len)) => {
                let _ = buf.split_to(len);
                return Ok((head, conn, buf));
            }
            None if buf.len() > MAX_HEAD => {
                return Err(Failure::Other(format!(
                    "the model server's response head is longer than {MAX_HEAD} bytes"
                )));
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests;
