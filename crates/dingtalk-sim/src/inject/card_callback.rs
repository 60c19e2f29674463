//! Card callbacks: a user clicks a card button or submits a card form, and the bot gets a
//! `CALLBACK` on the card topic.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use crate::error::{Result, SimError};
use crate::ids;
use crate::model::{DeliveryKind, InjectCardCallback, TOPIC_CARD_CALLBACK};
use crate::state::{NewDelivery, Shared, State};

impl State {
    /// Queues a card callback; returns its delivery key.
    pub(super) fn inject_card_callback(
        &mut self,
        shared: &Arc<Shared>,
        req: &InjectCardCallback,
    ) -> Result<String> {
        let card = self.card_route(&req.out_track_id);
        let app_id = match (&req.app, &card) {
            (Some(a), _) => a.clone(),
            (None, Some(c)) => c.app.clone(),
            (None, None) => {
                return Err(SimError::UnknownCard(req.out_track_id.clone()));
            }
        };
        let app = self.app(&app_id)?.clone();
        let user = self.user(&req.user)?.clone();
        let params = if req.params.is_null() {
            json!({})
        } else {
            req.params.clone()
        };
        let content = json!({"cardPrivateData": {"actionIds": req.action_ids, "params": params}});
        let mut data = json!({
            "type": "actionCallback",
            "outTrackId": req.out_track_id,
            "corpId": app.corp_id,
            "userId": user.staff_id,
            "userIdType": 1,
            "content": content.to_string(),
        });
        if let (Some(c), Some(o)) = (&card, data.as_object_mut()) {
            o.insert("spaceType".into(), json!(c.space_type));
            o.insert("spaceId".into(), json!(c.space_id));
            if let Some(ext) = &c.extension {
                o.insert("extension".into(), json!(ext));
            }
        }
        let key = ids::uuid();
        self.enqueue_delivery(
            shared,
            NewDelivery {
                key: key.clone(),
                kind: DeliveryKind::CardCallback,
                app: app.client_id,
                frame_type: "CALLBACK",
                topic: TOPIC_CARD_CALLBACK.into(),
                extra_headers: BTreeMap::new(),
                data: data.to_string(),
            },
        );
        Ok(key)
    }
}
