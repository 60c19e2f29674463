//! Replies out: split, planned in the outbox, then sent part by part.
//!
//! Planning before sending is what makes replies exactly-once: a part is written with its
//! text first, marked sent right after DingTalk accepts it, and after a crash only the
//! parts still `planned` are sent again.

use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{Shared, now_ms};
use clawtalk_config::{MessageType, ResponseFormat};
use clawtalk_core::inbound::InboundMessage;
use clawtalk_delivery::card::CardPart;
use clawtalk_delivery::{ActionCard, Body, ButtonTarget, CardButton, OutboundMessage, chunk, markdown};
use clawtalk_store::{InboundId, NewReplyPart, ReplyPart, ReplyStatus, SendReceipt};

/// A planned part as stored in the outbox.
#[derive(Debug, Serialize, Deserialize)]
struct StoredBody {
    markdown: bool,
    title: String,
    text: String,
    /// Set for an AI card part: the card to finalize with `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    card: Option<CardPart>,
    /// Set for an action card part (`title` and `text` are the card's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    action_card: Option<StoredActionCard>,
}

/// An action card as stored in the outbox.
#[derive(Debug, Serialize, Deserialize)]
struct StoredActionCard {
    horizontal: bool,
    /// `(label, URL)`; replies are stored as their `sendMessage` link.
    buttons: Vec<(String, String)>,
}

impl StoredBody {
    fn action_card(card: &ActionCard) -> Self {
        Self {
            markdown: true,
            title: card.title.clone(),
            text: card.text.clone(),
            card: None,
            action_card: Some(StoredActionCard {
                horizontal: card.horizontal,
                buttons: card
                    .buttons
                    .iter()
                    .map(|b| (b.title.clone(), b.target.url()))
                    .collect(),
            }),
        }
    }

    fn into_body(self) -> anyhow::Result<Body> {
        let Some(stored) = self.action_card else {
            return Ok(if self.markdown {
                Body::Markdown {
                    title: self.title,
                    text: self.text,
                }
            } else {
                Body::Text(self.text)
            });
        };
        let buttons = stored
            .buttons
            .into_iter()
            .map(|(title, url)| {
                let target = match ButtonTarget::reply_of(&url) {
                    Some(reply) => ButtonTarget::Reply(reply),
                    None => ButtonTarget::Url(url.parse().context("bad button URL in the outbox")?),
                };
                Ok(CardButton { title, target })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let card = ActionCard::new(self.title, self.text, buttons, stored.horizontal)
            .context("invalid action card in the outbox")?;
        Ok(Body::ActionCard(card.to_webhook()))
    }
}

/// The outbox parts of `cards`, numbered on from `first`.
fn action_card_parts(cards: &[ActionCard], first: u32) -> Result<Vec<NewReplyPart>, serde_json::Error> {
    cards
        .iter()
        .zip(first..)
        .map(|(card, part)| {
            Ok(NewReplyPart {
                part,
                kind: "action_card".to_owned(),
                body_json: serde_json::to_string(&StoredBody::action_card(card))?,
            })
        })
        .collect()
}

/// Converts `text` to DingTalk markdown (in markdown mode), splits it, plans the parts for
/// `id`, and sends them.
pub(crate) async fn send(
    shared: &Arc<Shared>,
    id: InboundId,
    inbound: &InboundMessage,
    text: &str,
) -> anyhow::Result<()> {
    let max_parts = clawtalk_config::AgentLimits::default().parts_per_answer;
    send_with_cards(shared, id, inbound, text, &[], max_parts, None).await
}

/// [`send`], in at most `max_parts` parts (the rest cut off with a note), followed by
/// `action_cards` (planned together, so each is sent exactly once).
/// With a `format` (the account's `responseFormat`), the answer's last part goes out as an
/// action card carrying its buttons.
pub(crate) async fn send_with_cards(
    shared: &Arc<Shared>,
    id: InboundId,
    inbound: &InboundMessage,
    text: &str,
    action_cards: &[ActionCard],
    max_parts: u32,
    format: Option<&ResponseFormat>,
) -> anyhow::Result<()> {
    // An action card's text is always markdown.
    let markdown = format.is_some()
        || shared
            .config
            .account(&inbound.account_id)
            .is_none_or(|a| a.message_type != MessageType::Text);
    // Converted before splitting, so the chunker's fence handling sees the fences DingTalk will.
    let converted;
    let text = if markdown {
        converted = markdown::to_dingtalk(text);
        &converted
    } else {
        text
    };
    let title = title_of(text);
    let capped = chunk::split_capped(
        text,
        &chunk::ChunkOptions::default(),
        usize::try_from(max_parts).unwrap_or(usize::MAX),
    );
    if capped.truncated {
        tracing::warn!(inbound = ?id, max_parts, "answer truncated to limits.partsPerAnswer parts");
    }
    let last = capped.parts.len();
    let parts = capped
        .parts
        .into_iter()
        .zip(1u32..)
        .map(|(text, part)| {
            if let Some(card) = format
                .filter(|_| part as usize == last)
                .and_then(|f| formatted_card(f, &title, &text))
            {
                return Ok(NewReplyPart {
                    part,
                    kind: "action_card".to_owned(),
                    body_json: serde_json::to_string(&StoredBody::action_card(&card))?,
                });
            }
            let body = StoredBody {
                markdown,
                title: title.clone(),
                text,
                card: None,
                action_card: None,
            };
            Ok(NewReplyPart {
                part,
                kind: if markdown { "markdown" } else { "text" }.to_owned(),
                body_json: serde_json::to_string(&body)?,
            })
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()?;
    let parts = with_action_cards(parts, action_cards)?;
    let planned = shared
        .store
        .plan_reply(id, parts, &shared.me, shared.lease_ms(), now_ms())
        .await?;
    send_planned(shared, inbound, &planned, false).await
}

/// The answer part `text` as an action card with the format's buttons. `None` (the part
/// goes as plain markdown) only if the card is refused, which the config checks rule out.
fn formatted_card(format: &ResponseFormat, title: &str, text: &str) -> Option<ActionCard> {
    let buttons = format
        .buttons
        .iter()
        .map(|b| CardButton {
            title: b.title.clone(),
            target: ButtonTarget::Url(b.url.clone()),
        })
        .collect();
    ActionCard::new(title, text, buttons, format.horizontal)
        .inspect_err(|error| tracing::warn!(%error, "responseFormat card refused; answering in markdown"))
        .ok()
}

fn with_action_cards(
    mut parts: Vec<NewReplyPart>,
    action_cards: &[ActionCard],
) -> Result<Vec<NewReplyPart>, serde_json::Error> {
    let next = parts.last().map_or(1, |p| p.part + 1);
    parts.extend(action_card_parts(action_cards, next)?);
    Ok(parts)
}

/// Plans the final contents of a turn's AI cards, then finalizes them; `calls` counts the
/// card API calls.
pub(crate) async fn send_cards(
    shared: &Arc<Shared>,
    id: InboundId,
    inbound: &InboundMessage,
    cards: Vec<CardPart>,
    action_cards: &[ActionCard],
    calls: &AtomicU32,
) -> anyhow::Result<()> {
    let parts = cards
        .into_iter()
        .zip(1u32..)
        .map(|(card, part)| {
            let body = StoredBody {
                markdown: true,
                title: title_of(&card.text),
                text: card.text.clone(),
                card: Some(card),
                action_card: None,
            };
            Ok(NewReplyPart {
                part,
                kind: "card".to_owned(),
                body_json: serde_json::to_string(&body)?,
            })
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()?;
    let parts = with_action_cards(parts, action_cards)?;
    let planned = shared
        .store
        .plan_reply(id, parts, &shared.me, shared.lease_ms(), now_ms())
        .await?;
    send_planned_counting(shared, inbound, &planned, false, calls).await
}

/// Sends every part that is still planned and leased to this worker. `resumed`: a previous
/// incarnation may have sent some of them before it died.
pub(crate) async fn send_planned(
    shared: &Arc<Shared>,
    inbound: &InboundMessage,
    parts: &[ReplyPart],
    resumed: bool,
) -> anyhow::Result<()> {
    send_planned_counting(shared, inbound, parts, resumed, &AtomicU32::new(0)).await
}

async fn send_planned_counting(
    shared: &Arc<Shared>,
    inbound: &InboundMessage,
    parts: &[ReplyPart],
    resumed: bool,
    card_calls: &AtomicU32,
) -> anyhow::Result<()> {
    let outbound = shared.outbound_for(inbound)?;
    let now = now_ms();
    for part in parts {
        let mine = part.lease.as_ref().is_some_and(|l| l.is_held_by(&shared.me, now));
        if part.status != ReplyStatus::Planned || !mine {
            continue;
        }
        let stored: StoredBody =
            serde_json::from_str(&part.body_json).context("unreadable reply part in the outbox")?;
        if let Some(card) = &stored.card {
            super::card_reply::send_part(shared, inbound, part.inbound_id, card, resumed, card_calls).await?;
            let receipt = SendReceipt {
                process_query_key: None,
                response_json: None,
            };
            shared.store.mark_reply_sent(part.id, receipt, now_ms()).await?;
            shared.metrics.messages_out.inc(&inbound.account_id);
            continue;
        }
        let body = stored.into_body()?;
        let message = OutboundMessage::reply_to(inbound, body, part.idempotency_key.clone());
        match outbound.send(&message).await {
            Ok(receipt) => {
                let receipt = SendReceipt {
                    process_query_key: receipt.process_query_key.map(|k| k.as_str().to_owned()),
                    response_json: None,
                };
                shared.store.mark_reply_sent(part.id, receipt, now_ms()).await?;
                shared.metrics.messages_out.inc(&inbound.account_id);
            }
            Err(error) => {
                shared
                    .store
                    .mark_reply_failed(part.id, &error.to_string(), error.is_permanent(), now_ms())
                    .await?;
                return Err(anyhow::Error::new(error).context(format!("sending reply part {}", part.part)));
            }
        }
    }
    Ok(())
}

/// DingTalk shows a markdown message's title in the conversation list: the first line, plain.
pub(crate) fn title_of(text: &str) -> String {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let plain: String = first
        .trim_start_matches(['#', '>', '-', '*', ' '])
        .replace(['*', '`', '_'], "");
    let title: String = plain.chars().take(24).collect();
    if title.is_empty() {
        "回复 Reply".to_owned()
    } else {
        title
    }
}

#[cfg(test)]
mod tests {
    use super::{StoredBody, formatted_card, title_of};
    use clawtalk_config::{ResponseButton, ResponseFormat};
    use clawtalk_delivery::Body;

    #[test]
    fn a_response_format_card_keeps_its_client_links_through_the_outbox() {
        let format = ResponseFormat {
            buttons: vec![
                ResponseButton {
                    title: "Approve".into(),
                    url: "dingtalk://dingtalkclient/action/approve".parse().unwrap(),
                },
                ResponseButton {
                    title: "Reject".into(),
                    url: "dingtalk://dingtalkclient/action/reject".parse().unwrap(),
                },
            ],
            horizontal: false,
        };
        let card = formatted_card(&format, "Leave request", "**3 days** from Monday").unwrap();
        let stored = serde_json::to_string(&StoredBody::action_card(&card)).unwrap();
        let back: StoredBody = serde_json::from_str(&stored).unwrap();
        let Body::ActionCard(payload) = back.into_body().unwrap() else {
            panic!("an action card body");
        };
        assert_eq!(payload.text, "**3 days** from Monday");
        let urls: Vec<&str> = payload.btns.iter().map(|b| b.action_url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "dingtalk://dingtalkclient/action/approve",
                "dingtalk://dingtalkclient/action/reject"
            ]
        );
    }

    #[test]
    fn titles_are_the_plain_first_line() {
        assert_eq!(title_of("## **Deploy** summary\n- ok"), "Deploy summary");
        assert_eq!(title_of("\n\n   "), "回复 Reply");
        assert_eq!(
            title_of("这是一个很长很长很长很长很长很长很长很长很长很长的标题")
                .chars()
                .count(),
            24
        );
    }
}
