//! Stream-mode frames: what the server pushes and the ACK the client writes back.
//!
//! The `data` field is JSON *text* inside JSON; it is kept as a string here and decoded a
//! second time by [`StreamFrame::decode_data`], so that an odd payload never prevents the
//! frame itself from being acknowledged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::decode::ModelError;
use crate::ids::{EventId, MessageId};

/// Topic of bot messages (DMs, and group messages that @ the bot).
pub const TOPIC_BOT_MESSAGE: &str = "/v1.0/im/bot/messages/get";
/// Topic of card button / form callbacks for cards created with `callbackType: "STREAM"`.
pub const TOPIC_CARD_CALLBACK: &str = "/v1.0/card/instances/callback";
/// SYSTEM topic: application-level health check, answered by echoing `data`.
pub const TOPIC_PING: &str = "ping";
/// SYSTEM topic: the server is draining this connection and will close it about 10 s later.
pub const TOPIC_DISCONNECT: &str = "disconnect";

/// The three frame families; unknown families are kept so they can still be acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameType {
    /// `SYSTEM`: ping and disconnect.
    System,
    /// `EVENT`: organisation events (approvals, contacts, …).
    Event,
    /// `CALLBACK`: bot messages and card callbacks.
    Callback,
    /// Anything else, kept verbatim.
    Unknown(String),
}

impl FrameType {
    /// The wire spelling.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::System => "SYSTEM",
            Self::Event => "EVENT",
            Self::Callback => "CALLBACK",
            Self::Unknown(other) => other,
        }
    }
}

impl From<&str> for FrameType {
    fn from(raw: &str) -> Self {
        match raw {
            "SYSTEM" => Self::System,
            "EVENT" => Self::Event,
            "CALLBACK" => Self::Callback,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

impl Serialize for FrameType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FrameType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(Self::from(raw.as_str()))
    }
}

/// Frame headers. All values are strings on the wire, including `time`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameHeaders {
    /// Routing key: a CALLBACK topic, `ping`/`disconnect`, or `*` on events.
    #[serde(default)]
    pub topic: String,
    /// Delivery id to echo in the ACK (may be missing on `disconnect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
    /// Normally `application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Push time, epoch milliseconds as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// App uuid (CALLBACK / EVENT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// Server-side connection id (CALLBACK / EVENT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// Event type, e.g. `bpms_instance_change` (EVENT). Dispatch events on this, not on `topic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// Unique event id, the dedup key for events (EVENT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
    /// Event creation time, epoch ms string (EVENT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_born_time: Option<String>,
    /// Corp of the event (EVENT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_corp_id: Option<String>,
    /// Unified app id (EVENT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_unified_app_id: Option<String>,
    /// Headers this crate does not know yet, kept verbatim.
    #[serde(flatten)]
    pub extensions: BTreeMap<String, Value>,
}

/// One downstream frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamFrame {
    /// `"1.0"` today.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_version: Option<String>,
    /// `SYSTEM`, `EVENT` or `CALLBACK`.
    #[serde(rename = "type")]
    pub frame_type: FrameType,
    /// String-valued headers.
    pub headers: FrameHeaders,
    /// The payload as JSON text (decode with [`StreamFrame::decode_data`]).
    #[serde(deserialize_with = "data_as_text")]
    pub data: String,
}

/// Accepts `data` as JSON text (the documented form) or as an inline object (seen in third-party code),
/// normalising both to text.
fn data_as_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(text) => Ok(text),
        Value::Null => Ok(String::new()),
        inline @ (Value::Object(_) | Value::Array(_)) => Ok(inline.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "`data` must be a JSON string or object, found {}",
            json_kind(&other)
        ))),
    }
}

pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Why a frame could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The WebSocket text was not a frame at all.
    #[error("stream frame is not valid JSON of the expected shape: {source}; frame starts with {prefix:?}")]
    Malformed {
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
        /// The first bytes of the frame, for the log.
        prefix: String,
    },
    /// A frame that parsed but lacks something the protocol requires.
    #[error("stream frame is missing {what}")]
    Missing {
        /// What was missing.
        what: &'static str,
    },
    /// `data` was not the JSON the topic promises.
    #[error("`data` of a {topic} frame is not the expected JSON: {source}")]
    Data {
        /// The frame's topic.
        topic: String,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// `data` (or an event header) could not be decoded into the payload its topic or event
    /// type promises (see [`crate::model::classify`]).
    #[error("payload of a {kind} frame could not be decoded: {source}")]
    Payload {
        /// The frame's topic for CALLBACK frames, `event <eventType>` for EVENT frames.
        kind: String,
        /// What was wrong, naming the field.
        #[source]
        source: ModelError,
    },
}

impl StreamFrame {
    /// Parses WebSocket text into a frame, checking the fields every frame needs.
    ///
    /// # Errors
    /// [`FrameError::Malformed`] when `text` is not a frame's JSON; [`FrameError::Missing`] when
    /// `headers.topic` is empty, or `headers.messageId` is absent on a non-SYSTEM frame.
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        let frame: Self = serde_json::from_str(text).map_err(|source| FrameError::Malformed {
            source,
            prefix: text.chars().take(80).collect(),
        })?;
        if frame.headers.topic.is_empty() {
            return Err(FrameError::Missing {
                what: "headers.topic",
            });
        }
        if frame.frame_type != FrameType::System && frame.headers.message_id.is_none() {
            return Err(FrameError::Missing {
                what: "headers.messageId",
            });
        }
        Ok(frame)
    }

    /// Decodes the double-encoded `data` into `T`.
    ///
    /// # Errors
    /// [`FrameError::Data`] when `data` does not parse as `T`.
    pub fn decode_data<T: serde::de::DeserializeOwned>(&self) -> Result<T, FrameError> {
        serde_json::from_str(&self.data).map_err(|source| FrameError::Data {
            topic: self.headers.topic.clone(),
            source,
        })
    }

    /// True for `SYSTEM/ping`.
    #[must_use]
    pub fn is_ping(&self) -> bool {
        self.frame_type == FrameType::System && self.headers.topic == TOPIC_PING
    }

    /// True for `SYSTEM/disconnect`.
    #[must_use]
    pub fn is_disconnect(&self) -> bool {
        self.frame_type == FrameType::System && self.headers.topic == TOPIC_DISCONNECT
    }
}

/// Headers of an ACK frame; both are required by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AckHeaders {
    /// Always `application/json`.
    pub content_type: String,
    /// The `messageId` of the frame being acknowledged.
    pub message_id: MessageId,
}

/// Outcome reported for an EVENT frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum EventAckStatus {
    /// Handled; do not redeliver.
    Success,
    /// Not handled now; the server should redeliver later.
    Later,
}

/// `data` of an ACK that has nothing to say. `data` is always JSON text: the Python SDK writes
/// `json.dumps(data)` with `data = {}` by default (dingtalk-stream `frames.py` `AckMessage`),
/// the Node SDK `JSON.stringify(value)` (`src/client.ts` `send`).
const EMPTY_DATA: &str = "{}";

/// The single upstream frame written for every downstream frame, on the same connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckFrame {
    /// 200 OK, 404 topic not handled, 500 client error.
    pub code: u16,
    /// Content type and echoed message id.
    pub headers: AckHeaders,
    /// Human-readable status, `OK` normally.
    pub message: String,
    /// JSON *text* whose shape depends on the frame family; never empty.
    pub data: String,
}

impl AckFrame {
    fn new(code: u16, message_id: MessageId, message: &str, data: String) -> Self {
        Self {
            code,
            headers: AckHeaders {
                content_type: "application/json".into(),
                message_id,
            },
            message: message.into(),
            data,
        }
    }

    /// ACK for a CALLBACK frame: `data = {"response": <response>}`. For bot messages the
    /// server ignores the response; for card callbacks it updates the card.
    #[must_use]
    pub fn callback(message_id: MessageId, response: Value) -> Self {
        Self::new(
            200,
            message_id,
            "OK",
            serde_json::json!({ "response": response }).to_string(),
        )
    }

    /// ACK for an EVENT frame: `data = {"status": "SUCCESS"|"LATER", "message": …}`.
    #[must_use]
    pub fn event(message_id: MessageId, status: EventAckStatus, message: &str) -> Self {
        let data = serde_json::json!({ "status": status, "message": message }).to_string();
        Self::new(200, message_id, "OK", data)
    }

    /// ACK for `SYSTEM/ping`: echoes the frame's `data` unchanged. `None` when the ping
    /// carries no `messageId` to echo.
    #[must_use]
    pub fn pong(ping: &StreamFrame) -> Option<Self> {
        Self::system(ping)
    }

    /// ACK for any SYSTEM frame (`ping`, `disconnect`): echoes the frame's `data`, as the
    /// official SDKs do (Python `SystemHandler.raw_process`, Node `onSystem`). A `data` that is
    /// not JSON text is answered with `{}`, since `data` must always be JSON text. `None` when
    /// the frame carries no `messageId` to echo.
    #[must_use]
    pub fn system(frame: &StreamFrame) -> Option<Self> {
        let id = frame.headers.message_id.clone()?;
        let data = if serde_json::from_str::<serde::de::IgnoredAny>(&frame.data).is_ok() {
            frame.data.clone()
        } else {
            EMPTY_DATA.to_owned()
        };
        Some(Self::new(200, id, "OK", data))
    }

    /// Plain 200 ACK with `{}` as `data`.
    #[must_use]
    pub fn ok(message_id: MessageId) -> Self {
        Self::new(200, message_id, "OK", EMPTY_DATA.to_owned())
    }

    /// Error ACK (e.g. 404 for an unhandled topic, 500 for a client failure), `data` `{}`.
    #[must_use]
    pub fn error(message_id: MessageId, code: u16, message: &str) -> Self {
        Self::new(code, message_id, message, EMPTY_DATA.to_owned())
    }

    /// The frame as WebSocket text.
    #[must_use]
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("ack frames always serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_object_data_is_normalised_to_text() {
        let f = StreamFrame::parse(
            r#"{"type":"CALLBACK","headers":{"topic":"/v1.0/im/bot/messages/get","messageId":"m1"},"data":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(f.data, r#"{"a":1}"#);
    }

    #[test]
    fn unknown_frame_types_and_headers_survive() {
        let f = StreamFrame::parse(
            r#"{"type":"NEWKIND","headers":{"topic":"x","messageId":"m","shiny":"1"},"data":"{}"}"#,
        )
        .unwrap();
        assert_eq!(f.frame_type, FrameType::Unknown("NEWKIND".into()));
        assert_eq!(f.headers.extensions["shiny"], "1");
    }

    #[test]
    fn every_ack_carries_json_text_in_data() {
        let frame = |data: &str| {
            StreamFrame::parse(&format!(
                r#"{{"type":"SYSTEM","headers":{{"topic":"disconnect","messageId":"m"}},"data":{data}}}"#
            ))
            .unwrap()
        };
        let acks = [
            AckFrame::ok(MessageId::new("m")),
            AckFrame::error(MessageId::new("m"), 404, "not handled"),
            AckFrame::system(&frame(r#""""#)).unwrap(),
            AckFrame::system(&frame("null")).unwrap(),
            AckFrame::system(&frame(r#""not json""#)).unwrap(),
            AckFrame::callback(MessageId::new("m"), Value::Null),
        ];
        for ack in acks {
            let v: Value = serde_json::from_str(&ack.to_text()).unwrap();
            let data = v["data"].as_str().expect("data is a string");
            assert!(serde_json::from_str::<Value>(data).is_ok(), "{ack:?}");
        }
        let echoed = AckFrame::system(&frame(r#""{\"reason\":\"x\"}""#)).unwrap();
        assert_eq!(echoed.data, r#"{"reason":"x"}"#);
    }

    #[test]
    fn event_ack_matches_the_documented_shape() {
        let ack = AckFrame::event(MessageId::new("m"), EventAckStatus::Success, "success");
        let v: Value = serde_json::from_str(&ack.to_text()).unwrap();
        assert_eq!(v["code"], 200);
        assert_eq!(v["headers"]["messageId"], "m");
        let data: Value = serde_json::from_str(v["data"].as_str().unwrap()).unwrap();
        assert_eq!(data, serde_json::json!({"status":"SUCCESS","message":"success"}));
    }
}
