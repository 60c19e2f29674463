//! `tools.web.*`: the `web_fetch` and `web_search` tools, read the way OpenClaw writes them
//! (`tools.web.fetch.{enabled,maxChars,maxCharsCap,maxResponseBytes,timeoutSeconds,
//! maxRedirects,userAgent}`, `tools.web.search.{enabled,provider,apiKey,maxResults,
//! timeoutSeconds}`; see docs.openclaw.ai, gateway configuration reference, `tools.web`), plus
//! clawtalk's `tools.web.search.baseUrl` and `tools.web.allowPrivate`.
//!
//! OpenClaw's own search providers (Brave, Perplexity, …) are not served here: an OpenClaw file
//! naming one still loads, with web_search off and a warning saying so.

use std::net::IpAddr;
use std::time::Duration;

use dingtalk::Secret;
use url::Url;

use super::reader::{Ctx, IGNORED_KEY, Obj};

/// `tools.web.*`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebToolsConfig {
    /// `tools.web.fetch.*`.
    pub fetch: WebFetchConfig,
    /// `tools.web.search.*`; `None` when web_search is off (no provider, or `enabled: false`).
    pub search: Option<WebSearchConfig>,
    /// `tools.web.allowPrivate` (clawtalk key): private, loopback or metadata destinations the
    /// web tools may reach anyway. Empty by default: only public addresses.
    pub allow_private: Vec<PrivateAllow>,
}

/// `tools.web.fetch.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebFetchConfig {
    /// `enabled`, default true (as in OpenClaw).
    pub enabled: bool,
    /// `maxChars`, default 50 000: characters of page text returned when the call names none.
    pub max_chars: usize,
    /// `maxCharsCap`, default 50 000: the most a call may ask for with its own `maxChars`.
    pub max_chars_cap: usize,
    /// `maxResponseBytes`, default 2 000 000: the download stops after this many bytes.
    pub max_response_bytes: usize,
    /// `timeoutSeconds`, default 30: the whole fetch, redirects included.
    pub timeout: Duration,
    /// `maxRedirects`, default 3.
    pub max_redirects: u32,
    /// `userAgent`; `None` sends clawtalk's own.
    pub user_agent: Option<String>,
}

impl Default for WebFetchConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_chars: 50_000,
            max_chars_cap: 50_000,
            max_response_bytes: 2_000_000,
            timeout: Duration::from_secs(30),
            max_redirects: 3,
            user_agent: None,
        }
    }
}

/// The search backends clawtalk serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchProvider {
    /// A SearXNG instance's JSON API (`/search?format=json`); `baseUrl` names the instance.
    Searxng,
    /// Bocha's web-search API (博查, api.bochaai.com), with an API key.
    Bocha,
}

/// `tools.web.search.*`, for a provider clawtalk serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSearchConfig {
    /// `provider`.
    pub provider: SearchProvider,
    /// `apiKey` (else `$BOCHA_API_KEY` for Bocha).
    pub api_key: Option<Secret>,
    /// `baseUrl` (clawtalk key; else `$SEARXNG_BASE_URL` for SearXNG): where the backend is.
    /// `None` for Bocha means its public endpoint.
    pub base_url: Option<Url>,
    /// `maxResults`, default 5: results returned when the call names no `count`.
    pub max_results: u32,
    /// `timeoutSeconds`, default 30.
    pub timeout: Duration,
}

/// One `tools.web.allowPrivate` entry: an address, a CIDR range or a host name, optionally
/// with a port (`127.0.0.1:8080`, `[::1]:8080`, `wiki.corp:8443`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateAllow {
    /// What the entry names.
    pub target: AllowTarget,
    /// Only this port, when given.
    pub port: Option<u16>,
}

/// The destination part of a [`PrivateAllow`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowTarget {
    /// An address range (a single address is a /32 or /128).
    Net(ipnet::IpNet),
    /// A host name, lower-case without a trailing dot: every address it resolves to.
    Host(String),
}

/// Search providers OpenClaw knows and clawtalk does not serve: naming one is a warning.
const OPENCLAW_ONLY_PROVIDERS: &[&str] = &[
    "brave",
    "perplexity",
    "grok",
    "gemini",
    "kimi",
    "tavily",
    "duckduckgo",
    "exa",
    "firecrawl",
    "jina",
    "kagi",
    "ollama",
    "minimax",
    "openrouter",
];

const FETCH_IGNORED: &[&str] = &[
    "provider",
    "cacheTtlMinutes",
    "readability",
    "firecrawl",
    "ssrfPolicy",
    "useTrustedEnvProxy",
];

const SEARCH_IGNORED: &[&str] = &[
    "cacheTtlMinutes",
    "perplexity",
    "grok",
    "gemini",
    "kimi",
    "brave",
    "openaiCodex",
];

/// Reads `tools.web` from the document root. Other `tools.*` keys are someone else's to read.
pub fn read(root: &Obj<'_>, cx: &mut Ctx<'_>) -> WebToolsConfig {
    let Some(tools) = root.get("tools").and_then(|n| n.node().object(cx)) else {
        return WebToolsConfig::default();
    };
    let Some(web) = tools.get("web").and_then(|n| n.node().object(cx)) else {
        return WebToolsConfig::default();
    };
    let fetch = web
        .get("fetch")
        .and_then(|n| n.node().object(cx))
        .map(|f| read_fetch(&f, cx))
        .unwrap_or_default();
    let search = web
        .get("search")
        .and_then(|n| n.node().object(cx))
        .and_then(|s| read_search(&s, cx));
    let allow_private = web
        .get("allowPrivate")
        .and_then(|n| {
            let items = n.node().array(cx)?;
            Some(
                items
                    .iter()
                    .filter_map(|item| {
                        let raw = item.node().nonempty_string(cx)?;
                        match parse_allow(&raw) {
                            Ok(allow) => Some(allow),
                            Err(message) => {
                                cx.diags.error(
                                    &item.path,
                                    message,
                                    "write an address (10.0.0.5), a range (10.0.0.0/8) or a host name (wiki.corp), each optionally with :port",
                                );
                                None
                            }
                        }
                    })
                    .collect(),
            )
        })
        .unwrap_or_default();
    web.finish(cx, &[], IGNORED_KEY);
    WebToolsConfig {
        fetch,
        search,
        allow_private,
    }
}

fn read_fetch(f: &Obj<'_>, cx: &mut Ctx<'_>) -> WebFetchConfig {
    let mut out = WebFetchConfig::default();
    let count = |key: &'static str, min: i64, max: i64, cx: &mut Ctx<'_>| {
        f.get(key)
            .and_then(|n| n.node().int_in(cx, min, max))
            .and_then(|n| usize::try_from(n).ok())
    };
    if let Some(on) = f.get("enabled").and_then(|n| n.node().bool(cx)) {
        out.enabled = on;
    }
    let cap = count("maxCharsCap", 100, 2_000_000, cx);
    let chars = count("maxChars", 100, 2_000_000, cx);
    if let Some(cap) = cap {
        out.max_chars_cap = cap;
    }
    // As in OpenClaw, the cap bounds the configured default too.
    out.max_chars = chars.unwrap_or(out.max_chars).min(out.max_chars_cap);
    if let Some(bytes) = count("maxResponseBytes", 1024, 100_000_000, cx) {
        out.max_response_bytes = bytes;
    }
    if let Some(s) = count("timeoutSeconds", 1, 600, cx) {
        out.timeout = Duration::from_secs(s as u64);
    }
    if let Some(n) = count("maxRedirects", 0, 20, cx) {
        out.max_redirects = u32::try_from(n).unwrap_or(3);
    }
    out.user_agent = f.get("userAgent").and_then(|n| n.node().nonempty_string(cx));
    f.finish(cx, FETCH_IGNORED, IGNORED_KEY);
    out
}

fn read_search(s: &Obj<'_>, cx: &mut Ctx<'_>) -> Option<WebSearchConfig> {
    let enabled = s.get("enabled").and_then(|n| n.node().bool(cx)).unwrap_or(true);
    let provider_node = s.get("provider");
    let provider_name = provider_node.as_ref().and_then(|n| n.node().nonempty_string(cx));
    let api_key = s.get("apiKey").and_then(|n| n.node().secret(cx));
    let base_url = s.get("baseUrl").and_then(|n| n.node().url(cx));
    let max_results = s
        .get("maxResults")
        .and_then(|n| n.node().int_in(cx, 1, 50))
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(5);
    let timeout = s
        .get("timeoutSeconds")
        .and_then(|n| n.node().int_in(cx, 1, 600))
        .map_or(Duration::from_secs(30), |n| Duration::from_secs(n.unsigned_abs()));
    s.finish(cx, SEARCH_IGNORED, IGNORED_KEY);
    let path = s.key_path("provider");
    let Some(name) = provider_name else {
        if enabled && (api_key.is_some() || base_url.is_some()) {
            cx.diags.warn(
                &path,
                "no search provider named, so web_search is off",
                Some("set provider: \"searxng\" or \"bocha\"".into()),
            );
        }
        return None;
    };
    let provider = match name.trim().to_ascii_lowercase().as_str() {
        "searxng" => SearchProvider::Searxng,
        "bocha" => SearchProvider::Bocha,
        other if OPENCLAW_ONLY_PROVIDERS.contains(&other) => {
            cx.diags.warn(
                &path,
                format!("search provider {other:?} is not served by clawtalk, so web_search is off"),
                Some("use provider: \"searxng\" (your own instance) or \"bocha\" (博查)".into()),
            );
            return None;
        }
        _ => {
            cx.diags.error(
                &path,
                format!("{name:?} is not a search provider"),
                "write provider: \"searxng\" or \"bocha\"",
            );
            return None;
        }
    };
    if !enabled {
        return None;
    }
    let (api_key, base_url) = match provider {
        SearchProvider::Searxng => {
            let base_url = base_url.or_else(|| env_url(cx, "SEARXNG_BASE_URL", &s.key_path("baseUrl")));
            if base_url.is_none() {
                cx.diags.error(
                    s.key_path("baseUrl"),
                    "provider searxng needs the address of a SearXNG instance",
                    "set baseUrl: \"http://searx.example.com\" (or export SEARXNG_BASE_URL); the instance must allow format=json",
                );
                return None;
            }
            (api_key, base_url)
        }
        SearchProvider::Bocha => {
            let api_key = api_key.or_else(|| cx.var("BOCHA_API_KEY").map(Secret::new));
            if api_key.is_none() {
                cx.diags.error(
                    s.key_path("apiKey"),
                    "provider bocha needs an API key",
                    "set apiKey: \"${BOCHA_API_KEY}\" with a key from open.bochaai.com (API KEY 管理)",
                );
                return None;
            }
            (api_key, base_url)
        }
    };
    Some(WebSearchConfig {
        provider,
        api_key,
        base_url,
        max_results,
        timeout,
    })
}

fn env_url(cx: &mut Ctx<'_>, var: &str, path: &str) -> Option<Url> {
    let raw = cx.var(var)?;
    match Url::parse(&raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
        _ => {
            cx.diags.error(
                path,
                format!("${var} is not an http(s) URL"),
                format!("export {var}=https://searx.example.com"),
            );
            None
        }
    }
}

/// Parses one `allowPrivate` entry.
pub fn parse_allow(raw: &str) -> Result<PrivateAllow, String> {
    let raw = raw.trim();
    if raw.contains("://") {
        return Err(format!("{raw:?} is a URL; write only the host (and :port)"));
    }
    if let Ok(net) = raw.parse::<ipnet::IpNet>() {
        return Ok(PrivateAllow {
            target: AllowTarget::Net(net),
            port: None,
        });
    }
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Ok(PrivateAllow {
            target: AllowTarget::Net(ip.into()),
            port: None,
        });
    }
    if let Ok(sock) = raw.parse::<std::net::SocketAddr>() {
        return Ok(PrivateAllow {
            target: AllowTarget::Net(sock.ip().into()),
            port: Some(sock.port()),
        });
    }
    let (host, port) = match raw.rsplit_once(':') {
        Some((host, port)) => {
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("{raw:?}: {port:?} is not a port number"))?;
            (host, Some(port))
        }
        None => (raw, None),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !valid {
        return Err(format!(
            "{raw:?} is neither an address, a CIDR range nor a host name"
        ));
    }
    Ok(PrivateAllow {
        target: AllowTarget::Host(host),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn load(web: &str) -> Result<crate::LoadedConfig, crate::ConfigErrors> {
        let text = format!(
            r#"{{ agents: {{ list: [ {{ id: "main", model: "deepseek/deepseek-chat" }} ] }},
                 gateway: {{ stateDir: "/tmp/clawtalk-web" }},
                 channels: {{ dingtalk: {{ clientId: "dingweb", clientSecret: "s", dmPolicy: "open", allowFrom: ["*"] }} }},
                 tools: {{ web: {{ {web} }} }} }}"#
        );
        let env = |name: &str| match name {
            "DEEPSEEK_API_KEY" => Some("sk-x".to_owned()),
            "BOCHA_KEY_IN_ENV" => Some("sk-bocha-secret".to_owned()),
            _ => None,
        };
        Config::from_json5(&text, &env)
    }

    #[test]
    fn defaults_follow_openclaw() {
        let config = load("").unwrap().config;
        assert_eq!(config.tools_web, WebToolsConfig::default());
        assert!(config.tools_web.fetch.enabled);
        assert_eq!(config.tools_web.fetch.max_redirects, 3);
        assert!(config.tools_web.search.is_none());
    }

    #[test]
    fn fetch_keys_are_read_and_max_chars_is_capped() {
        let config = load(
            r#"fetch: { maxChars: 90000, maxCharsCap: 20000, maxResponseBytes: 4096,
                        timeoutSeconds: 7, maxRedirects: 0, userAgent: "ua/1", readability: true }"#,
        )
        .unwrap();
        let fetch = &config.config.tools_web.fetch;
        assert_eq!(fetch.max_chars, 20_000);
        assert_eq!(fetch.max_chars_cap, 20_000);
        assert_eq!(fetch.max_response_bytes, 4096);
        assert_eq!(fetch.timeout, Duration::from_secs(7));
        assert_eq!(fetch.max_redirects, 0);
        assert_eq!(fetch.user_agent.as_deref(), Some("ua/1"));
        assert!(
            config
                .warnings
                .iter()
                .any(|w| w.path == "tools.web.fetch.readability"),
            "{:?}",
            config.warnings
        );
    }

    #[test]
    fn wrong_fetch_values_are_errors_at_their_key() {
        let err = load(r#"fetch: { maxRedirects: 99, timeoutSeconds: "soon" }"#).unwrap_err();
        let paths: Vec<_> = err.errors.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"tools.web.fetch.maxRedirects"), "{err}");
        assert!(paths.contains(&"tools.web.fetch.timeoutSeconds"), "{err}");
    }

    #[test]
    fn searxng_needs_a_base_url_and_bocha_a_key() {
        let err = load(r#"search: { provider: "searxng" }"#).unwrap_err();
        assert!(
            err.errors.iter().any(|e| e.path == "tools.web.search.baseUrl"),
            "{err}"
        );
        let err = load(r#"search: { provider: "bocha" }"#).unwrap_err();
        assert!(
            err.errors.iter().any(|e| e.path == "tools.web.search.apiKey"),
            "{err}"
        );
        let ok = load(r#"search: { provider: "SearXNG", baseUrl: "http://127.0.0.1:8888", maxResults: 3 }"#)
            .unwrap()
            .config;
        let search = ok.tools_web.search.unwrap();
        assert_eq!(search.provider, SearchProvider::Searxng);
        assert_eq!(search.max_results, 3);
    }

    #[test]
    fn the_bocha_key_never_shows_in_debug_output() {
        let config = load(r#"search: { provider: "bocha", apiKey: "${BOCHA_KEY_IN_ENV}" }"#)
            .unwrap()
            .config;
        let search = config.tools_web.search.clone().unwrap();
        assert_eq!(search.api_key.as_ref().unwrap().expose(), "sk-bocha-secret");
        assert!(!format!("{config:?}").contains("sk-bocha-secret"));
    }

    #[test]
    fn openclaw_providers_warn_and_unknown_ones_fail() {
        let loaded = load(r#"search: { provider: "brave", apiKey: "brave-key" }"#).unwrap();
        assert!(loaded.config.tools_web.search.is_none());
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.path == "tools.web.search.provider" && w.message.contains("brave")),
            "{:?}",
            loaded.warnings
        );
        let err = load(r#"search: { provider: "searxgn", baseUrl: "http://x" }"#).unwrap_err();
        assert!(
            err.errors.iter().any(|e| e.path == "tools.web.search.provider"),
            "{err}"
        );
    }

    #[test]
    fn allow_private_entries() {
        let config = load(r#"allowPrivate: ["10.0.0.0/8", "127.0.0.1:8080", "[::1]:9", "Wiki.Corp.", "nas.lan:8443", "fd00::1"]"#)
            .unwrap()
            .config;
        let allow = &config.tools_web.allow_private;
        assert_eq!(allow.len(), 6);
        assert_eq!(allow[0].target, AllowTarget::Net("10.0.0.0/8".parse().unwrap()));
        assert_eq!(allow[1].port, Some(8080));
        assert_eq!(allow[2].target, AllowTarget::Net("::1/128".parse().unwrap()));
        assert_eq!(allow[3].target, AllowTarget::Host("wiki.corp".into()));
        assert_eq!(allow[4].port, Some(8443));
        let err = load(r#"allowPrivate: ["http://10.0.0.1/", "bad host!", "h:99999"]"#).unwrap_err();
        assert_eq!(
            err.errors
                .iter()
                .filter(|e| e.path.starts_with("tools.web.allowPrivate"))
                .count(),
            3,
            "{err}"
        );
    }
}
