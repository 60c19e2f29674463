//! One agent turn for one claimed message: open the session and its history, prepare the
//! user message and its media, run the agent with the card or progress display, then plan
//! and send the answer and finish the turn. How the turn ended is published to whoever
//! started it ([`TurnEnded`]); the turn itself knows no source.

use clawtalk_core::clock::EpochMs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use std::sync::atomic::{AtomicU32, Ordering};

use super::lease::{self, keep_lease};
use super::{HISTORY_LIMIT, Shared, decode_inbound, inbound_cap, progress, reply};
use clawtalk_agent::media::extract::ExtractLimits;
use clawtalk_agent::media::send::MediaSender;
use clawtalk_agent::media::{self, attach, fetch};
use clawtalk_agent::{ActionCards, Observer, ToolContext, TurnError};
use clawtalk_config::DingTalkAccount;
use clawtalk_config::routing;
use clawtalk_core::ids::SessionKey;
use clawtalk_core::inbound::InboundMessage;
use clawtalk_core::notices;
use clawtalk_delivery::card::{CardTurn, plan_fresh};
use clawtalk_delivery::{ActionCard, Target};
use clawtalk_llm::{ChatMessage, Role as LlmRole};
use clawtalk_store::{
    InboundId, NewTranscriptEntry, OpenedSession, OutboxPart, Role, StoreError, StoredInbound, TurnOutcome,
};

/// A message that keeps failing (or crashing the process) is given up after this many tries.
const MAX_ATTEMPTS: u32 = 3;

/// How a turn ended, for the source that started it (a scheduled task records its run).
#[derive(Debug)]
pub(crate) struct TurnEnded {
    /// The turn's message.
    pub id: InboundId,
    /// The message, when it could be read.
    pub inbound: Option<InboundMessage>,
    /// The turn's own failure (typically the delivery); otherwise its inbox row says.
    pub error: Option<String>,
}

/// Runs a claimed turn to its end; failures are logged and, where possible, told to the user.
pub(crate) async fn run(shared: &Arc<Shared>, turn: StoredInbound) {
    let id = turn.id;
    let Some(_running) = RunningTurn::enter(shared, &turn) else {
        tracing::debug!(inbound = ?id, "reclaimed a turn this process is still running; the run under way goes on");
        return;
    };
    let started = std::time::Instant::now();
    let received_at_ms = turn.record.received_at_ms;
    // Decoded once for the whole turn: the stored payload is the message's full JSON.
    let inbound = decode_inbound(&turn.record.raw_payload_json);
    let result = match &inbound {
        Ok(inbound) => try_run(shared, &turn, inbound).await,
        Err(error) => finish(shared, id, TurnOutcome::Failed(format!("{error:#}"))).await,
    };
    match &result {
        Ok(replied) => {
            if *replied {
                let waited = shared.clock.now().since(received_at_ms);
                shared.metrics.reply_latency.observe(waited);
            }
        }
        Err(error) => {
            shared.metrics.turns.inc("error");
            tracing::error!(inbound = ?id, error = %format!("{error:#}"), "turn failed");
        }
    }
    shared.metrics.turn_latency.observe(started.elapsed());
    let ended = TurnEnded {
        id,
        inbound: inbound.ok(),
        error: result.err().map(|e| format!("{e:#}")),
    };
    (shared.turn_ended)(Arc::clone(shared), ended).await;
}

/// This process's mark on a turn it runs, taken off when the run ends however it ends.
struct RunningTurn<'a> {
    shared: &'a Shared,
    id: InboundId,
}

impl<'a> RunningTurn<'a> {
    /// `None` when the turn is already running here.
    fn enter(shared: &'a Shared, turn: &StoredInbound) -> Option<Self> {
        // Built only when marked (`then`, not the eager `then_some`): a mark made for a turn
        // already running would be dropped at once, removing the run under way's.
        lease::enter(shared, turn).then(|| Self { shared, id: turn.id })
    }
}

impl Drop for RunningTurn<'_> {
    fn drop(&mut self) {
        lease::leave(self.shared, self.id);
    }
}

/// True when the turn ended with a reply.
async fn try_run(
    shared: &Arc<Shared>,
    turn: &StoredInbound,
    inbound: &InboundMessage,
) -> anyhow::Result<bool> {
    let id = turn.id;
    // What runs only before or after the wait on the model (resuming an earlier run,
    // preparing the user's media, telling and closing cards) is boxed here, in `run_agent`
    // and for `conclude`: inline, a future reserves room for its largest step for as long as
    // it lives, so every turn waiting on the model held room for sending a reply (thousands
    // at once in a burst).
    // The lease runs from the claim, and a reclaimed turn first reads (and may send) what its
    // earlier run left: in a burst that read waits seconds for a store connection, and a
    // lease left unrenewed meanwhile was found lapsing once preparing began, so the turn was
    // given up before it had done anything (turns taken over from a killed replica).
    let resuming = Box::pin(async {
        let Some(earlier) = resume_earlier_run(shared, turn, inbound).await? else {
            // The planned answer finalized the cards it names; any other is closed.
            reply::close_cards_left(shared, turn).await;
            return anyhow::Ok(Err(TurnOutcome::Replied));
        };
        if turn.attempts > MAX_ATTEMPTS {
            let error = format!("gave up after {} attempts", turn.attempts);
            let _ = reply::send(shared, id, inbound, notices::DROPPED_AFTER_RETRIES).await;
            reply::close_cards_left(shared, turn).await;
            return Ok(Err(TurnOutcome::Failed(error)));
        }
        Ok(Ok(earlier))
    });
    let Some(resumed) = under_lease(shared, turn, Phase::Resuming, resuming).await else {
        return Ok(false);
    };
    let earlier = match resumed? {
        Ok(earlier) => earlier,
        Err(outcome) => return finish(shared, id, outcome).await,
    };
    let account = shared
        .account_settings(inbound.account_id.as_str())
        .context("the message's account is no longer configured")?;
    // Counted while it runs: a removed account disconnects once its turns are done.
    let _running = shared
        .account(inbound.account_id.as_str())
        .map(|runtime| runtime.control.turn_running());
    let account = &*account;
    let media_dir = media::inbound_dir(&shared.config().gateway.state_dir, id);
    // Only messages with attachments download any (no blocking call on a runtime thread
    // for the others).
    let _remove_media = (!inbound.media.is_empty()).then(|| RemoveOnDrop(media_dir.clone()));
    // Opening the session waits for a store connection and the media download for DingTalk,
    // and unrenewed meanwhile the lease could lapse before the agent ran (thousands of turns
    // given up on three replicas).
    let preparing = Box::pin(async {
        let session = open_session(shared, turn, inbound, account).await?;
        let prepared = prepare_user(shared, inbound, &media_dir, account).await;
        anyhow::Ok((session, prepared))
    });
    let Some(preparation) = under_lease(shared, turn, Phase::Preparing, preparing).await else {
        return Ok(false);
    };
    let (session, prepared) = preparation?;
    let outbox = reply::TurnOutbox::new(shared, id, inbound, earlier);
    let Some(ran) = run_agent(shared, turn, inbound, &session, prepared.for_model, &outbox).await else {
        return Ok(false);
    };
    Box::pin(conclude(
        shared,
        turn,
        inbound,
        &session,
        ran,
        &prepared.for_transcript,
        &prepared.notices,
    ))
    .await
}

/// What earlier runs of a reclaimed turn left: `None` when the answer was planned (what
/// is left of it is sent now, and the agent is never asked again), else the parts they
/// sent on the way, so the run asking for them again finds them.
async fn resume_earlier_run(
    shared: &Arc<Shared>,
    turn: &StoredInbound,
    inbound: &InboundMessage,
) -> anyhow::Result<Option<Vec<OutboxPart>>> {
    // Only an earlier run of this turn plans its reply, and every claim counts an attempt,
    // so a first attempt has nothing planned (one read less per message).
    if turn.attempts <= 1 {
        return Ok(Some(Vec::new()));
    }
    let planned = shared.store.reply_parts(turn.id).await?;
    if reply::answer_planned(&planned) {
        reply::resume(shared, turn.id, inbound).await?;
        return Ok(None);
    }
    if planned.is_empty() {
        return Ok(Some(planned));
    }
    // What the last run left unsent on the way (an image, a file) goes out now; its notes
    // and opening left planned are ended (they would come late), and one it handed to
    // DingTalk as it ended counts as sent.
    if let Err(error) = reply::resume(shared, turn.id, inbound).await {
        tracing::warn!(inbound = ?turn.id, error = %format!("{error:#}"), "could not finish what a crashed run of the turn was sending");
    }
    Ok(Some(shared.store.reply_parts(turn.id).await?))
}

/// The turn's session, agent and history.
struct Session {
    key: String,
    agent_id: String,
    opened: OpenedSession,
    history: Vec<ChatMessage>,
    /// `limits.partsPerAnswer` of the agent.
    max_parts: u32,
}

async fn open_session(
    shared: &Arc<Shared>,
    turn: &StoredInbound,
    inbound: &InboundMessage,
    account: &DingTalkAccount,
) -> anyhow::Result<Session> {
    let key = turn.record.session_key.clone();
    // The route was settled at intake (with the sender's departments); the key records it.
    let agent_id = match SessionKey::parse(&key) {
        Ok(session) if shared.config().agent(session.agent.as_str()).is_some() => {
            session.agent.as_str().to_owned()
        }
        _ => routing::route(&shared.config(), account, inbound, &[])
            .agent
            .as_str()
            .to_owned(),
    };
    let idle_reset = super::idle_reset_ms(&shared.config());
    let (opened, history) = shared
        .store
        .session_open_with_history(&key, &agent_id, shared.clock.now(), idle_reset, HISTORY_LIMIT)
        .await?;
    let history = history
        .iter()
        .filter_map(|entry| serde_json::from_str::<ChatMessage>(&entry.content_json).ok())
        .collect::<Vec<_>>();
    let max_parts = shared
        .config()
        .agent(&agent_id)
        .map_or_else(clawtalk_config::AgentLimits::default, |a| a.limits)
        .parts_per_answer;
    Ok(Session {
        key,
        agent_id,
        opened,
        history,
        max_parts,
    })
}

/// What running the agent left for [`conclude`].
struct Ran {
    result: Result<clawtalk_agent::TurnOutcome, TurnError>,
    card: Option<CardTurn>,
    action_cards: ActionCards,
    /// The answer's opening that went out ahead of it, and when.
    opened: Option<(String, tokio::time::Instant)>,
}

/// Runs the agent on `user`, its progress shown in the turn's streaming card or as notes.
/// `None` when the turn's lease was lost meanwhile (its result is dropped).
async fn run_agent(
    shared: &Arc<Shared>,
    turn: &StoredInbound,
    inbound: &InboundMessage,
    session: &Session,
    user: ChatMessage,
    outbox: &Arc<reply::TurnOutbox>,
) -> Option<Ran> {
    let key = &session.key;
    let context = ToolContext {
        account_id: inbound.account_id.clone(),
        session_key: SessionKey::parse(key).ok(),
        sender: inbound.sender.staff_id.as_ref().map(|s| s.as_str().to_owned()),
        target: Target::for_inbound(inbound),
        workspace: shared
            .config()
            .agent(&session.agent_id)
            .map(|a| a.workspace.clone()),
        action_cards: ActionCards::default(),
        media: Some(Arc::clone(outbox) as Arc<dyn MediaSender>),
        approvals: Some(Arc::new(crate::approvals::TurnApprovals::new(
            shared, inbound, turn.id, key,
        ))),
    };
    let action_cards = context.action_cards.clone();
    let cancel = CancellationToken::new();
    register(shared, key, Some(cancel.clone()));
    // A reclaimed turn goes on in the card its earlier run left open. Opening a card waits
    // for the card budget, which in a burst can outlast the lease: it is renewed meanwhile.
    // Boxed, as is the card's display below: a turn's future lives as long as the turn, and
    // what it holds inline is held by every turn waiting on the model (thousands in a
    // burst), though opening the card is over by then and a markdown turn draws no card.
    //
    // An answer whose opening an earlier run sent (or handed to DingTalk as it ended) goes on
    // as markdown: a card would repeat the opening, and the user would read the answer's
    // start twice.
    let opened_earlier = outbox.opened_earlier();
    let opening = Box::pin(async {
        if opened_earlier {
            return None;
        }
        let left = reply::cards_left_open(shared, turn).await;
        match reply::adopt_card(shared, inbound, turn.id, key, left).await {
            Some(adopted) => Some(adopted),
            None => reply::open_streaming(shared, inbound, turn.id, key).await,
        }
    });
    let Some(card) = under_lease(shared, turn, Phase::OpeningCard, opening).await else {
        register(shared, key, None);
        return None;
    };
    let mut card =
        card.map(|card| card.limit_cards(usize::try_from(session.max_parts).unwrap_or(usize::MAX)));
    // A card and WebChat draw the answer as it streams; progress notes only need tools, and
    // an answer beyond the card quota its first words.
    let opening = card.is_none()
        && !opened_earlier
        && inbound.webchat.is_none()
        && inbound.cron.is_none()
        && reply::overflows_to_markdown(shared, inbound);
    let mut notes = progress::Notes::new(shared, inbound, outbox, card.is_none());
    let (observer, mut events) = if card.is_some() || inbound.webchat.is_some() {
        Observer::channel()
    } else if opening {
        let (observer, events, tap) = Observer::channel_with_text_tap();
        notes = notes.with_opening(outbox, tap);
        (observer, events)
    } else {
        Observer::channel_without_text()
    };
    let running_agent = session.agent_id.clone();
    let history = trim_history(&session.history);
    // Everything moves in, the observer above all: dropping it when the turn ends is what
    // tells the display below that the answer is complete. Boxed: inline, the join below
    // reserved a third more than the agent's own future in every waiting turn.
    let run = Box::pin(async move {
        shared
            .agent()
            .run_turn_observed(&running_agent, history, user, &context, &cancel, &observer)
            .await
    });
    let display = async {
        match card.as_mut() {
            Some(card) => Box::pin(card.drive(&mut events)).await,
            None if inbound.webchat.is_some() => shared.webchat_live.drive(turn.id, &mut events).await,
            None => notes.drive(&mut events).await,
        }
    };
    let result = tokio::select! {
        (result, ()) = async { tokio::join!(run, display) } => Some(result),
        lost = keep_lease(shared, turn) => {
            tracing::warn!(inbound = ?turn.id, ?lost, "lost the turn's lease; dropping its result");
            None
        }
    };
    register(shared, key, None);
    // A note or the answer's opening DingTalk is taking holds the answer back, for as long as
    // its send quota makes it wait: in a burst, long enough for the lease to lapse unrenewed
    // (thousands of turns given up as their answers were due, on three replicas).
    let result = match result {
        Some(result) => under_lease(shared, turn, Phase::AwaitingInterim, outbox.answer_goes())
            .await
            .map(|()| result),
        None => None,
    };
    let Some(result) = result else {
        if let Some(card) = card {
            Box::pin(reply::release_cards(shared, &card)).await;
        }
        return None;
    };
    Some(Ran {
        result,
        card,
        action_cards,
        opened: outbox.opened(),
    })
}

/// Answers with what the agent produced (or the failure), records the exchange, and
/// finishes the turn.
async fn conclude(
    shared: &Arc<Shared>,
    turn: &StoredInbound,
    inbound: &InboundMessage,
    session: &Session,
    ran: Ran,
    user_message: &ChatMessage,
    notices: &[String],
) -> anyhow::Result<bool> {
    let id = turn.id;
    let Ran {
        result,
        card,
        action_cards,
        opened: opening_sent,
    } = ran;
    let max_parts = session.max_parts;
    match result {
        Ok(outcome) => {
            let mut entries = vec![entry(user_message, id, shared.clock.now())?];
            for message in &outcome.appended {
                entries.push(entry(message, id, shared.clock.now())?);
            }
            tracing::info!(inbound = ?id, agent = %session.agent_id, model = %outcome.model, prompt_tokens = outcome.usage.prompt_tokens, completion_tokens = outcome.usage.completion_tokens, "turn answered");
            shared.usage.add(
                inbound.account_id.as_str(),
                &session.agent_id,
                &super::usage::of_turn(&outcome),
            );
            let reply = if outcome.reply.trim().is_empty() {
                notices::NO_ANSWER
            } else {
                &outcome.reply
            };
            // What went out as the answer's opening is not sent again. (An opening from a
            // round that ended in a tool call stays what the model said while it worked.)
            let (reply, opened_at) = match &opening_sent {
                Some((opening, at)) => match reply.strip_prefix(opening.as_str()) {
                    Some(rest) => (rest.trim_start(), Some(*at)),
                    None => (reply, None),
                },
                None => (reply, None),
            };
            let text = with_notices(notices, reply);
            // The transcript is written alongside the reply instead of before it: waiting for
            // its commit first was one store round trip more between the model's answer and
            // the user. Polled first, its write still enters the store's queue ahead of the
            // reply's plan. A failed write costs the agent its memory of this exchange, not
            // the user the answer.
            let opened = &session.opened;
            let transcript =
                shared
                    .store
                    .transcript_append(opened.session.id, opened.session.generation, entries);
            let cards = action_cards.take();
            let answer = Answer {
                text: &text,
                failed: false,
                action_cards: &cards,
                max_parts,
                arrived: turn.record.received_at_ms,
                opened_at,
            };
            let (written, sent) = tokio::join!(
                transcript,
                under_lease(
                    shared,
                    turn,
                    Phase::Replying,
                    self::answer(shared, id, inbound, card, answer)
                )
            );
            if let Err(error) = written {
                tracing::error!(inbound = ?id, %error, "cannot store the turn's transcript; the agent will not remember this exchange");
            }
            match sent {
                Some(sent) => sent?,
                // Another worker owns the turn now and sends the planned parts.
                None => return Ok(false),
            }
            finish(shared, id, TurnOutcome::Replied).await
        }
        Err(TurnError::Cancelled) => {
            // `/stop` already marked the turn cancelled in the store and answered the user.
            tracing::info!(inbound = ?id, "turn stopped");
            if let Some(card) = card {
                let calls = card.call_counter();
                let parts = card.finish(&TurnError::Cancelled.user_message(), true).await;
                reply::close_stopped(shared, inbound, &parts, &calls).await;
            }
            finish(shared, id, TurnOutcome::Cancelled).await
        }
        Err(TurnError::Llm(error)) if error.is_local_exhaustion() => {
            // Out of descriptors here, not a model failure: the turn is left unfinished, so
            // its lease runs out and it is claimed and answered again, never marked failed.
            tracing::warn!(inbound = ?id, %error, "no descriptor free for the model call; the turn is retried");
            Ok(false)
        }
        Err(error) => {
            let text = with_notices(notices, &error.user_message());
            let notice = clawtalk_core::reply::failure_notice(inbound, &text);
            let answer = Answer {
                text: &notice,
                failed: true,
                action_cards: &[],
                max_parts,
                arrived: turn.record.received_at_ms,
                opened_at: None,
            };
            let Some(send) = under_lease(
                shared,
                turn,
                Phase::Replying,
                self::answer(shared, id, inbound, card, answer),
            )
            .await
            else {
                return Ok(false);
            };
            finish(shared, id, TurnOutcome::Failed(error.to_string())).await?;
            send.map(|()| false)
        }
    }
}

/// What [`answer`] sends.
struct Answer<'a> {
    text: &'a str,
    /// A failure notice rather than the model's answer (already worded for its source).
    failed: bool,
    action_cards: &'a [ActionCard],
    /// `limits.partsPerAnswer` of the turn's agent.
    max_parts: u32,
    /// When the message arrived.
    arrived: EpochMs,
    /// When the answer's opening went out as markdown: the rest goes as markdown too.
    opened_at: Option<tokio::time::Instant>,
}

/// Sends the turn's answer (or failure notice): into its streaming card, into fresh cards in
/// non-streaming card mode, else as markdown or text messages; the action cards follow.
async fn answer(
    shared: &Arc<Shared>,
    id: clawtalk_store::InboundId,
    inbound: &InboundMessage,
    card: Option<CardTurn>,
    answer: Answer<'_>,
) -> anyhow::Result<()> {
    let Answer {
        text,
        failed,
        action_cards,
        max_parts,
        arrived,
        opened_at,
    } = answer;
    let first_visible = FirstVisible { arrived };
    if let Some(card) = card {
        let streamed = card.calls();
        let latency = card.first_text_latency();
        let shown_at = card.first_shown_at();
        let calls = card.call_counter();
        let parts = card.finish(text, failed).await;
        let result = reply::send_cards(shared, id, inbound, parts, action_cards, &calls).await;
        tracing::info!(inbound = ?id, card_calls = calls.load(Ordering::Relaxed), streamed_calls = streamed, first_text_ms = latency.map(|d| d.as_millis()), "AI card answer");
        first_visible.observe(shared, &result, shown_at);
        return result;
    }
    let card_account = reply::card_account(shared, inbound);
    if let Some((cards, _)) = card_account
        .as_ref()
        .filter(|(c, _)| !c.overflows() && opened_at.is_none())
    {
        let calls = AtomicU32::new(0);
        let max_cards = usize::try_from(max_parts).unwrap_or(usize::MAX);
        let parts = plan_fresh(text, cards.settings.max_bytes, max_cards, failed);
        let result = reply::send_cards(shared, id, inbound, parts, action_cards, &calls).await;
        tracing::info!(inbound = ?id, card_calls = calls.load(Ordering::Relaxed), "AI card answer");
        first_visible.observe(shared, &result, None);
        return result;
    }
    if let Some((cards, _)) = card_account {
        // Beyond the card quota (`cardOverflow: "markdown"`): the answer goes as markdown.
        cards.count_overflow();
    }
    // A failure notice is no answer to approve or reject: only answers take the format.
    let account = shared.account_settings(inbound.account_id.as_str());
    let format = account
        .as_deref()
        .and_then(|a| a.response_format.as_ref())
        .filter(|_| !failed);
    let result = reply::send_with_cards(shared, id, inbound, text, action_cards, max_parts, format).await;
    first_visible.observe(shared, &result, opened_at);
    result
}

/// Measures a message's wait for the first text of its answer (`/metrics`).
struct FirstVisible {
    /// When the message arrived.
    arrived: EpochMs,
}

impl FirstVisible {
    /// Records the wait once the answer is delivered: until `shown_at` when a streaming
    /// card showed text before the end, else until now (the first part went just before).
    fn observe(&self, shared: &Shared, result: &anyhow::Result<()>, shown_at: Option<tokio::time::Instant>) {
        if result.is_err() {
            return;
        }
        let until_now = shared.clock.now().since(self.arrived);
        let earlier = shown_at.map_or(Duration::ZERO, |at| at.elapsed());
        shared
            .metrics
            .first_visible
            .observe(until_now.saturating_sub(earlier));
    }
}

/// What a turn was doing when its lease was lost, for the log.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Reading and finishing what an earlier run of a reclaimed turn left.
    Resuming,
    /// Opening the session and fetching the user's media.
    Preparing,
    /// Waiting for the card budget and creating the card.
    OpeningCard,
    /// Waiting for a note or the answer's opening that DingTalk is taking.
    AwaitingInterim,
    /// Sending the answer.
    Replying,
}

/// Runs `work` while renewing the turn's lease: each phase can wait long (for a store
/// connection, the card budget, DingTalk's rate limits), and a lapsed lease would let another
/// worker run the turn or send the same parts again. `None` when the lease was lost (the new
/// owner finishes the turn).
async fn under_lease<T>(
    shared: &Arc<Shared>,
    turn: &StoredInbound,
    phase: Phase,
    work: impl Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        done = work => Some(done),
        lost = keep_lease(shared, turn) => {
            tracing::warn!(inbound = ?turn.id, ?lost, ?phase, "lost the turn's lease; its new owner runs the turn on from what the store holds");
            None
        }
    }
}

/// A cancelled or reclaimed turn may no longer be ours to finish; that is not an error.
async fn finish(
    shared: &Arc<Shared>,
    id: clawtalk_store::InboundId,
    outcome: TurnOutcome,
) -> anyhow::Result<bool> {
    let label = match &outcome {
        TurnOutcome::Replied => "replied",
        TurnOutcome::Failed(_) => "failed",
        TurnOutcome::Cancelled => "cancelled",
        TurnOutcome::Ignored => "ignored",
    };
    shared.metrics.turns.inc(label);
    match shared
        .store
        .finish_turn(id, &shared.me, outcome, shared.clock.now())
        .await
    {
        Ok(()) | Err(StoreError::LeaseLost { .. }) => Ok(label == "replied"),
        Err(error) => Err(error.into()),
    }
}

fn register(shared: &Arc<Shared>, key: &str, token: Option<CancellationToken>) {
    if let Ok(mut running) = shared.running.lock() {
        match token {
            Some(token) => running.insert(key.to_owned(), token),
            None => running.remove(key),
        };
    }
}

/// Downloads and reads the message's attachments, and builds the user message from them.
async fn prepare_user(
    shared: &Arc<Shared>,
    inbound: &InboundMessage,
    dir: &Path,
    account: &DingTalkAccount,
) -> media::UserTurn {
    let capped = inbound_cap::cap(&prompt_text(inbound), account.max_inbound_chars);
    let mut turn = compose_user(shared, inbound, &capped.text, dir, account.media_max_bytes).await;
    if let Some(notice) = capped.notice {
        tracing::info!(account = %account.id, max_chars = account.max_inbound_chars, "user message cut to the account's maxInboundChars");
        turn.notices.insert(0, notice);
    }
    turn
}

/// The user message from its (capped) text and its attachments.
async fn compose_user(
    shared: &Arc<Shared>,
    inbound: &InboundMessage,
    text: &str,
    dir: &Path,
    max_bytes: u64,
) -> media::UserTurn {
    if inbound.media.is_empty() {
        return media::compose(text, &[]);
    }
    let fetched = match shared.account(inbound.account_id.as_str()) {
        Some(account) => {
            fetch::fetch_all(&account.api, &inbound.robot_code, &inbound.media, dir, max_bytes).await
        }
        None => inbound
            .media
            .iter()
            .map(|_| fetch::Fetched::Failed("the account is not connected".into()))
            .collect(),
    };
    let attachments = attach::describe_all(&inbound.media, fetched, ExtractLimits::default()).await;
    media::compose(text, &attachments)
}

/// The answer with the attachment notices (files not read) above it.
fn with_notices(notices: &[String], text: &str) -> String {
    if notices.is_empty() {
        return text.to_owned();
    }
    format!("{}\n\n{text}", notices.join("\n"))
}

/// Removes a turn's downloaded attachments when the turn ends, however it ends; a reclaimed
/// turn downloads them again.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        match std::fs::remove_dir_all(&self.0) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(dir = %self.0.display(), error = %e, "cannot remove received media"),
        }
    }
}

/// The user message as the model sees it: who speaks (in groups), the quoted message, and
/// the text; attachments are described by [`prepare_user`].
fn prompt_text(inbound: &InboundMessage) -> String {
    let mut text = String::new();
    if let Some(quoted) = &inbound.quoted_text {
        for line in quoted.lines() {
            text.push_str("> ");
            text.push_str(line);
            text.push('\n');
        }
        text.push('\n');
    }
    if inbound.is_group() && !inbound.sender.nick.is_empty() {
        text.push_str(&format!("[{}] ", inbound.sender.nick));
    }
    text.push_str(&inbound.text);
    text
}

/// Never start the history with tool results whose call was cut off by the limit.
fn trim_history(history: &[ChatMessage]) -> &[ChatMessage] {
    let start = history
        .iter()
        .position(|m| m.role == LlmRole::User)
        .unwrap_or(history.len());
    &history[start..]
}

/// A model message of turn `inbound` as a transcript entry.
fn entry(
    message: &ChatMessage,
    inbound: clawtalk_store::InboundId,
    at: EpochMs,
) -> anyhow::Result<NewTranscriptEntry> {
    let role = match message.role {
        LlmRole::System => Role::System,
        LlmRole::User => Role::User,
        LlmRole::Assistant => Role::Assistant,
        LlmRole::Tool => Role::Tool,
    };
    Ok(NewTranscriptEntry {
        role,
        content_json: serde_json::to_string(message)?,
        inbound_id: Some(inbound),
        at_ms: at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `f` returns, without calling it.
    fn future_size<A, F: Future>(_: impl Fn(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every turn waiting on the model holds its future (thousands at once in a burst), so
    /// what is only needed before or after the wait (opening a card, drawing one, sending the
    /// answer) is boxed and not reserved in it. The agent's own future is counted apart: it
    /// is boxed too, and needed while waiting.
    #[test]
    fn a_waiting_turn_reserves_little_beyond_the_agent() {
        let turn = future_size(|(s, t): (&'static Arc<Shared>, StoredInbound)| run(s, t));
        let conclude = future_size(
            |(s, t, i, se, r, u, n): (
                &'static Arc<Shared>,
                &'static StoredInbound,
                &'static InboundMessage,
                &'static Session,
                Ran,
                &'static ChatMessage,
                &'static [String],
            )| conclude(s, t, i, se, r, u, n),
        );
        let tell = future_size(
            |(s, id, i): (&'static Arc<Shared>, InboundId, &'static InboundMessage)| {
                reply::send(s, id, i, "")
            },
        );
        let agent = future_size(
            |(s, t, i, se, u, o): (
                &'static Arc<Shared>,
                &'static StoredInbound,
                &'static InboundMessage,
                &'static Session,
                ChatMessage,
                &'static Arc<reply::TurnOutbox>,
            )| run_agent(s, t, i, se, u, o),
        );
        assert!(turn < 5 * 1024, "a turn's future is {turn} bytes");
        assert!(
            agent < tell,
            "waiting on the agent ({agent} bytes) holds room for sending a reply ({tell} bytes)"
        );
        assert!(
            turn < conclude,
            "sending the answer ({conclude} bytes) is not reserved in the turn ({turn} bytes)"
        );
    }
}
