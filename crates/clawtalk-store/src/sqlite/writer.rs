//! Group commit: one thread owns the only writing connection and commits many callers' writes
//! in one transaction.
//!
//! Why: "loses nothing" needs every durable write flushed to disk before its caller hears
//! back (the inbox row must survive a power cut once the frame is acked), and a flush costs
//! 0.2–1.8 ms on this class of disk, 10 ms and more at its worst. Batching every write that
//! arrives while the previous batch is in flight makes that cost per batch instead of per
//! call. A single writer also means our own writes never fight over SQLite's one write lock.
//!
//! Why a thread of its own with synchronous jobs: SQLite calls block, and handing every
//! statement to a connection thread and its result back (as an async driver must) cost about
//! twenty context switches per message. Here a whole batch — every job's statements, the
//! savepoints and the commit — runs in one go on this thread, and each caller is woken once.
//!
//! Why the flush happens on a second thread: with `synchronous=FULL` SQLite flushes inside
//! COMMIT, so the writer sat idle for every flush while the next batch queued behind it. The
//! connection commits with `synchronous=NORMAL` instead, and the flusher thread flushes the
//! WAL file (`fdatasync`) after each commit that holds a durable job, answering those jobs
//! only then, while the writer already runs the next batch. That is the same promise: the
//! WAL is one append-only file, so a flush that starts after a commit returned makes that
//! commit (and every earlier one) durable; SQLite itself flushes the WAL before each
//! checkpoint and the database after it.
//!
//! Writes that recovery recomputes when a power cut loses them (a claim, a lease, a session's
//! activity, a transcript) are answered right after their commit, without waiting for a
//! flush. That stays safe because every external effect (the ACK after the inbox row, a send
//! after its plan) waits for a durable job, whose flush covers everything committed before
//! it. A process crash loses nothing either way.
//!
//! Between the two, a write may ask to be flushed [soon](FlushBy::Soon): its caller hears back
//! at commit, and the flusher makes it durable within [`FLUSH_SOON`], or sooner with the next
//! durable job's flush. That is for a record of what already happened outside (a reply part
//! DingTalk accepted): nothing waits on it, and waiting for its flush put one more flush in
//! front of the next message's.
//!
//! Each job runs inside a savepoint, so one job's failure (say, a constraint) rolls back
//! only its own statements. Errors that may have rolled back the whole transaction (disk
//! full, I/O, busy) fail the whole batch. Callers hear back only after the commit.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::flusher::Flusher;

use super::sql::exec;
use crate::error::StoreError;

/// Most jobs committed together; bounds the time one batch holds the write lock.
const MAX_BATCH: usize = 512;

/// How long a [`FlushBy::Soon`] commit may wait for its flush. A power cut within it loses
/// the write; short next to the round trip of the send such a write records, which has the
/// same exposure.
const FLUSH_SOON: Duration = Duration::from_millis(10);

/// A type-erased write job.
pub(super) trait Job: Send {
    /// Runs the statements; the typed result stays inside until [`Job::finish`].
    fn run(&mut self, conn: &Connection) -> Result<(), StoreError>;
    /// Reports the result, or `batch_error` when the batch did not commit.
    fn finish(self: Box<Self>, batch_error: Option<StoreError>);
    /// False when the job writes with at most one statement: SQLite undoes a failed
    /// statement by itself, so such a job needs no savepoint.
    fn needs_savepoint(&self) -> bool;
    /// When the commit must be on disk.
    fn flush_by(&self) -> FlushBy;
}

/// When a write's commit must reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushBy {
    /// Before the caller hears back: it must survive a power cut once the caller goes on.
    Answer,
    /// Within [`FLUSH_SOON`]; the caller hears back at commit.
    Soon,
    /// Whenever a later flush or checkpoint happens: recovery recomputes the write when a
    /// power cut loses it.
    Whenever,
}

/// What a write promises, for how it is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteKind {
    /// The job changes the database with at most one statement (it may read more), so it
    /// needs no savepoint.
    pub single_statement: bool,
    /// When the commit must be on disk.
    pub flush_by: FlushBy,
}

impl WriteKind {
    /// Several writing statements, atomically, durable before the caller hears back.
    pub const ATOMIC: Self = Self {
        single_statement: false,
        flush_by: FlushBy::Answer,
    };
    /// At most one writing statement (no savepoint), durable.
    pub const ONE: Self = Self {
        single_statement: true,
        flush_by: FlushBy::Answer,
    };
    /// [`WriteKind::ATOMIC`] for a write recovery recomputes: no fsync of its own.
    pub const ATOMIC_RELAXED: Self = Self {
        single_statement: false,
        flush_by: FlushBy::Whenever,
    };
    /// [`WriteKind::ONE`] for a write recovery recomputes: no fsync of its own.
    pub const ONE_RELAXED: Self = Self {
        single_statement: true,
        flush_by: FlushBy::Whenever,
    };
    /// [`WriteKind::ONE`] answered at commit and flushed [soon](FlushBy::Soon).
    pub const ONE_SOON: Self = Self {
        single_statement: true,
        flush_by: FlushBy::Soon,
    };
}

struct TypedJob<T, F> {
    work: Option<F>,
    savepoint: bool,
    flush_by: FlushBy,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> TypedJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    /// The job, and where its result arrives once the batch is settled.
    fn boxed(kind: WriteKind, work: F) -> (Box<dyn Job>, oneshot::Receiver<Result<T, StoreError>>) {
        let (reply, rx) = oneshot::channel();
        let job = Self {
            work: Some(work),
            savepoint: !kind.single_statement,
            flush_by: kind.flush_by,
            result: None,
            reply,
        };
        (Box::new(job), rx)
    }
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let Some(work) = self.work.take() else {
            return Ok(());
        };
        let result = work(conn);
        let status = result.as_ref().map(|_| ()).map_err(Clone::clone);
        self.result = Some(result);
        status
    }

    fn finish(self: Box<Self>, batch_error: Option<StoreError>) {
        let outcome = match (self.result, batch_error) {
            // The job's own error explains more than the batch's.
            (Some(Err(own)), _) => Err(own),
            (_, Some(batch)) => Err(batch),
            (Some(Ok(value)), None) => Ok(value),
            (None, None) => Err(StoreError::Closed),
        };
        // The caller may have gone away (timeout, cancellation); the write stands anyway.
        let _ = self.reply.send(outcome);
    }

    fn needs_savepoint(&self) -> bool {
        self.savepoint
    }

    fn flush_by(&self) -> FlushBy {
        self.flush_by
    }
}

enum Msg {
    Job(Box<dyn Job>),
    Close(oneshot::Sender<()>),
}

/// Handle to the writer thread. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    /// The flusher's count of flushes tried.
    #[cfg(test)]
    flushes: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

impl Writer {
    /// Starts the writer thread on `conn` (already migrated and configured, committing with
    /// `synchronous=NORMAL` or less). `wal`: the write-ahead log to flush before durable jobs
    /// are answered; `None` when nothing needs flushing (in memory, or configured NORMAL).
    pub fn spawn(conn: Connection, wal: Option<PathBuf>) -> Result<Self, StoreError> {
        Self::spawn_flushing_soon_within(conn, wal, FLUSH_SOON)
    }

    /// [`Writer::spawn`] with another bound for [`FlushBy::Soon`] (tests need a long one).
    fn spawn_flushing_soon_within(
        conn: Connection,
        wal: Option<PathBuf>,
        soon: Duration,
    ) -> Result<Self, StoreError> {
        // Bounded: when the disk cannot keep up, callers wait instead of piling up memory.
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        let flusher = wal.map(|wal| Flusher::spawn(wal, soon)).transpose()?;
        #[cfg(test)]
        let flushes = flusher.as_ref().map(Flusher::attempts);
        std::thread::Builder::new()
            .name("store-writer".to_owned())
            .spawn(move || run(conn, flusher, rx))
            .map_err(|error| StoreError::Unavailable {
                detail: format!("cannot start the store's writer thread: {error}"),
            })?;
        Ok(Self {
            tx,
            #[cfg(test)]
            flushes,
        })
    }

    /// How many flushes the flusher tried so far (0 without one).
    #[cfg(test)]
    fn flushes(&self) -> u64 {
        self.flushes
            .as_ref()
            .map_or(0, |n| n.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Runs `work` in the next group commit and returns its result once committed.
    pub async fn write<T, F>(&self, kind: WriteKind, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (job, rx) = TypedJob::boxed(kind, work);
        self.tx
            .send(Msg::Job(job))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Commits what is queued, closes the connection and waits for that.
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Close(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

fn run(conn: Connection, flusher: Option<Flusher>, mut rx: mpsc::Receiver<Msg>) {
    let mut closing = None;
    while let Some(first) = rx.blocking_recv() {
        let mut batch = Vec::new();
        match first {
            Msg::Job(job) => batch.push(job),
            Msg::Close(done) => closing = Some(done),
        }
        while closing.is_none() && batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Job(job)) => batch.push(job),
                Ok(Msg::Close(done)) => closing = Some(done),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let (batch, batch_error) = commit_batch(&conn, batch);
            settle(batch, batch_error, flusher.as_ref());
        }
        if closing.is_some() {
            break;
        }
    }
    rx.close();
    // Jobs that raced with close: tell their callers instead of dropping them silently.
    while let Ok(msg) = rx.try_recv() {
        match msg {
            Msg::Job(job) => job.finish(Some(StoreError::Closed)),
            Msg::Close(done) => {
                let _ = done.send(());
            }
        }
    }
    // Durable jobs of the last batches are answered once flushed.
    if let Some(flusher) = flusher {
        flusher.finish();
    }
    // Closing the last connection checkpoints the WAL; failure only leaves a longer WAL.
    if let Err((_, error)) = conn.close() {
        tracing::warn!(error = %StoreError::from(error), "closing the store's write connection failed");
    }
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

/// Answers a committed (or failed) batch: durable jobs through the flusher when there is
/// one, everything else at once.
fn settle(batch: Vec<Box<dyn Job>>, batch_error: Option<StoreError>, flusher: Option<&Flusher>) {
    let Some(flusher) = flusher.filter(|_| batch_error.is_none()) else {
        for job in batch {
            job.finish(batch_error.clone());
        }
        return;
    };
    let mut durable = Vec::new();
    let mut soon = false;
    for job in batch {
        match job.flush_by() {
            FlushBy::Answer => durable.push(job),
            FlushBy::Soon => {
                soon = true;
                job.finish(None);
            }
            FlushBy::Whenever => job.finish(None),
        }
    }
    // One flush covers the whole commit, so a durable job's makes the soon ones durable too.
    if !durable.is_empty() {
        flusher.flush_then_finish(durable);
    } else if soon {
        flusher.flush_soon();
    }
}

/// Runs and commits one batch; returns its jobs (not yet answered) and the error that failed
/// the whole batch, if any.
fn commit_batch(conn: &Connection, mut batch: Vec<Box<dyn Job>>) -> (Vec<Box<dyn Job>>, Option<StoreError>) {
    // IMMEDIATE takes the write lock up front, so a job that reads then writes can never
    // fail half-way on a lock upgrade (another process, e.g. the CLI, may be writing).
    if let Err(error) = exec(conn, "BEGIN IMMEDIATE") {
        return (batch, Some(error));
    }
    // A lone job needs no savepoint either: rolling back the transaction undoes exactly it.
    let lone = batch.len() == 1;
    let mut abort = None;
    for job in &mut batch {
        let savepoint = !lone && job.needs_savepoint();
        if savepoint && let Err(error) = exec(conn, "SAVEPOINT job") {
            abort = Some(error);
            break;
        }
        match job.run(conn) {
            Ok(()) => {
                if savepoint && let Err(error) = exec(conn, "RELEASE job") {
                    abort = Some(error);
                    break;
                }
            }
            Err(error) if lone || error.aborts_transaction() => {
                abort = Some(error);
                break;
            }
            // Its one write failed and SQLite already undid that statement.
            Err(_) if !savepoint => {}
            Err(_) => {
                let undone = exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"));
                if let Err(error) = undone {
                    abort = Some(error);
                    break;
                }
            }
        }
    }
    let batch_error = match abort {
        Some(error) => {
            rollback(conn);
            Some(error)
        }
        None => match exec(conn, "COMMIT") {
            Ok(()) => None,
            Err(error) => {
                rollback(conn);
                Some(error)
            }
        },
    };
    (batch, batch_error)
}

fn rollback(conn: &Connection) {
    // Fails harmlessly when SQLite already rolled back (e.g. after SQLITE_FULL).
    if let Err(error) = exec(conn, "ROLLBACK") {
        tracing::debug!(%error, "rollback after a failed batch");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Columns;
    use crate::sqlite::sql::{execute, query_all};

    fn insert(conn: &Connection, x: i64) -> Result<(), StoreError> {
        execute(conn, "INSERT INTO t (x) VALUES (?1)", [x]).map(drop)
    }

    #[tokio::test]
    async fn a_failed_job_is_undone_alone_and_the_batch_commits() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER UNIQUE)").unwrap();
        let (multi, multi_fails) = TypedJob::boxed(WriteKind::ATOMIC, |c| {
            insert(c, 1)?;
            Err::<(), _>(StoreError::Invalid("after a write".into()))
        });
        let (good, ok) = TypedJob::boxed(WriteKind::ATOMIC, |c| insert(c, 2));
        let (single, single_fails) = TypedJob::boxed(WriteKind::ONE, |c| insert(c, 2));
        let (batch, batch_error) = commit_batch(&conn, vec![multi, good, single]);
        assert_eq!(batch_error, None);
        settle(batch, None, None);
        assert_eq!(
            multi_fails.await.unwrap(),
            Err(StoreError::Invalid("after a write".into()))
        );
        assert_eq!(ok.await.unwrap(), Ok(()));
        let single_fails = single_fails.await.unwrap();
        assert!(
            matches!(single_fails, Err(StoreError::Database { .. })),
            "{single_fails:?}"
        );

        let writer = Writer::spawn(conn, None).unwrap();
        let rows: Vec<i64> = writer
            .write(WriteKind::ONE, |c| {
                query_all(c, "SELECT x FROM t", [], |r| r.int("x"))
            })
            .await
            .unwrap();
        assert_eq!(rows, [2]);
        writer.close().await;
        let after = writer.write(WriteKind::ONE, |_| Ok(())).await;
        assert_eq!(after, Err(StoreError::Closed));
    }

    fn wal_database(dir: &tempfile::TempDir) -> (Connection, PathBuf) {
        let path = dir.path().join("db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; CREATE TABLE t (x INTEGER)",
        )
        .unwrap();
        (conn, super::super::wal_of(&path))
    }

    #[tokio::test]
    async fn durable_and_relaxed_jobs_commit_and_concurrent_ones_share_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, wal) = wal_database(&dir);
        let writer = Writer::spawn(conn, Some(wal)).unwrap();
        assert_eq!(writer.write(WriteKind::ONE, |c| insert(c, 1)).await, Ok(()));
        assert_eq!(
            writer.write(WriteKind::ONE_RELAXED, |c| insert(c, 2)).await,
            Ok(())
        );
        let mut writes = tokio::task::JoinSet::new();
        for x in 3..=100 {
            let writer = writer.clone();
            let kind = if x % 2 == 0 {
                WriteKind::ONE
            } else {
                WriteKind::ATOMIC_RELAXED
            };
            writes.spawn(async move { writer.write(kind, move |c| insert(c, x)).await });
        }
        while let Some(done) = writes.join_next().await {
            assert_eq!(done.unwrap(), Ok(()));
        }
        let count = writer
            .write(WriteKind::ONE_RELAXED, |c| {
                super::super::sql::scalar::<i64>(c, "SELECT COUNT(*) FROM t", [])
            })
            .await;
        assert_eq!(count, Ok(100));
        writer.close().await;
    }

    #[tokio::test]
    async fn after_a_failed_flush_durable_jobs_fail_and_relaxed_ones_still_commit() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, _) = wal_database(&dir);
        // A log that cannot be opened stands in for a disk that fails the flush.
        let writer = Writer::spawn(conn, Some(dir.path().join("gone").join("db-wal"))).unwrap();
        let durable = writer.write(WriteKind::ONE, |c| insert(c, 1)).await;
        assert!(matches!(durable, Err(StoreError::Io { .. })), "{durable:?}");
        assert_eq!(
            writer.write(WriteKind::ONE_RELAXED, |c| insert(c, 2)).await,
            Ok(())
        );
        let again = writer.write(WriteKind::ATOMIC, |c| insert(c, 3)).await;
        assert!(matches!(again, Err(StoreError::Io { .. })), "{again:?}");
        writer.close().await;
    }

    #[tokio::test]
    async fn a_soon_job_is_answered_at_commit_and_flushed_within_its_bound_by_itself() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, wal) = wal_database(&dir);
        let soon = Duration::from_millis(300);
        let writer = Writer::spawn_flushing_soon_within(conn, Some(wal), soon).unwrap();
        let started = std::time::Instant::now();
        assert_eq!(writer.write(WriteKind::ONE_SOON, |c| insert(c, 1)).await, Ok(()));
        let answered = started.elapsed();
        assert_eq!(writer.flushes(), 0, "answered before any flush");
        assert!(answered < soon, "answered at commit, not after {answered:?}");
        // No durable job follows, yet the commit reaches the disk within the bound.
        tokio::time::sleep(soon * 3).await;
        assert_eq!(writer.flushes(), 1);
        // Nothing new was committed, so nothing more is flushed.
        assert_eq!(
            writer.write(WriteKind::ONE_RELAXED, |c| insert(c, 2)).await,
            Ok(())
        );
        tokio::time::sleep(soon * 2).await;
        assert_eq!(writer.flushes(), 1);
        writer.close().await;
    }

    #[tokio::test]
    async fn a_durable_jobs_flush_covers_a_soon_one_before_it_and_close_flushes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, wal) = wal_database(&dir);
        // Longer than the test: only the durable job's flush or the close can flush.
        let writer = Writer::spawn_flushing_soon_within(conn, Some(wal), Duration::from_secs(60)).unwrap();
        assert_eq!(writer.write(WriteKind::ONE_SOON, |c| insert(c, 1)).await, Ok(()));
        assert_eq!(writer.write(WriteKind::ONE, |c| insert(c, 2)).await, Ok(()));
        assert_eq!(writer.flushes(), 1, "one flush for both");
        assert_eq!(writer.write(WriteKind::ONE_SOON, |c| insert(c, 3)).await, Ok(()));
        writer.close().await;
        assert_eq!(writer.flushes(), 2, "closing flushed the last soon commit");
    }

    #[tokio::test]
    async fn the_write_connection_of_a_durable_store_commits_without_flushing_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let target = super::super::connect::Target::File(&path);
        // The default durability is Full; its flushes are the flusher's job, not COMMIT's.
        let conn = super::super::connect::writer(&target, &super::super::SqliteOptions::default()).unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let writer = Writer::spawn(conn, None).unwrap();
        let mode = writer
            .write(WriteKind::ONE, |c| {
                insert(c, 1)?;
                super::super::sql::scalar::<i64>(c, "PRAGMA synchronous", [])
            })
            .await;
        assert_eq!(mode, Ok(1));
        writer.close().await;
    }
}
