//! Tools the agent may call during a turn: the [`Tool`] contract ([`tool`]), the registry
//! agents call them through, and one file per family of tools.

pub mod action_card;
pub mod cron;
pub mod mcp;
mod media;
mod source;
mod tool;
pub mod web;

pub use source::ToolSource;
pub use tool::{Tool, ToolContext};

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use clawtalk_llm::ToolSpec;

/// The tools available to agents, by name.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: BTreeMap<String, Arc<dyn Tool>>,
    /// The tools' specs, in name order: the same in every request.
    specs: Arc<[ToolSpec]>,
    /// Tools that change at run time (MCP servers'), after the registered ones.
    sources: Vec<Arc<dyn ToolSource>>,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.tools.keys()).finish()
    }
}

impl ToolRegistry {
    /// The built-in tools.
    #[must_use]
    pub fn builtin() -> Self {
        let mut registry = Self::default();
        registry.register(Arc::new(CurrentTime));
        registry.register(Arc::new(action_card::SendActionCard));
        registry
    }

    /// The built-in tools plus `send_image` and `send_file`, sending through each turn's
    /// [`ToolContext::media`].
    #[must_use]
    pub fn with_media() -> Self {
        let mut registry = Self::builtin();
        registry.register(Arc::new(media::SendMedia::image()));
        registry.register(Arc::new(media::SendMedia::file()));
        registry
    }

    /// Adds `cron_create`, `cron_list` and `cron_cancel`.
    pub fn register_cron(&mut self, cron: cron::CronTools) {
        for tool in cron.tools() {
            self.register(tool);
        }
    }

    /// Adds `web_fetch` (unless `tools.web.fetch.enabled` is false) and `web_search` (when
    /// a search provider is configured), resolving names with the system's resolver.
    ///
    /// # Errors
    /// The search backend's HTTP client could not be built.
    pub fn register_web(&mut self, config: &clawtalk_config::WebToolsConfig) -> Result<(), String> {
        self.register_web_with(config, Arc::new(web::guard::SystemResolver))
    }

    /// [`Self::register_web`] with its own resolver (tests answer DNS themselves).
    ///
    /// # Errors
    /// The search backend's HTTP client could not be built.
    pub fn register_web_with(
        &mut self,
        config: &clawtalk_config::WebToolsConfig,
        resolver: Arc<dyn web::guard::Resolve>,
    ) -> Result<(), String> {
        if config.fetch.enabled {
            let guard = web::guard::Guard::new(config.allow_private.clone());
            let fetcher = web::fetch::Fetcher::new(config.fetch.clone(), guard, resolver);
            self.register(Arc::new(web::WebFetch::new(fetcher)));
        }
        if let Some(search) = &config.search {
            let backend = web::search::backend(search)?;
            self.register(Arc::new(web::WebSearch::new(backend, search.max_results)));
        }
        Ok(())
    }

    /// Adds (or replaces) a tool.
    pub fn register(&mut self, tool: Arc<dyn Tool>) {
        self.tools.insert(tool.spec().name, tool);
        self.specs = self.tools.values().map(|t| t.spec()).collect();
    }

    /// Adds a source of tools that change at run time; a registered tool of the same name
    /// wins over its tool.
    pub fn add_source(&mut self, source: Arc<dyn ToolSource>) {
        self.sources.push(source);
    }

    /// True when a source (an MCP server) may add or remove tools while the gateway runs.
    #[must_use]
    pub fn changes_at_run_time(&self) -> bool {
        !self.sources.is_empty()
    }

    /// Specs of every tool, for the request (built once, when tools are registered, plus
    /// what the sources offer at this moment).
    #[must_use]
    pub fn specs(&self) -> Arc<[ToolSpec]> {
        if self.sources.is_empty() {
            return Arc::clone(&self.specs);
        }
        let mut all = self.specs.to_vec();
        for source in &self.sources {
            all.extend(
                source
                    .specs()
                    .iter()
                    .filter(|s| !self.tools.contains_key(&s.name))
                    .cloned(),
            );
        }
        all.into()
    }

    /// A registered tool, else a source's.
    fn tool(&self, name: &str) -> Option<Arc<dyn Tool>> {
        self.tools
            .get(name)
            .cloned()
            .or_else(|| self.sources.iter().find_map(|s| s.tool(name)))
    }

    /// Whether the named tool sends media (unknown names do not).
    #[must_use]
    pub fn sends_media(&self, name: &str) -> bool {
        self.tool(name).is_some_and(|t| t.sends_media())
    }

    /// Runs the named tool; an unknown name is reported to the model, not raised.
    pub async fn call(&self, name: &str, arguments: &str, context: &ToolContext) -> String {
        match self.tool(name) {
            Some(tool) => match tool.call(arguments, context).await {
                Ok(result) => result,
                Err(message) => json!({ "error": message }).to_string(),
            },
            None => json!({ "error": format!("no tool named {name:?}; available: {:?}", self.tools.keys()) })
                .to_string(),
        }
    }
}

/// `get_time`: the current date and time in China Standard Time (UTC+8), DingTalk's home zone.
struct CurrentTime;

#[async_trait]
impl Tool for CurrentTime {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "get_time".into(),
            description: "Current date and time in China Standard Time (UTC+8).".into(),
            parameters: json!({ "type": "object", "properties": {} }),
        }
    }

    async fn call(&self, _arguments: &str, _context: &ToolContext) -> Result<String, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| format!("system clock is before 1970: {e}"))?;
        Ok(Value::String(format_cst(now.as_secs())).to_string())
    }
}

/// `YYYY-MM-DD HH:MM:SS +08:00` for a Unix time (civil-from-days, proleptic Gregorian).
fn format_cst(unix_secs: u64) -> String {
    let secs = unix_secs + 8 * 3600;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} +08:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_core::ids::AccountId;

    #[test]
    fn formats_china_standard_time() {
        assert_eq!(format_cst(0), "1970-01-01 08:00:00 +08:00");
        assert_eq!(format_cst(1_767_225_600), "2026-01-01 08:00:00 +08:00");
        assert_eq!(format_cst(1_709_164_800), "2024-02-29 08:00:00 +08:00");
    }

    #[tokio::test]
    async fn unknown_tools_are_reported_to_the_model() {
        let registry = ToolRegistry::builtin();
        let out = registry
            .call("nope", "{}", &ToolContext::new(AccountId::new("default"), None))
            .await;
        assert!(out.contains("no tool named") && out.contains("get_time"));
        assert!(out.contains("send_action_card"));
        let time = registry
            .call(
                "get_time",
                "{}",
                &ToolContext::new(AccountId::new("default"), None),
            )
            .await;
        assert!(time.contains("+08:00"));
    }
}
