//! One gateway per SQLite state directory.
//!
//! Two gateways on one SQLite file would both claim and answer the same messages (SQLite has
//! no leases across hosts' clocks the way the PostgreSQL replicas use them, and each process
//! recovers "its own" running turns at start). So `gateway run` takes an exclusive advisory
//! lock on `<stateDir>/gateway.lock` before it opens the store; the operating system drops it
//! when the process ends, however it ends, so a crash never leaves a stale lock behind.
//! PostgreSQL is shared by design (replicas) and takes no lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Name of the lock file in the state directory.
pub const LOCK_FILE: &str = "gateway.lock";

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct StateLock {
    path: PathBuf,
    _file: File,
}

impl StateLock {
    /// Where the lock is.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes the state directory's lock (creating the directory, mode 0700, when missing) and
/// writes this process's id into the lock file.
///
/// # Errors
/// Another process holds the lock (the message names the directory and, when the file says,
/// its pid), or the directory or file cannot be created.
pub fn lock_state_dir(state_dir: &Path) -> anyhow::Result<StateLock> {
    super::open::create_private_dir(state_dir).with_context(|| {
        format!(
            "cannot create the state directory {}; create it (mode 0700) or set gateway.stateDir",
            state_dir.display()
        )
    })?;
    let path = state_dir.join(LOCK_FILE);
    let mut options = OpenOptions::new();
    // Not truncated on open: the holder's pid must stay readable for the refusal message.
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder = holder_pid(&mut file)
                .map(|pid| format!(" (pid {pid})"))
                .unwrap_or_default();
            bail!(
                "another clawtalk gateway{holder} is already running on the state directory {}; \
                 stop it first, or give this gateway its own gateway.stateDir (two gateways on one \
                 SQLite store would answer the same messages twice; use PostgreSQL for replicas)",
                state_dir.display()
            );
        }
        Err(TryLockError::Error(error)) => {
            return Err(error).with_context(|| {
                format!(
                    "cannot lock {} (does the file system support locks?)",
                    path.display()
                )
            });
        }
    }
    // Best effort: the pid only improves the message a second gateway prints.
    let _ = file
        .set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| writeln!(file, "{}", std::process::id()))
        .and_then(|()| file.flush());
    Ok(StateLock { path, _file: file })
}

fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let first = lock_state_dir(&state).unwrap();
        assert_eq!(first.path(), state.join(LOCK_FILE));
        let error = format!("{:#}", lock_state_dir(&state).unwrap_err());
        assert!(error.contains(&state.display().to_string()), "{error}");
        assert!(
            error.contains(&format!("pid {}", std::process::id())),
            "names the holder: {error}"
        );
        drop(first);
        let again = lock_state_dir(&state).unwrap();
        drop(again);
        // Another directory is independent.
        let other = lock_state_dir(&dir.path().join("other")).unwrap();
        let _still = lock_state_dir(&state).unwrap();
        drop(other);
    }
}
