//! Recall: before a turn, the memories most relevant to the user's message join the system
//! prompt, as many as fit the agent's `memory.recallTokens` budget, so the model knows what
//! it was told in earlier sessions without having to search first.

use clawtalk_store::{MemoryQuery, search_terms};

use crate::memory::Memory;
use crate::tools::ToolContext;

/// Candidates fetched for the budget to choose from.
const CANDIDATES: u32 = 20;

/// The prompt section for `message`, `None` when nothing relevant is remembered, the budget
/// is 0, or memory is unavailable (a turn never fails for it).
pub(crate) async fn section(
    memory: &Memory,
    budget: u32,
    context: &ToolContext,
    message: &str,
) -> Option<String> {
    if budget == 0 || search_terms(message).is_empty() {
        return None;
    }
    let visibility = match memory.prepare(context).await {
        Ok(visibility) => visibility,
        Err(reason) => {
            tracing::debug!(%reason, "no recall for this turn");
            return None;
        }
    };
    let query = MemoryQuery {
        agent_id: visibility.agent_id.clone(),
        visible: visibility.visible(),
        text: message.to_owned(),
        limit: CANDIDATES,
    };
    let hits = match memory.store.memory_search(&query).await {
        Ok(hits) => hits,
        Err(error) => {
            tracing::warn!(%error, "recalling memories failed; the turn goes on without them");
            return None;
        }
    };
    let header = "Things you remember from earlier conversations and your memory files that may \
                  matter here (use them when they help; memory_search finds more):";
    let mut used = estimate_tokens(header);
    let mut lines = Vec::new();
    for hit in hits {
        let line = format!("- {}", hit.record.text);
        let cost = estimate_tokens(&line);
        if used + cost > budget {
            break;
        }
        used += cost;
        lines.push(line);
    }
    (!lines.is_empty()).then(|| format!("{header}\n{}", lines.join("\n")))
}

/// Tokens `text` costs a model, roughly: one per CJK character (tokenizers of Chinese-first
/// models give about that), one per four other characters.
#[must_use]
pub fn estimate_tokens(text: &str) -> u32 {
    let (mut cjk, mut other) = (0u32, 0u32);
    for c in text.chars() {
        if is_wide(c) {
            cjk += 1;
        } else {
            other += 1;
        }
    }
    cjk + other.div_ceil(4)
}

/// Characters of scripts written without spaces (and their full-width punctuation).
fn is_wide(c: char) -> bool {
    matches!(c, '\u{2e80}'..='\u{9fff}' | '\u{ac00}'..='\u{d7af}' | '\u{f900}'..='\u{faff}' | '\u{ff00}'..='\u{ffef}' | '\u{20000}'..='\u{2ebef}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use clawtalk_core::clock::{EpochMs, ManualClock};
    use clawtalk_core::ids::{AccountId, AgentId, SessionKey, SessionScope};
    use clawtalk_store::{MemoryScope, MemoryStore, MemorySubject, NewMemory, SqliteStore};

    #[test]
    fn tokens_are_counted_per_cjk_character_and_per_four_others() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("乌龙茶"), 3);
        assert_eq!(estimate_tokens("喜欢 tea!"), 2 + 2);
    }

    fn dm(sender: &str) -> ToolContext {
        let key = SessionKey::new(
            AgentId::new("main"),
            AccountId::new("default"),
            SessionScope::Dm {
                sender: sender.into(),
            },
        );
        let mut context = ToolContext::new(AccountId::new("default"), Some(key));
        context.sender = Some(sender.into());
        context
    }

    async fn memory_with(facts: &[(&str, &str)]) -> Memory {
        let config = clawtalk_config::test_support::config(
            r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat", workspace: "/nonexistent/ws" } ] },
                 channels: { dingtalk: { clientId: "dingbot", clientSecret: "s" } } }"#,
        );
        let store = Arc::new(SqliteStore::in_memory().await.unwrap());
        for (i, (user, text)) in facts.iter().enumerate() {
            let memory = NewMemory {
                agent_id: "main".into(),
                owner: MemorySubject::new(MemoryScope::User, *user),
                text: (*text).into(),
                created_by: None,
            };
            store
                .memory_save(memory, EpochMs::from_millis(i64::try_from(i).unwrap()))
                .await
                .unwrap();
        }
        let clock = Arc::new(ManualClock::at(EpochMs::from_millis(0)));
        Memory::new(Arc::new(config), store, clock)
    }

    #[tokio::test]
    async fn recall_takes_the_senders_relevant_memories_within_the_budget() {
        let memory = memory_with(&[
            ("alice", "用户喜欢喝乌龙茶"),
            ("alice", "Alice takes her coffee with oat milk"),
            ("bob", "Bob drinks coffee black"),
        ])
        .await;
        let section = section(&memory, 600, &dm("alice"), "推荐一杯咖啡 or coffee?")
            .await
            .unwrap();
        assert!(section.contains("oat milk"), "{section}");
        assert!(!section.contains("Bob"), "{section}");
        assert!(!section.contains("乌龙茶"), "{section}");
        // Too small a budget for the header and one memory: nothing.
        assert!(section_for(&memory, 20, "coffee").await.is_none());
        assert!(section_for(&memory, 0, "coffee").await.is_none());
        // A message with no term recalls nothing.
        assert!(section_for(&memory, 600, "what do you remember?").await.is_none());
    }

    async fn section_for(memory: &Memory, budget: u32, message: &str) -> Option<String> {
        section(memory, budget, &dm("alice"), message).await
    }
}
