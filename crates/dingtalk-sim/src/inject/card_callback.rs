//! Card callbacks: a user clicks a card button or submits a card form, and the bot gets a
//! `CALLBACK` on the card topic, or, for a card created with `callbackType: HTTP`, a POST of
//! the same payload to the URL registered under the card's `callbackRouteKey`
//! (open.dingtalk.com/document/development/event-callback-card, "接收事件回调").

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use crate::error::{Result, SimError};
use crate::ids;
use crate::model::{DeliveryKind, InjectCardCallback, TOPIC_CARD_CALLBACK};
use crate::state::{CardCallbackPush, NewDelivery, Outgoing, Shared, State};

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
        if let Some(route_key) = card.as_ref().and_then(|c| c.http_route_key.clone()) {
            // Created against a registered key (createAndDeliver checks), so normally found;
            // the binding in force now is used, as a forced re-registration moves every card.
            let route = self
                .card_route_of(&app.client_id, &route_key)
                .cloned()
                .ok_or_else(|| {
                    SimError::Invalid(format!(
                        "card {:?} names callbackRouteKey {route_key:?}, which is not registered",
                        req.out_track_id
                    ))
                })?;
            self.http_push
                .outbox
                .push(Outgoing::CardCallback(CardCallbackPush {
                    app: app.client_id,
                    key: key.clone(),
                    url: route.url,
                    api_secret: route.api_secret,
                    out_track_id: req.out_track_id.clone(),
                    user: user.staff_id,
                    payload: data.to_string(),
                }));
            return Ok(key);
        }
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
