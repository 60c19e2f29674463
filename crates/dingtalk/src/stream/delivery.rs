//! A pushed frame handed to the caller together with the means to acknowledge it.

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::ids::MessageId;
use crate::model::frame::{AckFrame, EventAckStatus, FrameType, StreamFrame};
use crate::stream::error::AckError;

/// Writes the ACK of one frame onto the socket that carried it (the protocol requires the
/// same connection). Detachable from the frame so a caller can persist the frame first and
/// acknowledge afterwards.
#[derive(Debug, Clone)]
pub struct Acker {
    message_id: Option<MessageId>,
    frame_type: FrameType,
    outbox: mpsc::UnboundedSender<Message>,
}

impl Acker {
    /// Sends `ack` on the frame's connection.
    ///
    /// # Errors
    /// [`AckError`] when that connection has closed; DingTalk will then redeliver the frame.
    pub fn send(&self, ack: &AckFrame) -> Result<(), AckError> {
        self.outbox
            .send(Message::text(ack.to_text()))
            .map_err(|_| AckError)
    }

    /// The ordinary "handled" ACK for the frame's family: `{"response": null}` for callbacks,
    /// `{"status":"SUCCESS"}` for events, a plain 200 with `{}` for anything else. Frames without a
    /// `messageId` cannot be acknowledged and are skipped.
    ///
    /// # Errors
    /// [`AckError`] when the frame's connection has closed.
    pub fn ok(&self) -> Result<(), AckError> {
        let Some(id) = self.message_id.clone() else {
            return Ok(());
        };
        let ack = match self.frame_type {
            FrameType::Callback => AckFrame::callback(id, Value::Null),
            FrameType::Event => AckFrame::event(id, EventAckStatus::Success, "success"),
            _ => AckFrame::ok(id),
        };
        self.send(&ack)
    }

    /// ACK for a CALLBACK frame carrying `response` (a card-callback answer updates the card).
    ///
    /// # Errors
    /// [`AckError`] when the frame's connection has closed.
    pub fn callback(&self, response: Value) -> Result<(), AckError> {
        let Some(id) = self.message_id.clone() else {
            return Ok(());
        };
        self.send(&AckFrame::callback(id, response))
    }

    /// ACK for an EVENT frame with an explicit status (`Later` asks for redelivery).
    ///
    /// # Errors
    /// [`AckError`] when the frame's connection has closed.
    pub fn event(&self, status: EventAckStatus, message: &str) -> Result<(), AckError> {
        let Some(id) = self.message_id.clone() else {
            return Ok(());
        };
        self.send(&AckFrame::event(id, status, message))
    }

    /// The delivery id being acknowledged.
    #[must_use]
    pub fn message_id(&self) -> Option<&MessageId> {
        self.message_id.as_ref()
    }
}

/// A CALLBACK or EVENT frame. Dropping it without acknowledging leaves the push un-acked, and
/// DingTalk redelivers it later (with a new `messageId`, the same payload).
#[derive(Debug)]
pub struct Delivery {
    /// Local sequence number of the connection the frame arrived on.
    pub connection: u64,
    /// The frame as received.
    pub frame: StreamFrame,
    acker: Acker,
}

impl Delivery {
    pub(crate) fn new(connection: u64, frame: StreamFrame, outbox: mpsc::UnboundedSender<Message>) -> Self {
        let acker = Acker {
            message_id: frame.headers.message_id.clone(),
            frame_type: frame.frame_type.clone(),
            outbox,
        };
        Self {
            connection,
            frame,
            acker,
        }
    }

    /// The means to acknowledge this frame.
    #[must_use]
    pub fn acker(&self) -> &Acker {
        &self.acker
    }

    /// Separates the frame from its acknowledger.
    #[must_use]
    pub fn into_parts(self) -> (StreamFrame, Acker) {
        (self.frame, self.acker)
    }
}
