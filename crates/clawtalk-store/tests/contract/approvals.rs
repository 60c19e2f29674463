//! Approval requests: asked once per call, decided once, "always allow" remembered.

use std::sync::Arc;

use clawtalk_core::ids::AccountId;
use clawtalk_store::*;

use super::{Db, at};

fn request(id: &str, tool: &str) -> NewApproval {
    NewApproval {
        id: id.to_owned(),
        account_id: AccountId::new("default"),
        session_key: "agent:main:dingtalk:direct:0312".to_owned(),
        agent_id: "main".to_owned(),
        requester: "0312".to_owned(),
        tool: tool.to_owned(),
        summary: "get_time {}".to_owned(),
        expires_at: at(601_000),
    }
}

pub async fn an_approval_is_asked_once_and_survives_reopen(db: &dyn Db) {
    let store = db.open().await;
    let first = store
        .approval_request(request("ap_1", "get_time"), at(1_000))
        .await
        .unwrap();
    assert_eq!(first.status, ApprovalStatus::Pending);
    assert_eq!(first.created_at_ms, at(1_000));
    assert_eq!(first.expires_at_ms, at(601_000));
    assert_eq!(first.decided_by, None);
    store.close().await;

    // The re-run after a restart asks again with the same id and gets the first row back.
    let store = db.open().await;
    let mut again = request("ap_1", "get_time");
    again.summary = "changed".to_owned();
    again.expires_at = at(999_000);
    let second = store.approval_request(again, at(5_000)).await.unwrap();
    assert_eq!(second, first, "the first request stands");
    assert_eq!(store.approval("ap_1").await.unwrap(), Some(first));
    assert_eq!(store.approval("nope").await.unwrap(), None);
}

pub async fn the_first_decision_wins_and_always_allow_is_remembered(db: &dyn Db) {
    let store = db.open().await;
    store
        .approval_request(request("ap_2", "cron_list"), at(1_000))
        .await
        .unwrap();
    assert!(
        !store
            .approval_granted("default", "0312", "cron_list")
            .await
            .unwrap()
    );

    let DecideOutcome::Decided(row) = store
        .approval_decide("ap_2", ApprovalDecision::AllowAlways, Some("0312"), at(2_000))
        .await
        .unwrap()
    else {
        panic!("a pending request is decided");
    };
    assert_eq!(row.status, ApprovalStatus::Allowed);
    assert!(row.always);
    assert_eq!(row.decided_by.as_deref(), Some("0312"));
    assert_eq!(row.decided_at_ms, Some(at(2_000)));

    // Another replica's late press, or the expiry, changes nothing.
    let other = db.open().await;
    let late = other
        .approval_decide("ap_2", ApprovalDecision::Deny, Some("0999"), at(3_000))
        .await
        .unwrap();
    assert_eq!(late, DecideOutcome::AlreadyDecided(row.clone()));
    assert_eq!(
        other
            .approval_decide("ap_2", ApprovalDecision::Expire, None, at(700_000))
            .await
            .unwrap(),
        DecideOutcome::AlreadyDecided(row)
    );
    assert_eq!(
        other
            .approval_decide("missing", ApprovalDecision::Deny, Some("0312"), at(3_000))
            .await
            .unwrap(),
        DecideOutcome::Unknown
    );

    // The grant is the requester's, for that tool, on that account.
    assert!(
        other
            .approval_granted("default", "0312", "cron_list")
            .await
            .unwrap()
    );
    assert!(
        !other
            .approval_granted("default", "0312", "get_time")
            .await
            .unwrap()
    );
    assert!(
        !other
            .approval_granted("default", "0999", "cron_list")
            .await
            .unwrap()
    );
    assert!(!other.approval_granted("bot2", "0312", "cron_list").await.unwrap());

    // Allow once grants nothing; expiry records no decider.
    store
        .approval_request(request("ap_3", "get_time"), at(1_000))
        .await
        .unwrap();
    store
        .approval_decide("ap_3", ApprovalDecision::AllowOnce, Some("0312"), at(2_000))
        .await
        .unwrap();
    assert!(
        !store
            .approval_granted("default", "0312", "get_time")
            .await
            .unwrap()
    );
    store
        .approval_request(request("ap_4", "get_time"), at(1_000))
        .await
        .unwrap();
    let DecideOutcome::Decided(expired) = store
        .approval_decide("ap_4", ApprovalDecision::Expire, None, at(601_000))
        .await
        .unwrap()
    else {
        panic!("expiry decides a pending request");
    };
    assert_eq!(expired.status, ApprovalStatus::Expired);
    assert_eq!(expired.decided_by, None);

    // Purging drops decided rows only.
    store
        .approval_request(request("ap_5", "get_time"), at(1_000))
        .await
        .unwrap();
    assert_eq!(store.approval_purge(at(1_000_000)).await.unwrap(), 3);
    assert!(
        store.approval("ap_5").await.unwrap().is_some(),
        "pending rows stay"
    );
    assert!(
        store
            .approval_granted("default", "0312", "cron_list")
            .await
            .unwrap(),
        "grants stay"
    );
}

pub async fn replicas_racing_one_decision_decide_it_once(db: &dyn Db) {
    let store = db.open().await;
    store
        .approval_request(request("ap_race", "get_time"), at(1_000))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let replica: Arc<dyn Store> = db.open().await;
        let decision = if i % 2 == 0 {
            ApprovalDecision::AllowOnce
        } else {
            ApprovalDecision::Deny
        };
        tasks.push(tokio::spawn(async move {
            replica
                .approval_decide("ap_race", decision, Some("0312"), at(2_000 + i))
                .await
                .unwrap()
        }));
    }
    let mut decided = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), DecideOutcome::Decided(_)) {
            decided += 1;
        }
    }
    assert_eq!(decided, 1, "exactly one press decides");
}
