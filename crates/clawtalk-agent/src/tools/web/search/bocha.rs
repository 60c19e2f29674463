//! Bocha (博查) Web Search API: `POST https://api.bochaai.com/v1/web-search` with
//! `Authorization: Bearer <key>` and a JSON body `{query, freshness, summary, count}`;
//! the answer is `{code, msg, data: {webPages: {value: [{name, url, snippet, summary?,
//! siteName, datePublished?}]}}}`, a Bing-compatible shape (open.bochaai.com, API 文档
//! "Web Search API").

use async_trait::async_trait;
use dingtalk::Secret;
use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::{SearchBackend, SearchHit, http_failure, snippet, transport_failure};

/// Bocha's public endpoint.
const DEFAULT_BASE: &str = "https://api.bochaai.com";

/// Bocha's web search.
pub struct Bocha {
    client: reqwest::Client,
    key: Secret,
    base: Option<Url>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default, rename = "webPages")]
    web_pages: Option<Pages>,
}

#[derive(Deserialize)]
struct Pages {
    #[serde(default)]
    value: Vec<Page>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    name: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    snippet: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default, rename = "datePublished")]
    published: Option<String>,
}

impl Bocha {
    /// Bocha with `key`, at `base` (its public endpoint when `None`).
    #[must_use]
    pub fn new(client: reqwest::Client, key: Secret, base: Option<Url>) -> Self {
        Self { client, key, base }
    }

    fn endpoint(&self) -> Result<Url, String> {
        let mut base = match &self.base {
            Some(base) => base.clone(),
            None => Url::parse(DEFAULT_BASE).map_err(|e| e.to_string())?,
        };
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        base.join("v1/web-search")
            .map_err(|e| format!("bad Bocha address: {e}"))
    }
}

#[async_trait]
impl SearchBackend for Bocha {
    fn name(&self) -> &'static str {
        "bocha"
    }

    async fn search(&self, query: &str, count: u32) -> Result<Vec<SearchHit>, String> {
        let response = self
            .client
            .post(self.endpoint()?)
            .bearer_auth(self.key.expose())
            .json(&json!({ "query": query, "freshness": "noLimit", "summary": true, "count": count }))
            .send()
            .await
            .map_err(|e| transport_failure("Bocha", &e))?;
        if !response.status().is_success() {
            return Err(http_failure("Bocha", response).await);
        }
        let answer: Answer = response
            .json()
            .await
            .map_err(|e| format!("Bocha's answer is not the JSON of its web-search API: {e}"))?;
        if let Some(code) = answer.code.filter(|c| *c != 200) {
            return Err(format!(
                "Bocha answered code {code}: {}",
                answer.msg.unwrap_or_default()
            ));
        }
        let pages = answer
            .data
            .and_then(|d| d.web_pages)
            .map(|p| p.value)
            .unwrap_or_default();
        Ok(pages
            .into_iter()
            .filter(|p| !p.url.is_empty())
            .take(count as usize)
            .map(|p| SearchHit {
                title: p.name,
                url: p.url,
                snippet: snippet(
                    p.summary
                        .as_deref()
                        .filter(|s| !s.trim().is_empty())
                        .or(p.snippet.as_deref())
                        .unwrap_or(""),
                ),
                published: p.published.filter(|d| !d.is_empty()),
            })
            .collect())
    }
}
