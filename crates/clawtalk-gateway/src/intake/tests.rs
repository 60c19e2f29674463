//! Each source stores a message before it acknowledges it: an acknowledgement carries the
//! inbox id it was stored under, and an inbox that cannot be written to gets no
//! acknowledgement (no Stream ACK, an HTTP 503, an error for the scheduler and the console),
//! while the rest of the store still works.

use clawtalk_core::ids::AccountId;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use dingtalk::crypto::{EventCrypto, card_callback_signature, robot_sign};
use dingtalk::model::CardCallback;
use dingtalk::model::event::ReceivedEvent;
use dingtalk_sim::{AppSpec, DeliveryStatus, InjectMessage, SimConfig, Simulator, UserSpec};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::{
    Ack, Admission, Admitted, admit, approval_event, card_callback, event_push, http_callback,
    http_card_callback, outgoing_robot, webchat,
};
use crate::Shared;
use clawtalk_config::{ConnectionMode, DingTalkAccount};
use clawtalk_core::clock::{Clock, SystemClock};
use clawtalk_core::inbound::{InboundMessage, Transport};
use clawtalk_store::{InboundId, InboundStatus, NewCard, SqliteStore, Store, StoredInbound};

const APP: &str = "dingintakestream0001";
const SECRET: &str = "stream-secret";
const HOOK_SECRET: &str = "hook-secret";
const TOKEN: &str = "push-token";
const AES_KEY: &str = "1234567890123456789012345678901234567890123";
const OUTGOING: &str = "outgoing-token";
const CARD_SECRET: &str = "card-route-secret";
const WAIT: Duration = Duration::from_secs(10);

/// A Stream account (`default`, on `endpoints`), an HTTP-mode app with an event
/// subscription and a card callback route (`hooks`), a custom robot with Outgoing callbacks (`robot`), and a workflow
/// rule for approval task events.
fn config(endpoints: &str, state_dir: &std::path::Path) -> clawtalk_config::Config {
    clawtalk_config::test_support::config(&format!(
        r#"{{
          agents: {{ list: [ {{ id: "main", model: "deepseek/deepseek-chat" }} ] }},
          channels: {{ dingtalk: {{ dmPolicy: "open", allowFrom: ["*"], accounts: {{
            default: {{ clientId: "{APP}", clientSecret: "{SECRET}", endpoints: "{endpoints}" }},
            hooks: {{ clientId: "dinghooks", clientSecret: "{HOOK_SECRET}", mode: "http",
                      token: "{TOKEN}", aesKey: "{AES_KEY}", endpoints: "{endpoints}",
                      cardCallbackUrl: "https://bot.example.com/webhooks/dingtalk/hooks/card",
                      cardCallbackSecret: "{CARD_SECRET}" }},
            robot: {{ mode: "customRobot", webhookUrl: "https://oapi.dingtalk.com/robot/send?access_token=t",
                      outgoingToken: "{OUTGOING}", groupPolicy: "open" }},
          }} }} }},
          workflows: [ {{ match: {{ event: "bpms_task_change" }}, agent: "main", notify: "approver" }} ],
          gateway: {{ stateDir: "{}" }},
        }}"#,
        state_dir.display()
    ))
}

/// A gateway's shared state with its intake lanes running (no scheduler: admitted turns
/// stay queued), over a fresh SQLite store.
pub(super) struct Harness {
    pub shared: Arc<Shared>,
    state: tempfile::TempDir,
}

impl Harness {
    pub(super) async fn new(endpoints: &str) -> Self {
        let state = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(state.path().join("clawtalk.db")).await.unwrap());
        let (shared, receivers) = Shared::new(
            Arc::new(config(endpoints, state.path())),
            store,
            "test",
            Arc::new(clawtalk_core::clock::SystemClock),
        )
        .unwrap();
        for (account, lanes) in receivers.lanes {
            tokio::spawn(super::lanes::run(Arc::clone(&shared), account, lanes));
        }
        Self { shared, state }
    }

    pub(super) fn account(&self, id: &str) -> DingTalkAccount {
        self.shared.config().account(id).unwrap().clone()
    }

    /// From now on every write to the inbox fails, as on a full disk; the other tables
    /// (used signatures, cards) still work, so any refusal is the inbox's.
    pub(super) async fn break_inbox(&self) {
        rusqlite::Connection::open(self.state.path().join("clawtalk.db"))
            .unwrap()
            .execute_batch(
                "CREATE TRIGGER inbox_full BEFORE INSERT ON inbox \
                 BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
            )
            .unwrap();
    }

    pub(super) async fn row(&self, id: InboundId) -> StoredInbound {
        self.shared
            .store
            .inbound(id)
            .await
            .unwrap()
            .expect("the acknowledged message is stored")
    }

    /// A bot callback to `account` signed with `key`, as the webhook hands it to its source.
    async fn callback(&self, account: &str, key: &str, message: &Value) -> Response {
        let account = self.account(account);
        let timestamp = SystemClock.now_ms();
        let mut headers = HeaderMap::new();
        headers.insert("timestamp", HeaderValue::from(timestamp));
        headers.insert("sign", robot_sign(key, timestamp).parse().unwrap());
        let body = message.to_string();
        match account.mode {
            ConnectionMode::Http => {
                http_callback::handle(&self.shared, &account, &headers, body.as_bytes()).await
            }
            _ => outgoing_robot::handle(&self.shared, &account, &headers, body.as_bytes()).await,
        }
    }

    /// An encrypted approval event pushed to `hooks`, as the webhook hands it to its source.
    async fn push(&self, event_id: &str) -> Response {
        let account = Arc::new(self.account("hooks"));
        let crypto = EventCrypto::new(TOKEN, AES_KEY, "dinghooks").unwrap();
        let sealed = crypto.seal(
            &approval_event(event_id),
            &SystemClock.now_ms().to_string(),
            "nonce1",
        );
        let query = format!(
            "msg_signature={}&timestamp={}&nonce={}",
            sealed.msg_signature, sealed.timestamp, sealed.nonce
        );
        let body = json!({ "encrypt": sealed.encrypt }).to_string();
        event_push::handle(&self.shared, &account, Some(&crypto), &query, body.as_bytes()).await
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

/// A 503 saying the message was not stored (not that the signature check failed).
async fn assert_not_stored(answer: Response) {
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(answer.into_body(), 4096).await.unwrap();
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("could not be stored"), "{body}");
}

/// What an acknowledgement said, once it was given.
async fn acknowledged(ack: oneshot::Receiver<Admitted>) -> Admitted {
    tokio::time::timeout(WAIT, ack).await.unwrap().unwrap()
}

fn bot_message(msg_id: &str) -> Value {
    json!({
        "conversationId": "cidDm==", "conversationType": "1", "msgId": msg_id, "msgtype": "text",
        "text": { "content": "hello" }, "senderNick": "Alice", "senderStaffId": "alice",
        "senderId": "$:LWCP_v1:$alice", "createAt": SystemClock.now_ms(), "robotCode": "dinghooks",
    })
}

/// A stored message with `msg_id`, whatever it became since.
pub(super) async fn stored_msg(harness: &Harness, msg_id: &str) -> Option<StoredInbound> {
    let rows = harness
        .shared
        .store
        .recover_unfinished(&clawtalk_store::WorkerId::new("probe"), SystemClock.now())
        .await
        .unwrap();
    rows.into_iter().find(|row| row.record.msg_id.as_str() == msg_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_frames_are_acked_once_stored_and_never_when_the_inbox_fails() {
    let sim = Simulator::start_with(SimConfig::fast()).await.unwrap();
    sim.create_app(AppSpec::new(APP, SECRET)).unwrap();
    sim.create_user(UserSpec::new("alice", "Alice")).unwrap();
    let harness = Harness::new(sim.base_url().as_str()).await;
    let control = harness.shared.account("default").unwrap().control.clone();
    tokio::spawn(super::stream::run(
        Arc::clone(&harness.shared),
        harness.account("default"),
        control,
        crate::account_control::StreamControl::default(),
    ));
    sim.wait_for_connections(APP, 1, WAIT).await.unwrap();

    let kept = sim
        .inject_message(&InjectMessage::dm_text(APP, "alice", "hello"))
        .unwrap();
    sim.wait_for_delivery(&kept.msg_id, DeliveryStatus::Acked, WAIT)
        .await
        .unwrap();
    let row = stored_msg(&harness, &kept.msg_id)
        .await
        .expect("stored before its ACK");
    assert_eq!(row.record.session_key, "agent:main:dingtalk:default:dm:alice");

    harness.break_inbox().await;
    let lost = sim
        .inject_message(&InjectMessage::dm_text(APP, "alice", "again"))
        .unwrap();
    let delivery = sim.wait_for_pushes(&lost.msg_id, 2, WAIT).await.unwrap();
    assert_ne!(
        delivery.status,
        DeliveryStatus::Acked,
        "unstored, so delivered again"
    );
}

#[tokio::test]
async fn http_callbacks_are_answered_once_stored_and_refused_when_the_inbox_fails() {
    let harness = Harness::new("http://127.0.0.1:9").await;
    let answer = harness
        .callback("hooks", HOOK_SECRET, &bot_message("msgHttp1"))
        .await;
    assert_eq!(answer.status(), StatusCode::OK);
    let row = stored_msg(&harness, "msgHttp1")
        .await
        .expect("stored before the 200");
    assert_eq!(row.record.account_id, "hooks");

    harness.break_inbox().await;
    let answer = harness
        .callback("hooks", HOOK_SECRET, &bot_message("msgHttp2"))
        .await;
    assert_not_stored(answer).await;
}

#[tokio::test]
async fn outgoing_robot_callbacks_are_answered_once_stored_and_refused_when_the_inbox_fails() {
    let harness = Harness::new("http://127.0.0.1:9").await;
    let mut message = bot_message("msgOut1");
    message["conversationType"] = "2".into();
    message["conversationId"] = "cidGroup==".into();
    message["isInAtList"] = true.into();
    let answer = harness.callback("robot", OUTGOING, &message).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let row = stored_msg(&harness, "msgOut1")
        .await
        .expect("stored before the 200");
    let stored: InboundMessage = serde_json::from_str(&row.record.raw_payload_json).unwrap();
    assert_eq!(stored.transport, Transport::OutgoingRobot);

    harness.break_inbox().await;
    message["msgId"] = "msgOut2".into();
    let answer = harness.callback("robot", OUTGOING, &message).await;
    assert_not_stored(answer).await;
}

fn approval_event(event_id: &str) -> String {
    let data = std::fs::read_to_string(format!(
        "{}/../dingtalk/fixtures/event-bpms-task-change-data.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut body: serde_json::Map<String, Value> = serde_json::from_str(&data).unwrap();
    body.insert("EventType".into(), "bpms_task_change".into());
    body.insert("eventId".into(), event_id.into());
    Value::Object(body).to_string()
}

#[tokio::test]
async fn event_pushes_are_answered_once_stored_and_refused_when_the_inbox_fails() {
    let harness = Harness::new("http://127.0.0.1:9").await;
    let answer = harness.push("ev-push-1").await;
    assert_eq!(answer.status(), StatusCode::OK);
    let row = stored_msg(&harness, "event:ev-push-1")
        .await
        .expect("stored before the success");
    assert!(
        row.record.session_key.contains(":workflow:"),
        "{}",
        row.record.session_key
    );

    harness.break_inbox().await;
    let answer = harness.push("ev-push-2").await;
    assert_not_stored(answer).await;
}

#[tokio::test]
async fn approval_events_are_acknowledged_with_their_inbox_row() {
    let harness = Harness::new("http://127.0.0.1:9").await;
    let account = harness.account("default");
    let event = || ReceivedEvent::from_http_push_json(&approval_event("ev-stream-1")).unwrap();
    let (ack, acked) = oneshot::channel();
    approval_event::receive(
        &harness.shared,
        &account,
        event(),
        Transport::Stream,
        Ack::Reply(ack),
    )
    .await;
    let Admitted::New(id) = acknowledged(acked).await else {
        panic!("a new approval turn");
    };
    assert_eq!(harness.row(id).await.record.msg_id.as_str(), "event:ev-stream-1");

    harness.break_inbox().await;
    let (ack, acked) = oneshot::channel();
    approval_event::receive(
        &harness.shared,
        &account,
        event(),
        Transport::Stream,
        Ack::Reply(ack),
    )
    .await;
    assert_eq!(acknowledged(acked).await, Admitted::Failed);
}

#[tokio::test]
async fn card_presses_are_acknowledged_with_their_inbox_row_in_the_card_session() {
    let harness = Harness::new("http://127.0.0.1:9").await;
    let account = harness.account("default");
    let original = clawtalk_config::test_support::dm("default", "alice", "question");
    let Admitted::New(answered) = admit(
        &harness.shared,
        &account,
        Admission::routed(&account, original),
        Ack::Caller,
    )
    .await
    else {
        panic!("the original message is stored");
    };
    let session = "agent:main:dingtalk:default:dm:alice";
    harness
        .shared
        .store
        .card_open(
            NewCard {
                out_track_id: "card_1".into(),
                account_id: AccountId::new("default"),
                inbound_id: Some(answered),
                session_key: session.into(),
                conversation_id: String::new(),
            },
            SystemClock.now(),
        )
        .await
        .unwrap();
    let press = || {
        CardCallback::from_value(json!({
            "type": "actionCallback", "outTrackId": "card_1", "userId": "alice",
            "content": r#"{"cardPrivateData":{"actionIds":["feedback_up"],"params":{}}}"#,
        }))
        .unwrap()
    };
    let (ack, acked) = oneshot::channel();
    card_callback::receive(
        &harness.shared,
        &account,
        &press(),
        Transport::Stream,
        Ack::Reply(ack),
    )
    .await;
    let Admitted::New(id) = acknowledged(acked).await else {
        panic!("a new turn for the press");
    };
    assert_eq!(harness.row(id).await.record.session_key, session);

    harness.break_inbox().await;
    let (ack, acked) = oneshot::channel();
    card_callback::receive(
        &harness.shared,
        &account,
        &press(),
        Transport::Stream,
        Ack::Reply(ack),
    )
    .await;
    assert_eq!(acknowledged(acked).await, Admitted::Failed);
}

#[tokio::test]
async fn http_card_presses_are_stored_before_the_answer_and_refused_unsigned_replayed_or_unstored() {
    let harness = Harness::new("http://127.0.0.1:9").await;
    let account = Arc::new(harness.account("hooks"));
    let original = clawtalk_config::test_support::dm("hooks", "alice", "question");
    let Admitted::New(answered) = admit(
        &harness.shared,
        &account,
        Admission::routed(&account, original),
        Ack::Caller,
    )
    .await
    else {
        panic!("the original message is stored");
    };
    harness
        .shared
        .store
        .card_open(
            NewCard {
                out_track_id: "card_h".into(),
                account_id: AccountId::new("hooks"),
                inbound_id: Some(answered),
                session_key: "agent:main:dingtalk:hooks:dm:alice".into(),
                conversation_id: String::new(),
            },
            SystemClock.now(),
        )
        .await
        .unwrap();
    let press = |action: &str| {
        json!({
            "type": "actionCallback", "outTrackId": "card_h", "userId": "alice",
            "content": format!(r#"{{"cardPrivateData":{{"actionIds":["{action}"],"params":{{}}}}}}"#),
        })
        .to_string()
    };
    let secret = dingtalk::Secret::new(CARD_SECRET);
    let post = |headers: HeaderMap, body: String| {
        let (shared, account, secret) = (Arc::clone(&harness.shared), Arc::clone(&account), secret.clone());
        async move { http_card_callback::handle(&shared, &account, &secret, &headers, body.as_bytes()).await }
    };
    let signed = |ts: i64| {
        let mut headers = HeaderMap::new();
        headers.insert("x-ddpaas-signature-timestamp", HeaderValue::from(ts));
        headers.insert(
            "x-ddpaas-signature",
            card_callback_signature(CARD_SECRET, &ts.to_string())
                .parse()
                .unwrap(),
        );
        headers
    };

    let response = post(HeaderMap::new(), press("up")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "unsigned");
    let ts = SystemClock.now_ms();
    let response = post(signed(ts), press("up")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"{}", "an ordinary press leaves the card as it is");
    let stored = harness
        .shared
        .store
        .inbound(answered + 1)
        .await
        .unwrap()
        .expect("the press is in the inbox once answered");
    assert_eq!(stored.record.session_key, "agent:main:dingtalk:hooks:dm:alice");
    assert!(stored.record.text.contains("up"), "{}", stored.record.text);
    // DingTalk delivering it again under its pair is fine; another press under it is not.
    assert_eq!(post(signed(ts), press("up")).await.status(), StatusCode::OK);
    assert_eq!(
        post(signed(ts), press("down")).await.status(),
        StatusCode::UNAUTHORIZED
    );

    harness.break_inbox().await;
    let response = post(signed(SystemClock.now_ms() + 1), press("other")).await;
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "not stored: DingTalk should retry"
    );
}

#[tokio::test]
async fn webchat_messages_are_stored_queued_for_a_turn_and_refused_when_the_inbox_fails() {
    let harness = Harness::new("http://127.0.0.1:9").await;
    let id = webchat::send(&harness.shared, "main", "hi from the console")
        .await
        .unwrap();
    let row = harness.row(id).await;
    assert_eq!(
        row.record.session_key,
        "agent:main:dingtalk:default:webchat:operator"
    );
    assert_eq!(
        row.status,
        InboundStatus::Queued,
        "no policy: straight to the agent"
    );
    let stored: InboundMessage = serde_json::from_str(&row.record.raw_payload_json).unwrap();
    assert_eq!(stored.transport, Transport::WebChat);

    harness.break_inbox().await;
    assert!(webchat::send(&harness.shared, "main", "lost").await.is_err());
}
