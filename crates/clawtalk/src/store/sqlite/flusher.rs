//! The flusher thread: makes committed writes durable by flushing the write-ahead log, then
//! answers the durable jobs of those commits (`writer.rs` says why it is a thread of its own).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use super::writer::Job;
use crate::store::error::StoreError;

/// Handle to the flusher thread, owned by the writer thread.
pub(crate) struct Flusher {
    tx: mpsc::Sender<Vec<Box<dyn Job>>>,
    thread: JoinHandle<()>,
}

impl Flusher {
    /// Starts the thread for the write-ahead log at `wal` (opened at the first flush: SQLite
    /// creates it with the first write).
    pub(crate) fn spawn(wal: PathBuf) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("store-flusher".to_owned())
            .spawn(move || run(&wal, &rx))
            .map_err(|error| StoreError::Unavailable {
                detail: format!("cannot start the store's flusher thread: {error}"),
            })?;
        Ok(Self { tx, thread })
    }

    /// Answers `jobs` once everything committed so far is on disk.
    pub(crate) fn flush_then_finish(&self, jobs: Vec<Box<dyn Job>>) {
        if let Err(mpsc::SendError(jobs)) = self.tx.send(jobs) {
            // Only if the thread died: the writes are committed but maybe not on disk.
            for job in jobs {
                job.finish(Some(StoreError::Unavailable {
                    detail: "the store's flusher thread stopped; restart the gateway".to_owned(),
                }));
            }
        }
    }

    /// Flushes and answers what is pending, then stops the thread.
    pub(crate) fn finish(self) {
        drop(self.tx);
        let _ = self.thread.join();
    }
}

fn run(wal: &Path, rx: &mpsc::Receiver<Vec<Box<dyn Job>>>) {
    let mut log = None;
    // After a failed flush the kernel may have dropped the pages it could not write, and a
    // later flush can succeed without them: durability can no longer be promised, so every
    // later durable write fails too until a restart (SQLite then recovers from the log).
    let mut broken: Option<StoreError> = None;
    while let Ok(mut jobs) = rx.recv() {
        // Everything that queued during the last flush shares the next one.
        while let Ok(more) = rx.try_recv() {
            jobs.extend(more);
        }
        let error = match &broken {
            Some(error) => Some(error.clone()),
            None => flush(wal, &mut log).err(),
        };
        if let Some(error) = &error
            && broken.is_none()
        {
            tracing::error!(%error, "flushing the database's write-ahead log failed; durable writes fail until the gateway restarts");
            broken = Some(error.clone());
        }
        for job in jobs {
            job.finish(error.clone());
        }
    }
}

fn flush(wal: &Path, log: &mut Option<File>) -> Result<(), StoreError> {
    let io = |what: &str, error: std::io::Error| StoreError::Io {
        detail: format!("{what} {}: {error}", wal.display()),
    };
    let file = match log {
        Some(file) => file,
        None => {
            // fdatasync works on a descriptor opened for reading; nothing here writes.
            let file = File::open(wal).map_err(|e| io("cannot open the write-ahead log", e))?;
            // The log's directory entry must survive a power cut too; once is enough.
            let dir = wal
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("cannot flush the directory of the write-ahead log", e))?;
            log.insert(file)
        }
    };
    file.sync_data()
        .map_err(|e| io("cannot flush the write-ahead log", e))
}
