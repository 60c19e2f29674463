//! The state directory and its log files are the owner's alone: they hold message text, the
//! allowlist and the gateway token. The gateway creates them that way; one made by hand or by
//! another tool with a loose umask is tightened when the gateway starts, and `doctor` reports
//! one that is still loose.

use std::io;
use std::path::{Path, PathBuf};

/// Mode of the state directory.
pub const DIR_MODE: u32 = 0o700;
/// Mode of files in it.
pub const FILE_MODE: u32 = 0o600;

/// A path whose mode was tightened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tightened {
    /// The file or directory.
    pub path: PathBuf,
    /// Its mode before (permission bits).
    pub was: u32,
    /// Its mode now.
    pub now: u32,
}

impl std::fmt::Display for Tightened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} was accessible to other users (mode {:04o}); changed to {:04o}",
            self.path.display(),
            self.was,
            self.now
        )
    }
}

/// The paths under a state directory that must be owner-only, with their modes: the
/// directory, then the log files.
#[must_use]
pub fn state_paths(state_dir: &Path) -> Vec<(PathBuf, u32)> {
    vec![
        (state_dir.to_path_buf(), DIR_MODE),
        (crate::logfile::path(state_dir), FILE_MODE),
        (crate::logfile::rotated_path(state_dir), FILE_MODE),
    ]
}

/// Tightens the state directory and its log files to owner-only where group or others had
/// any access; returns what was changed. Missing paths are skipped (they are created
/// owner-only).
///
/// # Errors
/// A mode cannot be read or changed (for example, the path belongs to another user): the
/// message names the path and the `chmod` to run.
pub fn tighten_state_dir(state_dir: &Path) -> io::Result<Vec<Tightened>> {
    let mut changed = Vec::new();
    for (path, mode) in state_paths(state_dir) {
        if let Some(done) = tighten(&path, mode)? {
            changed.push(done);
        }
    }
    Ok(changed)
}

/// The permission bits of `path`, when it exists (always `None` off Unix).
#[must_use]
pub fn mode_of(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(unix)]
fn tighten(path: &Path, mode: u32) -> io::Result<Option<Tightened>> {
    use std::os::unix::fs::PermissionsExt;
    let Some(was) = mode_of(path) else {
        return Ok(None);
    };
    if was & 0o077 == 0 {
        return Ok(None);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!(
                "{} is accessible to other users (mode {was:04o}) and cannot be changed ({error}); \
                 run `chmod {mode:o} {}` as its owner",
                path.display(),
                path.display()
            ),
        )
    })?;
    Ok(Some(Tightened {
        path: path.to_path_buf(),
        was,
        now: mode,
    }))
}

#[cfg(not(unix))]
fn tighten(_path: &Path, _mode: u32) -> io::Result<Option<Tightened>> {
    Ok(None)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn loose_state_directory_and_logs_are_tightened_and_tight_ones_left_alone() {
        let root = tempfile::tempdir().unwrap();
        let state = root.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
        let log = crate::logfile::path(&state);
        std::fs::write(&log, "x\n").unwrap();
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o640)).unwrap();
        let rotated = crate::logfile::rotated_path(&state);
        std::fs::write(&rotated, "y\n").unwrap();
        std::fs::set_permissions(&rotated, std::fs::Permissions::from_mode(0o600)).unwrap();

        let changed = tighten_state_dir(&state).unwrap();
        assert_eq!(
            changed,
            vec![
                Tightened {
                    path: state.clone(),
                    was: 0o755,
                    now: 0o700
                },
                Tightened {
                    path: log.clone(),
                    was: 0o640,
                    now: 0o600
                },
            ]
        );
        assert!(changed[0].to_string().contains("mode 0755"), "{}", changed[0]);
        assert_eq!(mode_of(&state), Some(0o700));
        assert_eq!(mode_of(&log), Some(0o600));
        assert_eq!(mode_of(&rotated), Some(0o600));
        assert!(
            tighten_state_dir(&state).unwrap().is_empty(),
            "nothing left to do"
        );
        assert!(
            tighten_state_dir(&root.path().join("missing"))
                .unwrap()
                .is_empty(),
            "a missing directory is created owner-only later"
        );
    }
}
