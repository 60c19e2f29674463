//! End to end, approval events over Stream: `workflows` rules route `bpms_*` EVENT frames to
//! a workflow agent whose answer reaches the approver or a group, once per `eventId`.

mod support;

use std::time::Duration;

use dingtalk_sim::{DeliveryStatus, InjectEvent};
use llm_mock::Script;
use serde_json::json;
use support::world::{ALICE, APP1, BOB, OPEN};
use support::{TIMEOUT, World, wait_until};

const WORKFLOWS: &str = r#"
  workflows: [
    { match: { event: "bpms_task_change", type: "start" }, agent: "approvals", notify: "approver" },
    { match: { event: "bpms_instance_change", result: "refuse" }, agent: "approvals", notify: { group: "{GROUP}" } },
  ],"#;

fn config(world: &World) -> String {
    let text = world.config(OPEN, WORKFLOWS).replace(
        r#"{ id: "main", name: "E2E Bot", model: "mock/e2e-model" }"#,
        r#"{ id: "main", name: "E2E Bot", model: "mock/e2e-model" },
           { id: "approvals", model: "mock/e2e-model", systemPrompt: "You summarise approvals." }"#,
    );
    world.fill(&text)
}

/// `Some` once `n` deliveries of `key` exist and DingTalk got an ACK for each.
fn acked(world: &World, key: &str, n: usize) -> Option<()> {
    let of_key: Vec<_> = world
        .sim
        .deliveries()
        .into_iter()
        .filter(|d| d.key == key)
        .collect();
    (of_key.len() == n && of_key.iter().all(|d| d.status == DeliveryStatus::Acked)).then_some(())
}

fn event(event_type: &str, event_id: &str, data: serde_json::Value) -> InjectEvent {
    let mut event = InjectEvent::new(APP1, event_type, data);
    event.event_id = Some(event_id.into());
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_approval_events_reach_the_approver_and_the_group_once() {
    let world = World::start().await;
    world
        .model
        .push(Script::text("Bob: a reimbursement awaits you.").when_last_user_contains("Taxi receipts"));
    world.model.push(
        Script::text("Heads-up: Alice's laptop request was refused.").when_last_user_contains("New laptop"),
    );
    let path = world.write_config(&config(&world));
    let _gateway = world.start_gateway(&path).await;

    let task = event(
        "bpms_task_change",
        "evStreamTask0001",
        json!({
            "processInstanceId": "procStream01", "processCode": "PROC-REIMB", "type": "start",
            "title": "Taxi receipts", "taskId": 42, "staffId": BOB, "bizCategoryId": "dingtalk.businessFinance.reimbursement",
        }),
    );
    world.sim.inject_event(&task).unwrap();
    let bob_dm = world.sim.dm_conversation_id(APP1, BOB);
    let dm = world
        .wait_reply_containing(&bob_dm, "a reimbursement awaits you")
        .await;
    assert_eq!(dm.api, "robot.batchSend", "{dm:?}");
    let request = world.wait_request_for("Taxi receipts").await;
    assert_eq!(
        support::world::texts_of(&request, "system")
            .first()
            .map(|s| s.contains("You summarise approvals.")),
        Some(true),
        "the workflow agent answers"
    );

    // DingTalk redelivers the same event (same eventId, new messageId): acked, not re-run.
    world.sim.inject_event(&task).unwrap();
    wait_until("both deliveries acknowledged", TIMEOUT, || {
        acked(&world, "evStreamTask0001", 2)
    })
    .await;

    let refused = event(
        "bpms_instance_change",
        "evStreamInst0001",
        json!({
            "processInstanceId": "procStream02", "type": "finish", "result": "refuse",
            "title": "New laptop", "staffId": ALICE,
        }),
    );
    world.sim.inject_event(&refused).unwrap();
    let post = world
        .wait_reply_containing(&world.group, "laptop request was refused")
        .await;
    assert_eq!(post.api, "robot.groupSend", "{post:?}");

    // An event no rule matches is acknowledged and no turn runs.
    let other = event(
        "bpms_instance_change",
        "evStreamInst0002",
        json!({"processInstanceId": "procStream03", "type": "start", "title": "Unrouted request", "staffId": ALICE}),
    );
    world.sim.inject_event(&other).unwrap();
    wait_until("the unrouted event acknowledged", TIMEOUT, || {
        acked(&world, "evStreamInst0002", 1)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        world.requests_for("Taxi receipts").len(),
        1,
        "one turn per eventId"
    );
    assert_eq!(world.replies(&bob_dm).len(), 1, "one DM per eventId");
    assert!(world.requests_for("Unrouted request").is_empty());
}
