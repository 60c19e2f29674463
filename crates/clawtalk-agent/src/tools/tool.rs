//! The contract every tool implements, and what it knows of the conversation it runs in.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use super::action_card::ActionCards;
use crate::media::send::MediaSender;
use clawtalk_core::ids::{AccountId, SessionKey};
use clawtalk_delivery::Target;
use clawtalk_llm::ToolSpec;

/// Facts about the conversation a tool may need (who asked, where).
#[derive(Debug, Clone)]
pub struct ToolContext {
    /// Account (bot) the turn runs for.
    pub account_id: AccountId,
    /// Session key of the turn; `None` when the stored key is not one this version reads.
    pub session_key: Option<SessionKey>,
    /// Sender's staff id, when known.
    pub sender: Option<String>,
    /// Where messages the agent sends itself go: the sender (DM) or the group. `None` when
    /// there is nobody to address (an external DM sender has no staff id).
    pub target: Option<Target>,
    /// The agent's workspace: the only place files may be sent from.
    pub workspace: Option<PathBuf>,
    /// Where `send_action_card` leaves the cards to send with the answer.
    pub action_cards: ActionCards,
    /// Where `send_image` and `send_file` send, when the conversation takes media.
    pub media: Option<Arc<dyn MediaSender>>,
    /// Who decides calls that need approval (`tools.approval`); without one they are refused.
    pub approvals: Option<Arc<dyn crate::ApprovalGate>>,
}

impl ToolContext {
    /// A turn of `account_id` in `session_key`, with no sender, target, workspace or media.
    #[must_use]
    pub fn new(account_id: AccountId, session_key: Option<SessionKey>) -> Self {
        Self {
            account_id,
            session_key,
            sender: None,
            target: None,
            workspace: None,
            action_cards: ActionCards::default(),
            media: None,
            approvals: None,
        }
    }
}

/// One callable tool.
#[async_trait]
pub trait Tool: Send + Sync {
    /// Name, description and JSON-schema parameters shown to the model.
    fn spec(&self) -> ToolSpec;

    /// Runs the tool. `arguments` is the model's JSON text (possibly invalid); the `Err` text is
    /// shown to the model so it can correct itself.
    async fn call(&self, arguments: &str, context: &ToolContext) -> Result<String, String>;

    /// True for tools that send an image or file into the chat: they count against the
    /// agent's `limits.mediaPerTurn`.
    fn sends_media(&self) -> bool {
        false
    }
}
