//! Injecting what users and the platform do: messages to the bot, events, card clicks and
//! action-card button presses.
//!
//! Payloads are built field by field like `crates/dingtalk/fixtures/bot-*.json`: the bot's
//! `@Name` is stripped from `text.content` but kept as a rich-text segment, group images
//! arrive as `richText`, DM payloads carry no `atUsers`/`isInAtList`, and
//! `sessionWebhookExpiredTime` = `createAt` + the sessionWebhook TTL.
//!
//! Each injection changes the state under the lock; HTTP pushes it queued are sent after.

mod action_cards;
mod card_callback;
mod event;
mod message;
mod message_body;
mod quote;

use std::sync::Arc;

use crate::api::http_push::flush_outbox;
use crate::error::Result;
use crate::model::{InjectCardCallback, InjectEvent, InjectMessage, Injected};
use crate::state::Shared;

pub use action_cards::buttons_of;
pub(crate) use action_cards::press_button;

/// A user sends a message: Stream delivery, or HTTP when the bot is in HTTP mode.
pub(crate) fn user_message(shared: &Arc<Shared>, req: &InjectMessage) -> Result<Injected> {
    let s = Arc::clone(shared);
    let injected = shared.mutate(|st| st.inject_message(&s, req))?;
    flush_outbox(shared);
    Ok(injected)
}

/// The platform emits an event: Stream delivery, or HTTP push when the app subscribed so.
pub(crate) fn event(shared: &Arc<Shared>, req: &InjectEvent) -> Result<String> {
    let s = Arc::clone(shared);
    let id = shared.mutate(|st| st.inject_event(&s, req))?;
    flush_outbox(shared);
    Ok(id)
}

/// A user clicks a card button: Stream delivery, or an HTTP POST for an `HTTP` card; returns
/// the delivery key.
pub(crate) fn card_callback(shared: &Arc<Shared>, req: &InjectCardCallback) -> Result<String> {
    let s = Arc::clone(shared);
    let key = shared.mutate(|st| st.inject_card_callback(&s, req))?;
    flush_outbox(shared);
    Ok(key)
}
