//! `web_search`: one tool over pluggable backends ([`SearchBackend`]), chosen by
//! `tools.web.search.provider`. A backend's address is the operator's configuration, not the
//! model's choice, so it is not put through the SSRF guard (a SearXNG instance is often on
//! the same host).

mod bocha;
mod searxng;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

pub use bocha::Bocha;
pub use searxng::Searxng;

use clawtalk_config::{SearchProvider, WebSearchConfig};

/// One result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchHit {
    /// The page's title.
    pub title: String,
    /// Its address.
    pub url: String,
    /// What the backend says the page holds (a snippet or summary), capped.
    pub snippet: String,
    /// When the page was published, as the backend wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
}

/// A search service.
#[async_trait]
pub trait SearchBackend: Send + Sync {
    /// The provider's name, as `tools.web.search.provider` spells it.
    fn name(&self) -> &'static str;

    /// Up to `count` results for `query`.
    ///
    /// # Errors
    /// The backend's failure in words; never its API key.
    async fn search(&self, query: &str, count: u32) -> Result<Vec<SearchHit>, String>;
}

/// The backend `config` names.
///
/// # Errors
/// The HTTP client could not be built.
pub fn backend(config: &WebSearchConfig) -> Result<Arc<dyn SearchBackend>, String> {
    let client = dingtalk::tls::client_builder()
        .timeout(config.timeout)
        .user_agent(concat!("clawtalk/", env!("CARGO_PKG_VERSION"), " (web_search)"))
        .build()
        .map_err(|e| format!("could not set up the HTTP client: {e}"))?;
    Ok(match config.provider {
        SearchProvider::Searxng => {
            let base = config
                .base_url
                .clone()
                .ok_or("provider searxng needs tools.web.search.baseUrl")?;
            Arc::new(Searxng::new(client, base))
        }
        SearchProvider::Bocha => {
            let key = config
                .api_key
                .clone()
                .ok_or("provider bocha needs tools.web.search.apiKey")?;
            Arc::new(Bocha::new(client, key, config.base_url.clone()))
        }
    })
}

/// Longest snippet handed to the model, in characters: enough to judge a result by.
const MAX_SNIPPET_CHARS: usize = 500;

pub(super) fn snippet(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match collapsed.char_indices().nth(MAX_SNIPPET_CHARS) {
        Some((at, _)) => format!("{}…", &collapsed[..at]),
        None => collapsed,
    }
}

/// A non-success answer in words, with a short piece of its body.
pub(super) async fn http_failure(provider: &str, response: reqwest::Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let body: String = body.chars().take(200).collect();
    match status.as_u16() {
        401 | 403 => format!("{provider} refused the API key ({status}); check tools.web.search.apiKey"),
        429 => format!("{provider} is rate limiting ({status}); try again later"),
        _ => format!("{provider} answered {status}: {body}"),
    }
}

/// A transport failure in words (the URL holds no secret: keys travel in headers).
pub(super) fn transport_failure(provider: &str, error: &reqwest::Error) -> String {
    if error.is_timeout() {
        format!("{provider} did not answer in time")
    } else if error.is_connect() {
        format!("could not connect to {provider}: {error}")
    } else {
        format!("{provider} request failed: {error}")
    }
}
