//! Where a model request goes: plain-`http://` endpoints that no proxy stands before go through
//! the small HTTP/1 client (see `http1` for why), everything else through reqwest, which
//! speaks HTTP/2 to TLS providers that offer it and honours the proxy variables.

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http::{HeaderMap, StatusCode};
use hyper_util::client::proxy::matcher::Matcher;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use url::Url;

use super::body::RequestBody;
use super::http1::{self, Http1};

/// A failure while reading a body, with its causes.
pub(crate) type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A response body as it arrives.
pub(crate) type BodyStream = BoxStream<'static, Result<Bytes, BodyError>>;

/// A response whose body is still to be read.
pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
}

pub(crate) enum Body {
    Http1(http1::Body),
    Reqwest(reqwest::Response),
}

impl Body {
    /// The whole body.
    pub(crate) async fn bytes(self) -> Result<Bytes, BodyError> {
        match self {
            Self::Http1(body) => Ok(body.collect().await?),
            Self::Reqwest(response) => Ok(response.bytes().await?),
        }
    }

    /// The body piece by piece.
    pub(crate) fn into_stream(self) -> BodyStream {
        match self {
            Self::Http1(body) => futures_util::stream::unfold(body, |mut body| async move {
                let piece = body.next().await?;
                Some((piece.map_err(BodyError::from), body))
            })
            .boxed(),
            Self::Reqwest(response) => response
                .bytes_stream()
                .map(|r| r.map_err(BodyError::from))
                .boxed(),
        }
    }
}

/// Why a request got no response.
pub(crate) enum SendFailure {
    Http1(http1::SendError),
    Reqwest(reqwest::Error),
}

#[derive(Debug)]
pub(crate) enum Transport {
    Http1(Http1),
    Reqwest(reqwest::Client),
}

impl Transport {
    /// The transport for `endpoint`; `http` is used for TLS and proxied endpoints.
    pub(crate) fn for_endpoint(
        endpoint: &Url,
        http: reqwest::Client,
        connect_timeout: std::time::Duration,
    ) -> Self {
        if proxied(endpoint, &Matcher::from_env()) {
            return Self::Reqwest(http);
        }
        match Http1::new(endpoint, USER_AGENT, connect_timeout) {
            Some(small) => Self::Http1(small),
            None => Self::Reqwest(http),
        }
    }

    /// Posts `body` to `endpoint` and waits for the response head.
    pub(crate) async fn post(
        &self,
        endpoint: &Url,
        auth: Option<&HeaderValue>,
        stream: bool,
        body: &RequestBody,
    ) -> Result<Response, SendFailure> {
        match self {
            Self::Http1(client) => {
                let mut fields: Vec<(&str, &[u8])> = Vec::with_capacity(2);
                if stream {
                    fields.push(("Accept", b"text/event-stream"));
                }
                if let Some(auth) = auth {
                    fields.push(("Authorization", auth.as_bytes()));
                }
                let response = client
                    .post(&fields, body.parts())
                    .await
                    .map_err(SendFailure::Http1)?;
                Ok(Response {
                    status: response.status,
                    headers: response.headers,
                    body: Body::Http1(response.body),
                })
            }
            Self::Reqwest(client) => {
                let mut rb = client
                    .post(endpoint.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_reqwest());
                if stream {
                    rb = rb.header(ACCEPT, "text/event-stream");
                }
                if let Some(auth) = auth {
                    rb = rb.header(AUTHORIZATION, auth.clone());
                }
                let response = rb.send().await.map_err(SendFailure::Reqwest)?;
                Ok(Response {
                    status: response.status(),
                    headers: response.headers().clone(),
                    body: Body::Reqwest(response),
                })
            }
        }
    }
}

/// Sent by both transports.
pub(crate) const USER_AGENT: &str = concat!("clawtalk/", env!("CARGO_PKG_VERSION"));

/// Whether the proxy variables (`HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, read as reqwest reads
/// them) send requests to `endpoint` through a proxy.
fn proxied(endpoint: &Url, matcher: &Matcher) -> bool {
    endpoint
        .as_str()
        .parse::<http::Uri>()
        .is_ok_and(|uri| matcher.intercept(&uri).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(http_proxy: &str, no_proxy: &str) -> Matcher {
        Matcher::builder()
            .http(http_proxy.to_owned())
            .no(no_proxy.to_owned())
            .build()
    }

    #[test]
    fn plain_http_endpoints_take_the_small_client_unless_proxied() {
        let local = Url::parse("http://127.0.0.1:11434/v1/chat/completions").unwrap();
        let lan = Url::parse("http://vllm.lan:8000/v1/chat/completions").unwrap();
        let m = matcher("http://proxy.corp:3128", "127.0.0.1,localhost");
        assert!(!proxied(&local, &m));
        assert!(proxied(&lan, &m));
        assert!(!proxied(&lan, &matcher("", "")));

        let client = || dingtalk::tls::client_builder().build().unwrap();
        let t = |u: &str| {
            Transport::for_endpoint(
                &Url::parse(u).unwrap(),
                client(),
                std::time::Duration::from_secs(1),
            )
        };
        assert!(matches!(
            t("https://api.deepseek.com/chat/completions"),
            Transport::Reqwest(_)
        ));
    }
}
