//! What a turn's new run sends of what an ended run left planned: the answer and the tools'
//! files go out; progress notes and the opening are ended, never sent late.

use std::sync::Arc;

use clawtalk_core::clock::{Clock, EpochMs, SystemClock};
use clawtalk_core::ids::AccountId;
use clawtalk_core::inbound::{InboundMessage, Transport};
use clawtalk_core::reply::ReplyPart;
use clawtalk_store::{InboundRecord, NewReplyPart, RecordOutcome, ReplyStatus, SqliteStore, Store, WorkerId};
use dingtalk::ids::RobotCode;
use dingtalk::model::BotMessage;
use dingtalk_sim::{AppSpec, InjectMessage, SimConfig, Simulator, UserSpec};

use super::plan::{FIRST_ANSWER_PART, INTERIM_PARTS_FROM};
use crate::Shared;

const APP: &str = "dingresumeapp0001";
const SECRET: &str = "resume-secret";

fn markdown(text: &str) -> ReplyPart {
    ReplyPart::Markdown {
        title: text.into(),
        text: text.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_reply_sends_the_answer_left_planned_but_not_the_opening_or_a_note() {
    let sim = Simulator::start_with(SimConfig::fast()).await.unwrap();
    sim.create_app(AppSpec::new(APP, SECRET)).unwrap();
    sim.create_user(UserSpec::new("alice", "Alice")).unwrap();
    let state = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(state.path().join("clawtalk.db")).await.unwrap());
    let config = clawtalk_config::test_support::config(&format!(
        r#"{{ agents: {{ list: [ {{ id: "main", model: "deepseek/deepseek-chat" }} ] }},
             channels: {{ dingtalk: {{ dmPolicy: "open", allowFrom: ["*"], accounts: {{
               default: {{ clientId: "{APP}", clientSecret: "{SECRET}", endpoints: "{}" }} }} }} }},
             gateway: {{ stateDir: "{}" }} }}"#,
        sim.base_url(),
        state.path().display()
    ));
    let (shared, _receivers) = Shared::new(Arc::new(config), store, "test", Arc::new(SystemClock)).unwrap();

    // Alice's message, as it came in, with a sessionWebhook of the simulator's.
    let injected = sim
        .inject_message(&InjectMessage::dm_text(APP, "alice", "hello"))
        .unwrap();
    let message = BotMessage::from_value(injected.payload).unwrap();
    let inbound = InboundMessage::from_bot_message(
        &AccountId::new("default"),
        &RobotCode::new(APP),
        Transport::Stream,
        &message,
        SystemClock.now(),
    );
    let RecordOutcome::New(id) = shared
        .store
        .record_inbound(InboundRecord {
            account_id: AccountId::new("default"),
            robot_code: inbound.robot_code.clone(),
            msg_id: inbound.msg_id.clone(),
            conversation_id: inbound.conversation_id.clone(),
            sender_staff_id: inbound.sender.staff_id.clone(),
            session_key: "s1".into(),
            received_at_ms: SystemClock.now(),
            raw_payload_json: serde_json::to_string(&inbound).unwrap(),
            text: inbound.text.clone(),
        })
        .await
        .unwrap()
    else {
        panic!("a new message");
    };

    // A run of another replica planned a note, an opening and the answer a second ago, for a
    // lease that has lapsed since, and sent nothing it recorded.
    let ended_run = WorkerId::new("killed-replica");
    let then = EpochMs::from_millis(SystemClock.now().as_millis() - 1_000);
    let opening = ReplyPart::Opening {
        title: "The answer".into(),
        text: "The answer begins".into(),
        said: "The answer begins".into(),
    };
    let parts = vec![
        NewReplyPart {
            part: INTERIM_PARTS_FROM,
            body: ReplyPart::ProgressNote {
                text: "Using web_search…".into(),
            },
        },
        NewReplyPart {
            part: INTERIM_PARTS_FROM + 1,
            body: opening,
        },
        NewReplyPart {
            part: FIRST_ANSWER_PART,
            body: markdown("the rest of the answer"),
        },
    ];
    shared
        .store
        .plan_reply(id, parts, &ended_run, 100, then)
        .await
        .unwrap();

    super::resume(&shared, id, &inbound).await.unwrap();

    let sent: Vec<String> = sim.sent_messages().into_iter().map(|m| m.text).collect();
    assert_eq!(sent, ["the rest of the answer"], "only the answer goes out");
    let parts = shared.store.reply_parts(id).await.unwrap();
    let status = |part: u32| parts.iter().find(|p| p.part == part).unwrap().status;
    assert_eq!(status(FIRST_ANSWER_PART), ReplyStatus::Sent);
    assert_eq!(
        status(INTERIM_PARTS_FROM),
        ReplyStatus::Failed,
        "the note is ended"
    );
    assert_eq!(
        status(INTERIM_PARTS_FROM + 1),
        ReplyStatus::Failed,
        "the opening is ended"
    );
    shared.shutdown.cancel();
}
