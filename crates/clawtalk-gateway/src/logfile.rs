//! The gateway's log file: JSON lines in `<stateDir>/gateway.log`, next to stderr.
//!
//! Logging starts before the configuration is read, so the file layer is installed at start
//! with nowhere to write and [`attach`]ed once `gateway run` knows its state directory. The
//! file is capped: past [`MAX_BYTES`] it becomes `gateway.log.1` (replacing the previous one)
//! and a new file starts, so at most twice the cap is kept. `clawtalk logs` reads it.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;

/// Name of the log file in the state directory.
pub const FILE_NAME: &str = "gateway.log";
/// Size at which the file is rotated.
pub const MAX_BYTES: u64 = 10 * 1024 * 1024;

/// The log file of a state directory.
#[must_use]
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE_NAME)
}

/// The previous (rotated) log file.
#[must_use]
pub fn rotated_path(state_dir: &Path) -> PathBuf {
    state_dir.join(format!("{FILE_NAME}.1"))
}

/// An append-only file that rotates itself at a size cap.
pub struct CappedFile {
    path: PathBuf,
    file: File,
    written: u64,
    max_bytes: u64,
}

impl CappedFile {
    /// Opens (creating, mode 0600: log lines can quote messages) `path` for appending.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open(path: PathBuf, max_bytes: u64) -> io::Result<Self> {
        let file = open_append(&path)?;
        let written = file.metadata()?.len();
        Ok(Self {
            path,
            file,
            written,
            max_bytes,
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        let mut rotated = self.path.clone().into_os_string();
        rotated.push(".1");
        std::fs::rename(&self.path, PathBuf::from(rotated))?;
        self.file = open_append(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

impl Write for CappedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // One call is one formatted event, so rotating before it never splits a line.
        if self.written > 0 && self.written + buf.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(buf)?;
        self.written += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn sink() -> &'static Mutex<Option<CappedFile>> {
    static SINK: OnceLock<Mutex<Option<CappedFile>>> = OnceLock::new();
    SINK.get_or_init(|| Mutex::new(None))
}

/// Starts writing log lines to `<state_dir>/gateway.log`; returns its path.
///
/// # Errors
/// The state directory or the file cannot be created.
pub fn attach(state_dir: &Path) -> io::Result<PathBuf> {
    let mut dir = std::fs::DirBuilder::new();
    dir.recursive(true);
    // Like the store: the state directory holds message text, so owner only.
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
    dir.create(state_dir)?;
    let file_path = path(state_dir);
    let file = CappedFile::open(file_path.clone(), MAX_BYTES)?;
    if let Ok(mut slot) = sink().lock() {
        *slot = Some(file);
    }
    Ok(file_path)
}

/// The `MakeWriter` of the file layer: writes to the attached file, or nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileSink;

/// One event's write into the shared file.
pub struct FileSinkWriter;

impl Write for FileSinkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match sink().lock() {
            Ok(mut slot) => match slot.as_mut() {
                // A full disk must not take the gateway down: the line still went to stderr.
                Some(file) => Ok(file.write(buf).unwrap_or(buf.len())),
                None => Ok(buf.len()),
            },
            Err(_) => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for FileSink {
    type Writer = FileSinkWriter;

    fn make_writer(&'a self) -> Self::Writer {
        FileSinkWriter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_at_the_cap_without_splitting_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let mut file = CappedFile::open(path.clone(), 50).unwrap();
        file.write_all(b"{\"n\":1,\"pad\":\"xxxxxx\"}\n").unwrap();
        file.write_all(b"{\"n\":2,\"pad\":\"xxxxxx\"}\n").unwrap();
        file.write_all(b"{\"n\":3}\n").unwrap();
        let current = std::fs::read_to_string(&path).unwrap();
        let rotated = std::fs::read_to_string(rotated_path(dir.path())).unwrap();
        assert_eq!(
            rotated,
            "{\"n\":1,\"pad\":\"xxxxxx\"}\n{\"n\":2,\"pad\":\"xxxxxx\"}\n"
        );
        assert_eq!(current, "{\"n\":3}\n");
        // A reopened file continues counting from its size.
        drop(file);
        let mut file = CappedFile::open(path.clone(), 50).unwrap();
        file.write_all(&[b'x'; 45]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().len(),
            45,
            "rotated again at 8 + 45 > 50"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "owner only: {mode:o}");
        }
    }
}
