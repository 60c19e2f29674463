//! [`BodyGate`]: the caller's last word before a request's body leaves.
//!
//! A sender that records "DingTalk may have this message now" before sending it (so that
//! nobody sends it again after a crash) wants the record as late as it can be: every wait
//! between the record and the request is a window in which a crash leaves a message recorded
//! as handed over that never left. Taking a pooled connection or opening one (with its TLS
//! handshake) and fetching an access token are such waits, and on a loaded machine they take
//! seconds. The HTTP client asks for a request's body only once the request has a connection
//! and its head is written, so the gate is awaited there. The body's length is declared in the
//! head, so a gate that refuses leaves the server a request cut short, which it drops.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// Asked once per request, when its connection is open, whether its body may leave.
#[async_trait]
pub trait BodyGate: Send + Sync {
    /// `Ok(())` lets the body go. `Err(reason)` withholds it: the call then fails with
    /// [`crate::Error::Withheld`] carrying `reason`.
    async fn open(&self) -> Result<(), String>;
}

impl fmt::Debug for dyn BodyGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BodyGate")
    }
}

/// What became of a gated request's gate, read once the request is over; and whether the
/// request is over, which the body needs to know.
#[derive(Clone, Default)]
pub(crate) struct Verdict(Arc<Mutex<VerdictState>>);

#[derive(Default)]
struct VerdictState {
    withheld: Option<String>,
    answered: bool,
}

impl Verdict {
    /// Why the gate withheld the body, if it did.
    pub(crate) fn withheld(&self) -> Option<String> {
        self.state().withheld.clone()
    }

    /// The request is over: its answer came (or it failed). A body still waiting for its gate
    /// then never leaves. A server that answers a request before its body came (a rejected
    /// token, a QPS limit) hangs up rather than read a body that is not there; sending it
    /// afterwards would return that connection to the pool as if it were still open, and the
    /// next request on it would fail after it was written, looking as if it may have arrived.
    /// Failing the body instead makes the client drop the connection.
    pub(crate) fn answered(&self) {
        self.state().answered = true;
    }

    fn is_answered(&self) -> bool {
        self.state().answered
    }

    fn withhold(&self, reason: &str) {
        self.state().withheld = Some(reason.to_owned());
    }

    fn state(&self) -> MutexGuard<'_, VerdictState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

type Opening = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// `payload` as a request body that waits for `gate` when first asked for, with its exact
/// length declared so that the request head carries `Content-Length`.
pub(crate) fn gated(payload: Bytes, gate: Arc<dyn BodyGate>) -> (reqwest::Body, Verdict) {
    let verdict = Verdict::default();
    let body = GatedBody {
        len: payload.len() as u64,
        payload: Some(payload),
        opening: Mutex::new(Some(Box::pin(async move { gate.open().await }))),
        verdict: verdict.clone(),
    };
    (reqwest::Body::wrap(body), verdict)
}

struct GatedBody {
    /// `None` once the gate has answered.
    opening: Mutex<Option<Opening>>,
    /// `None` once handed to the client.
    payload: Option<Bytes>,
    len: u64,
    verdict: Verdict,
}

impl Body for GatedBody {
    type Data = Bytes;
    type Error = WithheldBody;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, WithheldBody>>> {
        let this = self.get_mut();
        // `Mutex` only makes the body `Sync`, as reqwest wants; `&mut` access needs no lock.
        let opening = this.opening.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(future) = opening {
            match future.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => {
                    *opening = None;
                    if this.verdict.is_answered() {
                        this.payload = None;
                        return Poll::Ready(Some(Err(WithheldBody)));
                    }
                }
                Poll::Ready(Err(reason)) => {
                    *opening = None;
                    this.payload = None;
                    this.verdict.withhold(&reason);
                    return Poll::Ready(Some(Err(WithheldBody)));
                }
            }
        }
        Poll::Ready(this.payload.take().map(|bytes| Ok(Frame::data(bytes))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

/// The error the body stops with when its gate refused; the call reports the gate's reason.
#[derive(Debug)]
pub(crate) struct WithheldBody;

impl fmt::Display for WithheldBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request body was withheld by its sender")
    }
}

impl StdError for WithheldBody {}
