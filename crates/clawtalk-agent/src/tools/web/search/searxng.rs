//! SearXNG's search API: `GET /search?q=…&format=json` on the instance, answering
//! `{"results": [{"url", "title", "content", "publishedDate"?}, …]}` (docs.searxng.org,
//! "Search API"). The instance must list `json` under `search.formats` in its settings.yml;
//! one that does not answers 403, which is said so.

use async_trait::async_trait;
use serde::Deserialize;
use url::Url;

use super::{SearchBackend, SearchHit, http_failure, snippet, transport_failure};

/// A SearXNG instance.
pub struct Searxng {
    client: reqwest::Client,
    base: Url,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<Row>,
}

#[derive(Deserialize)]
struct Row {
    #[serde(default)]
    url: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default, rename = "publishedDate")]
    published: Option<String>,
}

impl Searxng {
    /// The instance at `base` (its root, or a path it is mounted under).
    #[must_use]
    pub fn new(client: reqwest::Client, base: Url) -> Self {
        Self { client, base }
    }

    fn endpoint(&self) -> Result<Url, String> {
        let mut base = self.base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        base.join("search")
            .map_err(|e| format!("bad SearXNG address {}: {e}", self.base))
    }
}

#[async_trait]
impl SearchBackend for Searxng {
    fn name(&self) -> &'static str {
        "searxng"
    }

    async fn search(&self, query: &str, count: u32) -> Result<Vec<SearchHit>, String> {
        let response = self
            .client
            .get(self.endpoint()?)
            .query(&[("q", query), ("format", "json")])
            .send()
            .await
            .map_err(|e| transport_failure("SearXNG", &e))?;
        if response.status() == reqwest::StatusCode::FORBIDDEN {
            return Err(
                "the SearXNG instance refuses JSON (403); add json to search.formats in its settings.yml"
                    .to_owned(),
            );
        }
        if !response.status().is_success() {
            return Err(http_failure("SearXNG", response).await);
        }
        let answer: Answer = response
            .json()
            .await
            .map_err(|e| format!("SearXNG's answer is not the JSON of its search API: {e}"))?;
        Ok(answer
            .results
            .into_iter()
            .filter(|r| !r.url.is_empty())
            .take(count as usize)
            .map(|r| SearchHit {
                title: r.title,
                url: r.url,
                snippet: snippet(r.content.as_deref().unwrap_or("")),
                published: r.published.filter(|p| !p.is_empty()),
            })
            .collect())
    }
}
