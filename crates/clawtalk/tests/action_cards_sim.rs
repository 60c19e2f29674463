//! Action cards against the simulator, with the gateway in process: the model attaches a card
//! through `send_action_card`, the user presses a button, and the agent answers the press in
//! the same conversation.

mod support;

use std::sync::Arc;
use std::time::Duration;

use clawtalk_store::{SqliteStore, Store};
use dingtalk_sim::{InjectMessage, PressButton, Pressed, buttons_of};
use llm_mock::{MockModel, Script};
use support::in_process;

const APP: &str = "dingactioncardbot0001";
const SECRET: &str = "action-card-secret-not-real";
const USER: &str = "0312000000000001";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pressed_action_button_comes_back_to_the_agent_and_its_answer_to_the_same_chat() {
    let sim = in_process::simulator(APP, SECRET, USER).await;
    let model = MockModel::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = in_process::config_text(&sim, &model, (APP, SECRET), dir.path(), "progressNotes: false,");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
    let gateway = in_process::gateway(&sim, APP, &text, store, "action-cards-test").await;

    let card = r#"{"title":"Release 2.4","text":"| service | version |\n|--|--|\n| api | 2.4 |",
                   "buttons":[{"title":"Deploy","action":"yes, deploy 2.4"},
                              {"title":"Changelog","url":"https://example.com/2.4"}],
                   "horizontal":true}"#;
    model.push(Script::tool_call("send_action_card", card).when_last_user_contains("ready?"));
    model.push(Script::text("Release 2.4 is ready.").when_last_user_contains("ready?"));
    model.push(Script::text("Deploying 2.4 now.").when_last_user_contains("yes, deploy 2.4"));

    let asked = sim
        .inject_message(&InjectMessage::dm_text(APP, USER, "is the release ready?"))
        .unwrap();
    let sent = sim.wait_for_sent(2, Duration::from_secs(20)).await.unwrap();
    assert!(sent[0].text.contains("Release 2.4 is ready."), "{:?}", sent[0]);
    let action = &sent[1];
    assert_eq!(action.msg_type, "actionCard", "{action:?}");
    assert_eq!(
        action.conversation_id.as_deref(),
        Some(asked.conversation_id.as_str())
    );
    assert_eq!(action.body["actionCard"]["btnOrientation"], "1");
    assert_eq!(
        action.body["actionCard"]["text"], "- **service**: api · **version**: 2.4",
        "the card's markdown is converted for DingTalk"
    );
    let buttons = buttons_of(action).unwrap();
    assert_eq!(buttons.len(), 2);
    assert_eq!(
        buttons[1],
        ("Changelog".to_owned(), "https://example.com/2.4".to_owned())
    );

    let opened = sim
        .press_button(&PressButton {
            seq: action.seq,
            button: 2,
            user: USER.into(),
        })
        .unwrap();
    assert!(
        matches!(opened, Pressed::Opened { ref url } if url == "https://example.com/2.4"),
        "{opened:?}"
    );
    let pressed = sim
        .press_button(&PressButton {
            seq: action.seq,
            button: 1,
            user: USER.into(),
        })
        .unwrap();
    let Pressed::Replied { text, message } = pressed else {
        panic!("an action button replies: {pressed:?}");
    };
    assert_eq!(text, "yes, deploy 2.4");
    assert!(message.delivered);
    assert_eq!(message.conversation_id, asked.conversation_id);

    let sent = sim.wait_for_sent(3, Duration::from_secs(20)).await.unwrap();
    assert!(sent[2].text.contains("Deploying 2.4 now."), "{:?}", sent[2]);
    assert_eq!(
        sent[2].conversation_id.as_deref(),
        Some(asked.conversation_id.as_str())
    );
    let request = model
        .requests()
        .into_iter()
        .find(|r| r.last_user_text().is_some_and(|t| t.contains("yes, deploy")))
        .expect("the press reached the model");
    assert!(
        request
            .messages
            .iter()
            .any(|m| m.to_string().contains("send_action_card")),
        "the history carries the card the agent sent"
    );
    gateway.shutdown(Duration::from_secs(5)).await;
}
