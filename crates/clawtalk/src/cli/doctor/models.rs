//! Doctor checks of the model providers: one `GET {baseUrl}/models` each, short timeout.
//! Response bodies are never shown: some providers echo the API key in their 401 text.

use std::time::Duration;

use super::Finding;
use clawtalk_config::{ApiKind, Config, ProviderConfig};

/// A provider that does not answer this quickly is reported unreachable.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Providers an agent uses (presets nobody refers to are not worth a request).
pub(super) async fn check_providers(http: &reqwest::Client, config: &Config) -> Vec<Finding> {
    let used: Vec<&ProviderConfig> = config
        .providers
        .values()
        .filter(|p| config.agents.iter().any(|a| uses(a, &p.id)))
        .collect();
    let checks = used.into_iter().map(|p| check(http, p));
    futures_util::future::join_all(checks).await
}

fn uses(agent: &clawtalk_config::AgentConfig, provider: &str) -> bool {
    std::iter::once(&agent.model)
        .chain(agent.fallbacks.iter())
        .any(|m| m.provider == provider)
}

async fn check(http: &reqwest::Client, provider: &ProviderConfig) -> Finding {
    let subject = format!("model provider {}", provider.id);
    let base = provider.base_url.as_str().trim_end_matches('/');
    let url = format!("{base}/models");
    let host = provider.base_url.host_str().unwrap_or("?").to_owned();
    let mut request = http.get(&url).timeout(TIMEOUT);
    if let Some(key) = &provider.api_key {
        request = match provider.api {
            ApiKind::AnthropicMessages => request
                .header("x-api-key", key.expose())
                .header("anthropic-version", "2023-06-01"),
            _ => request.bearer_auth(key.expose()),
        };
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(error) => {
            let why = if error.is_timeout() {
                format!("no answer within {} s", TIMEOUT.as_secs())
            } else {
                "connection failed".to_owned()
            };
            return Finding::problem(
                subject,
                format!(
                    "unreachable at {host} ({why}); check the network or proxy and the provider's baseUrl"
                ),
            );
        }
    };
    match response.status().as_u16() {
        401 | 403 => Finding::problem(
            subject,
            format!(
                "{host} rejected the API key (HTTP {}); set a valid apiKey for provider {} (or its environment variable)",
                response.status().as_u16(),
                provider.id
            ),
        ),
        200..=299 => Finding::ok(subject, format!("{host} reachable, API key accepted")),
        // Reachable; some OpenAI-compatible servers have no model list.
        404 | 405 => Finding::ok(
            subject,
            format!("{host} reachable (no model list to check the key against)"),
        ),
        status => Finding::warn(
            subject,
            format!("{host} answered HTTP {status} to GET /models; the provider may be having trouble"),
        ),
    }
}
