//! Turning a parsed [`StreamFrame`] into a typed payload.
//!
//! Classification is separate from parsing on purpose: a frame whose payload cannot be
//! decoded still has a `messageId` and must still be acknowledged.

use serde_json::Value;

use super::bot::BotMessage;
use super::card::CardCallback;
use super::decode::ModelError;
use super::event::ReceivedEvent;
use super::frame::{
    FrameError, FrameType, StreamFrame, TOPIC_BOT_MESSAGE, TOPIC_CARD_CALLBACK, TOPIC_DISCONNECT, TOPIC_PING,
};

/// What a downstream frame carries.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Inbound {
    /// CALLBACK `/v1.0/im/bot/messages/get`.
    BotMessage(Box<BotMessage>),
    /// CALLBACK `/v1.0/card/instances/callback`.
    CardCallback(Box<CardCallback>),
    /// Any EVENT frame, dispatched on `headers.eventType`.
    Event(Box<ReceivedEvent>),
    /// SYSTEM `ping`: answer with [`super::AckFrame::pong`], which echoes `data` verbatim.
    Ping {
        /// `data.opaque`, if `data` has one.
        opaque: Option<String>,
    },
    /// SYSTEM `disconnect`: open a replacement connection now; this one closes in about 10 s.
    Disconnect {
        /// `data.reason`, if `data` has one.
        reason: Option<String>,
    },
    /// A frame type or topic this crate does not model (e.g. `/v1.0/graph/api/invoke`).
    Unknown {
        /// The frame family.
        frame_type: FrameType,
        /// The topic.
        topic: String,
    },
}

/// Classifies a frame and decodes its payload.
///
/// SYSTEM frames never fail: reacting to `ping`/`disconnect` matters more than their `data`,
/// so an unreadable `data` just leaves `opaque`/`reason` empty. EVENT frames are dispatched
/// on `headers.eventType` (the topic is `*` or arbitrary); a missing `eventType` is
/// [`FrameError::Missing`]. Payload problems are [`FrameError::Payload`] naming the field.
///
/// # Errors
/// [`FrameError::Missing`] for an EVENT frame without `headers.eventType`; [`FrameError::Payload`]
/// when a bot message, card callback or event payload does not decode, naming the field.
pub fn classify(frame: &StreamFrame) -> Result<Inbound, FrameError> {
    let topic = frame.headers.topic.as_str();
    match &frame.frame_type {
        FrameType::System if topic == TOPIC_PING => Ok(Inbound::Ping {
            opaque: data_string(&frame.data, "opaque"),
        }),
        FrameType::System if topic == TOPIC_DISCONNECT => Ok(Inbound::Disconnect {
            reason: data_string(&frame.data, "reason"),
        }),
        FrameType::Callback if topic == TOPIC_BOT_MESSAGE => BotMessage::from_json(&frame.data)
            .map(|m| Inbound::BotMessage(Box::new(m)))
            .map_err(|source| payload_error(topic, source)),
        FrameType::Callback if topic == TOPIC_CARD_CALLBACK => CardCallback::from_json(&frame.data)
            .map(|c| Inbound::CardCallback(Box::new(c)))
            .map_err(|source| payload_error(topic, source)),
        FrameType::Event => {
            let Some(event_type) = frame.headers.event_type.as_deref().filter(|t| !t.is_empty()) else {
                return Err(FrameError::Missing {
                    what: "headers.eventType",
                });
            };
            ReceivedEvent::from_frame(frame)
                .map(|e| Inbound::Event(Box::new(e)))
                .map_err(|source| payload_error(&format!("event {event_type}"), source))
        }
        other => Ok(Inbound::Unknown {
            frame_type: other.clone(),
            topic: topic.to_owned(),
        }),
    }
}

impl StreamFrame {
    /// Same as [`classify`].
    ///
    /// # Errors
    /// As [`classify`].
    pub fn classify(&self) -> Result<Inbound, FrameError> {
        classify(self)
    }
}

fn payload_error(kind: &str, source: ModelError) -> FrameError {
    FrameError::Payload {
        kind: kind.to_owned(),
        source,
    }
}

/// Best-effort read of a string field of `data`.
fn data_string(data: &str, key: &str) -> Option<String> {
    let value: Value = serde_json::from_str(data).ok()?;
    value.get(key)?.as_str().map(str::to_owned)
}
