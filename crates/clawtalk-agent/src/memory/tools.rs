//! `memory_search`, `memory_get` (OpenClaw's names, its `group:memory`), `memory_save` and
//! `memory_forget`: what the agent keeps across sessions, and what users ask it to drop.
//!
//! Every call sees only what its turn may see (`memory::scope`): the sender's own memories,
//! the conversation's, the group's when it runs in one, and the agent's memory files. An id
//! outside that is answered as if it did not exist.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Memory;
use super::files::{CURATED_FILE, NOTES_DIR, is_note_name};
use super::scope::Visibility;
use crate::tools::{Tool, ToolContext};
use clawtalk_llm::ToolSpec;
use clawtalk_store::{MemoryQuery, MemoryRecord, MemoryScope, MemorySource, NewMemory};

/// Results `memory_search` returns unless asked for fewer or more (OpenClaw's default).
const DEFAULT_RESULTS: u32 = 6;
/// The most it returns.
const MAX_RESULTS: u32 = 20;
/// Lines `memory_get` reads from a file unless told.
const DEFAULT_LINES: usize = 60;
/// The most characters of a file `memory_get` returns in one call.
const MAX_FILE_CHARS: usize = 16_000;

/// The four tools.
pub(crate) fn tools(memory: &Memory) -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(Search(memory.clone())),
        Arc::new(Get(memory.clone())),
        Arc::new(Save(memory.clone())),
        Arc::new(Forget(memory.clone())),
    ]
}

struct Search(Memory);
struct Get(Memory);
struct Save(Memory);
struct Forget(Memory);

fn parse<'a, T: Deserialize<'a>>(arguments: &'a str, example: &str) -> Result<T, String> {
    let arguments = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    serde_json::from_str(arguments).map_err(|e| format!("invalid arguments ({e}); expected e.g. {example}"))
}

fn unavailable(error: impl std::fmt::Display) -> String {
    format!("memory is unavailable right now ({error}); try again later")
}

/// A memory as the model sees it.
fn shown(record: &MemoryRecord) -> Value {
    let mut value = json!({
        "id": record.id,
        "text": record.text,
        "scope": record.owner.scope.as_str(),
        "saved": record.updated_at_ms.to_string(),
    });
    if let (Some(path), Some((start, end))) = (&record.path, record.lines) {
        value["path"] = json!(path);
        value["startLine"] = json!(start);
        value["endLine"] = json!(end);
    }
    value
}

/// The scope a `scope` argument names, checked against the turn.
fn chosen_scope(scope: Option<&str>, visibility: &Visibility) -> Result<MemoryScope, String> {
    let scope = match scope.map(str::trim).filter(|s| !s.is_empty()) {
        None if visibility.user.is_some() => MemoryScope::User,
        None => MemoryScope::Conversation,
        Some("user") => MemoryScope::User,
        Some("conversation") => MemoryScope::Conversation,
        Some("group") => MemoryScope::Group,
        Some(other) => {
            return Err(format!(
                "unknown scope {other:?}; use \"user\", \"conversation\" or \"group\""
            ));
        }
    };
    if visibility.owner(scope).is_none() {
        return Err(match scope {
            MemoryScope::Group => "this conversation is not a group; use scope \"user\" or \"conversation\"",
            MemoryScope::User => "the sender of this message is not known; use scope \"conversation\"",
            _ => "this conversation cannot keep memories",
        }
        .to_owned());
    }
    Ok(scope)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchArgs {
    #[serde(default)]
    query: String,
    #[serde(default)]
    max_results: Option<u32>,
}

#[async_trait]
impl Tool for Search {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "memory_search".into(),
            description: "Search what you remember: facts saved with memory_save for this user, this \
                conversation or this group, and your MEMORY.md and memory/ notes. Use it before \
                answering about the user's preferences, earlier decisions, people, dates or to-dos. \
                When the user asks what you remember about them, call it with an empty query to list \
                everything you may show them. Results carry an id for memory_get and memory_forget."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "query": { "type": "string", "description": "Words to look for, any language; empty lists the most recent memories." },
                    "maxResults": { "type": "integer", "minimum": 1, "maximum": MAX_RESULTS, "description": "At most this many results (default 6)." }
                }
            }),
        }
    }

    async fn call(&self, arguments: &str, context: &ToolContext) -> Result<String, String> {
        let args: SearchArgs = parse(arguments, r#"{"query": "coffee"}"#)?;
        let visibility = self.0.prepare(context).await?;
        let query = MemoryQuery {
            agent_id: visibility.agent_id.clone(),
            visible: visibility.visible(),
            text: args.query,
            limit: args.max_results.unwrap_or(DEFAULT_RESULTS).clamp(1, MAX_RESULTS),
        };
        let hits = self.0.store.memory_search(&query).await.map_err(unavailable)?;
        let results: Vec<Value> = hits
            .iter()
            .map(|hit| {
                let mut value = shown(&hit.record);
                value["score"] = json!((hit.score * 100.0).round() / 100.0);
                value
            })
            .collect();
        Ok(json!({ "results": results }).to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetArgs {
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    from: Option<usize>,
    #[serde(default)]
    lines: Option<usize>,
}

#[async_trait]
impl Tool for Get {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "memory_get".into(),
            description: "Read one memory by its id (from memory_search), or lines of a memory file: \
                path MEMORY.md or memory/YYYY-MM-DD.md, from a line (1-based), a number of lines. \
                A file that does not exist yet reads as empty text."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "id": { "type": "integer", "description": "A memory id from memory_search." },
                    "path": { "type": "string", "description": "MEMORY.md or memory/<name>.md." },
                    "from": { "type": "integer", "minimum": 1, "description": "First line to read (default 1)." },
                    "lines": { "type": "integer", "minimum": 1, "description": "How many lines (default 60)." }
                }
            }),
        }
    }

    async fn call(&self, arguments: &str, context: &ToolContext) -> Result<String, String> {
        let args: GetArgs = parse(
            arguments,
            r#"{"id": 12} or {"path": "MEMORY.md", "from": 1, "lines": 20}"#,
        )?;
        let visibility = self.0.prepare(context).await?;
        match (args.id, args.path) {
            (Some(id), None) => {
                let record = self.0.store.memory_get(id).await.map_err(unavailable)?;
                match record.filter(|r| r.agent_id == visibility.agent_id && visibility.sees(&r.owner)) {
                    Some(record) => Ok(shown(&record).to_string()),
                    None => Err(format!(
                        "no memory {id} here; search with memory_search for current ids"
                    )),
                }
            }
            (None, Some(path)) => {
                let agent = self
                    .0
                    .config
                    .agent(&visibility.agent_id)
                    .ok_or_else(|| "this agent has no workspace".to_owned())?;
                read_lines(
                    &agent.workspace,
                    &path,
                    args.from.unwrap_or(1),
                    args.lines.unwrap_or(DEFAULT_LINES),
                )
                .await
            }
            _ => Err("give either id or path (with from and lines), not both".to_owned()),
        }
    }
}

/// Lines of a workspace memory file: `MEMORY.md` or `memory/<name>.md`, nothing else.
async fn read_lines(
    workspace: &std::path::Path,
    path: &str,
    from: usize,
    lines: usize,
) -> Result<String, String> {
    let relative = path.trim().trim_start_matches("./");
    let allowed = relative == CURATED_FILE
        || relative
            .strip_prefix(NOTES_DIR)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(is_note_name);
    if !allowed {
        return Err(format!(
            "{path:?} is not a memory file; use {CURATED_FILE} or {NOTES_DIR}/YYYY-MM-DD.md"
        ));
    }
    let text = match tokio::fs::read(workspace.join(relative)).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {relative}: {e}")),
    };
    let from = from.max(1);
    let mut out: String = text
        .lines()
        .skip(from - 1)
        .take(lines.max(1))
        .collect::<Vec<_>>()
        .join("\n");
    if out.chars().count() > MAX_FILE_CHARS {
        out = out.chars().take(MAX_FILE_CHARS).collect();
        out.push_str("\n[…truncated; read fewer lines]");
    }
    Ok(json!({ "path": relative, "from": from, "text": out }).to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SaveArgs {
    text: String,
    #[serde(default)]
    scope: Option<String>,
}

#[async_trait]
impl Tool for Save {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "memory_save".into(),
            description: "Remember a lasting fact for later conversations: a preference, a decision, a \
                name, a date, a to-do. Save when the user asks you to remember something or states a \
                lasting preference; one short fact per call, in the user's language. Never save \
                passwords or other secrets. scope: \"user\" (the default: only this user sees it, in \
                every chat with you), \"conversation\" (only this chat), \"group\" (every member of \
                this group)."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "text": { "type": "string", "description": "The fact, short and self-contained." },
                    "scope": { "type": "string", "enum": ["user", "conversation", "group"] }
                },
                "required": ["text"]
            }),
        }
    }

    async fn call(&self, arguments: &str, context: &ToolContext) -> Result<String, String> {
        let args: SaveArgs = parse(arguments, r#"{"text": "prefers oolong tea", "scope": "user"}"#)?;
        let visibility = self.0.prepare(context).await?;
        let scope = chosen_scope(args.scope.as_deref(), &visibility)?;
        let owner = visibility
            .owner(scope)
            .ok_or("this conversation cannot keep memories")?;
        let saved = self
            .0
            .store
            .memory_save(
                NewMemory {
                    agent_id: visibility.agent_id.clone(),
                    owner,
                    text: args.text,
                    created_by: visibility.user.clone(),
                },
                self.0.clock.now(),
            )
            .await
            .map_err(|e| match e {
                clawtalk_store::StoreError::Invalid(reason) => reason,
                other => unavailable(other),
            })?;
        Ok(json!({
            "saved": shown(&saved.record),
            "already_known": !saved.created,
        })
        .to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForgetArgs {
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    scope: Option<String>,
}

#[async_trait]
impl Tool for Forget {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "memory_forget".into(),
            description: "Forget when the user asks you to: one memory by its id (from memory_search), \
                or all: true to forget everything remembered about this user (scope \"user\", the \
                default), this chat (\"conversation\") or this group (\"group\"). Tell the user what \
                was forgotten. Memories from MEMORY.md and memory/ notes cannot be forgotten here: \
                they are edited in the agent's workspace."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "id": { "type": "integer", "description": "The memory to forget." },
                    "all": { "type": "boolean", "description": "Forget every memory of the scope." },
                    "scope": { "type": "string", "enum": ["user", "conversation", "group"] }
                }
            }),
        }
    }

    async fn call(&self, arguments: &str, context: &ToolContext) -> Result<String, String> {
        let args: ForgetArgs = parse(arguments, r#"{"id": 12} or {"all": true, "scope": "user"}"#)?;
        let visibility = self.0.prepare(context).await?;
        match (args.id, args.all) {
            (Some(id), false) => {
                let record = self.0.store.memory_get(id).await.map_err(unavailable)?;
                let Some(record) =
                    record.filter(|r| r.agent_id == visibility.agent_id && visibility.sees(&r.owner))
                else {
                    return Err(format!(
                        "no memory {id} here; search with memory_search for current ids"
                    ));
                };
                if record.source != MemorySource::Tool {
                    let path = record.path.as_deref().unwrap_or(CURATED_FILE);
                    return Err(format!(
                        "memory {id} comes from {path}; it goes away when that file is edited, not here"
                    ));
                }
                self.0.store.memory_forget(id).await.map_err(unavailable)?;
                Ok(json!({ "forgotten": [shown(&record)] }).to_string())
            }
            (None, true) => {
                let scope = chosen_scope(args.scope.as_deref(), &visibility)?;
                let owner = visibility.owner(scope).ok_or("nothing to forget here")?;
                let count = self
                    .0
                    .store
                    .memory_forget_owner(&visibility.agent_id, &owner)
                    .await
                    .map_err(unavailable)?;
                Ok(json!({ "forgotten_count": count, "scope": scope.as_str() }).to_string())
            }
            _ => Err("give either id, or all: true (with an optional scope)".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts of a `memory_search` result, best first.
    fn result_texts(found: &Value) -> Vec<&str> {
        found["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["text"].as_str().unwrap())
            .collect()
    }
    use clawtalk_core::clock::{EpochMs, ManualClock};
    use clawtalk_core::ids::{AccountId, AgentId, SessionKey, SessionScope};
    use clawtalk_core::target::Target;
    use clawtalk_store::SqliteStore;
    use dingtalk::ids::ConversationId;

    struct Kit {
        tools: Vec<Arc<dyn Tool>>,
        workspace: tempfile::TempDir,
    }

    impl Kit {
        async fn new() -> Self {
            let workspace = tempfile::tempdir().unwrap();
            let config = clawtalk_config::test_support::config(&format!(
                r#"{{ agents: {{ list: [ {{ id: "main", model: "deepseek/deepseek-chat", workspace: "{}" }} ] }},
                     channels: {{ dingtalk: {{ clientId: "dingbot", clientSecret: "s" }} }} }}"#,
                workspace.path().display()
            ));
            let store = Arc::new(SqliteStore::in_memory().await.unwrap());
            let clock = Arc::new(ManualClock::at(EpochMs::from_millis(1_000)));
            let memory = Memory::new(Arc::new(config), store, clock);
            Self {
                tools: tools(&memory),
                workspace,
            }
        }

        async fn call(&self, name: &str, arguments: &str, context: &ToolContext) -> Result<Value, String> {
            let tool = self.tools.iter().find(|t| t.spec().name == name).unwrap();
            tool.call(arguments, context)
                .await
                .map(|text| serde_json::from_str(&text).unwrap())
        }
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

    fn in_group(sender: &str) -> ToolContext {
        let key = SessionKey::new(
            AgentId::new("main"),
            AccountId::new("default"),
            SessionScope::Group {
                conversation: "cidTeam".into(),
            },
        );
        let mut context = ToolContext::new(AccountId::new("default"), Some(key));
        context.sender = Some(sender.into());
        context.target = Some(Target::Group(ConversationId::new("cidTeam")));
        context
    }

    #[tokio::test]
    async fn a_user_searches_and_forgets_only_their_own_memories() {
        let kit = Kit::new().await;
        let saved = kit
            .call("memory_save", r#"{"text": "Alice 喜欢乌龙茶"}"#, &dm("alice"))
            .await
            .unwrap();
        assert_eq!(saved["saved"]["scope"], "user");
        assert_eq!(saved["already_known"], false);
        let id = saved["saved"]["id"].as_i64().unwrap();
        kit.call("memory_save", r#"{"text": "Bob 喜欢红茶"}"#, &dm("bob"))
            .await
            .unwrap();

        let found = kit
            .call("memory_search", r#"{"query": "喜欢什么茶"}"#, &dm("bob"))
            .await
            .unwrap();
        let texts = result_texts(&found);
        assert_eq!(texts, ["Bob 喜欢红茶"]);
        // Bob can neither read nor forget Alice's memory by guessing its id.
        let get = kit
            .call("memory_get", &format!(r#"{{"id": {id}}}"#), &dm("bob"))
            .await;
        assert!(get.unwrap_err().contains("no memory"));
        let forget = kit
            .call("memory_forget", &format!(r#"{{"id": {id}}}"#), &dm("bob"))
            .await;
        assert!(forget.is_err());
        // Alice can.
        let got = kit
            .call("memory_get", &format!(r#"{{"id": {id}}}"#), &dm("alice"))
            .await
            .unwrap();
        assert_eq!(got["text"], "Alice 喜欢乌龙茶");
        let all = kit
            .call("memory_forget", r#"{"all": true}"#, &dm("alice"))
            .await
            .unwrap();
        assert_eq!(all["forgotten_count"], 1);
        let listed = kit.call("memory_search", "{}", &dm("alice")).await.unwrap();
        assert!(listed["results"].as_array().unwrap().is_empty(), "{listed}");
    }

    #[tokio::test]
    async fn group_memories_are_shared_in_the_group_only() {
        let kit = Kit::new().await;
        kit.call(
            "memory_save",
            r#"{"text": "Release train leaves on Thursdays", "scope": "group"}"#,
            &in_group("alice"),
        )
        .await
        .unwrap();
        let in_group = kit
            .call("memory_search", r#"{"query": "release"}"#, &in_group("bob"))
            .await
            .unwrap();
        assert_eq!(in_group["results"].as_array().unwrap().len(), 1);
        let in_dm = kit
            .call("memory_search", r#"{"query": "release"}"#, &dm("bob"))
            .await
            .unwrap();
        assert!(in_dm["results"].as_array().unwrap().is_empty());
        let refused = kit
            .call("memory_save", r#"{"text": "x", "scope": "group"}"#, &dm("bob"))
            .await
            .unwrap_err();
        assert!(refused.contains("not a group"), "{refused}");
        let bad = kit
            .call("memory_save", r#"{"text": "x", "scope": "everyone"}"#, &dm("bob"))
            .await;
        assert!(bad.unwrap_err().contains("unknown scope"));
        let empty = kit.call("memory_save", r#"{"text": "  "}"#, &dm("bob")).await;
        assert!(empty.unwrap_err().contains("needs some text"));
    }

    #[tokio::test]
    async fn memory_files_are_searchable_readable_by_lines_and_not_forgettable() {
        let kit = Kit::new().await;
        let dir = kit.workspace.path();
        std::fs::write(
            dir.join("MEMORY.md"),
            "# Office\n\n- Wifi password rotates monthly\n- 报销走钉钉审批\n",
        )
        .unwrap();
        std::fs::create_dir(dir.join("memory")).unwrap();
        std::fs::write(dir.join("memory/2026-12-06.md"), "Deployed v2 today\n").unwrap();
        let found = kit
            .call("memory_search", r#"{"query": "报销"}"#, &dm("bob"))
            .await
            .unwrap();
        let hit = &found["results"][0];
        assert_eq!(hit["path"], "MEMORY.md");
        assert_eq!(
            (hit["startLine"].as_i64(), hit["endLine"].as_i64()),
            (Some(4), Some(4))
        );
        let id = hit["id"].as_i64().unwrap();
        let refused = kit
            .call("memory_forget", &format!(r#"{{"id": {id}}}"#), &dm("bob"))
            .await;
        assert!(refused.unwrap_err().contains("MEMORY.md"));

        let lines = kit
            .call(
                "memory_get",
                r#"{"path": "MEMORY.md", "from": 3, "lines": 1}"#,
                &dm("bob"),
            )
            .await
            .unwrap();
        assert_eq!(lines["text"], "- Wifi password rotates monthly");
        let note = kit
            .call("memory_get", r#"{"path": "memory/2026-12-06.md"}"#, &dm("bob"))
            .await
            .unwrap();
        assert_eq!(note["text"], "Deployed v2 today");
        let missing = kit
            .call("memory_get", r#"{"path": "memory/2020-01-01.md"}"#, &dm("bob"))
            .await
            .unwrap();
        assert_eq!(missing["text"], "");
        for path in ["../secrets.md", "/etc/passwd", "memory/../../x.md", "AGENTS.md"] {
            let refused = kit
                .call("memory_get", &json!({ "path": path }).to_string(), &dm("bob"))
                .await;
            assert!(refused.unwrap_err().contains("not a memory file"), "{path}");
        }

        // Editing the file replaces what it says.
        std::fs::write(dir.join("MEMORY.md"), "- 报销改用新系统\n").unwrap();
        let bumped = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(dir.join("MEMORY.md"))
            .unwrap()
            .set_modified(bumped)
            .unwrap();
        let found = kit
            .call("memory_search", r#"{"query": "报销"}"#, &dm("bob"))
            .await
            .unwrap();
        let texts = result_texts(&found);
        assert_eq!(texts, ["报销改用新系统"]);
    }
}
