//! Ordered lanes of the rate limiter: per custom robot or conversation, messages wait in arrival
//! order and one drainer task sends them, so a limit never reorders or drops a reply.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::{DeliveryError, OutboundMessage, SendReceipt, batch};

/// What the waiting caller gets back.
pub(super) type Outcome = Result<SendReceipt, DeliveryError>;

struct Waiting {
    msg: OutboundMessage,
    done: oneshot::Sender<Outcome>,
}

/// One send the drainer makes: a message (several merged, with `batchResponses`) and everyone
/// waiting for it.
pub(super) struct Batch {
    pub msg: OutboundMessage,
    waiters: Vec<oneshot::Sender<Outcome>>,
}

impl Batch {
    /// How many queued messages it carries.
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Whether every caller stopped waiting before the send: their turns were dropped (one
    /// that gave its lease up, or was stopped), so nothing would record the message as sent,
    /// and whoever runs the turn again sends it. Sending it now would be sending it twice.
    pub fn abandoned(&self) -> bool {
        self.waiters.iter().all(oneshot::Sender::is_closed)
    }

    /// Hands `outcome` to every caller in the batch.
    pub fn finish(self, outcome: &Outcome) {
        for done in self.waiters {
            // A caller that stopped waiting still had its message sent; nothing to tell it.
            let _ = done.send(outcome.clone());
        }
    }
}

/// Queues keyed by `K`. A lane exists exactly while its drainer runs.
pub(super) struct Lanes<K> {
    lanes: Mutex<HashMap<K, VecDeque<Waiting>>>,
}

impl<K: Hash + Eq + Clone> Default for Lanes<K> {
    fn default() -> Self {
        Self {
            lanes: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Clone> Lanes<K> {
    /// Queues `msg` on `key`'s lane. Returns the receiver of its outcome, and whether the lane was
    /// just opened (then the caller must start its drainer).
    pub fn push(&self, key: &K, msg: OutboundMessage) -> (oneshot::Receiver<Outcome>, bool) {
        let (done, outcome) = oneshot::channel();
        let mut lanes = self.lock();
        let opened = !lanes.contains_key(key);
        lanes
            .entry(key.clone())
            .or_default()
            .push_back(Waiting { msg, done });
        (outcome, opened)
    }

    /// Closes `key`'s lane when nothing waits on it; the drainer stops then. Only the drainer
    /// takes from a lane, so after `false` the next [`Lanes::take`] finds a message.
    pub fn close_if_empty(&self, key: &K) -> bool {
        let mut lanes = self.lock();
        if lanes.get(key).is_none_or(VecDeque::is_empty) {
            lanes.remove(key);
            true
        } else {
            false
        }
    }

    /// The oldest message on `key`'s lane, as a batch of one.
    pub fn take(&self, key: &K) -> Option<Batch> {
        let first = self.lock().get_mut(key)?.pop_front()?;
        Some(Batch {
            msg: first.msg,
            waiters: vec![first.done],
        })
    }

    /// `batch` followed by the messages queued behind it that fit into it ([`batch::fits`]),
    /// in order; those whose callers stopped waiting are left out (see [`Batch::abandoned`]).
    pub fn extend(&self, key: &K, mut batch: Batch) -> Batch {
        let first_key = batch.msg.idempotency_key.clone();
        let mut lanes = self.lock();
        if let Some(lane) = lanes.get_mut(key) {
            while lane
                .front()
                .is_some_and(|next| batch::fits(&batch.msg, &next.msg))
            {
                if let Some(next) = lane.pop_front()
                    && !next.done.is_closed()
                {
                    batch::append(&mut batch.msg, &next.msg);
                    batch.waiters.push(next.done);
                }
            }
        }
        batch.msg.idempotency_key = batch::merged_key(&first_key, batch.waiters.len());
        batch
    }

    /// Removes `key`'s lane and fails everything on it with `error`.
    pub fn fail_all(&self, key: &K, error: &DeliveryError) {
        let waiting = self.lock().remove(key).unwrap_or_default();
        for w in waiting {
            let _ = w.done.send(Err(error.clone()));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, VecDeque<Waiting>>> {
        // The map stays consistent under every operation above, so a poisoned lock is usable.
        self.lanes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Body, Target};
    use dingtalk::ids::ConversationId;

    fn msg(text: &str, key: &str) -> OutboundMessage {
        OutboundMessage::new(
            "a",
            Target::Group(ConversationId::new("cid")),
            Body::text(text),
            key,
        )
    }

    #[test]
    fn lanes_open_once_and_merge_in_order() {
        let lanes = Lanes::default();
        let (_a, opened) = lanes.push(&1, msg("a", "k1"));
        assert!(opened);
        let (_b, again) = lanes.push(&1, msg("b", "k2"));
        let (_c, _) = lanes.push(&1, msg("c", "k3"));
        assert!(!again);
        let head = lanes.take(&1).unwrap();
        let batch = lanes.extend(&1, head);
        assert_eq!(batch.len(), 3);
        assert_eq!(batch.msg.body, Body::text("a\n\nb\n\nc"));
        assert_eq!(batch.msg.idempotency_key, "k1+2");
        assert!(lanes.close_if_empty(&1));
        let (_d, reopened) = lanes.push(&1, msg("d", "k4"));
        assert!(reopened);
    }

    #[tokio::test]
    async fn without_merging_messages_leave_one_by_one() {
        let lanes = Lanes::default();
        let (first, _) = lanes.push(&1, msg("a", "k1"));
        let (second, _) = lanes.push(&1, msg("b", "k2"));
        let batch = lanes.take(&1).unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!(batch.msg.idempotency_key, "k1");
        batch.finish(&Err(DeliveryError::WrongAccount {
            message_account: "a".into(),
            sender_account: "b".into(),
        }));
        assert!(first.await.unwrap().is_err());
        assert!(!lanes.close_if_empty(&1));
        lanes.fail_all(
            &1,
            &DeliveryError::WrongAccount {
                message_account: "a".into(),
                sender_account: "b".into(),
            },
        );
        assert!(second.await.unwrap().is_err());
        assert!(lanes.close_if_empty(&1));
    }
}
