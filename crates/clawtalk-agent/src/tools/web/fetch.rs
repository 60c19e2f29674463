//! Fetching one page through the guard: each hop (the URL, then every redirect) is checked
//! and resolved by [`Guard`], and its request may connect only to the addresses checked, so a
//! DNS answer that changes between check and connect (rebinding) cannot move it. Redirects are
//! followed here, not by the HTTP client, so every hop is checked; the body is read in chunks
//! and the download stops at the byte cap; the whole fetch has one deadline.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use url::Url;

use super::guard::{Destination, Guard, Resolve};
use super::readable::readable;
use clawtalk_config::WebFetchConfig;

/// What a fetch returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The URL the text came from, after redirects.
    pub url: String,
    /// Its HTTP status.
    pub status: u16,
    /// Its media type (`text/html`, …), without parameters.
    pub content_type: String,
    /// The page's `<title>`, for HTML.
    pub title: Option<String>,
    /// Readable text (HTML), or the body as it is (JSON, other text).
    pub text: String,
    /// The text was cut at the character cap, or the download at the byte cap.
    pub truncated: bool,
}

/// Fetches pages under a [`Guard`].
pub struct Fetcher {
    guard: Guard,
    resolver: Arc<dyn Resolve>,
    config: WebFetchConfig,
}

const DEFAULT_USER_AGENT: &str = concat!("clawtalk/", env!("CARGO_PKG_VERSION"), " (web_fetch)");

impl Fetcher {
    /// A fetcher with these limits, letting through what `guard` allows, resolving with
    /// `resolver`.
    #[must_use]
    pub fn new(config: WebFetchConfig, guard: Guard, resolver: Arc<dyn Resolve>) -> Self {
        Self {
            guard,
            resolver,
            config,
        }
    }

    /// The limits in force.
    #[must_use]
    pub fn config(&self) -> &WebFetchConfig {
        &self.config
    }

    /// Fetches `url` and returns at most `max_chars` characters of its text.
    ///
    /// # Errors
    /// A refused or malformed URL, a refused redirect, too many redirects, a binary body, a
    /// network failure or the deadline, each said in words.
    pub async fn fetch(&self, url: &str, max_chars: usize) -> Result<Fetched, String> {
        let url = Url::parse(url.trim()).map_err(|e| format!("{url:?} is not a valid URL: {e}"))?;
        let deadline = self.config.timeout;
        tokio::time::timeout(deadline, self.follow(url, max_chars))
            .await
            .map_err(|_| {
                format!(
                    "the fetch took longer than {} s and was stopped",
                    deadline.as_secs()
                )
            })?
    }

    async fn follow(&self, mut url: Url, max_chars: usize) -> Result<Fetched, String> {
        let mut hops = 0;
        loop {
            let destination = self.guard.destination(&url, &*self.resolver).await?;
            let client = self.client(&destination)?;
            let response = client
                .get(url.clone())
                .header(
                    ACCEPT,
                    "text/html,application/xhtml+xml,application/json;q=0.9,text/plain;q=0.8,*/*;q=0.1",
                )
                .send()
                .await
                .map_err(|e| describe(&e))?;
            let status = response.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| format!("{url} answered {status} without a Location"))?;
                let next = url
                    .join(location)
                    .map_err(|e| format!("{url} redirects to {location:?}, not a valid URL: {e}"))?;
                hops += 1;
                if hops > self.config.max_redirects {
                    return Err(format!(
                        "more than {} redirects (the last one to {next}); stopped",
                        self.config.max_redirects
                    ));
                }
                url = next;
                continue;
            }
            return self.read(url, response, max_chars).await;
        }
    }

    /// A client for one hop: connects only to the checked addresses, follows no redirect and
    /// uses no proxy (a proxy would resolve the name itself, after the check).
    fn client(&self, destination: &Destination) -> Result<reqwest::Client, String> {
        let agent = self
            .config
            .user_agent
            .clone()
            .unwrap_or_else(|| DEFAULT_USER_AGENT.to_owned());
        dingtalk::tls::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .resolve_to_addrs(&destination.host, &destination.addrs)
            .connect_timeout(self.config.timeout.min(Duration::from_secs(10)))
            .user_agent(agent)
            .build()
            .map_err(|e| format!("could not set up the HTTP client: {e}"))
    }

    async fn read(
        &self,
        url: Url,
        mut response: reqwest::Response,
        max_chars: usize,
    ) -> Result<Fetched, String> {
        let status = response.status().as_u16();
        let header = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let media = header.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let declared = kind_of(&media);
        if declared == Kind::Binary {
            return Err(format!(
                "{url} is {media}, not text; web_fetch reads HTML, JSON and text pages only"
            ));
        }
        let cap = self.config.max_response_bytes;
        let mut body = Vec::new();
        let mut cut = false;
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
            let room = cap - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                cut = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        let kind = match declared {
            Kind::Unknown => sniff(&body),
            known => known,
        };
        if kind == Kind::Binary {
            return Err(format!(
                "{url} is not text ({} bytes of binary data); web_fetch reads HTML, JSON and text pages only",
                body.len()
            ));
        }
        let decoded = decode(&body, &header, kind == Kind::Html);
        let (title, text) = if kind == Kind::Html {
            let page = readable(&decoded);
            (page.title, page.text)
        } else {
            (None, decoded)
        };
        let (text, shortened) = cap_chars(text, max_chars);
        Ok(Fetched {
            url: url.to_string(),
            status,
            content_type: if media.is_empty() {
                match kind {
                    Kind::Html => "text/html".into(),
                    _ => "text/plain".into(),
                }
            } else {
                media
            },
            title,
            text,
            truncated: cut || shortened,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Html,
    Text,
    Binary,
    Unknown,
}

fn kind_of(media: &str) -> Kind {
    match media {
        "" | "application/octet-stream" => Kind::Unknown,
        "text/html" | "application/xhtml+xml" => Kind::Html,
        m if m.starts_with("text/")
            || m.ends_with("+json")
            || m.ends_with("+xml")
            || matches!(
                m,
                "application/json"
                    | "application/xml"
                    | "application/javascript"
                    | "application/ecmascript"
                    | "application/x-ndjson"
                    | "application/yaml"
                    | "application/x-yaml"
                    | "application/toml"
            ) =>
        {
            Kind::Text
        }
        _ => Kind::Binary,
    }
}

/// For a body without a useful type: text when it has no NUL and decodes as UTF-8 (or looks
/// like HTML).
fn sniff(body: &[u8]) -> Kind {
    let head = &body[..body.len().min(1024)];
    if head.contains(&0) {
        return Kind::Binary;
    }
    let start = String::from_utf8_lossy(head).trim_start().to_ascii_lowercase();
    if start.starts_with("<!doctype html") || start.starts_with("<html") {
        return Kind::Html;
    }
    // A cut in the middle of a character at the end of the sample is still text.
    match std::str::from_utf8(head) {
        Ok(_) => Kind::Text,
        Err(e) if e.valid_up_to() + 4 > head.len() && e.error_len().is_none() => Kind::Text,
        Err(_) => Kind::Binary,
    }
}

/// Decodes with the charset the header names, else (HTML) a `<meta charset>` in the first
/// kilobytes, else UTF-8. Chinese sites still serve GBK and GB18030.
fn decode(body: &[u8], content_type: &str, html: bool) -> String {
    let label = charset_param(content_type).or_else(|| html.then(|| meta_charset(body)).flatten());
    let encoding = label
        .and_then(|l| encoding_rs::Encoding::for_label(l.as_bytes()))
        .unwrap_or(encoding_rs::UTF_8);
    let (text, _, _) = encoding.decode(body);
    text.into_owned()
}

fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches(['"', '\'']).to_owned())
    })
}

fn meta_charset(body: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&body[..body.len().min(4096)]).to_ascii_lowercase();
    let at = head.find("charset=")? + "charset=".len();
    let value: String = head[at..]
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    (!value.is_empty()).then_some(value)
}

/// At most `max` characters, cut at a character boundary.
fn cap_chars(text: String, max: usize) -> (String, bool) {
    match text.char_indices().nth(max) {
        Some((at, _)) => (text[..at].to_owned(), true),
        None => (text, false),
    }
}

/// A transport error in words, with its cause (reqwest's top-level message alone says little).
fn describe(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut out = if error.is_timeout() {
        "the site did not answer in time".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        assert_eq!(kind_of("text/html"), Kind::Html);
        assert_eq!(kind_of("application/json"), Kind::Text);
        assert_eq!(kind_of("application/ld+json"), Kind::Text);
        assert_eq!(kind_of("text/csv"), Kind::Text);
        assert_eq!(kind_of("image/png"), Kind::Binary);
        assert_eq!(kind_of("application/pdf"), Kind::Binary);
        assert_eq!(kind_of(""), Kind::Unknown);
        assert_eq!(sniff(b"<!DOCTYPE html><p>x"), Kind::Html);
        assert_eq!(sniff("纯文本".as_bytes()), Kind::Text);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0"), Kind::Binary);
    }

    #[test]
    fn charsets_from_the_header_or_the_page() {
        let (gbk, _, _) = encoding_rs::GBK.encode("北京 晴");
        assert_eq!(decode(&gbk, "text/plain; charset=GBK", false), "北京 晴");
        let page = [b"<meta charset=\"gb2312\"><p>".as_slice(), &gbk].concat();
        assert!(decode(&page, "text/html", true).contains("北京 晴"));
        assert_eq!(decode("ok".as_bytes(), "", false), "ok");
    }

    #[test]
    fn the_character_cap_keeps_characters_whole() {
        assert_eq!(cap_chars("天气晴朗".into(), 2), ("天气".into(), true));
        assert_eq!(cap_chars("abc".into(), 5), ("abc".into(), false));
    }
}
