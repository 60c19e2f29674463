//! What a turn's new run sends of what an ended run left planned: the answer and the tools'
//! files go out; progress notes and the opening are ended, never sent late; whatever the
//! ended run was handing to DingTalk as it ended counts as sent.

use std::sync::Arc;

use clawtalk_core::clock::{Clock, EpochMs, SystemClock};
use clawtalk_core::ids::AccountId;
use clawtalk_core::inbound::{InboundMessage, Transport};
use clawtalk_core::reply::ReplyPart;
use clawtalk_store::{
    InboundId, InboundRecord, NewReplyPart, RecordOutcome, ReplyStatus, SqliteStore, Store, WorkerId,
};
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

/// A gateway on the simulator, and Alice's message to it stored (with a sessionWebhook of
/// the simulator's).
struct Setup {
    sim: Simulator,
    shared: Arc<Shared>,
    id: InboundId,
    inbound: InboundMessage,
    _state: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Self {
        let sim = Simulator::start_with(SimConfig::fast()).await.unwrap();
        sim.create_app(AppSpec::new(APP, SECRET)).unwrap();
        sim.create_user(UserSpec::new("alice", "Alice")).unwrap();
        let state = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(state.path().join("clawtalk.db")).await.unwrap());
        let config = clawtalk_config::test_support::config(&format!(
            r#"{{ agents: {{ list: [ {{ id: "main", model: "deepseek/deepseek-chat" }} ] }},
                 channels: {{ dingtalk: {{ dmPolicy: "open", allowFrom: ["*"], accounts: {{
                   default: {{ clientId: "{APP}", clientSecret: "{SECRET}", endpoints: "{}" }} }} }} }},
                 gateway: {{ stateDir: "{}" }} }}"#,
            sim.base_url(),
            state.path().display()
        ));
        let (shared, _receivers) =
            Shared::new(Arc::new(config), store, "test", Arc::new(SystemClock)).unwrap();
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
        Self {
            sim,
            shared,
            id,
            inbound,
            _state: state,
        }
    }

    /// A run of another replica planned `parts` a second ago, for a lease that has lapsed
    /// since, and then ended without recording a send.
    async fn left_planned_by_an_ended_run(&self, parts: Vec<NewReplyPart>) {
        let ended_run = WorkerId::new("killed-replica");
        let then = EpochMs::from_millis(SystemClock.now().as_millis() - 1_000);
        self.shared
            .store
            .plan_reply(self.id, parts, &ended_run, 100, then)
            .await
            .unwrap();
    }

    /// The ended run's request for `part` was leaving when it ended.
    async fn handed_over(&self, part: u32) {
        let parts = self.shared.store.reply_parts(self.id).await.unwrap();
        let id = parts.iter().find(|p| p.part == part).unwrap().id;
        assert!(
            self.shared
                .store
                .mark_reply_handed(id, SystemClock.now())
                .await
                .unwrap()
        );
    }

    fn sent(&self) -> Vec<String> {
        self.sim.sent_messages().into_iter().map(|m| m.text).collect()
    }

    async fn status(&self, part: u32) -> ReplyStatus {
        let parts = self.shared.store.reply_parts(self.id).await.unwrap();
        parts.iter().find(|p| p.part == part).unwrap().status
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

/// The ended run's progress note and opening.
fn interim_parts() -> Vec<NewReplyPart> {
    vec![
        NewReplyPart {
            part: INTERIM_PARTS_FROM,
            body: ReplyPart::ProgressNote {
                text: "Using web_search…".into(),
            },
        },
        NewReplyPart {
            part: INTERIM_PARTS_FROM + 1,
            body: ReplyPart::Opening {
                title: "The answer".into(),
                text: "The answer begins".into(),
                said: "The answer begins".into(),
            },
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_reply_sends_the_answer_left_planned_but_not_the_opening_or_a_note() {
    let setup = Setup::new().await;
    let mut parts = interim_parts();
    parts.push(NewReplyPart {
        part: FIRST_ANSWER_PART,
        body: markdown("the rest of the answer"),
    });
    setup.left_planned_by_an_ended_run(parts).await;

    super::resume(&setup.shared, setup.id, &setup.inbound)
        .await
        .unwrap();

    assert_eq!(
        setup.sent(),
        ["the rest of the answer"],
        "only the answer goes out"
    );
    assert_eq!(setup.status(FIRST_ANSWER_PART).await, ReplyStatus::Sent);
    assert_eq!(
        setup.status(INTERIM_PARTS_FROM).await,
        ReplyStatus::Failed,
        "the note is ended"
    );
    assert_eq!(
        setup.status(INTERIM_PARTS_FROM + 1).await,
        ReplyStatus::Failed,
        "the opening is ended"
    );
}

/// The next run answers while the ended run's opening is still planned (its lease lapsed only
/// after the next run had looked): the answer goes alone, not followed by that opening.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_runs_answer_does_not_carry_an_opening_an_ended_run_left_planned() {
    let setup = Setup::new().await;
    setup.left_planned_by_an_ended_run(interim_parts()).await;

    super::send(&setup.shared, setup.id, &setup.inbound, "the new run's answer")
        .await
        .unwrap();

    assert_eq!(setup.sent(), ["the new run's answer"], "only the answer goes out");
    assert_eq!(
        setup.status(INTERIM_PARTS_FROM + 1).await,
        ReplyStatus::Planned,
        "left to the sweep"
    );
}

/// A replica died while DingTalk took the first part of its answer (marked leaving before
/// the request, never recorded sent): the run taking the turn over sends the rest only, since
/// the sessionWebhook would deliver the first part a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_part_an_ended_run_handed_to_dingtalk_is_not_sent_again() {
    let setup = Setup::new().await;
    setup
        .left_planned_by_an_ended_run(vec![
            NewReplyPart {
                part: FIRST_ANSWER_PART,
                body: markdown("the answer's first part"),
            },
            NewReplyPart {
                part: FIRST_ANSWER_PART + 1,
                body: markdown("its second part"),
            },
        ])
        .await;
    setup.handed_over(FIRST_ANSWER_PART).await;

    super::resume(&setup.shared, setup.id, &setup.inbound)
        .await
        .unwrap();

    assert_eq!(setup.sent(), ["its second part"]);
    assert_eq!(setup.status(FIRST_ANSWER_PART).await, ReplyStatus::Handed);
    assert_eq!(setup.status(FIRST_ANSWER_PART + 1).await, ReplyStatus::Sent);
}

/// The ended run's opening was leaving as it died: it counts as sent, so the new run's
/// answer follows it (as markdown, without its words) instead of repeating it, and nothing
/// ends or resends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opening_an_ended_run_handed_to_dingtalk_counts_as_sent() {
    let setup = Setup::new().await;
    setup.left_planned_by_an_ended_run(interim_parts()).await;
    setup.handed_over(INTERIM_PARTS_FROM + 1).await;

    super::resume(&setup.shared, setup.id, &setup.inbound)
        .await
        .unwrap();
    let earlier = setup.shared.store.reply_parts(setup.id).await.unwrap();
    let outbox = super::TurnOutbox::new(&setup.shared, setup.id, &setup.inbound, earlier);

    assert!(outbox.opened_earlier());
    assert_eq!(
        outbox.opened().map(|(said, _)| said).as_deref(),
        Some("The answer begins")
    );
    assert!(setup.sent().is_empty(), "{:?}", setup.sent());
    assert_eq!(setup.status(INTERIM_PARTS_FROM + 1).await, ReplyStatus::Handed);
    assert_eq!(
        setup.status(INTERIM_PARTS_FROM).await,
        ReplyStatus::Failed,
        "the note left planned is ended"
    );
}

/// A part DingTalk refused on every path is marked as leaving for each request, and settled
/// as failed: never left looking delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_dingtalk_refused_is_not_left_looking_delivered() {
    let setup = Setup::new().await;
    // Both paths refuse (the sessionWebhook first, then the robot API it falls back to).
    setup.sim.fail_next_api("/robot/sendBySession", 10, 400, None);
    setup
        .sim
        .fail_next_api("/v1.0/robot/oToMessages/batchSend", 10, 400, None);

    let sent = super::send(&setup.shared, setup.id, &setup.inbound, "refused").await;

    assert!(sent.is_err());
    assert!(setup.sent().is_empty());
    let parts = setup.shared.store.reply_parts(setup.id).await.unwrap();
    assert!(
        parts.iter().all(|p| p.status != ReplyStatus::Handed),
        "{:?}",
        parts.iter().map(|p| p.status).collect::<Vec<_>>()
    );
}

/// The new run read the ended run's opening as planned, and it was ended before this run's
/// own opening (the same words) went: the opening is sent, as a part of its own, and only
/// then counts as the answer's start. Taken for sent, the answer would leave its words out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opening_ended_after_the_new_run_looked_is_sent_again_not_taken_for_sent() {
    let setup = Setup::new().await;
    let said = "The answer begins";
    let text = clawtalk_delivery::markdown::to_dingtalk(said);
    setup
        .left_planned_by_an_ended_run(vec![NewReplyPart {
            part: INTERIM_PARTS_FROM,
            body: ReplyPart::Opening {
                title: super::plan::title_of(&text),
                text,
                said: said.into(),
            },
        }])
        .await;
    let earlier = setup.shared.store.reply_parts(setup.id).await.unwrap();
    let outbox = super::TurnOutbox::new(&setup.shared, setup.id, &setup.inbound, earlier);
    assert!(!outbox.opened_earlier());
    super::resume(&setup.shared, setup.id, &setup.inbound)
        .await
        .unwrap();
    assert_eq!(setup.status(INTERIM_PARTS_FROM).await, ReplyStatus::Failed);

    outbox.opening(said.to_owned()).await;

    assert_eq!(setup.sent(), [said]);
    assert_eq!(outbox.opened().map(|(said, _)| said).as_deref(), Some(said));
    assert_eq!(setup.status(INTERIM_PARTS_FROM + 1).await, ReplyStatus::Sent);
}
