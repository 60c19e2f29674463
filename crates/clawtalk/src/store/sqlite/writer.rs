//! Group commit: one thread owns the only writing connection and commits many callers' writes
//! in one transaction.
//!
//! Why: "loses nothing" needs `synchronous=FULL` (the inbox row must survive a power cut
//! once the frame is acked), and FULL costs one fsync per commit — 0.2–1.8 ms on this
//! class of disk. Batching every write that arrives while the previous commit is in flight
//! makes the fsync cost per batch instead of per call. A single writer also means our own
//! writes never fight over SQLite's one write lock.
//!
//! Why a thread of its own with synchronous jobs: SQLite calls block, and handing every
//! statement to a connection thread and its result back (as an async driver must) cost about
//! twenty context switches per message. Here a whole batch — every job's statements, the
//! savepoints and the commit — runs in one go on this thread, and each caller is woken once.
//!
//! Writes that recovery recomputes when a power cut loses them (a claim, a lease, a session's
//! activity, a transcript) may be committed without an fsync of their own: a batch of only
//! such jobs commits with `synchronous=NORMAL`. That stays safe because the WAL is one
//! append-only file — the next durable commit's fsync makes every earlier commit durable too
//! — and every external effect (the ACK after the inbox row, a send after its plan) waits for
//! a durable commit. A process crash loses nothing either way.
//!
//! Each job runs inside a savepoint, so one job's failure (say, a constraint) rolls back
//! only its own statements. Errors that may have rolled back the whole transaction (disk
//! full, I/O, busy) fail the whole batch. Callers hear back only after the commit.

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::sql::exec;
use crate::store::error::StoreError;

/// Most jobs committed together; bounds the time one batch holds the write lock.
const MAX_BATCH: usize = 512;

/// A type-erased write job.
trait Job: Send {
    /// Runs the statements; the typed result stays inside until [`Job::finish`].
    fn run(&mut self, conn: &Connection) -> Result<(), StoreError>;
    /// Reports the result, or `batch_error` when the batch did not commit.
    fn finish(self: Box<Self>, batch_error: Option<StoreError>);
    /// False when the job writes with at most one statement: SQLite undoes a failed
    /// statement by itself, so such a job needs no savepoint.
    fn needs_savepoint(&self) -> bool;
    /// False when a power cut may lose this write (recovery recomputes it).
    fn durable(&self) -> bool;
}

/// What a write promises, for how it is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WriteKind {
    /// The job changes the database with at most one statement (it may read more), so it
    /// needs no savepoint.
    pub single_statement: bool,
    /// The write must survive a power cut before the caller hears back.
    pub durable: bool,
}

impl WriteKind {
    /// Several writing statements, atomically, durable before the caller hears back.
    pub(crate) const ATOMIC: Self = Self {
        single_statement: false,
        durable: true,
    };
    /// At most one writing statement (no savepoint), durable.
    pub(crate) const ONE: Self = Self {
        single_statement: true,
        durable: true,
    };
    /// [`WriteKind::ATOMIC`] for a write recovery recomputes: no fsync of its own.
    pub(crate) const ATOMIC_RELAXED: Self = Self {
        single_statement: false,
        durable: false,
    };
    /// [`WriteKind::ONE`] for a write recovery recomputes: no fsync of its own.
    pub(crate) const ONE_RELAXED: Self = Self {
        single_statement: true,
        durable: false,
    };
}

struct TypedJob<T, F> {
    work: Option<F>,
    savepoint: bool,
    durable: bool,
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
            durable: kind.durable,
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

    fn durable(&self) -> bool {
        self.durable
    }
}

enum Msg {
    Job(Box<dyn Job>),
    Close(oneshot::Sender<()>),
}

/// Handle to the writer thread. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Msg>,
}

impl Writer {
    /// Starts the writer thread on `conn` (already migrated and configured). `full_sync`: the
    /// configured durability is `synchronous=FULL`, which only batches of durable jobs need.
    pub(crate) fn spawn(conn: Connection, full_sync: bool) -> Result<Self, StoreError> {
        // Bounded: when the disk cannot keep up, callers wait instead of piling up memory.
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        std::thread::Builder::new()
            .name("store-writer".to_owned())
            .spawn(move || run(conn, full_sync, rx))
            .map_err(|error| StoreError::Unavailable {
                detail: format!("cannot start the store's writer thread: {error}"),
            })?;
        Ok(Self { tx })
    }

    /// Runs `work` in the next group commit and returns its result once committed.
    pub(crate) async fn write<T, F>(&self, kind: WriteKind, work: F) -> Result<T, StoreError>
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
    pub(crate) async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Close(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

fn run(conn: Connection, full_sync: bool, mut rx: mpsc::Receiver<Msg>) {
    let mut closing = None;
    // The connection starts with the configured mode.
    let mut full_now = full_sync;
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
            let full = full_sync && batch.iter().any(|job| job.durable());
            if full != full_now {
                let pragma = if full {
                    "PRAGMA synchronous = FULL"
                } else {
                    "PRAGMA synchronous = NORMAL"
                };
                if let Err(error) = exec(&conn, pragma) {
                    // Not switching down costs an fsync; not switching up would break the
                    // promise, so such a batch fails.
                    if full {
                        for job in batch {
                            job.finish(Some(error.clone()));
                        }
                        continue;
                    }
                    tracing::debug!(%error, "could not relax synchronous for a batch");
                } else {
                    full_now = full;
                }
            }
            commit_batch(&conn, batch);
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
    // Closing the last connection checkpoints the WAL; failure only leaves a longer WAL.
    if let Err((_, error)) = conn.close() {
        tracing::warn!(error = %StoreError::from(error), "closing the store's write connection failed");
    }
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

fn commit_batch(conn: &Connection, mut batch: Vec<Box<dyn Job>>) {
    // IMMEDIATE takes the write lock up front, so a job that reads then writes can never
    // fail half-way on a lock upgrade (another process, e.g. the CLI, may be writing).
    if let Err(error) = exec(conn, "BEGIN IMMEDIATE") {
        for job in batch {
            job.finish(Some(error.clone()));
        }
        return;
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
    for job in batch {
        job.finish(batch_error.clone());
    }
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
    use crate::store::decode::Columns;
    use crate::store::sqlite::sql::{execute, query_all};

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
        commit_batch(&conn, vec![multi, good, single]);
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

        let writer = Writer::spawn(conn, true).unwrap();
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

    #[tokio::test]
    async fn only_batches_with_a_durable_job_commit_with_synchronous_full() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("db")).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; CREATE TABLE t (x INTEGER)",
        )
        .unwrap();
        let writer = Writer::spawn(conn, true).unwrap();
        // The mode a job sees is the one its batch commits with (2 = FULL, 1 = NORMAL).
        let mode = |kind| {
            writer.write(kind, |c| {
                insert(c, 1)?;
                super::super::sql::scalar::<i64>(c, "PRAGMA synchronous", [])
            })
        };
        assert_eq!(mode(WriteKind::ONE_RELAXED).await, Ok(1));
        assert_eq!(mode(WriteKind::ATOMIC_RELAXED).await, Ok(1));
        assert_eq!(mode(WriteKind::ONE).await, Ok(2));
        assert_eq!(mode(WriteKind::ONE_RELAXED).await, Ok(1));
        assert_eq!(mode(WriteKind::ATOMIC).await, Ok(2));
        writer.close().await;

        // Configured NORMAL (tests, throwaway setups): never switched up.
        let conn = Connection::open(dir.path().join("db")).unwrap();
        conn.execute_batch("PRAGMA synchronous = NORMAL").unwrap();
        let writer = Writer::spawn(conn, false).unwrap();
        let durable = writer
            .write(WriteKind::ONE, |c| {
                super::super::sql::scalar::<i64>(c, "PRAGMA synchronous", [])
            })
            .await;
        assert_eq!(durable, Ok(1));
        writer.close().await;
    }
}
