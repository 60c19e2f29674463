//! Fault suite, the model: 429 with Retry-After, 5xx, timeouts (first output late, silence
//! mid-answer) and streams cut before `[DONE]`. What is safe to retry is retried and answered
//! once; what is not ends with one plain bilingual notice, never a half answer, never both.

mod support;

use std::time::Duration;

use dingtalk_sim::CardStatus;
use llm_mock::Script;
use support::faults::{self, Asked, Expect};
use support::world::{ConfigExtras, OPEN};
use support::{TIMEOUT, World, WorldOptions};

const RATE_LIMITED: &str =
    r#"{"error":{"message":"Rate limit reached","type":"rate_limit_error","code":"rate_limit_exceeded"}}"#;
const OVERLOADED: &str = r#"{"error":{"message":"The server is overloaded","type":"server_error"}}"#;

/// Notices (a piece of each; the whole text is bilingual, see `LlmError::user_message`).
const BUSY: &str = "模型服务暂时繁忙";
const BROKEN: &str = "模型服务暂时出现故障";
const TOO_SLOW: &str = "模型服务响应超时";
const CUT_OFF: &str = "模型的回复中途中断了";

/// The answer for `a`, quoting its tag.
fn answer(a: &Asked) -> Script {
    Script::text(format!("Here is the answer to {} — complete.", a.tag)).when_last_user_contains(&a.tag)
}

fn failure(a: &Asked, status: u16, body: &str) -> Script {
    Script::error(status, body).when_last_user_contains(&a.tag)
}

/// A world whose scripted delays are honoured, and a gateway with model timeouts of 1 s.
async fn start() -> (World, support::process::GatewayProcess) {
    start_with(OPEN).await
}

async fn start_with(channels: &str) -> (World, support::process::GatewayProcess) {
    let world = World::start_with(WorldOptions {
        model_delays: true,
        ..WorldOptions::default()
    })
    .await;
    let config = world.write_config(&world.config_with(&ConfigExtras {
        channels,
        provider: "timeoutSeconds: 1,",
        ..ConfigExtras::default()
    }));
    let gateway = world.start_gateway(&config).await;
    (world, gateway)
}

/// Asks message `i` of `batch` after queueing `scripts(asked)` for it. The scripts match the
/// message's tag, which is known before it is sent.
fn ask_scripted(world: &World, batch: &str, i: usize, scripts: impl Fn(&Asked) -> Vec<Script>) -> Asked {
    let probe = Asked {
        tag: faults::tag(batch, i),
        user: String::new(),
        conversation_id: String::new(),
        msg_id: String::new(),
    };
    world.model.push_all(scripts(&probe));
    faults::ask(world, batch, i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_server_errors_are_retried_and_answered_once() {
    let (world, _gateway) = start().await;
    let mut asked = Vec::new();
    for i in 0..4 {
        asked.push(ask_scripted(&world, "retry", i, |a| {
            vec![
                failure(a, 429, RATE_LIMITED).retry_after(Duration::from_secs(1)),
                answer(a),
            ]
        }));
    }
    for i in 4..8 {
        let status = [500, 502, 503, 504][i - 4];
        asked.push(ask_scripted(&world, "retry", i, |a| {
            vec![
                failure(a, status, OVERLOADED),
                failure(a, 503, OVERLOADED),
                answer(a),
            ]
        }));
    }
    let db = world.state_dir().join("clawtalk.db");
    faults::assert_settled_once(&world, &db, &asked, TIMEOUT, |_| Expect::Answer).await;
    for (i, a) in asked.iter().enumerate() {
        let tries = if i < 4 { 2 } else { 3 };
        assert_eq!(world.requests_for(&a.tag).len(), tries, "{}", a.tag);
    }
    assert_eq!(world.model.pending_scripts(), 0, "every scripted failure was met");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_keeps_failing_is_reported_once_per_message() {
    let (world, _gateway) = start().await;
    let mut asked = Vec::new();
    // Errors on every attempt of the client's retry budget (3).
    for i in 0..3 {
        asked.push(ask_scripted(&world, "down", i, |a| {
            vec![failure(a, 503, OVERLOADED); 3]
        }));
    }
    // A Retry-After far beyond what a chat user should wait: told at once.
    asked.push(ask_scripted(&world, "down", 3, |a| {
        vec![failure(a, 429, RATE_LIMITED).retry_after(Duration::from_secs(600))]
    }));
    let db = world.state_dir().join("clawtalk.db");
    faults::assert_settled_once(&world, &db, &asked, TIMEOUT, |a| {
        if asked_index(a) == 3 {
            Expect::Notice(BUSY)
        } else {
            Expect::Notice(BROKEN)
        }
    })
    .await;
    for (i, a) in asked.iter().enumerate() {
        let tries = if i < 3 { 3 } else { 1 };
        assert_eq!(
            world.requests_for(&a.tag).len(),
            tries,
            "{}: the gateway does not run a failed turn again",
            a.tag
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_first_output_is_retried_but_a_silence_mid_answer_is_reported() {
    let (world, _gateway) = start().await;
    let late = Duration::from_secs(3);
    let mut asked = Vec::new();
    // The first attempt says nothing for 3 s (> the 1 s timeout); the second answers.
    for i in 0..3 {
        asked.push(ask_scripted(&world, "slow", i, |a| {
            vec![answer(a).delay(late, Duration::ZERO), answer(a)]
        }));
    }
    // Late on every attempt.
    asked.push(ask_scripted(&world, "slow", 3, |a| {
        vec![answer(a).delay(late, Duration::ZERO); 3]
    }));
    // Starts at once, then stalls for 3 s: what was said cannot be taken back by a retry, so
    // the user is told, and the half answer is not sent.
    asked.push(ask_scripted(&world, "slow", 4, |a| {
        let event = |text: &str| {
            format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}}}}]}}\n\n")
        };
        let first = event(&format!("The answer to {} starts here", a.tag));
        vec![
            Script::raw("text/event-stream", [first, event(" and never ends")])
                .delay(Duration::ZERO, late)
                .when_last_user_contains(&a.tag),
        ]
    }));
    let db = world.state_dir().join("clawtalk.db");
    faults::assert_settled_once(&world, &db, &asked, TIMEOUT, |a| {
        if asked_index(a) >= 3 {
            Expect::Notice(TOO_SLOW)
        } else {
            Expect::Answer
        }
    })
    .await;
    let tries: Vec<usize> = asked.iter().map(|a| world.requests_for(&a.tag).len()).collect();
    assert_eq!(tries, [2, 2, 2, 3, 1], "attempts per message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_before_done_never_sends_half_an_answer() {
    let (world, _gateway) = start().await;
    let mut asked = Vec::new();
    // Cut after the answer started: told once, not retried, the partial text never shown.
    for i in 0..3 {
        asked.push(ask_scripted(&world, "cut", i, |a| {
            vec![answer(a).truncate_after(3)]
        }));
    }
    // Cut before any output (only the role chunk): nothing was said, so it is safe to retry.
    for i in 3..6 {
        asked.push(ask_scripted(&world, "cut", i, |a| {
            vec![answer(a).truncate_after(1), answer(a)]
        }));
    }
    let db = world.state_dir().join("clawtalk.db");
    faults::assert_settled_once(&world, &db, &asked, TIMEOUT, |a| {
        if asked_index(a) < 3 {
            Expect::Notice(CUT_OFF)
        } else {
            Expect::Answer
        }
    })
    .await;
    let tries: Vec<usize> = asked.iter().map(|a| world.requests_for(&a.tag).len()).collect();
    assert_eq!(tries, [1, 1, 1, 2, 2, 2], "attempts per message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_stream_streamed_into_an_ai_card_ends_as_the_notice_not_half_an_answer() {
    let channels = format!(
        "{OPEN} messageType: \"card\", streaming: true, cardStreamInterval: 200, cardUpdateTokens: 2,"
    );
    let (world, _gateway) = start_with(&channels).await;
    let mut asked = Vec::new();
    for i in 0..3 {
        asked.push(ask_scripted(&world, "cardcut", i, |a| {
            let words = format!(
                "Half of the answer to {} is streamed and then the line goes dead",
                a.tag
            );
            let chunks: Vec<String> = words.split_inclusive(' ').map(str::to_owned).collect();
            vec![
                Script::chunks(chunks)
                    .delay(Duration::ZERO, Duration::from_millis(150))
                    .truncate_after(10)
                    .when_last_user_contains(&a.tag),
            ]
        }));
    }
    let db = world.state_dir().join("clawtalk.db");
    faults::assert_settled_once(&world, &db, &asked, TIMEOUT, |_| Expect::OneMessage).await;
    let sent = world.sim.sent_messages();
    for a in &asked {
        let track = faults::replies_to(&sent, a)[0]
            .out_track_id
            .clone()
            .expect("the reply is a card");
        let card = support::wait_until("the card to be closed", TIMEOUT, || {
            world
                .sim
                .card(&track)
                .filter(|c| matches!(c.status, CardStatus::Finished | CardStatus::Failed))
        })
        .await;
        let content = card.card_data.get("content").cloned().unwrap_or_default();
        assert!(
            content.contains(CUT_OFF) && faults::is_bilingual(&content) && !content.contains(&a.tag),
            "{}: the card ends as the notice alone, got {content:?}",
            a.tag
        );
        let streamed_half = card
            .stream_history
            .iter()
            .any(|u| u.content.contains("Half of the answer"));
        assert!(streamed_half, "{}: the half answer was streamed first", a.tag);
        assert_eq!(world.requests_for(&a.tag).len(), 1, "{}: not retried", a.tag);
    }
}

fn asked_index(a: &Asked) -> usize {
    let digits: String = a.tag.chars().filter(char::is_ascii_digit).collect();
    digits.parse().expect("tags end with a number")
}

/// Saturation: more sessions want a turn than `maxConcurrentTurns` allows, and each turn takes
/// most of a lease. The lease sweep must not claim the waiting sessions' turns while no permit
/// is free: a claimed turn waiting for a permit would lapse, be re-claimed by the next sweep
/// (its attempt count growing until the turn is given up) or be run twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turns_waiting_for_a_permit_are_not_claimed_by_the_lease_sweep() {
    let world = World::start_with(WorldOptions {
        model_delays: true,
        ..WorldOptions::default()
    })
    .await;
    let config = world.write_config(&world.config_with(&ConfigExtras {
        channels: OPEN,
        gateway: "maxConcurrentTurns: 1, turnLeaseSeconds: 3,",
        ..ConfigExtras::default()
    }));
    let _gateway = world.start_gateway(&config).await;
    let asked: Vec<Asked> = (0..5)
        .map(|i| {
            ask_scripted(&world, "saturated", i, |a| {
                vec![answer(a).delay(Duration::from_millis(2500), Duration::ZERO)]
            })
        })
        .collect();
    let db = world.state_dir().join("clawtalk.db");
    faults::assert_settled_once(&world, &db, &asked, Duration::from_secs(60), |_| Expect::Answer).await;
    for a in &asked {
        assert_eq!(
            world.requests_for(&a.tag).len(),
            1,
            "{}: the model was asked more than once",
            a.tag
        );
    }
    assert_eq!(
        support::db::max_attempts(&db).await,
        1,
        "a turn was claimed again while it waited for a permit"
    );
}

/// Admission: with one turn slot and `queueNoticeFrom: 2`, a message that finds two turns
/// waiting for the slot gets the bilingual "queued, N ahead of you" note at once, and its
/// answer still arrives exactly once, after the note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_behind_a_queue_is_told_so_and_then_answered_once() {
    let world = World::start_with(WorldOptions {
        model_delays: true,
        ..WorldOptions::default()
    })
    .await;
    let config = world.write_config(&world.config_with(&ConfigExtras {
        channels: OPEN,
        gateway: "maxConcurrentTurns: 1, queueNoticeFrom: 2,",
        ..ConfigExtras::default()
    }));
    let _gateway = world.start_gateway(&config).await;
    let mut asked = Vec::new();
    for i in 0..5 {
        asked.push(ask_scripted(&world, "queued", i, |a| {
            vec![answer(a).delay(Duration::from_millis(1500), Duration::ZERO)]
        }));
        // Each message's worker is waiting for the slot before the next arrives.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    support::wait_until("every message to be answered", Duration::from_secs(60), || {
        let sent = world.sim.sent_messages();
        asked
            .iter()
            .all(|a| {
                faults::replies_to(&sent, a)
                    .iter()
                    .any(|m| m.text.contains(&a.tag))
            })
            .then_some(())
    })
    .await;
    // Long enough for a second note or answer to show up if one were sent.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = world.sim.sent_messages();
    for (i, a) in asked.iter().enumerate() {
        let replies = faults::replies_to(&sent, a);
        let answers: Vec<_> = replies.iter().filter(|m| m.text.contains(&a.tag)).collect();
        let notes: Vec<_> = replies
            .iter()
            .filter(|m| m.text.contains("ahead of you"))
            .collect();
        assert_eq!(answers.len(), 1, "{}: answered once: {replies:#?}", a.tag);
        assert_eq!(
            answers.len() + notes.len(),
            replies.len(),
            "{}: nothing but the answer and a note",
            a.tag
        );
        assert!(notes.len() <= 1, "{}: one note at most", a.tag);
        if i >= 3 {
            let note = notes
                .first()
                .unwrap_or_else(|| panic!("{}: told it was queued", a.tag));
            assert!(
                note.text.contains("排队中，前面还有") && faults::is_bilingual(&note.text),
                "{}: {:?}",
                a.tag,
                note.text
            );
            assert!(note.seq < answers[0].seq, "{}: the note comes first", a.tag);
        }
    }
    assert!(
        asked
            .iter()
            .take(2)
            .all(|a| faults::replies_to(&sent, a).len() == 1),
        "the first messages, with fewer than two ahead, get no note"
    );
}
