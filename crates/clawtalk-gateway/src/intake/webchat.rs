//! WebChat in: an operator's message in the web console becomes an [`InboundMessage`] of the
//! gateway's default account, admitted like any chat message — stored in the inbox,
//! answered by the scheduler and a turn in its own session (`…:webchat:operator`), the
//! answer planned in the outbox and delivered by [`WebChatOutbound`]. The page shows the
//! session's transcript, which the turn writes alongside the answer.

use clawtalk_core::clock::EpochMs;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use dingtalk::ids::{ConversationId, MsgId, RobotCode};

use super::{Ack, Admission, Admitted, Destination, admit};
use crate::Shared;
use clawtalk_config::{Config, DingTalkAccount};
use clawtalk_core::ids::{AccountId, AgentId, SessionKey, SessionScope};
use clawtalk_core::inbound::{ChatKind, GatewayOrigin, InboundMessage, Transport, WebChatTurn};
use clawtalk_delivery::{DeliveryError, DeliveryPath, Outbound, OutboundMessage, SendReceipt};
use clawtalk_store::{InboundId, InboundStatus};

/// Who chats in the console: it has one operator (whoever holds the gateway token).
pub(crate) const OPERATOR: &str = "operator";
/// How often a waiting page looks whether its turn has ended.
const POLL: Duration = Duration::from_millis(50);

/// How a WebChat message ended, as far as the page waited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebChatOutcome {
    /// Answered: the answer is in the session's transcript.
    Answered,
    /// The turn failed; why.
    Failed(String),
    /// Still being answered when the wait ended; the page shows it once done.
    Pending,
}

/// The account WebChat turns are stored under: `default` when enabled, else the first
/// enabled account. Its limits and markdown settings apply; its policy does not.
pub(crate) fn account(config: &Config) -> Option<&DingTalkAccount> {
    config
        .enabled_accounts()
        .find(|a| a.id == "default")
        .or_else(|| config.enabled_accounts().next())
}

/// The enabled account a stored session belongs to.
///
/// # Errors
/// The account is not configured or not enabled (any more).
pub(crate) fn account_of<'c>(config: &'c Config, key: &SessionKey) -> anyhow::Result<&'c DingTalkAccount> {
    config
        .enabled_accounts()
        .find(|a| a.id == key.account.as_str())
        .with_context(|| {
            format!(
                "account {:?} of this conversation is not enabled",
                key.account.as_str()
            )
        })
}

/// The WebChat session of `agent`.
pub(crate) fn session_key(config: &Config, agent: &str) -> Option<SessionKey> {
    let account = account(config)?;
    Some(SessionKey::new(
        AgentId::new(agent),
        AccountId::new(account.id.as_str()),
        SessionScope::WebChat {
            operator: OPERATOR.to_owned(),
        },
    ))
}

/// The key of `agent`'s WebChat transcript in stores of earlier versions, which had no
/// account in it: the console shows that transcript while the agent has none under
/// [`session_key`].
pub(crate) fn earlier_session_key(agent: &str) -> String {
    format!("agent:{agent}:webchat:{OPERATOR}")
}

/// Admits the operator's `text` for `agent`; the scheduler answers it.
///
/// # Errors
/// No account to store it under, or the inbox could not store it.
pub(crate) async fn send(shared: &Arc<Shared>, agent: &str, text: &str) -> anyhow::Result<InboundId> {
    let config = shared.config();
    let account = account(&config)
        .context("WebChat needs an enabled DingTalk account to store its conversation under")?;
    let inbound = message(account, agent, text, shared.clock.now());
    match admit(shared, account, Admission::routed(account, inbound), Ack::Caller).await {
        Admitted::New(id) => Ok(id),
        Admitted::Duplicate | Admitted::Ignored => anyhow::bail!("the message was already sent"),
        Admitted::Failed => anyhow::bail!("the message could not be stored; send it again"),
    }
}

/// Admits the operator's `text` into an existing session (a DingTalk conversation, say):
/// the turn has that session's agent and history, and its answer comes back to the console
/// like any WebChat answer instead of going to DingTalk.
///
/// # Errors
/// The key's account is not enabled, or the inbox could not store the message.
pub(crate) async fn send_to(shared: &Arc<Shared>, key: SessionKey, text: &str) -> anyhow::Result<InboundId> {
    let config = shared.config();
    let account = account_of(&config, &key)?;
    let inbound = message(account, key.agent.as_str(), text, shared.clock.now());
    let admission = Admission {
        inbound,
        to: Destination::Session(key),
    };
    match admit(shared, account, admission, Ack::Caller).await {
        Admitted::New(id) => Ok(id),
        Admitted::Duplicate | Admitted::Ignored => anyhow::bail!("the message was already sent"),
        Admitted::Failed => anyhow::bail!("the message could not be stored; send it again"),
    }
}

/// Waits up to `limit` for the turn of `id` to end.
///
/// # Errors
/// The inbox could not be read.
pub(crate) async fn wait(shared: &Shared, id: InboundId, limit: Duration) -> anyhow::Result<WebChatOutcome> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let row = shared
            .store
            .inbound(id)
            .await?
            .context("the WebChat message is gone from the inbox")?;
        match row.status {
            InboundStatus::Replied => return Ok(WebChatOutcome::Answered),
            InboundStatus::Failed | InboundStatus::Cancelled | InboundStatus::Ignored => {
                let why = row.error.unwrap_or_else(|| "the agent did not answer".to_owned());
                return Ok(WebChatOutcome::Failed(why));
            }
            _ if tokio::time::Instant::now() >= deadline || shared.shutdown.is_cancelled() => {
                return Ok(WebChatOutcome::Pending);
            }
            _ => tokio::time::sleep(POLL).await,
        }
    }
}

/// The operator's message as a direct chat with nobody DingTalk knows: no staff id, so no
/// tool can send into a DingTalk conversation from it.
fn message(account: &DingTalkAccount, agent: &str, text: &str, now: EpochMs) -> InboundMessage {
    InboundMessage {
        webchat: Some(WebChatTurn {
            agent_id: agent.to_owned(),
            operator: OPERATOR.to_owned(),
        }),
        ..InboundMessage::gateway_originated(GatewayOrigin {
            account_id: AccountId::new(account.id.clone()),
            transport: Transport::WebChat,
            robot_code: RobotCode::new(account.robot_code.clone()),
            msg_id: MsgId::new(format!("webchat:{now}:{:016x}", rand::random::<u64>())),
            conversation_id: ConversationId::new(""),
            chat: ChatKind::Direct,
            staff_id: None,
            text: text.to_owned(),
            created_at_ms: now,
            msgtype: "text".to_owned(),
        })
    }
}

/// Delivers WebChat answers: nothing leaves the gateway. A part counts as delivered once
/// the outbox holds it, and the page reads the same answer from the session's transcript.
pub(crate) struct WebChatOutbound;

#[async_trait]
impl Outbound for WebChatOutbound {
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, DeliveryError> {
        tracing::debug!(account = %msg.account_id, "WebChat answer part delivered to the page");
        Ok(SendReceipt {
            path: DeliveryPath::WebChat,
            process_query_key: None,
            parts: 1,
        })
    }

    fn planned_path(&self, _msg: &OutboundMessage) -> DeliveryPath {
        DeliveryPath::WebChat
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_config::routing;
    use clawtalk_config::test_support::config;

    #[test]
    fn a_webchat_message_is_routed_to_the_picked_agent_in_its_own_session() {
        let cfg = config(
            r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" }, { id: "ops", model: "deepseek/deepseek-chat" } ] },
                 channels: { dingtalk: { clientId: "dingbot", clientSecret: "s" } } }"#,
        );
        let account = account(&cfg).unwrap();
        let inbound = message(account, "ops", "hello", EpochMs::from_millis(5));
        let route = routing::route(&cfg, account, &inbound, &[]);
        assert_eq!(route.to_string(), "agent:ops:dingtalk:default:webchat:operator");
        assert_eq!(Some(route), session_key(&cfg, "ops"));
        assert!(!routing::uses_bindings(&inbound));
        assert_eq!(clawtalk_core::target::Target::for_inbound(&inbound), None);
        assert_ne!(
            message(account, "ops", "hello", EpochMs::from_millis(5)).msg_id,
            inbound.msg_id
        );
    }
}
