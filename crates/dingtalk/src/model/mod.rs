//! Typed wire models. No I/O lives here.
//!
//! Unknown fields are ignored (or kept in `extra` maps) and unknown message types are kept
//! raw, so DingTalk adding something never breaks parsing of what we already understand.

pub mod frame;
pub mod outbound;

pub mod bot;
mod bot_body;
mod bpms;
pub mod card;
pub mod card_register;
pub mod connection;
mod decode;
pub mod event;
pub mod inbound;

pub use connection::*;
pub use frame::*;

pub use bot::{
    AtUser, BotMessage, ConversationType, HostingContext, MessageBody, MsgContextEntry, PayloadError,
    RepliedMessage, RichTextItem, TextContent,
};
pub use card::{
    CardCallback, CardCallbackResponse, CardParamMap, CardPrivateData, CardUpdateOptions, UserIdType,
};
pub use card_register::{CardCallbackBinding, RegisterCardCallbackRequest, RegisterCardCallbackResponse};
pub use decode::ModelError;
pub use event::{
    ApprovalResult, BpmsInstanceChange, BpmsTaskChange, Event, EventEnvelope, HttpPushEvent,
    InstanceChangeType, ReceivedEvent, TaskChangeType,
};
pub use inbound::{Inbound, classify};
