//! A console answer sent on to DingTalk: in a DingTalk conversation the operator continued
//! from the web console, the answers stay in the console until the operator presses "Send
//! to DingTalk" on one. That answer becomes a message of the gateway admitted like any
//! other, stored in the inbox under the key `console:<session>:<entry>` (so pressing twice
//! stores it once), and posted as is through the outbox to the conversation's user or group.

use std::sync::Arc;

use anyhow::{Context, bail};
use dingtalk::ids::{ConversationId, MsgId, RobotCode, StaffId};

use super::{Ack, Admission, Admitted, Destination, admit};
use crate::Shared;
use clawtalk_config::DingTalkAccount;
use clawtalk_core::clock::EpochMs;
use clawtalk_core::ids::{AccountId, SessionKey, SessionScope};
use clawtalk_core::inbound::{ChatKind, ConsolePost, GatewayOrigin, InboundMessage, Transport};
use clawtalk_llm::ChatMessage;
use clawtalk_store::{Role, Session, TranscriptEntry};

/// Transcript entries searched for the answer (the console shows as many).
const ENTRIES_SEARCHED: u32 = 500;

/// What pressing "Send to DingTalk" did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    /// Stored and handed to the outbox now.
    Sent,
    /// This answer was sent before (a second press, or another tab's).
    AlreadySent,
}

/// Where a session's conversation is in DingTalk: a user's DM or a group.
fn destination(scope: &SessionScope) -> anyhow::Result<(ChatKind, String, Option<StaffId>)> {
    match scope {
        // Sessions are keyed by the sender's staff id whenever DingTalk gave one.
        SessionScope::Dm { sender } | SessionScope::User { sender } => Ok((
            ChatKind::Direct,
            String::new(),
            Some(StaffId::new(sender.clone())),
        )),
        SessionScope::Group { conversation } | SessionScope::GroupSender { conversation, .. } => {
            Ok((ChatKind::Group, conversation.clone(), None))
        }
        _ => bail!("this conversation is not a DingTalk chat; there is nobody to send the answer to"),
    }
}

/// Sends transcript entry `entry_id` of session `session_key` (an answer given in the
/// console) into the session's DingTalk conversation.
///
/// # Errors
/// Not a DingTalk conversation, no such answer, not a console answer, the account is not
/// enabled, or the store failed.
pub(crate) async fn post(shared: &Arc<Shared>, session_key: &str, entry_id: i64) -> anyhow::Result<Posted> {
    let key = SessionKey::parse(session_key)?;
    let (chat, conversation, staff_id) = destination(&key.scope)?;
    let session = shared
        .store
        .session_get(session_key)
        .await?
        .with_context(|| format!("no session {session_key:?}"))?;
    let text = console_answer(shared, &session, entry_id).await?;
    let config = shared.config();
    let account = super::webchat::account_of(&config, &key)?;
    let inbound = message(
        account,
        &session,
        entry_id,
        text,
        (chat, conversation, staff_id),
        shared.clock.now(),
    );
    let admission = Admission {
        inbound,
        to: Destination::Session(key),
    };
    match admit(shared, account, admission, Ack::Caller).await {
        Admitted::New(id) => {
            tracing::info!(inbound = ?id, session = %session_key, entry = entry_id, "console answer sent to DingTalk");
            Ok(Posted::Sent)
        }
        Admitted::Duplicate | Admitted::Ignored => Ok(Posted::AlreadySent),
        Admitted::Failed => bail!("the message could not be stored; press the button again"),
    }
}

/// The text of `entry_id` when it is an answer the agent gave to a console message.
async fn console_answer(shared: &Shared, session: &Session, entry_id: i64) -> anyhow::Result<String> {
    let entries = shared.store.transcript_load(session.id, ENTRIES_SEARCHED).await?;
    let entry = entries
        .iter()
        .find(|e| e.id == entry_id)
        .with_context(|| format!("no answer #{entry_id} in this conversation's current history"))?;
    if !is_console_answer(shared, entry).await? {
        bail!("answer #{entry_id} was not given in the console; only console answers can be sent");
    }
    answer_text(entry).with_context(|| format!("answer #{entry_id} has no text to send"))
}

/// Whether `entry` is the agent's answer to a message the operator wrote in the console.
pub(crate) async fn is_console_answer(shared: &Shared, entry: &TranscriptEntry) -> anyhow::Result<bool> {
    if entry.role != Role::Assistant || answer_text(entry).is_none() {
        return Ok(false);
    }
    let Some(inbound_id) = entry.inbound_id else {
        return Ok(false);
    };
    let Some(row) = shared.store.inbound(inbound_id).await? else {
        return Ok(false);
    };
    Ok(crate::decode_inbound(&row.record.raw_payload_json).is_ok_and(|m| m.webchat.is_some()))
}

/// The text of an assistant entry (none for a message that only calls tools).
fn answer_text(entry: &TranscriptEntry) -> Option<String> {
    let message = serde_json::from_str::<ChatMessage>(&entry.content_json).ok()?;
    message.text().filter(|t| !t.trim().is_empty())
}

/// The answer as a message of the gateway to the conversation's user or group.
fn message(
    account: &DingTalkAccount,
    session: &Session,
    entry_id: i64,
    text: String,
    (chat, conversation, staff_id): (ChatKind, String, Option<StaffId>),
    now: EpochMs,
) -> InboundMessage {
    InboundMessage {
        console_post: Some(ConsolePost {
            session_key: session.key.clone(),
            entry_id,
        }),
        ..InboundMessage::gateway_originated(GatewayOrigin {
            account_id: AccountId::new(account.id.clone()),
            transport: Transport::WebChat,
            robot_code: RobotCode::new(account.robot_code.clone()),
            msg_id: MsgId::new(post_key(session, entry_id)),
            conversation_id: ConversationId::new(conversation),
            chat,
            staff_id,
            text,
            created_at_ms: now,
            msgtype: "console".to_owned(),
        })
    }
}

/// The inbox key of one answer's post: the same however often it is pressed.
fn post_key(session: &Session, entry_id: i64) -> String {
    format!("console:{}:{entry_id}", session.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_config::test_support::config;
    use clawtalk_delivery::{Body, OutboundMessage, Target};

    fn session(key: &str) -> Session {
        Session {
            id: 9,
            key: key.to_owned(),
            agent_id: "main".into(),
            generation: 1,
            generation_started_at_ms: EpochMs::from_millis(0),
            last_active_ms: EpochMs::from_millis(0),
        }
    }

    fn post_for(key: &str) -> anyhow::Result<InboundMessage> {
        let cfg = config(
            r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
                 channels: { dingtalk: { clientId: "dingbot", clientSecret: "s" } } }"#,
        );
        let parsed = SessionKey::parse(key)?;
        let to = destination(&parsed.scope)?;
        Ok(message(
            &cfg.accounts[0],
            &session(key),
            41,
            "the answer".into(),
            to,
            EpochMs::from_millis(5),
        ))
    }

    #[test]
    fn a_dm_answer_goes_to_the_user_and_a_group_answer_to_the_group() {
        let dm = post_for("agent:main:dingtalk:default:dm:0312").unwrap();
        assert_eq!(dm.msg_id.as_str(), "console:9:41");
        let reply = OutboundMessage::reply_to(&dm, Body::text("x"), "k");
        assert_eq!(reply.target, Target::User(StaffId::new("0312")));
        for key in [
            "agent:main:dingtalk:default:group:cidG==",
            "agent:main:dingtalk:default:group:cidG==:0312",
        ] {
            let group = post_for(key).unwrap();
            let reply = OutboundMessage::reply_to(&group, Body::text("x"), "k");
            assert_eq!(
                reply.target,
                Target::Group(ConversationId::new("cidG==")),
                "{key}"
            );
        }
        let post = dm.console_post.unwrap();
        assert_eq!(
            (post.session_key.as_str(), post.entry_id),
            ("agent:main:dingtalk:default:dm:0312", 41)
        );
    }

    #[test]
    fn console_and_scheduled_sessions_have_nobody_to_send_to() {
        for key in [
            "agent:main:dingtalk:default:webchat:operator",
            "agent:main:dingtalk:default:cron:7",
        ] {
            let err = post_for(key).unwrap_err().to_string();
            assert!(err.contains("not a DingTalk chat"), "{key}: {err}");
        }
    }
}
