//! [`Handover`]: what the sender tells the outbox around each request that carries a message.
//!
//! DingTalk's sessionWebhook and robot API have no key it drops repeats by, and a sender that
//! dies while a request is out cannot know whether DingTalk took it. A message the outbox
//! has marked as leaving is therefore never sent again by anyone else: it may be delivered.
//! Marking it just before the request, rather than recording it sent after the answer,
//! leaves only the instant between the mark and the request's body in which a death costs
//! the message, instead of the whole round trip in which it would send it twice. The mark is
//! written by [`HandoverGate`] once the request has its connection (see
//! [`dingtalk::api::BodyGate`]): on a loaded machine, waiting for a connection or an access
//! token after the mark took seconds.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use async_trait::async_trait;
use dingtalk::api::BodyGate;
use tokio_util::task::TaskTracker;

/// Told about each attempt to send one message. Implemented by the gateway's outbox.
#[async_trait]
pub trait HandoverLog: Send + Sync {
    /// The attempt's request is about to leave (after every wait: rate limits, tokens, its
    /// connection). It may be told more than once per attempt, once per request: DingTalk
    /// refusing a sessionWebhook post sends the message through the robot API.
    /// `Ok(false)`: the message must not be sent (it is already sent, or was ended).
    /// `Err`: the mark could not be written; the attempt is not made.
    async fn handing_over(&self) -> Result<bool, String>;

    /// DingTalk answered the attempt with a refusal: it has nothing of it.
    async fn not_taken(&self);
}

/// A message's [`HandoverLog`], carried by its [`crate::OutboundMessage`].
#[derive(Clone)]
pub struct Handover(Arc<dyn HandoverLog>);

impl Handover {
    /// Wraps `log`.
    pub fn new(log: Arc<dyn HandoverLog>) -> Self {
        Self(log)
    }

    /// See [`HandoverLog::handing_over`].
    pub async fn handing_over(&self) -> Result<bool, String> {
        self.0.handing_over().await
    }

    /// See [`HandoverLog::not_taken`].
    pub async fn not_taken(&self) {
        self.0.not_taken().await;
    }
}

impl fmt::Debug for Handover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Handover")
    }
}

/// Two messages are the same whatever log follows them: the log is bookkeeping, not content.
impl PartialEq for Handover {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Handover {}

/// Why an attempt's [`HandoverGate`] withheld a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The message must not be sent: it is already sent, or was ended.
    Superseded,
    /// The mark could not be written.
    Failed(String),
}

/// Whether any request of an attempt was marked, and why one was withheld.
type GateState = Arc<Mutex<(bool, Option<Refusal>)>>;

/// A [`Handover`] as the [`BodyGate`] of one attempt's requests.
pub(crate) struct HandoverGate {
    handover: Handover,
    state: GateState,
    /// The marks begun and not yet ended, each counted by a token it holds until it has
    /// recorded its answer: an attempt's outcome waits for all of them.
    marks: TaskTracker,
}

impl HandoverGate {
    pub(crate) fn new(handover: Handover) -> Self {
        Self {
            handover,
            state: Arc::default(),
            marks: TaskTracker::new(),
        }
    }

    /// Whether any request of the attempt was marked, and why one was withheld: once every
    /// mark begun has been written or has failed.
    pub(crate) async fn outcome(&self) -> (bool, Option<Refusal>) {
        self.marks.close();
        self.marks.wait().await;
        self.state.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

fn record(state: &GateState, marked: bool, refusal: Option<Refusal>) {
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    state.0 |= marked;
    if refusal.is_some() {
        state.1 = refusal;
    }
}

#[async_trait]
impl BodyGate for HandoverGate {
    async fn open(&self) -> Result<(), String> {
        let (handover, state) = (self.handover.clone(), Arc::clone(&self.state));
        let counted = self.marks.token();
        let mark = async move {
            let answer = handover.handing_over().await;
            match &answer {
                Ok(true) => record(&state, true, None),
                Ok(false) => record(&state, false, Some(Refusal::Superseded)),
                Err(reason) => record(&state, false, Some(Refusal::Failed(reason.clone()))),
            }
            drop(counted);
            answer
        };
        match RunToEnd(Some(Box::pin(mark))).await {
            Ok(true) => Ok(()),
            Ok(false) => Err("already sent or ended elsewhere".to_owned()),
            Err(reason) => Err(reason),
        }
    }
}

type Mark = Pin<Box<dyn Future<Output = Result<bool, String>> + Send>>;

/// A mark polled by whoever awaits it, which is the HTTP client's connection task: the mark's
/// last answer from the store wakes the task that writes the body, and the body leaves in the
/// same wake-up. (A mark in a task of its own costs one more wake-up between the two, and on
/// a loaded machine each wake-up waits for a CPU: that is the window in which a death leaves
/// a message marked that never left.)
///
/// The client drops a body it no longer needs (the server answered before reading it); a mark
/// cut off there could still be written without being recorded, leaving a part DingTalk
/// refused looking delivered. Dropped before its end, the rest of it runs as a task.
struct RunToEnd(Option<Mark>);

impl Future for RunToEnd {
    type Output = Result<bool, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(mark) = self.0.as_mut() else {
            return Poll::Ready(Err("the mark was polled after its end".to_owned()));
        };
        let answer = std::task::ready!(mark.as_mut().poll(cx));
        self.0 = None;
        Poll::Ready(answer)
    }
}

impl Drop for RunToEnd {
    fn drop(&mut self) {
        if let (Some(mark), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(mark);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// A store whose mark takes `delay`, counting the marks it wrote.
    struct SlowLog {
        delay: Duration,
        written: AtomicUsize,
    }

    #[async_trait]
    impl HandoverLog for SlowLog {
        async fn handing_over(&self) -> Result<bool, String> {
            tokio::time::sleep(self.delay).await;
            self.written.fetch_add(1, Ordering::SeqCst);
            Ok(true)
        }

        async fn not_taken(&self) {}
    }

    fn gate(delay: Duration) -> (HandoverGate, Arc<SlowLog>) {
        let log = Arc::new(SlowLog {
            delay,
            written: AtomicUsize::new(0),
        });
        (HandoverGate::new(Handover::new(log.clone())), log)
    }

    #[tokio::test(start_paused = true)]
    async fn a_mark_whose_body_was_dropped_midway_is_written_and_counted() {
        let (gate, log) = gate(Duration::from_millis(100));
        let opening = gate.open();
        let cut = tokio::time::timeout(Duration::from_millis(10), opening).await;
        assert!(
            cut.is_err(),
            "the mark was still being written when its body went"
        );
        assert_eq!(log.written.load(Ordering::SeqCst), 0);

        assert_eq!(
            gate.outcome().await,
            (true, None),
            "the attempt waits for the mark"
        );
        assert_eq!(log.written.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_mark_runs_in_the_task_that_awaits_it() {
        let (gate, log) = gate(Duration::from_millis(100));
        let alive = || tokio::runtime::Handle::current().metrics().num_alive_tasks();
        let before = alive();
        let opening = gate.open();
        tokio::pin!(opening);
        let waited = tokio::time::timeout(Duration::from_millis(10), &mut opening).await;
        assert!(waited.is_err(), "the mark takes 100 ms");
        assert_eq!(alive(), before, "no task of its own runs the mark");
        assert_eq!(opening.await, Ok(()));
        assert_eq!(gate.outcome().await, (true, None));
        assert_eq!(log.written.load(Ordering::SeqCst), 1);
    }
}
