//! Built-in OpenAI-compatible provider presets, keyed by the provider ids people already use in
//! OpenClaw configs (`bailian/qwen3.5-plus`, `deepseek/deepseek-chat`, …).

use super::types::ProviderPreset;

/// What a preset fills in when the config leaves it out.
pub(crate) struct Preset {
    pub(crate) kind: ProviderPreset,
    pub(crate) base_url: &'static str,
    /// Tried in order for the API key.
    pub(crate) key_envs: &'static [&'static str],
}

const DASHSCOPE: Preset = Preset {
    kind: ProviderPreset::DashScope,
    base_url: "https://dashscope.aliyuncs.com/compatible-mode/v1",
    key_envs: &["DASHSCOPE_API_KEY", "QWEN_API_KEY", "MODELSTUDIO_API_KEY"],
};
const DEEPSEEK: Preset = Preset {
    kind: ProviderPreset::DeepSeek,
    base_url: "https://api.deepseek.com",
    key_envs: &["DEEPSEEK_API_KEY"],
};
const KIMI: Preset = Preset {
    kind: ProviderPreset::Kimi,
    base_url: "https://api.moonshot.cn/v1",
    key_envs: &["MOONSHOT_API_KEY", "KIMI_API_KEY"],
};
const ZHIPU: Preset = Preset {
    kind: ProviderPreset::Glm,
    base_url: "https://open.bigmodel.cn/api/paas/v4",
    key_envs: &["ZHIPUAI_API_KEY", "ZAI_API_KEY"],
};
// Z.AI is Zhipu's international platform: same models, different host and key.
const ZAI: Preset = Preset {
    kind: ProviderPreset::Glm,
    base_url: "https://api.z.ai/api/paas/v4",
    key_envs: &["ZAI_API_KEY", "ZHIPUAI_API_KEY"],
};

/// The preset a provider id names, if any (case-insensitive).
pub(crate) fn preset_for(id: &str) -> Option<&'static Preset> {
    match id.to_ascii_lowercase().as_str() {
        "qwen" | "dashscope" | "bailian" | "modelstudio" => Some(&DASHSCOPE),
        "deepseek" => Some(&DEEPSEEK),
        "moonshot" | "kimi" => Some(&KIMI),
        "zhipu" | "glm" | "bigmodel" => Some(&ZHIPU),
        "zai" => Some(&ZAI),
        _ => None,
    }
}

/// Preset ids for "use a built-in provider" hints.
pub(crate) const PRESET_IDS: &str = "qwen|dashscope|bailian, deepseek, moonshot|kimi, zhipu|glm|zai";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_map_to_presets() {
        assert_eq!(preset_for("Bailian").unwrap().kind, ProviderPreset::DashScope);
        assert_eq!(preset_for("kimi").unwrap().base_url, "https://api.moonshot.cn/v1");
        assert_eq!(preset_for("zai").unwrap().key_envs[0], "ZAI_API_KEY");
        assert!(preset_for("openrouter").is_none());
    }
}
