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
use std::sync::{Arc, Mutex, PoisonError};

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
    /// Each mark runs as a task of its own: the HTTP client drops a body it no longer needs
    /// (the server answered before reading it), and a mark cut off there could be written
    /// without being counted, leaving a part DingTalk refused looking delivered.
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
        let mark = self.marks.spawn(async move {
            let answer = handover.handing_over().await;
            match &answer {
                Ok(true) => record(&state, true, None),
                Ok(false) => record(&state, false, Some(Refusal::Superseded)),
                Err(reason) => record(&state, false, Some(Refusal::Failed(reason.clone()))),
            }
            answer
        });
        match mark.await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err("already sent or ended elsewhere".to_owned()),
            Ok(Err(reason)) => Err(reason),
            Err(_) => Err("the mark was interrupted".to_owned()),
        }
    }
}
