//! What a gateway process leaves behind when it dies mid-turn, written straight into its
//! store: the crash tests seed it, then start a gateway that must finish the work once.

use clawtalk_config::Config;
use clawtalk_core::clock::{Clock, EpochMs, SystemClock};
use clawtalk_core::ids::AccountId;
use clawtalk_core::inbound::{InboundMessage, Transport};
use clawtalk_store::{
    ClaimScope, Dispatch, InboundId, InboundRecord, InboxStore, RecordOutcome, SqliteStore, WorkerId,
};
use dingtalk::ids::RobotCode;
use dingtalk::model::BotMessage;
use dingtalk_sim::Injected;

/// Stores `injected` for the default account, queues it and claims its turn as `dead`, as a
/// gateway does before the agent answers. Returns the row and the time it used.
pub async fn claimed_turn(
    store: &SqliteStore,
    config: &Config,
    dead: &WorkerId,
    injected: &Injected,
) -> (InboundId, EpochMs) {
    let now = SystemClock.now();
    let account = config.account("default").expect("the default account");
    let message = BotMessage::from_value(injected.payload.clone()).expect("a bot payload");
    let account_id = AccountId::new(account.id.clone());
    let inbound = InboundMessage::from_bot_message(
        &account_id,
        &RobotCode::new(account.robot_code.clone()),
        Transport::Stream,
        &message,
        now,
    );
    let session_key = clawtalk_config::routing::route(config, account, &inbound, &[]).to_string();
    let outcome = store
        .record_inbound(InboundRecord {
            account_id,
            robot_code: inbound.robot_code.clone(),
            msg_id: inbound.msg_id.clone(),
            conversation_id: inbound.conversation_id.clone(),
            sender_staff_id: inbound.sender.staff_id.clone(),
            session_key: session_key.clone(),
            received_at_ms: now,
            raw_payload_json: serde_json::to_string(&inbound).expect("serialise"),
            text: inbound.text.clone(),
        })
        .await
        .expect("record");
    let RecordOutcome::New(id) = outcome else {
        panic!("expected a new row: {outcome:?}")
    };
    store
        .dispatch_inbound(id, Dispatch::Queue, now)
        .await
        .expect("queue");
    let claimed = store
        .claim_next_turn(ClaimScope::Session(&session_key), dead, 60_000, now)
        .await
        .expect("claim")
        .expect("a turn to claim");
    assert_eq!(claimed.id, id);
    (id, now)
}
