//! The workspace's memory files, OpenClaw's layout: `MEMORY.md` (curated long-term memory)
//! and `memory/*.md` (daily notes, `memory/YYYY-MM-DD.md`). Each paragraph or list item is
//! one agent-wide memory in the store, indexed again whenever the file's modification time
//! changes; a deleted file's memories go with it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use clawtalk_core::clock::EpochMs;
use clawtalk_store::{FileMemory, IndexedFile, MemorySource, MemoryStore, StoreError};
use tokio::sync::Mutex;

/// The curated file, at the workspace's root.
pub const CURATED_FILE: &str = "MEMORY.md";
/// The folder of daily notes.
pub const NOTES_DIR: &str = "memory";
/// Larger files are skipped (with a warning): memory files are notes, not archives.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The modification times last indexed, per agent and file, so an unchanged workspace costs
/// a few `stat`s per turn and no store query.
#[derive(Default)]
pub struct FileIndex {
    known: Mutex<HashMap<String, HashMap<String, EpochMs>>>,
}

/// A memory file found in the workspace.
struct Found {
    path: String,
    modified_ms: EpochMs,
    source: MemorySource,
}

impl FileIndex {
    /// Brings the store's copy of `agent_id`'s memory files in line with `workspace`.
    ///
    /// # Errors
    /// The store's, when it fails; unreadable files are skipped with a warning.
    pub async fn sync(
        &self,
        store: &dyn MemoryStore,
        agent_id: &str,
        workspace: &Path,
        now: EpochMs,
    ) -> Result<(), StoreError> {
        let dir = workspace.to_path_buf();
        let found = tokio::task::spawn_blocking(move || scan(&dir))
            .await
            .unwrap_or_default();
        // Held throughout: two turns of one agent index a changed file once.
        let mut known_all = self.known.lock().await;
        if !known_all.contains_key(agent_id) {
            let stored = store.memory_files(agent_id).await?;
            known_all.insert(
                agent_id.to_owned(),
                stored.into_iter().map(|f| (f.path, f.modified_ms)).collect(),
            );
        }
        let known = known_all.entry(agent_id.to_owned()).or_default();
        for file in &found {
            if known.get(&file.path) == Some(&file.modified_ms) {
                continue;
            }
            let full = workspace.join(&file.path);
            let Some(text) = read_text(&full).await else {
                continue;
            };
            let indexed = IndexedFile {
                path: file.path.clone(),
                modified_ms: file.modified_ms,
            };
            store
                .memory_index_file(agent_id, &indexed, file.source, entries(&text), now)
                .await?;
            known.insert(file.path.clone(), file.modified_ms);
        }
        let gone: Vec<String> = known
            .keys()
            .filter(|path| !found.iter().any(|f| &f.path == *path))
            .cloned()
            .collect();
        for path in gone {
            store.memory_drop_file(agent_id, &path).await?;
            known.remove(&path);
        }
        Ok(())
    }
}

/// The memory files of a workspace with their modification times.
fn scan(workspace: &Path) -> Vec<Found> {
    let mut found = Vec::new();
    let mut add = |path: PathBuf, relative: String, source| {
        let Ok(meta) = std::fs::metadata(&path) else {
            return;
        };
        if !meta.is_file() {
            return;
        }
        if meta.len() > MAX_FILE_BYTES {
            tracing::warn!(file = %path.display(), "memory file larger than 1 MiB; not indexed");
            return;
        }
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        found.push(Found {
            path: relative,
            modified_ms: EpochMs::from_millis(modified),
            source,
        });
    };
    add(
        workspace.join(CURATED_FILE),
        CURATED_FILE.to_owned(),
        MemorySource::CuratedFile,
    );
    if let Ok(dir) = std::fs::read_dir(workspace.join(NOTES_DIR)) {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_note_name(&name) {
                add(
                    entry.path(),
                    format!("{NOTES_DIR}/{name}"),
                    MemorySource::DailyNote,
                );
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// A Markdown file name with nothing that could leave the folder.
pub fn is_note_name(name: &str) -> bool {
    name.ends_with(".md") && !name.starts_with('.') && !name.contains(['/', '\\'])
}

async fn read_text(path: &Path) -> Option<String> {
    match tokio::fs::read(path).await {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(error) => {
            tracing::warn!(file = %path.display(), %error, "cannot read a memory file");
            None
        }
    }
}

/// The paragraphs and list items of a Markdown memory file, with their lines. Headings,
/// code fences, HTML comments and front matter are structure, not memories.
#[must_use]
pub fn entries(text: &str) -> Vec<FileMemory> {
    let mut out = Vec::new();
    let mut current: Option<FileMemory> = None;
    let mut in_fence = false;
    let mut in_front_matter = false;
    let finish = |current: &mut Option<FileMemory>, out: &mut Vec<FileMemory>| {
        if let Some(entry) = current.take().filter(|e| !e.text.trim().is_empty()) {
            out.push(entry);
        }
    };
    for (index, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let line = raw.trim();
        if index == 0 && line == "---" {
            in_front_matter = true;
            continue;
        }
        if in_front_matter {
            in_front_matter = line != "---";
            continue;
        }
        if line.starts_with("```") || line.starts_with("~~~") {
            finish(&mut current, &mut out);
            in_fence = !in_fence;
            continue;
        }
        if in_fence || line.starts_with("<!--") {
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            finish(&mut current, &mut out);
            continue;
        }
        if let Some(item) = list_item(line) {
            finish(&mut current, &mut out);
            current = Some(FileMemory {
                text: item.to_owned(),
                line_start: line_no,
                line_end: line_no,
            });
            continue;
        }
        match current.as_mut() {
            Some(entry) => {
                entry.text.push(' ');
                entry.text.push_str(line);
                entry.line_end = line_no;
            }
            None => {
                current = Some(FileMemory {
                    text: line.to_owned(),
                    line_start: line_no,
                    line_end: line_no,
                });
            }
        }
    }
    finish(&mut current, &mut out);
    out
}

/// The text of a list item line (`- x`, `* x`, `+ x`, `1. x`, `- [ ] x`), or `None`.
fn list_item(line: &str) -> Option<&str> {
    let rest = if let Some(rest) = line.strip_prefix(['-', '*', '+']) {
        rest.strip_prefix(' ')?
    } else {
        let digits = line.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        line[digits..]
            .strip_prefix(". ")
            .or_else(|| line[digits..].strip_prefix(") "))?
    };
    let rest = rest
        .strip_prefix("[ ] ")
        .or_else(|| rest.strip_prefix("[x] "))
        .unwrap_or(rest);
    Some(rest.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_and_items_become_entries_with_their_lines() {
        let text = "---\ntitle: x\n---\n# 偏好\n\n- 喜欢乌龙茶\n- [ ] call Bob\n1. first\n\nA paragraph\nthat wraps\n\n```\ncode\n```\n<!-- note -->\n";
        let got: Vec<(String, u32, u32)> = entries(text)
            .into_iter()
            .map(|e| (e.text, e.line_start, e.line_end))
            .collect();
        assert_eq!(
            got,
            [
                ("喜欢乌龙茶".to_owned(), 6, 6),
                ("call Bob".to_owned(), 7, 7),
                ("first".to_owned(), 8, 8),
                ("A paragraph that wraps".to_owned(), 10, 11),
            ]
        );
        assert_eq!(list_item("-not an item"), None);
        assert_eq!(list_item("2025 was a year"), None);
    }

    #[test]
    fn note_names_stay_in_the_folder() {
        assert!(is_note_name("2026-12-06.md"));
        assert!(!is_note_name(".hidden.md"));
        assert!(!is_note_name("notes.txt"));
        assert!(!is_note_name("../MEMORY.md"));
    }

    #[test]
    fn scanning_finds_memory_md_and_notes_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("MEMORY.md"), "- a").unwrap();
        std::fs::write(dir.path().join("AGENTS.md"), "- b").unwrap();
        std::fs::create_dir(dir.path().join("memory")).unwrap();
        std::fs::write(dir.path().join("memory/2026-12-06.md"), "- c").unwrap();
        std::fs::write(dir.path().join("memory/x.json"), "{}").unwrap();
        let found: Vec<String> = scan(dir.path()).into_iter().map(|f| f.path).collect();
        assert_eq!(found, ["MEMORY.md", "memory/2026-12-06.md"]);
        assert!(scan(&dir.path().join("missing")).is_empty());
    }
}
