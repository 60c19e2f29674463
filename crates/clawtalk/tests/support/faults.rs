//! The fault suite's yardstick: every injected message is answered exactly once (or, where the
//! fault makes an answer impossible, the user is told so once, plainly and bilingually), and
//! nothing is sent twice.
//!
//! Each message goes from its own user, so it has its own DM conversation: "exactly one bot
//! message in that conversation" then means "answered once", whatever the answer says. The
//! model is scripted (or the offline model echoes) so a real answer quotes the message's tag.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dingtalk_sim::{DeliveryStatus, SentMessage, UserSpec};
use sqlx::PgPool;

use super::world::{APP1, World};
use super::{TIMEOUT, db, wait_until, wait_until_async};

/// One injected message.
#[derive(Debug, Clone)]
pub struct Asked {
    /// `[batch-n]`, in the message text; a real answer quotes it.
    pub tag: String,
    /// The sender (a user of its own).
    pub user: String,
    /// The sender's DM conversation with the bot.
    pub conversation_id: String,
    /// DingTalk's `msgId`: the dedup key, and the sim's delivery key.
    pub msg_id: String,
}

/// What the user should end up with.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// The answer, recognised by the message's tag.
    Answer,
    /// One notice containing this text (a piece of the bilingual failure message).
    Notice(&'static str),
    /// One message whose content the caller checks (an AI card: its text is streamed into
    /// the card after the message is sent).
    OneMessage,
}

/// The tag of message `i` of `batch`.
pub fn tag(batch: &str, i: usize) -> String {
    format!("[{batch}-{i:03}]")
}

/// Creates a fresh user and sends one DM from them to APP1's bot. `batch` must be unique per
/// test world (it names the users).
pub fn ask(world: &World, batch: &str, i: usize) -> Asked {
    let tag = tag(batch, i);
    // Staff ids are digits in DingTalk; derive a stable one from the batch and index.
    let batch_code: u64 = batch.bytes().fold(7, |h, b| (h * 31 + u64::from(b)) % 100_000);
    let user = format!("09{batch_code:05}{i:04}");
    world
        .sim
        .create_user(UserSpec::new(&user, format!("Fault user {batch} {i}")))
        .expect("create a user");
    let injected = world.dm(APP1, &user, &format!("{tag} question {i} of batch {batch}"));
    Asked {
        tag,
        user,
        conversation_id: injected.conversation_id,
        msg_id: injected.msg_id,
    }
}

/// `n` messages of `batch`, numbered from `from`.
pub fn ask_many(world: &World, batch: &str, from: usize, n: usize) -> Vec<Asked> {
    (from..from + n).map(|i| ask(world, batch, i)).collect()
}

/// Bot messages in `asked`'s conversation.
pub fn replies_to<'a>(all: &'a [SentMessage], asked: &Asked) -> Vec<&'a SentMessage> {
    all.iter()
        .filter(|m| m.conversation_id.as_deref() == Some(asked.conversation_id.as_str()))
        .collect()
}

/// Waits until every conversation in `asked` got at least one bot message.
pub async fn wait_all_replied(world: &World, asked: &[Asked], timeout: Duration) {
    wait_until("every injected message to get a reply", timeout, || {
        let all = world.sim.sent_messages();
        let missing: Vec<&str> = asked
            .iter()
            .filter(|a| replies_to(&all, a).is_empty())
            .map(|a| a.tag.as_str())
            .collect();
        missing.is_empty().then_some(())
    })
    .await;
}

/// The gateway's store, looked at from the test: the SQLite file or a PostgreSQL schema.
#[derive(Clone, Copy)]
pub enum StoreProbe<'a> {
    Sqlite(&'a Path),
    Postgres(&'a PgPool),
}

impl<'a> From<&'a PathBuf> for StoreProbe<'a> {
    fn from(path: &'a PathBuf) -> Self {
        Self::Sqlite(path)
    }
}

impl<'a> From<&'a PgPool> for StoreProbe<'a> {
    fn from(pool: &'a PgPool) -> Self {
        Self::Postgres(pool)
    }
}

impl StoreProbe<'_> {
    /// Inbox rows not in a final state, and reply parts not sent.
    pub async fn unfinished(self) -> (i64, i64) {
        match self {
            Self::Sqlite(path) => {
                let inbox = db::statuses(path, "inbox").await;
                let open: i64 = ["received", "queued", "running"]
                    .iter()
                    .map(|s| inbox.get(*s).copied().unwrap_or(0))
                    .sum();
                (open, db::count(path, "outbox", "planned").await)
            }
            Self::Postgres(pool) => super::replicas::unfinished(pool).await,
        }
    }

    /// `lease owner → running turns`.
    pub async fn running_by_owner(self) -> BTreeMap<String, i64> {
        match self {
            Self::Sqlite(path) => db::running_by_owner(path).await,
            Self::Postgres(pool) => {
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT COALESCE(lease_owner, ''), count(*) FROM inbox \
                     WHERE status = 'running' GROUP BY 1",
                )
                .fetch_all(pool)
                .await
                .expect("count running turns by owner");
                rows.into_iter().collect()
            }
        }
    }
}

/// Waits until the store has nothing left to do (no message waiting, running or undecided, no
/// reply part unsent) and every injected message was acknowledged to DingTalk: after that no
/// late duplicate can follow, so counting replies is final.
pub async fn wait_settled<'a>(world: &World, store: impl Into<StoreProbe<'a>>, asked: &[Asked]) {
    let store = store.into();
    wait_until_async("the store to settle", TIMEOUT, || async move {
        (store.unfinished().await == (0, 0)).then_some(())
    })
    .await;
    wait_all_acked(world, asked, "every injected message to be acknowledged").await;
}

/// Waits until DingTalk holds an ACK for every frame of `asked` (`what` names the wait).
pub async fn wait_all_acked(world: &World, asked: &[Asked], what: &str) {
    wait_until(what, TIMEOUT, || {
        asked
            .iter()
            .all(|a| {
                world
                    .sim
                    .delivery(&a.msg_id)
                    .is_some_and(|d| d.status == DeliveryStatus::Acked)
            })
            .then_some(())
    })
    .await;
}

/// The suite's verdict: each message in `asked` has exactly one bot message in its
/// conversation, and it is what `expect` says; no bot message went anywhere else.
pub fn assert_each_answered_once(world: &World, asked: &[Asked], expect: impl Fn(&Asked) -> Expect) {
    let all = world.sim.sent_messages();
    let mut problems = Vec::new();
    for a in asked {
        let replies = replies_to(&all, a);
        let texts: Vec<&str> = replies.iter().map(|m| m.text.as_str()).collect();
        if replies.len() != 1 {
            problems.push(format!("{}: {} replies {texts:?}", a.tag, replies.len()));
            continue;
        }
        let text = texts[0];
        match expect(a) {
            Expect::Answer if !text.contains(&a.tag) => {
                problems.push(format!("{}: the reply is not its answer: {text:?}", a.tag));
            }
            // A notice never carries (part of) the answer: no half answer reaches the user.
            Expect::Notice(needle)
                if !(text.contains(needle) && is_bilingual(text)) || text.contains(&a.tag) =>
            {
                problems.push(format!(
                    "{}: expected one plain bilingual notice containing {needle:?} and no answer, got {text:?}",
                    a.tag
                ));
            }
            _ => {}
        }
    }
    let strays: Vec<&SentMessage> = all
        .iter()
        .filter(|m| {
            !asked
                .iter()
                .any(|a| m.conversation_id.as_deref() == Some(a.conversation_id.as_str()))
        })
        .collect();
    if !strays.is_empty() {
        problems.push(format!(
            "messages outside the injected conversations: {strays:#?}"
        ));
    }
    assert!(
        problems.is_empty(),
        "{} of {} messages not answered exactly once:\n{}",
        problems.len(),
        asked.len(),
        problems.join("\n")
    );
}

/// Chinese and English both: the notices say everything twice.
pub fn is_bilingual(text: &str) -> bool {
    let cjk = text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    let latin_words = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 3)
        .count();
    cjk && latin_words >= 3
}

/// Waits for replies, then for the store to settle, then checks [`assert_each_answered_once`].
pub async fn assert_settled_once<'a>(
    world: &World,
    store: impl Into<StoreProbe<'a>>,
    asked: &[Asked],
    timeout: Duration,
    expect: impl Fn(&Asked) -> Expect,
) {
    wait_all_replied(world, asked, timeout).await;
    wait_settled(world, store, asked).await;
    assert_each_answered_once(world, asked, expect);
}
