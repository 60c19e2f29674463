//! Stream frames in: bot messages to the account's lanes, card callbacks and events to
//! their own sources; each frame is acknowledged once what it carries is stored.

use clawtalk_core::ids::AccountId;
use std::sync::Arc;

use dingtalk::ids::RobotCode;
use dingtalk::model::Inbound;
use dingtalk::stream::{StreamClient, StreamConfig, StreamEvent};

use super::{Ack, Admission, approval_event, card_callback, enqueue};
use crate::Shared;
use crate::account_control::{AccountControl, StreamControl};
use clawtalk_config::DingTalkAccount;
use clawtalk_core::inbound::{InboundMessage, Transport};

/// Keeps one account's Stream connection and feeds its frames in until shutdown, until
/// `stream` is closed (a reconnect), or, once the account is stopped (removed by a reload),
/// takes no more frames and holds the connection until `stream` is closed after the drain.
pub(crate) async fn run(
    shared: Arc<Shared>,
    account: DingTalkAccount,
    control: Arc<AccountControl>,
    stream: StreamControl,
) {
    let mut config = StreamConfig::new(
        dingtalk::ids::ClientId::new(account.client_id.as_str()),
        account.client_secret.clone(),
        account.endpoints.clone(),
    );
    config.idle_timeout = account.stream_idle_timeout;
    config.ping_interval = account.stream_idle_timeout * 2 / 3;
    let (handle, mut events) = StreamClient::spawn(config);
    let account = Arc::new(account);
    // Connections of this task still open, taken off the status when it ends.
    let mut open = 0usize;
    loop {
        let event = tokio::select! {
            () = shared.shutdown.cancelled() => break,
            () = stream.close.cancelled() => break,
            () = control.stop.cancelled() => {
                tokio::select! {
                    () = shared.shutdown.cancelled() => {}
                    () = stream.close.cancelled() => {}
                }
                break;
            }
            event = events.recv() => match event {
                Some(event) => event,
                None => break,
            },
        };
        // The account's settings as the running config has them (policies apply live).
        let account = shared
            .account_settings(&account.id)
            .unwrap_or_else(|| Arc::clone(&account));
        match event {
            StreamEvent::Frame(delivery) => {
                let (frame, acker) = delivery.into_parts();
                match frame.classify() {
                    Ok(Inbound::BotMessage(message)) => {
                        shared.status.update(&account.id, |s| {
                            s.messages += 1;
                            s.last_message_ms = Some(shared.clock.now());
                        });
                        let inbound = InboundMessage::from_bot_message(
                            &AccountId::new(account.id.clone()),
                            &RobotCode::new(account.robot_code.clone()),
                            Transport::Stream,
                            &message,
                            shared.clock.now(),
                        );
                        enqueue(&shared, Admission::routed(&account, inbound), Ack::Frame(acker));
                    }
                    Ok(Inbound::Event(event)) => {
                        let (shared, account) = (Arc::clone(&shared), Arc::clone(&account));
                        tokio::spawn(async move {
                            let ack = Ack::Frame(acker);
                            approval_event::receive(&shared, &account, *event, Transport::Stream, ack).await;
                        });
                    }
                    Ok(Inbound::CardCallback(callback)) => {
                        // DingTalk wants the answer within 2 s: store, acknowledge, then decide.
                        let (shared, account) = (Arc::clone(&shared), Arc::clone(&account));
                        tokio::spawn(async move {
                            card_callback::receive(
                                &shared,
                                &account,
                                &callback,
                                Transport::Stream,
                                Ack::Frame(acker),
                            )
                            .await;
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
                open += 1;
                shared.status.update(&account.id, |s| {
                    s.open_connections += 1;
                    s.connected = true;
                    s.connects += 1;
                    s.last_connected_ms = Some(shared.clock.now());
                    s.last_error = None;
                });
            }
            StreamEvent::Disconnected { connection, reason } => {
                tracing::info!(account = %account.id, connection, ?reason, "DingTalk connection ended");
                open = open.saturating_sub(1);
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
    if open > 0 {
        shared.status.update(&account.id, |s| {
            s.open_connections = s.open_connections.saturating_sub(open as u64);
            s.connected = s.open_connections > 0;
        });
    }
    tracing::debug!(account = %account.id, "Stream connection closed");
    stream.closed.cancel();
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}
