//! Stream frames in: persist, then acknowledge, then decide.

use std::sync::Arc;

use dingtalk::ids::RobotCode;
use dingtalk::model::Inbound;
use dingtalk::stream::{Acker, StreamClient, StreamConfig, StreamEvent};

use super::lanes::Lanes;
use super::{Shared, card_callback, decide, now_ms, workflow};
use clawtalk_config::DingTalkAccount;
use clawtalk_config::routing;
use clawtalk_core::ids::SessionKey;
use clawtalk_core::inbound::{InboundMessage, Transport};
use clawtalk_store::{InboundId, InboundRecord, RecordOutcome};

/// Keeps one account's Stream connection and feeds its messages in until shutdown.
pub(crate) async fn run_stream(shared: Arc<Shared>, account: DingTalkAccount) {
    let mut config = StreamConfig::new(
        dingtalk::ids::ClientId::new(account.client_id.as_str()),
        account.client_secret.clone(),
        account.endpoints.clone(),
    );
    config.idle_timeout = account.stream_idle_timeout;
    config.ping_interval = account.stream_idle_timeout * 2 / 3;
    let (handle, mut events) = StreamClient::spawn(config);
    let account = Arc::new(account);
    let mut lanes = {
        let (shared, account) = (Arc::clone(&shared), Arc::clone(&account));
        Lanes::new(move |(inbound, acker): (InboundMessage, Acker)| {
            let (shared, account) = (Arc::clone(&shared), Arc::clone(&account));
            async move {
                let departments = shared.departments_of(&account.id, &inbound).await;
                let route = routing::route(&shared.config, &account, &inbound, &departments);
                accept(&shared, &account, inbound, route, &acker).await;
            }
        })
    };
    loop {
        let event = tokio::select! {
            () = shared.shutdown.cancelled() => break,
            Some(idle) = lanes.idle() => {
                lanes.retire(idle);
                continue;
            }
            event = events.recv() => match event {
                Some(event) => event,
                None => break,
            },
        };
        match event {
            StreamEvent::Frame(delivery) => {
                let (frame, acker) = delivery.into_parts();
                match frame.classify() {
                    Ok(Inbound::BotMessage(message)) => {
                        shared.status.update(&account.id, |s| {
                            s.messages += 1;
                            s.last_message_ms = Some(now_ms());
                        });
                        let inbound = InboundMessage::from_bot_message(
                            &account.id,
                            &RobotCode::new(account.robot_code.clone()),
                            Transport::Stream,
                            &message,
                            now_ms(),
                        );
                        // The lane only orders frames: a sender's departments (looked up in the
                        // lane) may change the agent, never which frames share a lane.
                        let lane = routing::route(&shared.config, &account, &inbound, &[]).to_string();
                        lanes.push(&lane, (inbound, acker));
                    }
                    Ok(Inbound::Event(event)) => {
                        let (shared, account) = (Arc::clone(&shared), Arc::clone(&account));
                        tokio::spawn(async move {
                            if workflow::accept(&shared, &account, *event, Transport::Stream).await {
                                let _ = acker.ok();
                            }
                        });
                    }
                    Ok(Inbound::CardCallback(callback)) => {
                        // DingTalk wants the answer within 2 s: store, acknowledge, then decide.
                        let (shared, account) = (Arc::clone(&shared), Arc::clone(&account));
                        tokio::spawn(async move {
                            if card_callback::accept(&shared, &account, &callback).await {
                                let _ = acker.ok();
                            }
                        });
                    }
                    Ok(other) => {
                        tracing::debug!(account = %account.id, kind = ?std::mem::discriminant(&other), "frame acknowledged, not handled");
                        let _ = acker.ok();
                    }
                    Err(error) => {
                        tracing::error!(account = %account.id, %error, data = %truncate(&frame.data, 300), "unreadable frame acknowledged and skipped");
                        let _ = acker.ok();
                    }
                }
            }
            StreamEvent::Connected { connection } => {
                tracing::info!(account = %account.id, connection, "DingTalk connected");
                shared.status.update(&account.id, |s| {
                    s.open_connections += 1;
                    s.connected = true;
                    s.connects += 1;
                    s.last_connected_ms = Some(now_ms());
                    s.last_error = None;
                });
            }
            StreamEvent::Disconnected { connection, reason } => {
                tracing::info!(account = %account.id, connection, ?reason, "DingTalk connection ended");
                shared.status.update(&account.id, |s| {
                    s.open_connections = s.open_connections.saturating_sub(1);
                    s.connected = s.open_connections > 0;
                });
            }
            StreamEvent::ConnectFailed {
                failures,
                error,
                retry_in,
            } => {
                tracing::warn!(account = %account.id, failures, %error, ?retry_in, "cannot connect to DingTalk");
                shared
                    .status
                    .update(&account.id, |s| s.last_error = Some(error.to_string()));
            }
            other => tracing::debug!(account = %account.id, ?other, "stream event"),
        }
    }
    handle.shutdown().await;
}

/// Persist, ack, decide. A failed write is not acknowledged, so DingTalk redelivers it.
async fn accept(
    shared: &Arc<Shared>,
    account: &DingTalkAccount,
    inbound: InboundMessage,
    route: SessionKey,
    acker: &Acker,
) {
    match persist(shared, account, &inbound, &route).await {
        Stored::New(id) => {
            let _ = acker.ok();
            decide::decide(shared, account, id, &inbound, &route).await;
        }
        Stored::Duplicate => {
            let _ = acker.ok();
        }
        Stored::Failed => {}
    }
}

/// What [`persist`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// Written; decide it next.
    New(InboundId),
    /// Seen before (`robotCode + msgId`); acknowledge and forget it.
    Duplicate,
    /// Not written (logged); do not acknowledge, so DingTalk delivers it again.
    Failed,
}

/// Writes an inbound message (a bot message from any transport, or an approval event) to the
/// inbox. Every transport goes through here before it answers DingTalk.
pub(crate) async fn persist(
    shared: &Arc<Shared>,
    account: &DingTalkAccount,
    inbound: &InboundMessage,
    route: &SessionKey,
) -> Stored {
    let record = InboundRecord {
        account_id: account.id.clone(),
        robot_code: inbound.robot_code.clone(),
        msg_id: inbound.msg_id.clone(),
        conversation_id: inbound.conversation_id.clone(),
        sender_staff_id: inbound.sender.staff_id.clone(),
        session_key: route.to_string(),
        received_at_ms: now_ms(),
        raw_payload_json: match serde_json::to_string(inbound) {
            Ok(json) => json,
            Err(error) => {
                tracing::error!(%error, "cannot serialise an inbound message; not acknowledged");
                return Stored::Failed;
            }
        },
        text: inbound.text.clone(),
    };
    match shared.store.record_inbound(record).await {
        Ok(RecordOutcome::New(id)) => Stored::New(id),
        Ok(RecordOutcome::Duplicate { id, status }) => {
            tracing::debug!(inbound = ?id, ?status, transport = ?inbound.transport, "duplicate delivery acknowledged");
            Stored::Duplicate
        }
        Err(error) => {
            tracing::error!(account = %account.id, %error, "cannot store an inbound message; leaving it unacknowledged for redelivery");
            Stored::Failed
        }
    }
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}
