//! What a turn sends while it runs, through the outbox like its answer: the images and
//! files its tools send, and its progress notes.
//!
//! Each is planned before anything is uploaded or sent, and marked sent once DingTalk
//! accepted it. A turn run again after a crash asks for the same sends again; each finds the
//! part its first run planned (the same request, in the same order): a sent part is not sent
//! again, nor one handed to DingTalk as the run ended (it may have arrived); a part left
//! planned is sent (reusing its upload when it has one). Progress notes and openings are the
//! exception: one left planned would come late, after the answer it announces, so nobody but
//! its run sends it; the next run or the sweep ends it (`plan::sent_by_its_run_only`), and the
//! new run sends its own. An opening an ended run handed over counts as sent: the new run's
//! answer follows it.
//!
//! Progress notes run beside the turn, never in its way: the answer does not wait for a
//! note to be planned or recorded, only for one already on its way to DingTalk, so that no
//! note arrives after the answer it announces; a note not yet sent by then is dropped.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::plan::title_of;
use super::plan::{next_interim, planned_before};
use super::send::{Stage, send_message, send_message_then, sha256_hex};
use crate::Shared;
use clawtalk_agent::media::send::{MediaSender, Outgoing, OutgoingKind};
use clawtalk_core::inbound::InboundMessage;
use clawtalk_core::reply::{MediaPart, ReplyPart};
use clawtalk_store::{InboundId, NewReplyPart, OutboxPart, ReplyPartId, ReplyStatus};

/// One turn's interim parts.
pub(crate) struct TurnOutbox {
    shared: Arc<Shared>,
    id: InboundId,
    inbound: InboundMessage,
    /// Serialises planning: tools and progress notes plan concurrently, and each needs a
    /// number of its own.
    state: tokio::sync::Mutex<State>,
    /// Whether the answer is going out: set by [`TurnOutbox::answer_goes`], held by a note
    /// while DingTalk takes it.
    answering: tokio::sync::Mutex<bool>,
    /// The answer's opening that went out (as the model wrote it), and when.
    opened: std::sync::Mutex<Option<(String, tokio::time::Instant)>>,
}

struct State {
    /// Interim parts an earlier run of this turn planned.
    earlier: Vec<OutboxPart>,
    /// Earlier parts this run has asked for again.
    matched: HashSet<ReplyPartId>,
    /// The number of the next new part.
    next: u32,
}

impl std::fmt::Debug for TurnOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnOutbox").field("inbound", &self.id).finish()
    }
}

impl TurnOutbox {
    /// The interim outbox of turn `id`; `earlier` are the parts previous runs planned.
    pub(crate) fn new(
        shared: &Arc<Shared>,
        id: InboundId,
        inbound: &InboundMessage,
        earlier: Vec<OutboxPart>,
    ) -> Arc<Self> {
        let next = next_interim(&earlier);
        let opened = earlier_opening(shared, &earlier);
        Arc::new(Self {
            shared: Arc::clone(shared),
            id,
            inbound: inbound.clone(),
            state: tokio::sync::Mutex::new(State {
                earlier,
                matched: HashSet::new(),
                next,
            }),
            answering: tokio::sync::Mutex::new(false),
            opened: std::sync::Mutex::new(opened),
        })
    }

    /// Whether an earlier run of the turn sent the answer's opening: this run's answer must
    /// follow it as markdown, never in a card that would say it a second time.
    pub(crate) fn opened_earlier(&self) -> bool {
        self.opened().is_some()
    }

    /// Called before the turn's answer (or its failure) is sent: waits for a note DingTalk
    /// is taking, and stops any later one.
    pub(crate) async fn answer_goes(&self) {
        *self.answering.lock().await = true;
    }

    /// Sends a progress note, unless the answer is going out already. A lost note costs
    /// nothing: the answer follows either way.
    pub(crate) async fn note(&self, text: String) {
        self.send_interim(ReplyPart::ProgressNote { text }, || {}).await;
    }

    /// Sends `opening`, the start of the answer as the model wrote it, as a markdown message
    /// of its own, unless the answer is going out already. Once DingTalk has it, and before
    /// the answer may go, it is recorded for [`TurnOutbox::opened`].
    pub(crate) async fn opening(&self, opening: String) {
        let text = clawtalk_delivery::markdown::to_dingtalk(opening.trim_end());
        let body = ReplyPart::Opening {
            title: title_of(&text),
            text,
            said: opening.clone(),
        };
        let opened = &self.opened;
        let record = move || {
            *opened.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((opening, tokio::time::Instant::now()));
        };
        self.send_interim(body, record).await;
    }

    /// The opening that went out (see [`TurnOutbox::opening`]) and when; final once
    /// [`TurnOutbox::answer_goes`] has returned.
    pub(crate) fn opened(&self) -> Option<(String, tokio::time::Instant)> {
        self.opened
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Sends an interim message unless the answer is going out already, calling `on_sent`
    /// once DingTalk has it, while the answer still waits (an earlier run of the turn that
    /// sent it counts too). A message not sent is ended, so that the outbox never sends it
    /// after the answer.
    async fn send_interim(&self, body: ReplyPart, on_sent: impl FnOnce()) {
        if *self.answering.lock().await {
            return;
        }
        let kind = body.kind();
        let result = async {
            let part = match self.plan(body).await? {
                Planned::Send(part) => part,
                // Sent by an earlier run of the turn.
                Planned::WentOut => {
                    on_sent();
                    return Ok(());
                }
                // Another worker holds it: whether it goes out is that worker's to say, and
                // it is not taken for sent. An opening's words then stay in the answer: shown
                // twice rather than missing.
                Planned::Elsewhere => return Ok(()),
            };
            let answering = self.answering.lock().await;
            if *answering {
                self.give_up(&part, &anyhow::anyhow!("the answer went first"))
                    .await;
                return Ok(());
            }
            let sent = move || {
                on_sent();
                drop(answering);
            };
            if let Err(failure) = send_message_then(&self.shared, &self.inbound, &part, None, sent).await {
                self.give_up(&part, &failure.error).await;
                return Err(failure.error);
            }
            anyhow::Ok(())
        }
        .await;
        if let Err(error) = result {
            tracing::debug!(kind, error = %format!("{error:#}"), "interim message not sent");
        }
    }

    /// The part to send for `body`: the one an earlier run planned for the same request, or a
    /// new one; or why nothing is to be sent.
    ///
    /// What this run read of the earlier runs' parts is as old as the run: a part it found
    /// planned may have been ended since (the run taking the turn over ends what an ended run
    /// left, `send::send_planned`). Such a part never went out, so a new one is planned.
    async fn plan(&self, body: ReplyPart) -> anyhow::Result<Planned> {
        let shared = &self.shared;
        let mut state = self.state.lock().await;
        let State {
            earlier,
            matched,
            next,
        } = &mut *state;
        loop {
            let again = planned_before(earlier, matched, &body);
            let (wanted, new) = match again {
                Some(part) => {
                    matched.insert(part.id);
                    if part.status.went_out() {
                        return Ok(Planned::WentOut);
                    }
                    (part.part, Vec::new())
                }
                None => {
                    let number = *next;
                    *next += 1;
                    (
                        number,
                        vec![NewReplyPart {
                            part: number,
                            body: body.clone(),
                        }],
                    )
                }
            };
            let was_earlier = new.is_empty();
            let planned = shared
                .store
                .plan_reply(self.id, new, &shared.me, shared.lease_ms(), shared.clock.now())
                .await?;
            let part = planned
                .into_iter()
                .find(|p| p.part == wanted)
                .context("a planned part is missing from the outbox")?;
            anyhow::ensure!(
                part.body.same_request(&body),
                "reply part {wanted} holds another request"
            );
            matched.insert(part.id);
            if was_earlier && part.status == ReplyStatus::Failed {
                continue;
            }
            if part.status.went_out() {
                return Ok(Planned::WentOut);
            }
            let mine = part
                .lease
                .as_ref()
                .is_some_and(|l| l.is_held_by(&shared.me, shared.clock.now()));
            return Ok(if part.status == ReplyStatus::Planned && mine {
                Planned::Send(Box::new(part))
            } else {
                Planned::Elsewhere
            });
        }
    }

    /// Ends a part the model or the user has been told failed: nobody sends it later.
    async fn give_up(&self, part: &OutboxPart, error: &anyhow::Error) {
        if let Err(e) = self
            .shared
            .store
            .mark_reply_failed(part.id, &format!("{error:#}"), true, self.shared.clock.now())
            .await
        {
            tracing::warn!(part = part.id, error = %e, "cannot record a failed send");
        }
    }
}

/// What [`TurnOutbox::plan`] found for a request.
enum Planned {
    /// This run sends it: the part, planned and leased to this worker.
    Send(Box<OutboxPart>),
    /// An earlier run of the turn sent it, or handed it to DingTalk as it ended.
    WentOut,
    /// Another worker holds it.
    Elsewhere,
}

/// The answer's opening an earlier run sent, or handed to DingTalk as it ended, and when (as an
/// instant of this process, for the first-visible-text metric).
fn earlier_opening(shared: &Shared, earlier: &[OutboxPart]) -> Option<(String, tokio::time::Instant)> {
    earlier.iter().find_map(|part| match (&part.body, part.status) {
        (ReplyPart::Opening { said, .. }, status) if status.went_out() => {
            let ago = part
                .sent_at_ms
                .map_or(std::time::Duration::ZERO, |at| shared.clock.now().since(at));
            let now = tokio::time::Instant::now();
            Some((said.clone(), now.checked_sub(ago).unwrap_or(now)))
        }
        _ => None,
    })
}

#[async_trait]
impl MediaSender for TurnOutbox {
    async fn send_media(&self, media: Outgoing) -> Result<(), String> {
        let name = media.file_name.clone();
        let part = MediaPart {
            path: media.path.display().to_string(),
            sha256: sha256_hex(&media.bytes),
            file_name: media.file_name,
            file_type: media.file_type,
            media_id: None,
        };
        let body = match media.kind {
            OutgoingKind::Image => ReplyPart::Image(part),
            OutgoingKind::File => ReplyPart::File(part),
        };
        let part = self
            .plan(body)
            .await
            .map_err(|e| format!("{name} could not be planned for sending: {e:#}"))?;
        // Sent by an earlier run, or held by the worker sending it.
        let Planned::Send(part) = part else {
            return Ok(());
        };
        match send_message(&self.shared, &self.inbound, &part, Some(media.bytes)).await {
            Ok(()) => Ok(()),
            Err(failure) => {
                self.give_up(&part, &failure.error).await;
                let error = failure.error;
                Err(match failure.stage {
                    Stage::Upload => format!("DingTalk refused the upload of {name}: {error:#}"),
                    Stage::Send => format!("{name} was uploaded but could not be sent: {error:#}"),
                })
            }
        }
    }
}
