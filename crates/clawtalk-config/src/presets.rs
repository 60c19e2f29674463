//! Provider ids people already use in OpenClaw configs (`bailian/qwen3.5-plus`,
//! `deepseek/deepseek-chat`, …) resolved through the model client's one preset table.

use clawtalk_llm::ProviderPreset;

/// What a preset fills in when the config leaves it out.
#[derive(Clone, Copy)]
pub struct Preset {
    pub kind: ProviderPreset,
    pub base_url: &'static str,
    /// Tried in order for the API key.
    pub key_envs: &'static [&'static str],
}

/// The built-in provider a provider id names, if any (case-insensitive). Generic ids such as
/// `openai` have no fixed host, so they are not presets here: they need a `baseUrl`.
pub fn preset_for(id: &str) -> Option<Preset> {
    let kind = ProviderPreset::from_id(id)?;
    Some(Preset {
        kind,
        base_url: kind.base_url()?,
        key_envs: kind.api_key_env(),
    })
}

/// Preset ids for "use a built-in provider" hints.
pub const PRESET_IDS: &str = "qwen|dashscope|bailian, dashscope-intl, dashscope-coding, \
     dashscope-coding-intl, bailian-token-plan, deepseek, moonshot|kimi, moonshot-intl, \
     zhipu|glm|bigmodel, zai, zhipu-coding, zai-coding";

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

    /// The provider a `provider/model` reference of the given id ends up with, when the config
    /// declares nothing but the reference and the environment holds `key_var`.
    fn resolved(model: &str, key_var: &str) -> crate::ProviderConfig {
        let text = format!(
            r#"{{ agents: {{ list: [ {{ id: "main", model: "{model}" }} ] }},
                 gateway: {{ stateDir: "/tmp/clawtalk-presets" }},
                 channels: {{ dingtalk: {{ clientId: "dingpresets", clientSecret: "s", dmPolicy: "pairing" }} }} }}"#
        );
        let env = |name: &str| (name == key_var).then(|| format!("sk-from-{key_var}"));
        let loaded =
            crate::Config::from_json5(&text, &env).unwrap_or_else(|e| panic!("{model} with {key_var}: {e}"));
        let agent = loaded.config.default_agent().clone();
        loaded.config.provider_for(&agent.model).unwrap().clone()
    }

    fn assert_resolves(model: &str, url: &str, key_var: &str) {
        let provider = resolved(model, key_var);
        assert_eq!(provider.base_url.as_str(), url, "{model}");
        assert_eq!(
            provider.api_key.as_ref().map(|k| k.expose().to_owned()),
            Some(format!("sk-from-{key_var}")),
            "{model} reads {key_var}"
        );
    }

    #[test]
    fn model_studio_references_resolve_to_their_endpoints() {
        assert_resolves(
            "qwen/qwen-plus",
            "https://dashscope.aliyuncs.com/compatible-mode/v1",
            "QWEN_API_KEY",
        );
        assert_resolves(
            "dashscope-intl/qwen-plus",
            "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
            "DASHSCOPE_API_KEY",
        );
        for model in ["qwen3.5-plus", "kimi-k2.5", "MiniMax-M2.5", "glm-5"] {
            assert_resolves(
                &format!("dashscope-coding/{model}"),
                "https://coding.dashscope.aliyuncs.com/v1",
                "DASHSCOPE_API_KEY",
            );
        }
        assert_resolves(
            "dashscope-coding-intl/qwen3.5-plus",
            "https://coding-intl.dashscope.aliyuncs.com/v1",
            "MODELSTUDIO_API_KEY",
        );
        assert_resolves(
            "bailian-token-plan/qwen3.6-plus",
            "https://token-plan.cn-beijing.maas.aliyuncs.com/compatible-mode/v1",
            "DASHSCOPE_API_KEY",
        );
    }

    #[test]
    fn deepseek_and_kimi_references_resolve_to_their_endpoints() {
        assert_resolves(
            "deepseek/deepseek-chat",
            "https://api.deepseek.com/",
            "DEEPSEEK_API_KEY",
        );
        assert_resolves("kimi/kimi-k2.6", "https://api.moonshot.cn/v1", "MOONSHOT_API_KEY");
        assert_resolves(
            "moonshot-intl/kimi-k2.6",
            "https://api.moonshot.ai/v1",
            "KIMI_API_KEY",
        );
    }

    #[test]
    fn glm_references_resolve_to_their_endpoints() {
        assert_resolves(
            "zhipu/glm-4.6",
            "https://open.bigmodel.cn/api/paas/v4",
            "ZHIPU_API_KEY",
        );
        assert_resolves(
            "zhipu-coding/glm-4.7",
            "https://open.bigmodel.cn/api/coding/paas/v4",
            "ZHIPUAI_API_KEY",
        );
        assert_resolves(
            "glm-coding/glm-5",
            "https://open.bigmodel.cn/api/coding/paas/v4",
            "ZHIPU_API_KEY",
        );
        assert_resolves("zai/glm-4.6", "https://api.z.ai/api/paas/v4", "ZAI_API_KEY");
        assert_resolves(
            "zai-coding/glm-4.7",
            "https://api.z.ai/api/coding/paas/v4",
            "Z_AI_API_KEY",
        );
    }
}
