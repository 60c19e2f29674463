//! A scripted HTTP server on 127.0.0.1:0 for unit tests: records every request and answers
//! with whatever the test's handler returns.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use url::Url;

use crate::endpoints::Endpoints;

/// One request as the stub saw it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }

    pub fn query_value(&self, key: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

/// What the stub answers.
pub(crate) struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub delay: Duration,
    /// Send the body in chunks without `Content-Length`.
    pub chunked: bool,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            body: body.to_string().into_bytes(),
            delay: Duration::ZERO,
            chunked: false,
        }
    }

    pub fn ok(body: serde_json::Value) -> Self {
        Self::json(200, body)
    }

    pub fn raw(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            body: body.into(),
            delay: Duration::ZERO,
            chunked: false,
        }
    }

    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

#[derive(Clone)]
struct Shared {
    log: Arc<Mutex<Vec<Recorded>>>,
    handler: Arc<Handler>,
}

pub(crate) struct Stub {
    pub base: Url,
    log: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stub {
    pub async fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let shared = Shared {
            log: Arc::new(Mutex::new(Vec::new())),
            handler: Arc::new(handler),
        };
        let log = Arc::clone(&shared.log);
        let app = axum::Router::new()
            .fallback(serve)
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base: Url::parse(&format!("http://{addr}")).expect("stub url"),
            log,
            task,
        }
    }

    pub fn endpoints(&self) -> Endpoints {
        Endpoints::single(self.base.clone())
    }

    pub fn url(&self, path_and_query: &str) -> Url {
        self.base.join(path_and_query).expect("stub url")
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    pub fn count(&self, path: &str) -> usize {
        self.log.lock().unwrap().iter().filter(|r| r.path == path).count()
    }

    pub fn only(&self, path: &str) -> Recorded {
        let hits: Vec<_> = self.requests().into_iter().filter(|r| r.path == path).collect();
        assert_eq!(hits.len(), 1, "expected exactly one request to {path}");
        hits.into_iter().next().unwrap()
    }
}

async fn serve(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        method,
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        headers,
        body,
    };
    shared.log.lock().unwrap().push(recorded.clone());
    let reply = (shared.handler)(&recorded);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if reply.chunked {
        let chunks: Vec<Result<Bytes, std::io::Error>> = reply
            .body
            .chunks(1024)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
        return (status, body).into_response();
    }
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        reply.body,
    )
        .into_response()
}
