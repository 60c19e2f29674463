//! Group commit: one task owns the only writing connection and commits many callers' writes
//! in one transaction.
//!
//! Why: "loses nothing" needs `synchronous=FULL` (the inbox row must survive a power cut
//! once the frame is acked), and FULL costs one fsync per commit — 0.7–1.8 ms on this
//! class of disk, so at most ~1,000 commits/s. Batching every write that arrives while the
//! previous commit is in flight makes the fsync cost per batch instead of per call, which
//! is what lets the inbox reach thousands of messages per second. A single writer also
//! means our own writes never fight over SQLite's one write lock.
//!
//! Each job runs inside a savepoint, so one job's failure (say, a constraint) rolls back
//! only its own statements. Errors that may have rolled back the whole transaction (disk
//! full, I/O, busy) fail the whole batch. Callers hear back only after the commit.

use std::future::Future;
use std::pin::Pin;

use sqlx::SqliteConnection;
use tokio::sync::{mpsc, oneshot};

use crate::store::error::StoreError;

/// Future returned by job closures.
pub(crate) type BoxFut<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// Most jobs committed together; bounds the time one batch holds the write lock.
const MAX_BATCH: usize = 512;

/// A type-erased write job.
trait Job: Send {
    /// Runs the statements; the typed result stays inside until [`Job::finish`].
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFut<'c, Result<(), StoreError>>;
    /// Reports the result, or `batch_error` when the batch did not commit.
    fn finish(self: Box<Self>, batch_error: Option<StoreError>);
    /// False when the job writes with at most one statement: SQLite undoes a failed
    /// statement by itself, so such a job needs no savepoint (two round trips saved).
    fn needs_savepoint(&self) -> bool;
}

struct TypedJob<T, F> {
    work: Option<F>,
    savepoint: bool,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFut<'c, Result<T, StoreError>> + Send + 'static,
{
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFut<'c, Result<(), StoreError>> {
        Box::pin(async move {
            let Some(work) = self.work.take() else {
                return Ok(());
            };
            let result = work(conn).await;
            let status = result.as_ref().map(|_| ()).map_err(Clone::clone);
            self.result = Some(result);
            status
        })
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
}

enum Msg {
    Job(Box<dyn Job>),
    Close(oneshot::Sender<()>),
}

/// Handle to the writer task. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Msg>,
}

impl Writer {
    /// Starts the writer task on `conn` (already migrated and configured).
    pub(crate) fn spawn(conn: SqliteConnection) -> Self {
        // Bounded: when the disk cannot keep up, callers wait instead of piling up memory.
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        tokio::spawn(run(conn, rx));
        Self { tx }
    }

    /// Runs `work` in the next group commit and returns its result once committed.
    /// `single_write` promises that `work` changes the database with at most one statement
    /// (it may read more).
    pub(crate) async fn write<T, F>(&self, single_write: bool, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFut<'c, Result<T, StoreError>> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = TypedJob {
            work: Some(work),
            savepoint: !single_write,
            result: None,
            reply,
        };
        self.tx
            .send(Msg::Job(Box::new(job)))
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

async fn run(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Msg>) {
    let mut closing = None;
    while let Some(first) = rx.recv().await {
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
            commit_batch(&mut conn, batch).await;
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
    if let Err(error) = sqlx::Connection::close(conn).await {
        tracing::warn!(%error, "closing the store's write connection failed");
    }
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

async fn exec(conn: &mut SqliteConnection, sql: &'static str) -> Result<(), StoreError> {
    // Prepared once and cached by the connection: these run several times per batch.
    sqlx::query(sql).execute(&mut *conn).await?;
    Ok(())
}

async fn commit_batch(conn: &mut SqliteConnection, mut batch: Vec<Box<dyn Job>>) {
    // IMMEDIATE takes the write lock up front, so a job that reads then writes can never
    // fail half-way on a lock upgrade (another process, e.g. the CLI, may be writing).
    if let Err(error) = exec(conn, "BEGIN IMMEDIATE").await {
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
        if savepoint && let Err(error) = exec(conn, "SAVEPOINT job").await {
            abort = Some(error);
            break;
        }
        match job.run(conn).await {
            Ok(()) => {
                if savepoint && let Err(error) = exec(conn, "RELEASE job").await {
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
                let undone = match exec(conn, "ROLLBACK TO job").await {
                    Ok(()) => exec(conn, "RELEASE job").await,
                    Err(error) => Err(error),
                };
                if let Err(error) = undone {
                    abort = Some(error);
                    break;
                }
            }
        }
    }
    let batch_error = match abort {
        Some(error) => {
            rollback(conn).await;
            Some(error)
        }
        None => match exec(conn, "COMMIT").await {
            Ok(()) => None,
            Err(error) => {
                rollback(conn).await;
                Some(error)
            }
        },
    };
    for job in batch {
        job.finish(batch_error.clone());
    }
}

async fn rollback(conn: &mut SqliteConnection) {
    // Fails harmlessly when SQLite already rolled back (e.g. after SQLITE_FULL).
    if let Err(error) = exec(conn, "ROLLBACK").await {
        tracing::debug!(%error, "rollback after a failed batch");
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, SqliteConnection};

    use super::*;

    async fn insert(conn: &mut SqliteConnection, x: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO t (x) VALUES (?1)")
            .bind(x)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    #[tokio::test]
    async fn a_failed_job_is_undone_alone_and_the_batch_commits() {
        let mut conn = SqliteConnectOptions::from_str("sqlite::memory:")
            .unwrap()
            .connect()
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER UNIQUE)")
            .execute(&mut conn)
            .await
            .unwrap();
        let writer = Writer::spawn(conn);
        // On the current-thread test runtime the writer task runs only once all three are
        // queued, so they share one transaction.
        let (multi_fails, ok, single_fails) = tokio::join!(
            writer.write(false, |c| Box::pin(async move {
                insert(c, 1).await?;
                Err::<(), _>(StoreError::Invalid("after a write".into()))
            })),
            writer.write(false, |c| Box::pin(async move { insert(c, 2).await })),
            writer.write(true, |c| Box::pin(async move { insert(c, 2).await })),
        );
        assert_eq!(multi_fails, Err(StoreError::Invalid("after a write".into())));
        assert_eq!(ok, Ok(()));
        assert!(
            matches!(single_fails, Err(StoreError::Database { .. })),
            "{single_fails:?}"
        );
        let rows: Vec<i64> = writer
            .write(true, |c| {
                Box::pin(async move { Ok(sqlx::query_scalar("SELECT x FROM t").fetch_all(&mut *c).await?) })
            })
            .await
            .unwrap();
        assert_eq!(rows, [2]);
        writer.close().await;
        let after = writer.write(true, |_| Box::pin(async { Ok(()) })).await;
        assert_eq!(after, Err(StoreError::Closed));
    }
}
