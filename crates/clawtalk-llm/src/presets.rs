//! Provider presets: base URL, default model, key variables and quirks of the
//! OpenAI-compatible endpoints we support out of the box. Anything else works through
//! [`ProviderPreset::Custom`] with a `baseUrl`.
//!
//! Default models are starting points only; provider line-ups change every few months, so
//! the configured model always wins.
//!
//! Sources for ids, hosts and key variables: OpenClaw's provider docs
//! (docs.openclaw.ai/providers/qwen: Standard and Coding Plan endpoints, `QWEN_API_KEY` /
//! `MODELSTUDIO_API_KEY` / `DASHSCOPE_API_KEY`; docs.openclaw.ai/providers/glm and
//! providers/zai: `ZAI_API_KEY`, legacy `Z_AI_API_KEY`, the coding endpoint under
//! `/api/coding/paas/v4`; the `zhipu`/`zhipu-coding` ids of OpenClaw's docs/providers/zai.md),
//! and Alibaba Cloud's "OpenClaw第三方模型接入" page (help.aliyun.com,
//! simple-application-server/use-cases/openclaw-third-party-model) for the Token Plan team
//! edition's `bailian-token-plan` provider and its host.

use serde_json::{Value, json};

/// A known OpenAI-compatible provider, or a custom endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderPreset {
    /// Alibaba Cloud DashScope / Model Studio (Qwen), China (Beijing) region.
    DashScope,
    /// DashScope international (Singapore) region.
    DashScopeIntl,
    /// Model Studio Coding Plan (subscription, `sk-sp-…` keys), China endpoint. Serves Qwen
    /// and the third-party models of the plan (kimi-k2.5, MiniMax-M2.5, glm-5).
    DashScopeCoding,
    /// Model Studio Coding Plan, international endpoint.
    DashScopeCodingIntl,
    /// Model Studio Token Plan, team edition (Beijing).
    DashScopeTokenPlan,
    /// DeepSeek.
    DeepSeek,
    /// Moonshot (Kimi), China endpoint.
    Moonshot,
    /// Moonshot (Kimi), international endpoint.
    MoonshotIntl,
    /// Zhipu GLM on open.bigmodel.cn (China).
    Zhipu,
    /// Zhipu GLM on Z.AI (international).
    ZAi,
    /// GLM Coding Plan on open.bigmodel.cn (China).
    ZhipuCoding,
    /// GLM Coding Plan on Z.AI (international).
    ZAiCoding,
    /// Any OpenAI-compatible endpoint (vLLM, Ollama, one-api, the offline mock…): the base URL
    /// comes from configuration and no quirks apply.
    Custom,
}

/// Request and response differences between providers that the client has to handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quirks {
    /// Send `stream_options: {"include_usage": true}` when streaming; without it DashScope and
    /// DeepSeek report no usage. GLM rejects the field, Moonshot reports usage anyway.
    pub stream_usage_option: bool,
    /// Qwen3 models think by default but reject `enable_thinking: true` on non-streamed
    /// calls, so non-streamed requests get `enable_thinking: false` unless the caller set it.
    pub no_thinking_when_not_streaming: bool,
    /// How the provider switches reasoning on and off, if it has a request switch at all
    /// (DeepSeek and Kimi choose by model instead).
    pub thinking_switch: ThinkingSwitch,
}

/// The request field that turns reasoning on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThinkingSwitch {
    /// No switch: reasoning depends on the model chosen.
    #[default]
    None,
    /// DashScope: top-level `enable_thinking: bool`.
    EnableThinking,
    /// GLM: `thinking: {"type": "enabled" | "disabled"}`.
    ThinkingType,
}

impl ProviderPreset {
    /// Every preset, for listings and `--help`.
    pub const ALL: [Self; 13] = [
        Self::DashScope,
        Self::DashScopeIntl,
        Self::DashScopeCoding,
        Self::DashScopeCodingIntl,
        Self::DashScopeTokenPlan,
        Self::DeepSeek,
        Self::Moonshot,
        Self::MoonshotIntl,
        Self::Zhipu,
        Self::ZAi,
        Self::ZhipuCoding,
        Self::ZAiCoding,
        Self::Custom,
    ];

    /// The id used in configuration files.
    #[must_use]
    pub fn id(self) -> &'static str {
        match self {
            Self::DashScope => "dashscope",
            Self::DashScopeIntl => "dashscope-intl",
            Self::DashScopeCoding => "dashscope-coding",
            Self::DashScopeCodingIntl => "dashscope-coding-intl",
            Self::DashScopeTokenPlan => "bailian-token-plan",
            Self::DeepSeek => "deepseek",
            Self::Moonshot => "moonshot",
            Self::MoonshotIntl => "moonshot-intl",
            Self::Zhipu => "zhipu",
            Self::ZAi => "zai",
            Self::ZhipuCoding => "zhipu-coding",
            Self::ZAiCoding => "zai-coding",
            Self::Custom => "custom",
        }
    }

    /// Parses a configuration id, accepting the aliases people actually type
    /// (`qwen`, `bailian`, `kimi`, `glm`, `bigmodel`, `openai-compatible`…).
    #[must_use]
    pub fn from_id(id: &str) -> Option<Self> {
        Some(match id.trim().to_ascii_lowercase().as_str() {
            "dashscope" | "qwen" | "bailian" | "modelstudio" | "aliyun" => Self::DashScope,
            "dashscope-intl" | "qwen-intl" | "modelstudio-intl" => Self::DashScopeIntl,
            "dashscope-coding" | "bailian-coding" | "modelstudio-coding" | "qwen-coding" => {
                Self::DashScopeCoding
            }
            "dashscope-coding-intl" | "modelstudio-coding-intl" | "qwen-coding-intl" => {
                Self::DashScopeCodingIntl
            }
            "bailian-token-plan" | "dashscope-token-plan" | "modelstudio-token-plan" | "qwen-token-plan" => {
                Self::DashScopeTokenPlan
            }
            "deepseek" => Self::DeepSeek,
            "moonshot" | "kimi" => Self::Moonshot,
            "moonshot-intl" | "kimi-intl" => Self::MoonshotIntl,
            "zhipu" | "glm" | "bigmodel" | "zhipuai" => Self::Zhipu,
            "zai" | "z.ai" | "glm-intl" => Self::ZAi,
            "zhipu-coding" | "glm-coding" | "bigmodel-coding" => Self::ZhipuCoding,
            "zai-coding" | "glm-coding-intl" => Self::ZAiCoding,
            "custom" | "openai" | "openai-compatible" => Self::Custom,
            _ => return None,
        })
    }

    /// Base URL (without `/chat/completions`); `None` for [`ProviderPreset::Custom`].
    #[must_use]
    pub fn base_url(self) -> Option<&'static str> {
        Some(match self {
            Self::DashScope => "https://dashscope.aliyuncs.com/compatible-mode/v1",
            Self::DashScopeIntl => "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
            Self::DashScopeCoding => "https://coding.dashscope.aliyuncs.com/v1",
            Self::DashScopeCodingIntl => "https://coding-intl.dashscope.aliyuncs.com/v1",
            Self::DashScopeTokenPlan => "https://token-plan.cn-beijing.maas.aliyuncs.com/compatible-mode/v1",
            Self::DeepSeek => "https://api.deepseek.com",
            Self::Moonshot => "https://api.moonshot.cn/v1",
            Self::MoonshotIntl => "https://api.moonshot.ai/v1",
            Self::Zhipu => "https://open.bigmodel.cn/api/paas/v4",
            Self::ZAi => "https://api.z.ai/api/paas/v4",
            Self::ZhipuCoding => "https://open.bigmodel.cn/api/coding/paas/v4",
            Self::ZAiCoding => "https://api.z.ai/api/coding/paas/v4",
            Self::Custom => return None,
        })
    }

    /// A sensible model when none is configured.
    #[must_use]
    pub fn default_model(self) -> Option<&'static str> {
        Some(match self {
            Self::DashScope | Self::DashScopeIntl => "qwen-plus",
            Self::DashScopeCoding | Self::DashScopeCodingIntl => "qwen3.5-plus",
            Self::DashScopeTokenPlan => "qwen3.6-plus",
            Self::DeepSeek => "deepseek-chat",
            Self::Moonshot | Self::MoonshotIntl => "kimi-k2.6",
            Self::Zhipu | Self::ZAi => "glm-4.6",
            Self::ZhipuCoding | Self::ZAiCoding => "glm-4.7",
            Self::Custom => return None,
        })
    }

    /// Environment variables that may hold the API key, in order of preference.
    #[must_use]
    pub fn api_key_env(self) -> &'static [&'static str] {
        match self {
            // One Model Studio key family for every endpoint, as OpenClaw's qwen provider reads
            // it; Coding and Token Plan keys (`sk-sp-…`) only work on their own hosts.
            Self::DashScope
            | Self::DashScopeIntl
            | Self::DashScopeCoding
            | Self::DashScopeCodingIntl
            | Self::DashScopeTokenPlan => &["DASHSCOPE_API_KEY", "QWEN_API_KEY", "MODELSTUDIO_API_KEY"],
            Self::DeepSeek => &["DEEPSEEK_API_KEY"],
            Self::Moonshot | Self::MoonshotIntl => &["MOONSHOT_API_KEY", "KIMI_API_KEY"],
            Self::Zhipu | Self::ZhipuCoding => &[
                "ZHIPU_API_KEY",
                "ZHIPUAI_API_KEY",
                "GLM_API_KEY",
                "BIGMODEL_API_KEY",
            ],
            Self::ZAi | Self::ZAiCoding => &["ZAI_API_KEY", "Z_AI_API_KEY", "GLM_API_KEY", "ZHIPUAI_API_KEY"],
            Self::Custom => &["OPENAI_API_KEY"],
        }
    }

    /// The key from the first of [`ProviderPreset::api_key_env`] that is set and non-empty.
    #[must_use]
    pub fn api_key_from_env(self) -> Option<dingtalk::Secret> {
        self.api_key_env()
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .find(|v| !v.trim().is_empty())
            .map(|v| dingtalk::Secret::new(v.trim()))
    }

    /// What the client must do differently for this provider.
    #[must_use]
    pub fn quirks(self) -> Quirks {
        match self {
            Self::DashScope
            | Self::DashScopeIntl
            | Self::DashScopeCoding
            | Self::DashScopeCodingIntl
            | Self::DashScopeTokenPlan => Quirks {
                stream_usage_option: true,
                no_thinking_when_not_streaming: true,
                thinking_switch: ThinkingSwitch::EnableThinking,
            },
            Self::DeepSeek => Quirks {
                stream_usage_option: true,
                ..Quirks::default()
            },
            Self::Zhipu | Self::ZAi | Self::ZhipuCoding | Self::ZAiCoding => Quirks {
                thinking_switch: ThinkingSwitch::ThinkingType,
                ..Quirks::default()
            },
            Self::Moonshot | Self::MoonshotIntl | Self::Custom => Quirks::default(),
        }
    }
}

impl ThinkingSwitch {
    /// The body field (name and value) that turns reasoning on or off, if there is one.
    #[must_use]
    pub fn field(self, enabled: bool) -> Option<(&'static str, Value)> {
        match self {
            Self::None => None,
            Self::EnableThinking => Some(("enable_thinking", Value::Bool(enabled))),
            Self::ThinkingType => Some((
                "thinking",
                json!({ "type": if enabled { "enabled" } else { "disabled" } }),
            )),
        }
    }
}

impl std::fmt::Display for ProviderPreset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_aliases_parse() {
        for p in ProviderPreset::ALL {
            assert_eq!(ProviderPreset::from_id(p.id()), Some(p));
        }
        assert_eq!(ProviderPreset::from_id("Qwen"), Some(ProviderPreset::DashScope));
        assert_eq!(ProviderPreset::from_id("kimi"), Some(ProviderPreset::Moonshot));
        assert_eq!(ProviderPreset::from_id("glm"), Some(ProviderPreset::Zhipu));
        assert_eq!(ProviderPreset::from_id("gpt"), None);
    }

    #[test]
    fn every_named_preset_has_url_model_and_key_vars() {
        for p in ProviderPreset::ALL {
            assert!(!p.api_key_env().is_empty());
            if p == ProviderPreset::Custom {
                assert!(p.base_url().is_none());
                continue;
            }
            let url = p.base_url().unwrap();
            assert!(url.starts_with("https://") && !url.ends_with('/'), "{url}");
            assert!(p.default_model().is_some());
        }
    }

    #[test]
    fn thinking_switches() {
        assert_eq!(
            ProviderPreset::DashScope.quirks().thinking_switch.field(false),
            Some(("enable_thinking", Value::Bool(false)))
        );
        assert_eq!(
            ProviderPreset::Zhipu.quirks().thinking_switch.field(true),
            Some(("thinking", json!({"type":"enabled"})))
        );
        assert_eq!(
            ProviderPreset::DeepSeek.quirks().thinking_switch.field(true),
            None
        );
    }
}
