//! Who got what, read from what the simulator recorded: every answer quotes its question
//! ("re: burst u17? ·"), so cards and messages are attributed to users by their text.

use std::collections::HashMap;

use dingtalk_sim::{Card, CardStatus, SentMessage};

/// What one user saw, in the simulator's clock (ms since it started).
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Answers that reached the chat: cards plus markdown messages.
    pub answers: usize,
    /// When the first text of an answer showed.
    pub first_text_ms: Option<u64>,
    /// When the (first) answer was complete: its card finished, or its message arrived.
    pub complete_ms: Option<u64>,
    /// A card of this user that never finished (left typing or failed).
    pub unfinished_cards: usize,
    /// The answer's whole text arrived (every token).
    pub whole: bool,
    /// "Queued, N ahead of you" notes (not answers).
    pub notes: usize,
    /// Tokens of the answer that arrived as markdown messages (an opening and the rest, or
    /// the whole answer).
    pub markdown_tokens: usize,
    /// More of the answer's tokens arrived as markdown than it has: part of it came twice
    /// (a rest sent again, which quotes no question and so counts as no second answer).
    pub repeated: bool,
}

impl Seen {
    /// Got more than one answer, or part of one twice.
    pub fn duplicated(&self) -> bool {
        self.answers > 1 || self.repeated
    }
}

/// The user an answer's text quotes.
fn user_of(text: &str) -> Option<usize> {
    let rest = &text[text.find("re: burst u")? + "re: burst u".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The gateway's "queued" note (`notices::queued`), which is no answer.
pub fn is_queue_note(text: &str) -> bool {
    text.contains("ahead of you")
}

/// The answer's one-word tokens (`w17`) in `text`, wherever a message was cut.
fn tokens_in(text: &str) -> usize {
    text.split_whitespace()
        .filter(|word| {
            word.strip_prefix('w')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .count()
}

fn earliest(a: Option<u64>, b: u64) -> Option<u64> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// Per user, from the messages and cards the bots sent.
pub fn seen_by_user(users: usize, tokens: usize, sent: &[SentMessage], cards: &[Card]) -> Vec<Seen> {
    let mut seen = vec![Seen::default(); users];
    let mut card_created: HashMap<&str, (u64, &str)> = HashMap::new();
    // Notes name no user; they are attributed by their conversation, which the answers name.
    let user_of_conversation: HashMap<&str, usize> = sent
        .iter()
        .filter_map(|m| Some((m.conversation_id.as_deref()?, user_of(&m.text)?)))
        .collect();
    for message in sent {
        if is_queue_note(&message.text) {
            let user = message
                .conversation_id
                .as_deref()
                .and_then(|c| user_of_conversation.get(c).copied())
                .filter(|u| *u < users);
            if let Some(user) = user {
                seen[user].notes += 1;
            }
            continue;
        }
        if message.api == "card" {
            if let Some(id) = message.out_track_id.as_deref() {
                card_created.insert(id, (message.at_ms, message.text.as_str()));
            }
            continue;
        }
        // An answer beyond the card quota may come as its opening (which quotes the
        // question) and then the rest (which does not): one answer, told apart by its chat.
        let tagged = user_of(&message.text);
        let user = tagged.or_else(|| {
            message
                .conversation_id
                .as_deref()
                .and_then(|c| user_of_conversation.get(c).copied())
        });
        let Some(user) = user.filter(|u| *u < users) else {
            continue;
        };
        let s = &mut seen[user];
        if tagged.is_some() {
            s.answers += 1;
            s.first_text_ms = earliest(s.first_text_ms, message.at_ms);
        }
        s.markdown_tokens += tokens_in(&message.text);
        if s.markdown_tokens >= tokens {
            s.complete_ms = earliest(s.complete_ms, message.at_ms);
            s.whole = true;
        }
        s.repeated = s.markdown_tokens > tokens;
    }
    for card in cards {
        let content = card
            .card_data
            .values()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n");
        let user =
            user_of(&content).or_else(|| card.stream_history.iter().find_map(|u| user_of(&u.value_after)));
        let Some(user) = user.filter(|u| *u < users) else {
            continue;
        };
        let s = &mut seen[user];
        s.answers += 1;
        let created = card_created
            .get(card.out_track_id.as_str())
            .filter(|(_, text)| user_of(text).is_some())
            .map(|(at, _)| *at);
        let streamed = card
            .stream_history
            .iter()
            .find(|u| user_of(&u.value_after).is_some())
            .map(|u| u.at_ms);
        if let Some(at) = [created, streamed].into_iter().flatten().min() {
            s.first_text_ms = earliest(s.first_text_ms, at);
        }
        if card.status == CardStatus::Finished {
            let done = card
                .stream_history
                .iter()
                .rev()
                .find(|u| u.is_finalize)
                .or(card.stream_history.last())
                .map_or(card.created_at_ms, |u| u.at_ms);
            s.complete_ms = earliest(s.complete_ms, done);
            s.whole |= tokens_in(&content) >= tokens;
        } else {
            s.unfinished_cards += 1;
        }
    }
    seen
}

#[derive(Debug, Default)]
pub struct Tally {
    pub answered_once: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub unfinished_cards: usize,
    pub partial: usize,
    /// Users who got a queue note, and those who got more than one.
    pub noted: usize,
    pub noted_twice: usize,
}

pub fn tally(seen: &[Seen]) -> Tally {
    let mut t = Tally::default();
    for s in seen {
        match s.answers {
            0 => t.lost += 1,
            _ if s.duplicated() => t.duplicated += 1,
            _ => t.answered_once += 1,
        }
        t.unfinished_cards += s.unfinished_cards;
        if s.answers > 0 && !s.whole {
            t.partial += 1;
        }
        t.noted += usize::from(s.notes > 0);
        t.noted_twice += usize::from(s.notes > 1);
    }
    t
}

/// Messages with answer tokens in a chat where no message quotes a question: the rest of an
/// answer whose opening never arrived (its user counts as lost), described on stderr.
pub fn explain_orphan_rests(sent: &[SentMessage]) {
    let answered: std::collections::HashSet<&str> = sent
        .iter()
        .filter(|m| user_of(&m.text).is_some())
        .filter_map(|m| m.conversation_id.as_deref())
        .collect();
    for message in sent.iter().filter(|m| {
        m.api != "card"
            && user_of(&m.text).is_none()
            && tokens_in(&m.text) > 0
            && m.conversation_id
                .as_deref()
                .is_some_and(|c| !answered.contains(c))
    }) {
        eprintln!(
            "a rest without its opening: {} answer tokens by {} at {} ms in {:?}",
            tokens_in(&message.text),
            message.api,
            message.at_ms,
            message.conversation_id
        );
    }
}

/// What the first `n` users with more than one answer (or part of one twice, an answer
/// missing tokens, or none) got, on stderr: a failed run must say what went wrong, not only how often.
/// Returns the users described.
pub fn explain_users_amiss(seen: &[Seen], sent: &[SentMessage], cards: &[Card], n: usize) -> Vec<usize> {
    // Users with no answer too: the store trail then shows where theirs stopped.
    let amiss = |s: &Seen| s.duplicated() || !s.whole;
    let users: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| amiss(s))
        .take(n)
        .map(|(user, _)| user)
        .collect();
    for &user in &users {
        let tag = format!("re: burst u{user}? ");
        let conversation = sent
            .iter()
            .find(|m| m.text.contains(&tag))
            .and_then(|m| m.conversation_id.as_deref());
        eprintln!(
            "user {user} got {} answers, {} answer tokens as markdown:",
            seen[user].answers, seen[user].markdown_tokens
        );
        for card in cards.iter().filter(|c| {
            c.card_data.values().any(|v| v.contains(&tag))
                || c.stream_history.iter().any(|u| u.value_after.contains(&tag))
        }) {
            eprintln!(
                "  card {} created at {} ms, {:?}, {} streaming calls (first at {:?} ms, last at {:?} ms), flowStatus {:?}",
                card.out_track_id,
                card.created_at_ms,
                card.status,
                card.stream_history.len(),
                card.stream_history.first().map(|u| u.at_ms),
                card.stream_history.last().map(|u| u.at_ms),
                card.flow_status
            );
        }
        let in_chat = |m: &SentMessage| {
            m.text.contains(&tag) || (conversation.is_some() && m.conversation_id.as_deref() == conversation)
        };
        for message in sent.iter().filter(|m| m.api != "card" && in_chat(m)) {
            eprintln!(
                "  message by {} at {} ms, {} answer tokens{}",
                message.api,
                message.at_ms,
                tokens_in(&message.text),
                if message.text.contains(&tag) {
                    " (quotes the question)"
                } else {
                    ""
                }
            );
        }
    }
    users
}
