//! Inbound lanes: bot messages of one conversation are stored and decided in arrival order,
//! those of different conversations in parallel.
//!
//! Storing a message waits for a durable commit (an fsync). Done one message at a time, the
//! commit rate would cap the whole gateway at a few hundred messages a second; in parallel,
//! the store's group commit folds many into one fsync. Order only matters within a session
//! (its turns run in inbox order), so each conversation scope gets a lane: a FIFO queue with
//! one worker, created on demand and dropped once idle. The scope is the session key without
//! its agent, so the messages of one session always share a lane, whichever agent the
//! sender's departments pick.
//!
//! Each account has one [`Lanes`], fed by its Stream connection and its HTTP callbacks alike
//! ([`run`]).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Semaphore, mpsc};

use super::{Ack, Admission, admit};
use crate::Shared;
use clawtalk_config::DingTalkAccount;
use clawtalk_core::ids::SessionScope;

/// A message waiting for its lane, with how to acknowledge it.
pub(crate) struct Laned {
    pub admission: Admission,
    pub ack: Ack,
}

/// Where an account's sources hand their bot messages in.
pub(crate) type LaneSender = mpsc::UnboundedSender<Laned>;
/// What [`run`] reads them from.
pub(crate) type LaneReceiver = mpsc::UnboundedReceiver<Laned>;

/// Admits `account`'s bot messages through their lanes until shutdown; once the account is
/// stopped (a reload removed it), takes no more and ends when what it took is admitted.
pub(crate) async fn run(shared: Arc<Shared>, account: DingTalkAccount, mut incoming: LaneReceiver) {
    let account = Arc::new(account);
    let control = shared.account(&account.id).map(|a| Arc::clone(&a.control));
    let stop = control.as_ref().map(|c| c.stop.clone()).unwrap_or_default();
    let mut lanes = {
        let (shared, account) = (Arc::clone(&shared), Arc::clone(&account));
        Lanes::new(move |laned: Laned| {
            let shared = Arc::clone(&shared);
            // Admitted under the account's settings in force when its lane takes it.
            let account = shared
                .account_settings(&account.id)
                .unwrap_or_else(|| Arc::clone(&account));
            async move {
                admit(&shared, &account, laned.admission, laned.ack).await;
            }
        })
    };
    let (mut stopping, mut closed) = (false, false);
    loop {
        if closed && lanes.is_empty() {
            break;
        }
        tokio::select! {
            () = shared.shutdown.cancelled() => break,
            () = stop.cancelled(), if !stopping => {
                // What is queued already is still taken; senders now fail.
                incoming.close();
                stopping = true;
            }
            Some(idle) = lanes.idle() => lanes.retire(idle),
            laned = incoming.recv(), if !closed => match laned {
                Some(laned) => {
                    let scope: SessionScope = laned.admission.scope().clone();
                    lanes.push(&scope, laned);
                }
                None => closed = true,
            },
        }
    }
    if let Some(control) = control {
        control.lanes_done.cancel();
    }
}

/// Frames (of all lanes) stored and decided at once, at most: bounds memory and keeps the
/// store's queue short under a flood.
const MAX_IN_FLIGHT: usize = 512;

struct Lane<J> {
    id: u64,
    /// Jobs are boxed: a channel allocates its slots 32 at a time, and a lane usually holds
    /// one job, so unboxed every open lane would cost 32 message-sized slots (18 kB for a
    /// bot message: 18 MB with 1,000 busy conversations).
    tx: mpsc::UnboundedSender<Box<J>>,
    /// Jobs sent and not yet finished (queued or running).
    pending: Arc<AtomicUsize>,
}

/// Per-key FIFO lanes feeding `work`.
pub(crate) struct Lanes<K, J, F> {
    lanes: HashMap<K, Lane<J>>,
    next_id: u64,
    idle_tx: mpsc::UnboundedSender<(K, u64)>,
    idle_rx: mpsc::UnboundedReceiver<(K, u64)>,
    permits: Arc<Semaphore>,
    work: F,
}

impl<K, J, F, Fut> Lanes<K, J, F>
where
    K: Hash + Eq + Clone + Send + 'static,
    J: Send + 'static,
    F: Fn(J) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    pub(crate) fn new(work: F) -> Self {
        let (idle_tx, idle_rx) = mpsc::unbounded_channel();
        Self {
            lanes: HashMap::new(),
            next_id: 0,
            idle_tx,
            idle_rx,
            permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            work,
        }
    }

    /// Queues `job` behind the other jobs of `key`.
    pub(crate) fn push(&mut self, key: &K, job: J) {
        let job = Box::new(job);
        let job = match self.lanes.get(key) {
            Some(lane) => {
                lane.pending.fetch_add(1, Ordering::SeqCst);
                match lane.tx.send(job) {
                    Ok(()) => return,
                    // The worker is gone (it panicked): start a new lane.
                    Err(mpsc::error::SendError(job)) => job,
                }
            }
            None => job,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let pending = Arc::new(AtomicUsize::new(1));
        self.next_id += 1;
        let id = self.next_id;
        let _ = tx.send(job);
        tokio::spawn(run_lane(
            key.clone(),
            id,
            rx,
            Arc::clone(&pending),
            self.idle_tx.clone(),
            Arc::clone(&self.permits),
            self.work.clone(),
        ));
        self.lanes.insert(key.clone(), Lane { id, tx, pending });
    }

    /// The next lane that reported itself idle; call [`Lanes::retire`] with it.
    pub(crate) async fn idle(&mut self) -> Option<(K, u64)> {
        self.idle_rx.recv().await
    }

    /// Drops the lane if it is still the one that reported and has nothing queued or running;
    /// its worker then ends.
    pub(crate) fn retire(&mut self, (key, id): (K, u64)) {
        let idle = self
            .lanes
            .get(&key)
            .is_some_and(|lane| lane.id == id && lane.pending.load(Ordering::SeqCst) == 0);
        if idle {
            self.lanes.remove(&key);
        }
    }

    /// Lanes currently open.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lanes.len()
    }

    /// Whether no lane is open: everything pushed has been worked off and retired.
    pub(crate) fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }
}

async fn run_lane<K, J, F, Fut>(
    key: K,
    id: u64,
    mut rx: mpsc::UnboundedReceiver<Box<J>>,
    pending: Arc<AtomicUsize>,
    idle: mpsc::UnboundedSender<(K, u64)>,
    permits: Arc<Semaphore>,
    work: F,
) where
    K: Clone,
    F: Fn(J) -> Fut,
    Fut: Future<Output = ()>,
{
    while let Some(job) = rx.recv().await {
        {
            let _permit = permits.acquire().await;
            // Boxed so that a lane waiting for a permit (thousands of them under a flood) is
            // small: only the in-flight jobs hold their storing-and-deciding future.
            Box::pin(work(*job)).await;
        }
        if pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            // Nothing queued: offer to retire. More may arrive meanwhile; `retire` checks.
            let _ = idle.send((key.clone(), id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_of_a_key_run_in_order_and_keys_in_parallel() {
        let log = Arc::new(Mutex::new(Vec::<(String, u32)>::new()));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let work = {
            let (log, running, peak) = (Arc::clone(&log), Arc::clone(&running), Arc::clone(&peak));
            move |(key, n): (String, u32)| {
                let (log, running, peak) = (Arc::clone(&log), Arc::clone(&running), Arc::clone(&peak));
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(u64::from(n % 3))).await;
                    log.lock().unwrap().push((key, n));
                    running.fetch_sub(1, Ordering::SeqCst);
                }
            }
        };
        let mut lanes = Lanes::new(work);
        for n in 0..300u32 {
            let key = format!("k{}", n % 10);
            lanes.push(&key, (key.clone(), n));
            // Retire idle lanes as the lanes' loop does, while pushing continues.
            while let Ok(idle) = lanes.idle_rx.try_recv() {
                lanes.retire(idle);
            }
            if n % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while log.lock().unwrap().len() < 300 {
            assert!(tokio::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let log = log.lock().unwrap().clone();
        for k in 0..10 {
            let key = format!("k{k}");
            let order: Vec<u32> = log.iter().filter(|(k, _)| *k == key).map(|(_, n)| *n).collect();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(order, sorted, "lane {key} kept its order");
            assert_eq!(order.len(), 30);
        }
        assert!(peak.load(Ordering::SeqCst) > 1, "lanes ran in parallel");
        // Idle lanes retire.
        tokio::time::sleep(Duration::from_millis(20)).await;
        while let Ok(idle) = lanes.idle_rx.try_recv() {
            lanes.retire(idle);
        }
        assert_eq!(lanes.len(), 0);
    }
}
