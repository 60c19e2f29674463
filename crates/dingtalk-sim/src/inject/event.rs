//! Organisation events (`EVENT` frames with the event envelope in the headers).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use crate::error::Result;
use crate::ids;
use crate::model::{DeliveryKind, InjectEvent};
use crate::state::{NewDelivery, Shared, State};

impl State {
    /// Queues an EVENT for Stream delivery (or HTTP push); returns the eventId.
    pub(super) fn inject_event(&mut self, shared: &Arc<Shared>, req: &InjectEvent) -> Result<String> {
        let app = self.app(&req.app)?.clone();
        let event_id = req.event_id.clone().unwrap_or_else(|| ids::hex(32));
        let mut headers = BTreeMap::new();
        headers.insert("eventId".to_owned(), event_id.clone());
        headers.insert("eventBornTime".to_owned(), ids::epoch_ms().to_string());
        headers.insert(
            "eventCorpId".to_owned(),
            req.corp_id.clone().unwrap_or_else(|| app.corp_id.clone()),
        );
        headers.insert("eventType".to_owned(), req.event_type.clone());
        headers.insert("eventUnifiedAppId".to_owned(), app.unified_app_id.clone());
        let data = if req.data.is_null() {
            json!({})
        } else {
            req.data.clone()
        };
        if self.http_push.takes_events(&app.client_id) {
            let corp = headers.get("eventCorpId").cloned().unwrap_or_default();
            self.http_push
                .queue_event(&app.client_id, &req.event_type, &event_id, &corp, &data);
            return Ok(event_id);
        }
        self.enqueue_delivery(
            shared,
            NewDelivery {
                key: event_id.clone(),
                kind: DeliveryKind::Event,
                app: app.client_id,
                frame_type: "EVENT",
                topic: "*".into(),
                extra_headers: headers,
                data: data.to_string(),
            },
        );
        Ok(event_id)
    }
}
