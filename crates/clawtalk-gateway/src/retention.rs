//! Deletes finished inbox rows once `store.retentionDays` have passed since their last change,
//! so the database does not grow for ever. What the store calls finished excludes everything
//! still owed to a user: received, queued and running messages, and finished ones with a reply
//! part not yet sent (see `InboxStore::purge_finished`).
//!
//! Tool-call approvals decided (or expired) that long ago go too; pending ones stay for the
//! turn that waits on them, and "always allow" grants stay until revoked.

use clawtalk_core::clock::EpochMs;
use std::sync::Arc;
use std::time::Duration;

use clawtalk_core::clock::Clock;
use tokio_util::sync::CancellationToken;

use super::Shared;
use clawtalk_store::Store;

/// How often the purge runs; the first run is at start.
pub(super) const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Purges at start and every [`PURGE_EVERY`] until shutdown.
pub(super) async fn run(shared: Arc<Shared>) {
    let retention = shared.config().store.retention();
    purge_loop(
        shared.store.as_ref(),
        retention,
        &shared.shutdown,
        shared.clock.as_ref(),
    )
    .await;
}

async fn purge_loop(store: &dyn Store, retention: Duration, shutdown: &CancellationToken, clock: &dyn Clock) {
    let mut tick = tokio::time::interval(PURGE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => { purge_once(store, retention, clock.now()).await; }
        }
    }
}

/// One purge of rows finished more than `retention` before `now`: inbox rows, then approval
/// requests; how many inbox rows went.
pub(super) async fn purge_once(store: &dyn Store, retention: Duration, now: EpochMs) -> Option<u64> {
    let before = now.minus(retention);
    match store.approval_purge(before).await {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "decided approval requests purged"),
        Err(error) => tracing::warn!(%error, "cannot purge decided approval requests"),
    }
    match store.purge_finished(before).await {
        Ok(purged) => {
            if purged > 0 {
                tracing::info!(
                    purged,
                    retention_days = retention.as_secs() / 86_400,
                    "finished messages purged"
                );
            }
            Some(purged)
        }
        Err(error) => {
            // The next run tries again; nothing is lost by waiting.
            tracing::warn!(%error, "cannot purge finished messages");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use clawtalk_core::ids::AccountId;
    use dingtalk::ids::{ConversationId, MsgId, RobotCode, StaffId};

    use super::*;
    use clawtalk_store::{
        ClaimScope, Dispatch, InboundId, InboundRecord, NewReplyPart, RecordOutcome, SqliteStore,
        TurnOutcome, WorkerId,
    };

    const DAY_MS: i64 = 86_400_000;
    const LEASE: i64 = 60_000;

    async fn queued(store: &dyn Store, msg_id: &str, at_ms: i64) -> InboundId {
        let record = InboundRecord {
            account_id: AccountId::new("default"),
            robot_code: RobotCode::new("dingbot"),
            msg_id: MsgId::new(msg_id),
            conversation_id: ConversationId::new("cid"),
            sender_staff_id: Some(StaffId::new("0312")),
            session_key: msg_id.into(),
            received_at_ms: EpochMs::from_millis(at_ms),
            raw_payload_json: "{}".into(),
            text: msg_id.into(),
        };
        let RecordOutcome::New(id) = store.record_inbound(record).await.unwrap() else {
            panic!("{msg_id} was not new");
        };
        store
            .dispatch_inbound(id, Dispatch::Queue, EpochMs::from_millis(at_ms))
            .await
            .unwrap();
        id
    }

    /// Claims `msg_id`'s turn, plans one reply part, and finishes with `outcome`; the part is
    /// marked sent when `sent`.
    async fn finished(
        store: &dyn Store,
        msg_id: &str,
        outcome: TurnOutcome,
        sent: bool,
        at_ms: i64,
    ) -> InboundId {
        let me = WorkerId::new("gw");
        let id = queued(store, msg_id, at_ms).await;
        store
            .claim_next_turn(
                ClaimScope::Session(msg_id),
                &me,
                LEASE,
                EpochMs::from_millis(at_ms),
            )
            .await
            .unwrap()
            .unwrap();
        let part = NewReplyPart {
            part: 0,
            body: clawtalk_core::reply::ReplyPart::Text { text: "ok".into() },
        };
        let parts = store
            .plan_reply(id, vec![part], &me, LEASE, EpochMs::from_millis(at_ms))
            .await
            .unwrap();
        store
            .finish_turn(id, &me, outcome, EpochMs::from_millis(at_ms))
            .await
            .unwrap();
        if sent {
            store
                .mark_reply_sent(
                    parts[0].id,
                    clawtalk_store::SendReceipt::default(),
                    EpochMs::from_millis(at_ms),
                )
                .await
                .unwrap();
        }
        id
    }

    #[tokio::test]
    async fn old_finished_rows_go_and_nothing_still_owed_to_a_user_does() {
        let sqlite = SqliteStore::in_memory().await.unwrap();
        let store: &dyn Store = &sqlite;
        let now = 100 * DAY_MS;
        let old = now - 8 * DAY_MS;
        let answered = finished(store, "answered", TurnOutcome::Replied, true, old).await;
        let ignored = queued(store, "ignored", old).await;
        let me = WorkerId::new("gw");
        store
            .claim_next_turn(
                ClaimScope::Session("ignored"),
                &me,
                LEASE,
                EpochMs::from_millis(old),
            )
            .await
            .unwrap()
            .unwrap();
        store
            .finish_turn(ignored, &me, TurnOutcome::Ignored, EpochMs::from_millis(old))
            .await
            .unwrap();
        let recent = finished(store, "recent", TurnOutcome::Replied, true, now - DAY_MS).await;
        // Owed: an answer and an error notice not yet sent, a queued and a running turn.
        let unsent = finished(store, "unsent", TurnOutcome::Replied, false, old).await;
        let notice = finished(store, "notice", TurnOutcome::Failed("down".into()), false, old).await;
        let waiting = queued(store, "waiting", old).await;
        let running = queued(store, "running", old).await;
        store
            .claim_next_turn(
                ClaimScope::Session("running"),
                &me,
                LEASE,
                EpochMs::from_millis(old),
            )
            .await
            .unwrap()
            .unwrap();

        let retention = Duration::from_secs(7 * 86_400);
        assert_eq!(
            purge_once(store, retention, EpochMs::from_millis(now)).await,
            Some(2)
        );
        for gone in [answered, ignored] {
            assert!(store.inbound(gone).await.unwrap().is_none(), "{gone} purged");
        }
        for kept in [recent, unsent, notice, waiting, running] {
            assert!(store.inbound(kept).await.unwrap().is_some(), "{kept} kept");
        }
        assert_eq!(
            purge_once(store, retention, EpochMs::from_millis(now)).await,
            Some(0)
        );
        // A longer retention keeps what a shorter one purges.
        let again = finished(store, "again", TurnOutcome::Replied, true, old).await;
        assert_eq!(
            purge_once(store, Duration::from_secs(30 * 86_400), EpochMs::from_millis(now)).await,
            Some(0)
        );
        assert!(store.inbound(again).await.unwrap().is_some());
        store.close().await;
    }

    fn approval(id: &str, at_ms: i64) -> clawtalk_store::NewApproval {
        clawtalk_store::NewApproval {
            id: id.into(),
            account_id: AccountId::new("default"),
            session_key: "s".into(),
            agent_id: "main".into(),
            requester: "0312".into(),
            tool: id.into(),
            summary: id.into(),
            expires_at: EpochMs::from_millis(at_ms + 600_000),
        }
    }

    #[tokio::test]
    async fn old_decided_approvals_go_while_pending_ones_and_grants_stay() {
        use clawtalk_store::ApprovalDecision::{AllowAlways, AllowOnce, Deny, Expire};
        let sqlite = SqliteStore::in_memory().await.unwrap();
        let store: &dyn Store = &sqlite;
        let now = 100 * DAY_MS;
        let old = now - 8 * DAY_MS;
        for (id, decision, at) in [
            ("granted", Some(AllowAlways), old),
            ("once", Some(AllowOnce), old),
            ("denied", Some(Deny), old),
            ("expired", Some(Expire), old),
            ("recent", Some(Deny), now - DAY_MS),
            ("pending", None, old),
        ] {
            let at = EpochMs::from_millis(at);
            store
                .approval_request(approval(id, at.as_millis()), at)
                .await
                .unwrap();
            if let Some(decision) = decision {
                let by = (decision != Expire).then_some("0312");
                store.approval_decide(id, decision, by, at).await.unwrap();
            }
        }
        purge_once(store, Duration::from_secs(7 * 86_400), EpochMs::from_millis(now)).await;
        for gone in ["granted", "once", "denied", "expired"] {
            assert!(store.approval(gone).await.unwrap().is_none(), "{gone} purged");
        }
        for kept in ["recent", "pending"] {
            assert!(store.approval(kept).await.unwrap().is_some(), "{kept} kept");
        }
        assert!(
            store
                .approval_granted("default", "0312", "granted")
                .await
                .unwrap(),
            "the always-allow grant outlives its request"
        );
        store.close().await;
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_purges_at_start_and_again_until_shutdown() {
        let sqlite = Arc::new(SqliteStore::in_memory().await.unwrap());
        let store: Arc<dyn Store> = sqlite;
        // Rows from the 1970s are older than any retention at the real clock's now.
        let first = finished(store.as_ref(), "first", TurnOutcome::Replied, true, 1_000).await;
        let shutdown = CancellationToken::new();
        let looping = tokio::spawn({
            let (store, shutdown) = (Arc::clone(&store), shutdown.clone());
            async move {
                purge_loop(
                    store.as_ref(),
                    Duration::from_secs(86_400),
                    &shutdown,
                    &clawtalk_core::clock::SystemClock,
                )
                .await
            }
        });
        let gone = |id| {
            let store = Arc::clone(&store);
            async move {
                for _ in 0..1_000 {
                    if store.inbound(id).await.unwrap().is_none() {
                        return true;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                false
            }
        };
        assert!(gone(first).await, "purged at start");
        // Paused time jumps ahead whenever the runtime waits on the store's thread, so
        // exactly when the next run comes is not observable here; that it comes is.
        let later = finished(store.as_ref(), "later", TurnOutcome::Replied, true, 2_000).await;
        tokio::time::sleep(PURGE_EVERY).await;
        assert!(gone(later).await, "purged by a later run");
        shutdown.cancel();
        looping.await.unwrap();
        store.close().await;
    }
}
