//! The web tools (`group:web` in OpenClaw's tool groups): `web_fetch` reads a page through
//! the SSRF guard ([`guard`], [`fetch`]), as readable text ([`readable`]); `web_search` asks
//! the configured search backend ([`search`]).

pub mod fetch;
pub mod guard;
pub mod readable;
pub mod search;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::{Tool, ToolContext};
use clawtalk_llm::ToolSpec;
use fetch::Fetcher;
use search::SearchBackend;

/// `web_fetch`.
pub struct WebFetch {
    fetcher: Fetcher,
}

impl WebFetch {
    /// The tool over `fetcher`.
    #[must_use]
    pub fn new(fetcher: Fetcher) -> Self {
        Self { fetcher }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FetchArgs {
    url: String,
    #[serde(default)]
    max_chars: Option<u64>,
    /// OpenClaw's parameter (`markdown` | `text`); both give the same readable text here.
    #[serde(default)]
    #[allow(dead_code)]
    extract_mode: Option<String>,
}

#[async_trait]
impl Tool for WebFetch {
    fn spec(&self) -> ToolSpec {
        let cap = self.fetcher.config().max_chars_cap;
        ToolSpec {
            name: "web_fetch".into(),
            description: "Fetch an http(s) web page and return its readable text (HTML pages as text with headings, lists and tables; JSON and plain text as they are). Private, local and cloud-metadata addresses are refused.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "url": { "type": "string", "description": "The http or https URL to fetch." },
                    "maxChars": { "type": "integer", "minimum": 100, "maximum": cap,
                                  "description": "Most characters of text to return." }
                },
                "required": ["url"]
            }),
        }
    }

    async fn call(&self, arguments: &str, _context: &ToolContext) -> Result<String, String> {
        let args: FetchArgs = serde_json::from_str(arguments)
            .map_err(|e| format!("web_fetch takes {{\"url\": \"https://…\", \"maxChars\"?: number}}: {e}"))?;
        let config = self.fetcher.config();
        let max_chars = args
            .max_chars
            .map_or(config.max_chars, |n| usize::try_from(n).unwrap_or(usize::MAX))
            .clamp(100, config.max_chars_cap);
        let page = self.fetcher.fetch(&args.url, max_chars).await.map_err(|reason| {
            tracing::info!(target: "clawtalk::tools::web", %reason, "web_fetch refused or failed");
            format!("web_fetch {}: {reason}", args.url)
        })?;
        Ok(json!({
            "url": page.url,
            "status": page.status,
            "contentType": page.content_type,
            "title": page.title,
            "truncated": page.truncated,
            "text": page.text,
        })
        .to_string())
    }
}

/// `web_search`.
pub struct WebSearch {
    backend: Arc<dyn SearchBackend>,
    max_results: u32,
}

impl WebSearch {
    /// The tool over `backend`, returning `max_results` results unless asked for another count.
    #[must_use]
    pub fn new(backend: Arc<dyn SearchBackend>, max_results: u32) -> Self {
        Self { backend, max_results }
    }

    fn most(&self) -> u32 {
        self.max_results.max(10)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    query: String,
    #[serde(default)]
    count: Option<u64>,
}

#[async_trait]
impl Tool for WebSearch {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "web_search".into(),
            description: "Search the web. Returns titles, URLs and snippets; read a result with web_fetch."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "query": { "type": "string", "description": "What to search for." },
                    "count": { "type": "integer", "minimum": 1, "maximum": self.most(),
                               "description": "How many results (default a few)." }
                },
                "required": ["query"]
            }),
        }
    }

    async fn call(&self, arguments: &str, _context: &ToolContext) -> Result<String, String> {
        let args: SearchArgs = serde_json::from_str(arguments)
            .map_err(|e| format!("web_search takes {{\"query\": \"…\", \"count\"?: number}}: {e}"))?;
        let query = args.query.trim();
        if query.is_empty() {
            return Err("web_search needs a non-empty query".to_owned());
        }
        let count = args
            .count
            .map_or(self.max_results, |c| u32::try_from(c).unwrap_or(u32::MAX))
            .clamp(1, self.most());
        let hits = self.backend.search(query, count).await.map_err(|reason| {
            tracing::info!(target: "clawtalk::tools::web", provider = self.backend.name(), %reason, "web_search failed");
            format!("web_search: {reason}")
        })?;
        Ok(json!({ "query": query, "provider": self.backend.name(), "results": hits }).to_string())
    }
}
