//! Provider ids people already use in OpenClaw configs (`bailian/qwen3.5-plus`,
//! `deepseek/deepseek-chat`, …) resolved through the model client's one preset table.

use crate::llm::ProviderPreset;

/// What a preset fills in when the config leaves it out.
#[derive(Clone, Copy)]
pub(crate) struct Preset {
    pub(crate) kind: ProviderPreset,
    pub(crate) base_url: &'static str,
    /// Tried in order for the API key.
    pub(crate) key_envs: &'static [&'static str],
}

/// The built-in provider a provider id names, if any (case-insensitive). Generic ids such as
/// `openai` have no fixed host, so they are not presets here: they need a `baseUrl`.
pub(crate) fn preset_for(id: &str) -> Option<Preset> {
    let kind = ProviderPreset::from_id(id)?;
    Some(Preset {
        kind,
        base_url: kind.base_url()?,
        key_envs: kind.api_key_env(),
    })
}

/// Preset ids for "use a built-in provider" hints.
pub(crate) const PRESET_IDS: &str =
    "qwen|dashscope|bailian, dashscope-intl, deepseek, moonshot|kimi, moonshot-intl, zhipu|glm|bigmodel, zai";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_map_to_presets() {
        assert_eq!(preset_for("Bailian").unwrap().kind, ProviderPreset::DashScope);
        assert_eq!(preset_for("kimi").unwrap().base_url, "https://api.moonshot.cn/v1");
        assert_eq!(preset_for("zai").unwrap().key_envs[0], "ZAI_API_KEY");
        assert!(preset_for("openrouter").is_none());
        assert!(preset_for("openai").is_none());
    }
}
