//! Durable memories of an agent: what it was told to keep, and what its workspace's memory
//! files (`MEMORY.md`, `memory/YYYY-MM-DD.md`) say.

use std::fmt;
use std::str::FromStr;

use clawtalk_core::clock::EpochMs;

use crate::error::StoreError;

/// Row id of a memory.
pub type MemoryId = i64;

/// Who a memory belongs to, and so which turns may see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MemoryScope {
    /// The agent's curated memory files: every user of the agent sees them. Written only by
    /// indexing the workspace, never by a tool.
    Agent,
    /// One user (subject: the sender key, the staff id when there is one), wherever they talk
    /// to the agent.
    User,
    /// One conversation thread (subject: the session's conversation, e.g. `dm:<staffId>` or
    /// `group:<cid>:<staffId>`): whoever shares that history.
    Conversation,
    /// One group (subject: its conversation id): every member, in that group.
    Group,
}

impl MemoryScope {
    /// Every scope, in display order.
    pub const ALL: [Self; 4] = [Self::Agent, Self::User, Self::Conversation, Self::Group];

    /// The stored (and shown) name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::User => "user",
            Self::Conversation => "conversation",
            Self::Group => "group",
        }
    }
}

impl fmt::Display for MemoryScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MemoryScope {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| StoreError::decode(format!("unknown memory scope {s:?}")))
    }
}

/// A scope and the one it concerns: the unit of visibility and of "forget everything".
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemorySubject {
    /// The kind of owner.
    pub scope: MemoryScope,
    /// The owner's id (empty for [`MemoryScope::Agent`]).
    pub subject: String,
}

impl MemorySubject {
    /// The agent-wide subject of curated files.
    #[must_use]
    pub fn agent() -> Self {
        Self {
            scope: MemoryScope::Agent,
            subject: String::new(),
        }
    }

    /// `scope` of `subject`.
    #[must_use]
    pub fn new(scope: MemoryScope, subject: impl Into<String>) -> Self {
        Self {
            scope,
            subject: subject.into(),
        }
    }
}

/// Where a memory came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemorySource {
    /// Saved by the agent's `memory_save` tool.
    Tool,
    /// A paragraph or list item of the workspace's `MEMORY.md`.
    CuratedFile,
    /// A paragraph or list item of a daily note, `memory/YYYY-MM-DD.md`.
    DailyNote,
}

impl MemorySource {
    /// The stored (and shown) name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tool => "tool",
            Self::CuratedFile => "memory_md",
            Self::DailyNote => "daily_note",
        }
    }
}

impl FromStr for MemorySource {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Tool, Self::CuratedFile, Self::DailyNote]
            .into_iter()
            .find(|source| source.as_str() == s)
            .ok_or_else(|| StoreError::decode(format!("unknown memory source {s:?}")))
    }
}

/// A memory to save with [`crate::MemoryStore::memory_save`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMemory {
    /// The agent that keeps it.
    pub agent_id: String,
    /// Whose it is.
    pub owner: MemorySubject,
    /// The fact, in the words the agent chose.
    pub text: String,
    /// Who asked for it to be kept (sender key), when known.
    pub created_by: Option<String>,
}

/// A paragraph of a workspace memory file, for [`crate::MemoryStore::memory_index_file`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMemory {
    /// The text of the paragraph or list item.
    pub text: String,
    /// Its first line in the file, from 1.
    pub line_start: u32,
    /// Its last line in the file.
    pub line_end: u32,
}

/// A stored memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryRecord {
    /// Row id.
    pub id: MemoryId,
    /// The agent that keeps it.
    pub agent_id: String,
    /// Whose it is.
    pub owner: MemorySubject,
    /// The fact.
    pub text: String,
    /// Where it came from.
    pub source: MemorySource,
    /// The workspace file (relative, `MEMORY.md` or `memory/…`) of a file memory.
    pub path: Option<String>,
    /// The lines of `path` it was read from.
    pub lines: Option<(u32, u32)>,
    /// Who asked for it to be kept.
    pub created_by: Option<String>,
    /// When it was first saved.
    pub created_at_ms: EpochMs,
    /// When it was last saved (saving the same text again moves this).
    pub updated_at_ms: EpochMs,
}

/// What [`crate::MemoryStore::memory_save`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedMemory {
    /// The memory as stored.
    pub record: MemoryRecord,
    /// False when the owner already had this text: it was kept once, and touched.
    pub created: bool,
}

/// A ranked search ([`crate::MemoryStore::memory_search`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryQuery {
    /// The agent whose memories are searched.
    pub agent_id: String,
    /// The owners the asking turn may see; nothing else is ever returned.
    pub visible: Vec<MemorySubject>,
    /// Words or a sentence, Chinese or not. Empty: the most recently saved memories.
    pub text: String,
    /// At most this many hits.
    pub limit: u32,
}

/// A search result: the memory and how well it matched (higher is better).
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryHit {
    /// The memory.
    pub record: MemoryRecord,
    /// Relevance, comparable within one search only; 0 in a listing of recent memories
    /// (a query with no usable term).
    pub score: f64,
}

/// Which memories [`crate::MemoryStore::memory_list`] returns; `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryFilter {
    /// One agent's.
    pub agent_id: Option<String>,
    /// One kind of owner.
    pub scope: Option<MemoryScope>,
    /// One owner id (with or without `scope`).
    pub subject: Option<String>,
    /// At most this many, most recently saved first.
    pub limit: u32,
}

/// A workspace file as last indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedFile {
    /// Relative path in the workspace.
    pub path: String,
    /// Its modification time when it was indexed.
    pub modified_ms: EpochMs,
}
