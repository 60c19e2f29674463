//! The flusher thread: makes committed writes durable by flushing the write-ahead log, then
//! answers the durable jobs of those commits (`writer.rs` says why it is a thread of its own).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::writer::Job;
use crate::error::StoreError;

/// What the writer asks of the flusher after a commit.
pub enum Request {
    /// Flush, then answer these jobs.
    Finish(Vec<Box<dyn Job>>),
    /// A commit whose callers were answered already must reach the disk within the
    /// flusher's `soon`; a flush for any other reason before then covers it.
    Soon,
}

/// Handle to the flusher thread, owned by the writer thread.
pub struct Flusher {
    tx: mpsc::Sender<Request>,
    thread: JoinHandle<()>,
    /// The thread's count of flushes tried.
    #[cfg(test)]
    attempts: Arc<AtomicU64>,
}

impl Flusher {
    /// Starts the thread for the write-ahead log at `wal` (opened at the first flush: SQLite
    /// creates it with the first write); [`Request::Soon`] commits are flushed within `soon`.
    pub fn spawn(wal: PathBuf, soon: Duration) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel();
        let attempts = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&attempts);
        let thread = std::thread::Builder::new()
            .name("store-flusher".to_owned())
            .spawn(move || run(&wal, &rx, soon, &counted))
            .map_err(|error| StoreError::Unavailable {
                detail: format!("cannot start the store's flusher thread: {error}"),
            })?;
        Ok(Self {
            tx,
            thread,
            #[cfg(test)]
            attempts,
        })
    }

    /// How many flushes were tried so far (tests count them).
    #[cfg(test)]
    pub fn attempts(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.attempts)
    }

    /// Answers `jobs` once everything committed so far is on disk.
    pub fn flush_then_finish(&self, jobs: Vec<Box<dyn Job>>) {
        if let Err(mpsc::SendError(Request::Finish(jobs))) = self.tx.send(Request::Finish(jobs)) {
            // Only if the thread died: the writes are committed but maybe not on disk.
            for job in jobs {
                job.finish(Some(StoreError::Unavailable {
                    detail: "the store's flusher thread stopped; restart the gateway".to_owned(),
                }));
            }
        }
    }

    /// Makes everything committed so far durable within the thread's `soon`, without anyone
    /// waiting for it.
    pub fn flush_soon(&self) {
        // A dead thread already logged why flushing stopped; the commit itself stands.
        let _ = self.tx.send(Request::Soon);
    }

    /// Flushes and answers what is pending, then stops the thread.
    pub fn finish(self) {
        drop(self.tx);
        let _ = self.thread.join();
    }
}

fn run(wal: &Path, rx: &mpsc::Receiver<Request>, soon: Duration, attempts: &AtomicU64) {
    let mut log = None;
    // After a failed flush the kernel may have dropped the pages it could not write, and a
    // later flush can succeed without them: durability can no longer be promised, so every
    // later durable write fails too until a restart (SQLite then recovers from the log).
    let mut broken: Option<StoreError> = None;
    let mut flush_once = || {
        if let Some(error) = &broken {
            return Some(error.clone());
        }
        attempts.fetch_add(1, Ordering::Relaxed);
        let error = flush(wal, &mut log).err()?;
        tracing::error!(%error, "flushing the database's write-ahead log failed; durable writes fail until the gateway restarts");
        broken = Some(error.clone());
        Some(error)
    };
    // When the oldest commit that nobody waits for must be on disk by.
    let mut due: Option<Instant> = None;
    loop {
        let first = match due {
            None => match rx.recv() {
                Ok(request) => Some(request),
                Err(mpsc::RecvError) => break,
            },
            Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(request) => Some(request),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            },
        };
        // Everything that queued during the last flush shares the next one.
        let mut jobs = Vec::new();
        for request in first.into_iter().chain(std::iter::from_fn(|| rx.try_recv().ok())) {
            match request {
                Request::Finish(more) => jobs.extend(more),
                Request::Soon => {
                    due.get_or_insert_with(|| Instant::now() + soon);
                }
            }
        }
        if jobs.is_empty() && due.is_some_and(|at| at > Instant::now()) {
            continue;
        }
        // This flush starts after every commit requested so far: it covers the `Soon` ones.
        due = None;
        let error = flush_once();
        for job in jobs {
            job.finish(error.clone());
        }
    }
    // The writer stopped: commits nobody waited for still get their flush.
    if due.is_some() {
        flush_once();
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
