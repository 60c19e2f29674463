//! `memory { recallTokens }` (clawtalk keys) of an agent and of `agents.defaults`.

use super::reader::{Ctx, IGNORED_KEY, Obj};
use super::types::AgentMemory;

/// Largest recall budget: recalled memories share the prompt with the history.
const MAX_RECALL_TOKENS: i64 = 8_000;

/// `memory` as written; `None` = not given (inherit).
#[derive(Clone, Copy, Default)]
pub struct MemoryDraft {
    pub recall_tokens: Option<u32>,
}

impl MemoryDraft {
    /// Each key from `self`, else from `defaults`, else the built-in default.
    pub fn resolve(self, defaults: Self) -> AgentMemory {
        AgentMemory {
            recall_tokens: self
                .recall_tokens
                .or(defaults.recall_tokens)
                .unwrap_or(AgentMemory::default().recall_tokens),
        }
    }
}

/// `memory { recallTokens }`: 0 switches recall off (the memory tools stay).
pub fn read_memory(obj: &Obj<'_>, cx: &mut Ctx<'_>) -> MemoryDraft {
    let Some(memory) = obj.get("memory").and_then(|n| n.node().object(cx)) else {
        return MemoryDraft::default();
    };
    let draft = MemoryDraft {
        recall_tokens: memory
            .get("recallTokens")
            .and_then(|n| n.node().int_in(cx, 0, MAX_RECALL_TOKENS))
            .and_then(|n| u32::try_from(n).ok()),
    };
    memory.finish(cx, &[], IGNORED_KEY);
    draft
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use crate::types::AgentMemory;

    fn load(json5: &str) -> Result<Config, String> {
        let env = |name: &str| match name {
            "HOME" => Some("/tmp/clawtalk-test-home".to_owned()),
            "DEEPSEEK_API_KEY" => Some("k".to_owned()),
            _ => None,
        };
        Config::from_json5(json5, &env)
            .map(|loaded| loaded.config)
            .map_err(|errors| errors.to_string())
    }

    #[test]
    fn recall_tokens_inherit_from_the_defaults_and_zero_turns_recall_off() {
        let c = load(
            r#"{ agents: {
                   defaults: { model: "deepseek/deepseek-chat", memory: { recallTokens: 300 } },
                   list: [ { id: "main", memory: { recallTokens: 0 } }, { id: "other" } ] },
                 channels: { dingtalk: { clientId: "dingx", clientSecret: "s" } } }"#,
        )
        .unwrap();
        assert_eq!(c.agent("main").unwrap().memory, AgentMemory { recall_tokens: 0 });
        assert_eq!(c.agent("other").unwrap().memory.recall_tokens, 300);
        let plain = load(
            r#"{ agents: { defaults: { model: "deepseek/deepseek-chat" } },
                 channels: { dingtalk: { clientId: "dingx", clientSecret: "s" } } }"#,
        )
        .unwrap();
        assert_eq!(plain.default_agent().memory, AgentMemory::default());
    }

    #[test]
    fn an_out_of_range_budget_is_reported_with_its_path_and_range() {
        let errors = load(
            r#"{ agents: { defaults: { model: "deepseek/deepseek-chat", memory: { recallTokens: 99999 } } },
                 channels: { dingtalk: { clientId: "dingx", clientSecret: "s" } } }"#,
        )
        .unwrap_err();
        assert!(errors.contains("agents.defaults.memory.recallTokens"), "{errors}");
        assert!(errors.contains("from 0 to 8000"), "{errors}");
    }
}
