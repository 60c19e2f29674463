//! Reading and writing one bootstrap file on the operator's behalf (the web console's editor,
//! `clawtalk agents list`): only the bootstrap file names, never another path.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::files::{BOOTSTRAP_FILES, is_bootstrap_file};

/// The largest file the editor saves: far more than the prompt takes (`bootstrapMaxChars`),
/// small enough for a form post.
pub const MAX_EDIT_BYTES: usize = 256 * 1024;

/// Why a file could not be read or saved.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The name is not one of the bootstrap files.
    #[error("{0:?} is not a workspace bootstrap file; use one of {list}", list = BOOTSTRAP_FILES.join(", "))]
    NotABootstrapFile(String),
    /// The file is a link to a place outside the workspace.
    #[error("{0} links to a place outside the workspace; it is not shown")]
    OutsideWorkspace(PathBuf),
    /// The text is over [`MAX_EDIT_BYTES`].
    #[error("the text is {0} bytes; a workspace file may hold at most {MAX_EDIT_BYTES}")]
    TooLarge(usize),
    /// The file system refused.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
}

/// The bootstrap files that exist in `workspace`, in prompt order.
#[must_use]
pub fn existing_files(workspace: &Path) -> Vec<&'static str> {
    BOOTSTRAP_FILES
        .into_iter()
        .filter(|name| workspace.join(name).is_file())
        .collect()
}

/// The text of bootstrap file `name`, `None` when it does not exist.
///
/// # Errors
/// [`EditError::NotABootstrapFile`], or the file cannot be read.
pub fn read_file(workspace: &Path, name: &str) -> Result<Option<String>, EditError> {
    let path = path_of(workspace, name)?;
    let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
    if is_link && !super::cache::stays_inside(workspace, &path) {
        return Err(EditError::OutsideWorkspace(path));
    }
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(EditError::Io {
            action: "read",
            path,
            source,
        }),
    }
}

/// Replaces bootstrap file `name` with `text` atomically (a temporary file renamed over it,
/// so a turn never reads half a file), creating the workspace directory when missing.
///
/// # Errors
/// [`EditError::NotABootstrapFile`], [`EditError::TooLarge`], or the write failed.
pub fn write_file(workspace: &Path, name: &str, text: &str) -> Result<(), EditError> {
    let path = path_of(workspace, name)?;
    if text.len() > MAX_EDIT_BYTES {
        return Err(EditError::TooLarge(text.len()));
    }
    let io_error = |source| EditError::Io {
        action: "write",
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(workspace).map_err(io_error)?;
    let tmp = workspace.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        // Renaming replaces a link at `path` rather than writing through it.
        std::fs::rename(&tmp, &path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io_error)
}

fn path_of(workspace: &Path, name: &str) -> Result<PathBuf, EditError> {
    if is_bootstrap_file(name) {
        Ok(workspace.join(name))
    } else {
        Err(EditError::NotABootstrapFile(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        assert_eq!(read_file(&ws, "SOUL.md").unwrap(), None);
        write_file(&ws, "SOUL.md", "热情 / warm").unwrap();
        write_file(&ws, "SOUL.md", "冷静 / calm").unwrap();
        assert_eq!(read_file(&ws, "SOUL.md").unwrap().as_deref(), Some("冷静 / calm"));
        assert_eq!(existing_files(&ws), ["SOUL.md"]);
        let names: Vec<_> = std::fs::read_dir(&ws)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");
    }

    #[test]
    fn refuses_other_names_and_oversized_text() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "../SOUL.md",
            "/etc/passwd",
            "memory/2026-12-01.md",
            "notes.md",
            ".env",
        ] {
            let err = write_file(dir.path(), name, "x").unwrap_err();
            assert!(matches!(err, EditError::NotABootstrapFile(_)), "{name}: {err}");
            assert!(read_file(dir.path(), name).is_err(), "{name}");
        }
        let err = write_file(dir.path(), "AGENTS.md", &"x".repeat(MAX_EDIT_BYTES + 1)).unwrap_err();
        assert!(err.to_string().contains("at most"), "{err}");
        assert!(existing_files(dir.path()).is_empty());
    }
}
