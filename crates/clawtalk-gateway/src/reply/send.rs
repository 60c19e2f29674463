//! Sending planned parts: each part still planned and leased to this worker goes out once,
//! is marked sent right after DingTalk accepted it, and an image or file is uploaded first
//! when its part has no media id yet (the upload's result is stored before the send).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use anyhow::{Context, anyhow};
use sha2::{Digest, Sha256};

use super::card;
use super::handover;
use super::plan::{FIRST_ANSWER_PART, sent_by_its_run_only};
use crate::Shared;
use clawtalk_agent::media::send::{OutgoingKind, check_file};
use clawtalk_core::inbound::InboundMessage;
use clawtalk_core::reply::{MediaPart, ReplyPart};
use clawtalk_delivery::{Body, OutboundMessage};
use clawtalk_store::{OutboxPart, ReplyStatus, SendReceipt};

/// Why a progress note or an opening an ended run left planned was not sent.
const LEFT_BY_AN_ENDED_RUN: &str =
    "an interim message of a run that ended is not sent late (it would follow the answer)";

/// Why one part was not sent.
#[derive(Debug)]
pub(crate) struct PartFailure {
    /// Where it failed.
    pub stage: Stage,
    /// Why.
    pub error: anyhow::Error,
    /// Trying again unchanged cannot help.
    pub permanent: bool,
}

/// The step of a send that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The dependent upload (nothing was sent).
    Upload,
    /// The send itself, or its bookkeeping.
    Send,
}

impl PartFailure {
    fn upload(error: anyhow::Error, permanent: bool) -> Self {
        Self {
            stage: Stage::Upload,
            error,
            permanent,
        }
    }
}

/// Sends every part that is still planned and leased to this worker, except progress notes
/// and openings (`plan::sent_by_its_run_only`). `resumed`: a previous incarnation may have
/// sent some of them before it died; the notes and the opening it left are ended.
/// `card_calls` counts AI card API calls.
pub(crate) async fn send_planned(
    shared: &Arc<Shared>,
    inbound: &InboundMessage,
    parts: &[OutboxPart],
    resumed: bool,
    card_calls: &AtomicU32,
) -> anyhow::Result<()> {
    let now = shared.clock.now();
    for part in parts {
        let mine = part.lease.as_ref().is_some_and(|l| l.is_held_by(&shared.me, now));
        if part.status != ReplyStatus::Planned || !mine {
            continue;
        }
        if sent_by_its_run_only(&part.body) {
            // The answer's own send leaves it to the run that planned it (this one, recording
            // that DingTalk took it; or an ended one, whose leftovers the sweep ends).
            if resumed {
                shared
                    .store
                    .mark_reply_failed(part.id, LEFT_BY_AN_ENDED_RUN, true, shared.clock.now())
                    .await?;
            }
            continue;
        }
        if let ReplyPart::AiCard(card) = &part.body {
            card::send_part(shared, inbound, part.inbound_id, card, resumed, card_calls).await?;
            let receipt = SendReceipt {
                process_query_key: None,
                response_json: None,
            };
            shared
                .store
                .mark_reply_sent(part.id, receipt, shared.clock.now())
                .await?;
            shared.metrics.messages_out.inc(inbound.account_id.as_str());
            count_answered(shared, part);
            continue;
        }
        if let Err(failure) = send_message(shared, inbound, part, None).await {
            shared
                .store
                .mark_reply_failed(
                    part.id,
                    &format!("{:#}", failure.error),
                    failure.permanent,
                    shared.clock.now(),
                )
                .await?;
            if failure.permanent && !part.body.is_interim() && !superseded(&failure.error) {
                shared.metrics.answers.inc("lost");
            }
            return Err(failure.error.context(format!("sending reply part {}", part.part)));
        }
        count_answered(shared, part);
    }
    Ok(())
}

/// The part was found already sent or ended when its request was about to leave (by
/// another worker, or the user's stop): nothing was lost.
fn superseded(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<clawtalk_delivery::DeliveryError>(),
        Some(clawtalk_delivery::DeliveryError::Superseded)
    )
}

/// A message counts as answered when the first part of its answer is delivered; the outbox
/// delivers each part once, so each message counts once.
fn count_answered(shared: &Shared, part: &OutboxPart) {
    if part.part == FIRST_ANSWER_PART && !part.body.is_interim() {
        shared.metrics.answers.inc("once");
    }
}

/// Sends one planned message part (not an AI card) and marks it sent. An image or file
/// without a media id is uploaded first, from `bytes` when the caller just read them, else
/// from its file (which must still be what was planned). Failures are left to the caller
/// to record.
pub(crate) async fn send_message(
    shared: &Arc<Shared>,
    inbound: &InboundMessage,
    part: &OutboxPart,
    bytes: Option<Vec<u8>>,
) -> Result<(), PartFailure> {
    send_message_then(shared, inbound, part, bytes, || {}).await
}

/// [`send_message`], calling `on_sent` as soon as DingTalk has the message, before the store
/// has recorded it; on a failure it is dropped uncalled (a lock guard it holds is released).
pub(crate) async fn send_message_then(
    shared: &Arc<Shared>,
    inbound: &InboundMessage,
    part: &OutboxPart,
    bytes: Option<Vec<u8>>,
    on_sent: impl FnOnce(),
) -> Result<(), PartFailure> {
    let failed_send = |error: anyhow::Error| PartFailure {
        stage: Stage::Send,
        error,
        permanent: false,
    };
    let body = match &part.body {
        ReplyPart::Image(media) | ReplyPart::File(media) if media.media_id.is_none() => {
            let uploaded = upload(shared, inbound, &part.body, media, bytes).await?;
            // Stored before the send: a crash from here on sends this upload, never a second.
            shared
                .store
                .record_reply_step(part.id, &uploaded, shared.clock.now())
                .await
                .map_err(|e| PartFailure::upload(e.into(), false))?;
            uploaded
        }
        body => body.clone(),
    };
    let wire = Body::try_from(&body).map_err(|e| PartFailure {
        stage: Stage::Send,
        error: e.into(),
        permanent: true,
    })?;
    let outbound = shared.outbound_for(inbound).map_err(failed_send)?;
    let message = OutboundMessage::reply_to(inbound, wire, part.idempotency_key.clone())
        .with_handover(handover::of_part(shared, part.id));
    let receipt = outbound.send(&message).await.map_err(|error| PartFailure {
        stage: Stage::Send,
        permanent: error.is_permanent(),
        error: error.into(),
    })?;
    on_sent();
    let receipt = SendReceipt {
        process_query_key: receipt.process_query_key.map(|k| k.as_str().to_owned()),
        response_json: None,
    };
    shared
        .store
        .mark_reply_sent(part.id, receipt, shared.clock.now())
        .await
        .map_err(|e| failed_send(e.into()))?;
    if !body.is_interim() {
        shared.metrics.messages_out.inc(inbound.account_id.as_str());
    }
    Ok(())
}

/// The dependent step of an image or file part: `media/upload`, giving the part its media id.
async fn upload(
    shared: &Shared,
    inbound: &InboundMessage,
    body: &ReplyPart,
    media: &MediaPart,
    bytes: Option<Vec<u8>>,
) -> Result<ReplyPart, PartFailure> {
    let kind = match body {
        ReplyPart::Image(_) => OutgoingKind::Image,
        _ => OutgoingKind::File,
    };
    let api = shared
        .account(inbound.account_id.as_str())
        .map(|a| a.api.clone())
        .ok_or_else(|| {
            PartFailure::upload(
                anyhow!("account {:?} is not connected", inbound.account_id),
                false,
            )
        })?;
    let bytes = match bytes {
        Some(bytes) => bytes,
        None => reread(kind, media)
            .await
            .map_err(|e| PartFailure::upload(e, true))?,
    };
    let media_id = api
        .upload_media(kind.upload_kind(), &media.file_name, bytes)
        .await
        .map_err(|e| PartFailure::upload(e.into(), false))?;
    Ok(body.clone().with_media_id(media_id.as_str()))
}

/// A planned file read again for its upload (after a crash): checked by the same rules,
/// and refused if it changed since it was planned.
async fn reread(kind: OutgoingKind, media: &MediaPart) -> anyhow::Result<Vec<u8>> {
    let path = media.path.clone();
    let name = media.file_name.clone();
    let outgoing = tokio::task::spawn_blocking(move || check_file(kind, Path::new(&path), Some(&name)))
        .await
        .context("reading the file failed")?
        .map_err(|e| anyhow!(e))?;
    if sha256_hex(&outgoing.bytes) != media.sha256 {
        anyhow::bail!("{} changed since it was planned; not sent", media.file_name);
    }
    Ok(outgoing.bytes)
}

/// Hex SHA-256 of `bytes`: what identifies a file's content in its part.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
