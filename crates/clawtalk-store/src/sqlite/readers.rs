//! Read-only connections, each on a thread of its own, sharing one queue of reads.
//!
//! WAL lets these run while the writer commits. A read is handed to a thread once and its
//! result handed back once, however many statements it runs.

use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;

type Task = Box<dyn FnOnce(&Connection) + Send>;

enum Msg {
    Task(Task),
    /// Stop; the sender hears once this thread (and, for the last one, the queue) is closed.
    Close(oneshot::Sender<()>),
}

/// Handle to the reader threads. Cheap to clone.
#[derive(Clone)]
pub struct Readers {
    tx: mpsc::Sender<Msg>,
    threads: usize,
}

impl Readers {
    /// Starts one thread per connection.
    pub fn spawn(connections: Vec<Connection>) -> Result<Self, StoreError> {
        let threads = connections.len();
        let (tx, rx) = mpsc::channel(256);
        let rx = Arc::new(Mutex::new(rx));
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(threads));
        for (i, conn) in connections.into_iter().enumerate() {
            let rx = Arc::clone(&rx);
            let running = Arc::clone(&running);
            std::thread::Builder::new()
                .name(format!("store-reader-{i}"))
                .spawn(move || serve(conn, &rx, &running))
                .map_err(|error| StoreError::Unavailable {
                    detail: format!("cannot start a store reader thread: {error}"),
                })?;
        }
        Ok(Self { tx, threads })
    }

    /// Runs `work` on a free reader connection.
    pub async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let task: Task = Box::new(move |conn| {
            let _ = reply.send(work(conn));
        });
        self.tx
            .send(Msg::Task(task))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Lets queued reads finish, then closes every connection; later reads fail with
    /// [`StoreError::Closed`].
    pub async fn close(&self) {
        let mut closed = Vec::with_capacity(self.threads);
        for _ in 0..self.threads {
            let (done, wait) = oneshot::channel();
            if self.tx.send(Msg::Close(done)).await.is_err() {
                break;
            }
            closed.push(wait);
        }
        for wait in closed {
            // An error means the thread is gone already.
            let _ = wait.await;
        }
    }
}

fn serve(conn: Connection, rx: &Mutex<mpsc::Receiver<Msg>>, running: &std::sync::atomic::AtomicUsize) {
    let closed = loop {
        // Holding the lock while waiting is what shares the queue: the others wait for the
        // lock, and whoever holds it takes the next read.
        let msg = match rx.lock() {
            Ok(mut rx) => rx.blocking_recv(),
            Err(_) => None,
        };
        match msg {
            Some(Msg::Task(task)) => {
                // A panicking read drops its reply (the caller hears `Closed`); the thread
                // and its connection stay in service.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task(&conn)));
            }
            Some(Msg::Close(done)) => break Some(done),
            None => break None,
        }
    };
    drop(conn);
    if running.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1
        && let Ok(mut rx) = rx.lock()
    {
        // The last one out: refuse new reads and drop queued ones (their callers hear
        // `Closed` when the reply channel drops).
        rx.close();
        while rx.try_recv().is_ok() {}
    }
    if let Some(done) = closed {
        let _ = done.send(());
    }
}
