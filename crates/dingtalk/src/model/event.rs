//! Organisation events from either transport (protocol §9.6, §10):
//!
//! - Stream: an `EVENT` frame; the envelope is in the headers (`eventType`, `eventId`,
//!   `eventBornTime`, `eventCorpId`, `eventUnifiedAppId`) and the business fields in `data`.
//! - HTTP push: the decrypted JSON holds a PascalCase envelope (`EventType`, `EventTime`,
//!   `CorpId`, `BizId`) plus `eventId`, with the business fields flattened beside it.
//!
//! Both become a [`ReceivedEvent`]: a transport-neutral [`EventEnvelope`] plus a typed [`Event`].

use serde_json::{Map, Value};

pub use super::bpms::{
    ApprovalResult, BpmsInstanceChange, BpmsTaskChange, InstanceChangeType, TaskChangeType,
};
use super::decode::{ModelError, Obj, parse_json};
use super::frame::{FrameHeaders, StreamFrame};
use crate::ids::{CorpId, EventId};

/// `eventType` of approval-instance changes.
pub const EVENT_BPMS_INSTANCE_CHANGE: &str = "bpms_instance_change";
/// `eventType` of approval-task changes.
pub const EVENT_BPMS_TASK_CHANGE: &str = "bpms_task_change";
/// `EventType` DingTalk sends over HTTP push when the callback URL is saved in the console.
pub const EVENT_CHECK_URL: &str = "check_url";

const HTTP_WHAT: &str = "HTTP-push event";
const STREAM_WHAT: &str = "event frame";

/// Envelope fields common to both transports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EventEnvelope {
    /// What happened, e.g. `bpms_instance_change`. Dispatch on this, never on the Stream topic.
    pub event_type: String,
    /// Unique event id: the dedup key (events are delivered at least once).
    pub event_id: Option<EventId>,
    /// When the event was created, epoch ms (`eventBornTime` / `EventTime`).
    pub born_time: Option<i64>,
    /// The organisation (`eventCorpId` / `CorpId`).
    pub corp_id: Option<CorpId>,
    /// Unified app id (Stream only).
    pub unified_app_id: Option<String>,
    /// Idempotency id with no business meaning (HTTP push only).
    pub biz_id: Option<String>,
}

impl EventEnvelope {
    /// Reads the envelope from an `EVENT` frame's headers; `eventType` is required.
    ///
    /// `eventBornTime` is informational, so an unparseable value becomes `None` rather than
    /// an error that would cost the event.
    ///
    /// # Errors
    /// [`ModelError::MissingField`] when `headers.eventType` is absent or empty.
    pub fn from_headers(headers: &FrameHeaders) -> Result<Self, ModelError> {
        let event_type = headers
            .event_type
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ModelError::MissingField {
                what: STREAM_WHAT,
                field: "headers.eventType".into(),
            })?;
        Ok(Self {
            event_type: event_type.to_owned(),
            event_id: headers.event_id.clone().filter(|id| !id.is_empty()),
            born_time: headers
                .event_born_time
                .as_deref()
                .and_then(|t| t.trim().parse().ok()),
            corp_id: headers
                .event_corp_id
                .as_deref()
                .filter(|c| !c.is_empty())
                .map(CorpId::new),
            unified_app_id: headers.event_unified_app_id.clone().filter(|a| !a.is_empty()),
            biz_id: None,
        })
    }
}

/// A decrypted HTTP-push event body.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HttpPushEvent {
    /// `EventType`, `eventId`, `EventTime`, `CorpId`, `BizId`.
    pub envelope: EventEnvelope,
    /// Every other top-level field: the event's business fields.
    pub fields: Map<String, Value>,
    /// The entire decrypted body.
    pub raw: Value,
}

/// Keys of the HTTP-push envelope; everything else is a business field.
const HTTP_ENVELOPE_KEYS: [&str; 5] = ["EventType", "eventId", "EventTime", "CorpId", "BizId"];

impl HttpPushEvent {
    /// Decodes decrypted JSON text.
    ///
    /// # Errors
    /// [`ModelError::Json`] when `text` is not JSON; otherwise as [`HttpPushEvent::from_value`].
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        Self::from_value(parse_json(HTTP_WHAT, text)?)
    }

    /// Decodes a parsed body; `EventType` is required.
    ///
    /// # Errors
    /// [`ModelError::NotAnObject`] when `raw` is not an object; [`ModelError::MissingField`] when
    /// `EventType` is absent or empty; [`ModelError::InvalidField`] when an envelope field has the
    /// wrong JSON type.
    pub fn from_value(raw: Value) -> Result<Self, ModelError> {
        let o = Obj::root(HTTP_WHAT, &raw)?;
        let envelope = EventEnvelope {
            event_type: o.required("EventType")?.to_owned(),
            // Seen as `eventId`; `EventId` accepted too in case the casing follows the envelope.
            event_id: match o.id("eventId", EventId::new)? {
                Some(id) => Some(id),
                None => o.id("EventId", EventId::new)?,
            },
            born_time: o.int("EventTime")?,
            corp_id: o.id("CorpId", CorpId::new)?,
            unified_app_id: None,
            biz_id: o.stringish("BizId")?,
        };
        let fields = raw
            .as_object()
            .map(|all| {
                all.iter()
                    .filter(|(k, _)| !HTTP_ENVELOPE_KEYS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            envelope,
            fields,
            raw,
        })
    }
}

/// A decoded event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `bpms_instance_change`.
    BpmsInstanceChange(BpmsInstanceChange),
    /// `bpms_task_change`.
    BpmsTaskChange(BpmsTaskChange),
    /// `check_url`: answer with the encrypted `success`.
    CheckUrl,
    /// Any other event type, with its business fields as sent.
    Other {
        /// The event type.
        event_type: String,
        /// The business fields (Stream `data`, or the HTTP push's non-envelope fields).
        raw: Value,
    },
}

impl Event {
    /// Decodes the business fields of an event of type `event_type`.
    ///
    /// # Errors
    /// For the approval events, the errors of [`BpmsInstanceChange::from_value`] and
    /// [`BpmsTaskChange::from_value`]; other event types never fail.
    pub fn from_data(event_type: &str, data: &Value) -> Result<Self, ModelError> {
        Ok(match event_type {
            EVENT_BPMS_INSTANCE_CHANGE => Self::BpmsInstanceChange(BpmsInstanceChange::from_value(data)?),
            EVENT_BPMS_TASK_CHANGE => Self::BpmsTaskChange(BpmsTaskChange::from_value(data)?),
            EVENT_CHECK_URL => Self::CheckUrl,
            other => Self::Other {
                event_type: other.to_owned(),
                raw: data.clone(),
            },
        })
    }
}

/// An event from either transport.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReceivedEvent {
    /// Transport-neutral envelope (use `envelope.event_id` to dedup).
    pub envelope: EventEnvelope,
    /// The typed event.
    pub event: Event,
    /// The business fields as received (Stream `data`; HTTP push: the non-envelope fields).
    pub data: Value,
}

impl ReceivedEvent {
    /// Decodes an `EVENT` frame. An empty `data` is treated as `null`.
    ///
    /// # Errors
    /// [`ModelError::MissingField`] without `headers.eventType`; [`ModelError::Json`] when a non-empty
    /// `data` is not JSON; then the errors of [`Event::from_data`].
    pub fn from_frame(frame: &StreamFrame) -> Result<Self, ModelError> {
        let envelope = EventEnvelope::from_headers(&frame.headers)?;
        let data = if frame.data.trim().is_empty() {
            Value::Null
        } else {
            parse_json("`data` of an event frame", &frame.data)?
        };
        let event = Event::from_data(&envelope.event_type, &data)?;
        Ok(Self {
            envelope,
            event,
            data,
        })
    }

    /// Decodes an HTTP-push event.
    ///
    /// # Errors
    /// The errors of [`Event::from_data`] for the push's business fields.
    pub fn from_http_push(push: HttpPushEvent) -> Result<Self, ModelError> {
        let data = Value::Object(push.fields);
        let event = Event::from_data(&push.envelope.event_type, &data)?;
        Ok(Self {
            envelope: push.envelope,
            event,
            data,
        })
    }

    /// Decodes decrypted HTTP-push JSON text in one step.
    ///
    /// # Errors
    /// The errors of [`HttpPushEvent::from_json`] and [`ReceivedEvent::from_http_push`].
    pub fn from_http_push_json(text: &str) -> Result<Self, ModelError> {
        Self::from_http_push(HttpPushEvent::from_json(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_push_flattened_instance_change() {
        let ev = ReceivedEvent::from_http_push_json(
            r#"{"EventType":"bpms_instance_change","EventTime":"1767229200321","CorpId":"dingc","BizId":"b1",
                "eventId":"e1","processInstanceId":"p1","type":"start","staffId":"031"}"#,
        )
        .unwrap();
        assert_eq!(ev.envelope.event_id, Some(EventId::new("e1")));
        assert_eq!(ev.envelope.born_time, Some(1_767_229_200_321));
        assert_eq!(ev.envelope.biz_id.as_deref(), Some("b1"));
        assert!(ev.data.get("EventType").is_none());
        let Event::BpmsInstanceChange(i) = ev.event else {
            panic!("wrong event: {:?}", ev.event)
        };
        assert_eq!(i.change_type, InstanceChangeType::Start);
        assert_eq!(i.result, None::<ApprovalResult>);
    }

    #[test]
    fn check_url_and_missing_event_type() {
        let ev = ReceivedEvent::from_http_push_json(r#"{"EventType":"check_url"}"#).unwrap();
        assert_eq!(ev.event, Event::CheckUrl);
        let err = HttpPushEvent::from_json(r#"{"eventId":"x"}"#).unwrap_err();
        assert!(matches!(err, ModelError::MissingField { field, .. } if field == "EventType"));
    }
}
