//! Bootstrap files as last read, so a turn re-reads only what changed since.
//!
//! A file is known by its size and modification time: when both match what was read last
//! time, the text read then is used again, so an unchanged workspace costs a `stat` per file
//! and turn. A file that cannot be read (not a regular file, too large, a link out of the
//! workspace, an I/O error) is logged once per change and left out; it never fails a turn.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

/// Files larger than this are left out, as OpenClaw does with its 2 MiB bootstrap-file limit
/// (openclaw/openclaw `src/agents/workspace.ts`); the prompt would cut them down anyway.
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;

/// What identifies one version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

#[derive(Debug, Clone)]
enum Loaded {
    Text(Arc<str>),
    Unreadable,
}

/// Texts of the bootstrap files read so far, by path.
#[derive(Debug, Default)]
pub struct FileCache {
    entries: Mutex<HashMap<PathBuf, (Stamp, Loaded)>>,
}

impl FileCache {
    /// The text of `root/name` (lossy UTF-8), or `None` when the file is missing or unreadable.
    pub fn read(&self, root: &Path, name: &str) -> Option<Arc<str>> {
        let path = root.join(name);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.lock().remove(&path);
                return None;
            }
            Err(e) => return self.unreadable(&path, None, &e.to_string()),
        };
        let meta = if meta.file_type().is_symlink() {
            if !stays_inside(root, &path) {
                let stamp = stamp_of(&meta);
                return self.unreadable(
                    &path,
                    Some(stamp),
                    "it is a link to a place outside the workspace",
                );
            }
            match std::fs::metadata(&path) {
                Ok(target) => target,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.lock().remove(&path);
                    return None;
                }
                Err(e) => return self.unreadable(&path, None, &e.to_string()),
            }
        } else {
            meta
        };
        let stamp = stamp_of(&meta);
        if let Some((known, loaded)) = self.lock().get(&path)
            && *known == stamp
        {
            return match loaded {
                Loaded::Text(text) => Some(Arc::clone(text)),
                Loaded::Unreadable => None,
            };
        }
        if !meta.is_file() {
            return self.unreadable(&path, Some(stamp), "it is not a regular file");
        }
        if meta.len() > MAX_FILE_BYTES {
            let why = format!("it is {} bytes, over the {MAX_FILE_BYTES}-byte limit", meta.len());
            return self.unreadable(&path, Some(stamp), &why);
        }
        match std::fs::read(&path) {
            Ok(bytes) => {
                let text: Arc<str> = Arc::from(String::from_utf8_lossy(&bytes).as_ref());
                self.lock().insert(path, (stamp, Loaded::Text(Arc::clone(&text))));
                Some(text)
            }
            Err(e) => self.unreadable(&path, Some(stamp), &e.to_string()),
        }
    }

    /// Records `path` as unreadable and logs why, unless it was already known unreadable in
    /// this same version (`stamp`; `None` when not even its metadata could be read).
    fn unreadable(&self, path: &Path, stamp: Option<Stamp>, why: &str) -> Option<Arc<str>> {
        let stamp = stamp.unwrap_or(Stamp {
            len: u64::MAX,
            modified: None,
        });
        let mut entries = self.lock();
        let known = matches!(entries.get(path), Some((s, Loaded::Unreadable)) if *s == stamp);
        if !known {
            tracing::warn!(file = %path.display(), "workspace file left out of the prompt: {why}");
            entries.insert(path.to_path_buf(), (stamp, Loaded::Unreadable));
        }
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, (Stamp, Loaded)>> {
        // The map holds plain data; a panic elsewhere cannot leave it half-updated.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn stamp_of(meta: &std::fs::Metadata) -> Stamp {
    Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
    }
}

/// Whether the link at `path` resolves to somewhere under `root` (both resolved).
pub(super) fn stays_inside(root: &Path, path: &Path) -> bool {
    match (root.canonicalize(), path.canonicalize()) {
        (Ok(root), Ok(target)) => target.starts_with(root),
        // A dangling link: nothing to read, nothing leaks.
        (Ok(_), Err(_)) => true,
        (Err(_), _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn unchanged_files_come_from_the_cache_and_changes_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::default();
        write(dir.path(), "SOUL.md", "calm");
        let first = cache.read(dir.path(), "SOUL.md").unwrap();
        let again = cache.read(dir.path(), "SOUL.md").unwrap();
        assert!(Arc::ptr_eq(&first, &again), "an unchanged file is not read again");
        write(dir.path(), "SOUL.md", "cheerful and loud");
        assert_eq!(&*cache.read(dir.path(), "SOUL.md").unwrap(), "cheerful and loud");
        std::fs::remove_file(dir.path().join("SOUL.md")).unwrap();
        assert!(cache.read(dir.path(), "SOUL.md").is_none());
    }

    #[test]
    fn missing_directories_and_oversized_files_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::default();
        assert!(cache.read(&dir.path().join("nope"), "AGENTS.md").is_none());
        std::fs::create_dir(dir.path().join("AGENTS.md")).unwrap();
        assert!(cache.read(dir.path(), "AGENTS.md").is_none());
        let big = "x".repeat(usize::try_from(MAX_FILE_BYTES).unwrap() + 1);
        write(dir.path(), "USER.md", &big);
        assert!(cache.read(dir.path(), "USER.md").is_none());
        write(dir.path(), "USER.md", "small now");
        assert_eq!(&*cache.read(dir.path(), "USER.md").unwrap(), "small now");
    }

    #[cfg(unix)]
    #[test]
    fn links_out_of_the_workspace_are_refused_links_inside_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret.txt", "do not show");
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), dir.path().join("TOOLS.md")).unwrap();
        let cache = FileCache::default();
        assert!(cache.read(dir.path(), "TOOLS.md").is_none());
        write(dir.path(), "notes.md", "shared notes");
        std::os::unix::fs::symlink("notes.md", dir.path().join("USER.md")).unwrap();
        assert_eq!(&*cache.read(dir.path(), "USER.md").unwrap(), "shared notes");
    }

    #[test]
    fn invalid_utf8_is_read_lossily() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("AGENTS.md"), b"ok \xff end").unwrap();
        let text = FileCache::default().read(dir.path(), "AGENTS.md").unwrap();
        assert!(text.starts_with("ok ") && text.ends_with(" end"), "{text}");
    }
}
