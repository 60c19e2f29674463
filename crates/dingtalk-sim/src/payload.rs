//! Building and queueing injected payloads (see [`crate::inject`] for the request types).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::delivery::NewDelivery;
use crate::error::{Result, SimError};
use crate::ids;
use crate::inject::{
    InjectCardCallback, InjectEvent, InjectMessage, Injected, MediaSpec, MessageSpec, RichSegment,
    TOPIC_BOT_MESSAGE, TOPIC_CARD_CALLBACK,
};
use crate::model::{DeliveryKind, UserMessage};
use crate::state::{Blob, SessionEntry, Shared, State};

// 1x1 transparent PNG.
const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00,
    0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01,
    0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

impl State {
    /// Registers bytes under a fresh download code.
    pub fn register_download(
        &mut self,
        app: &str,
        bytes: Vec<u8>,
        content_type: String,
        file_name: Option<String>,
    ) -> String {
        let code = ids::download_code();
        self.downloads.insert(
            code.clone(),
            Blob {
                app: app.to_owned(),
                bytes: bytes.into(),
                content_type,
                file_name,
            },
        );
        code
    }

    fn register_media(
        &mut self,
        app: &str,
        media: Option<&MediaSpec>,
        default: (&[u8], &str),
        file_name: Option<&str>,
    ) -> Result<String> {
        let bytes = match media.and_then(|m| m.content_base64.as_deref()) {
            Some(b64) => STANDARD
                .decode(b64)
                .map_err(|e| SimError::Invalid(format!("content_base64 is not base64: {e}")))?,
            None => default.0.to_vec(),
        };
        let content_type = media
            .and_then(|m| m.content_type.clone())
            .unwrap_or_else(|| default.1.to_owned());
        let code = ids::download_code();
        self.downloads.insert(
            code.clone(),
            Blob {
                app: app.to_owned(),
                bytes: bytes.into(),
                content_type,
                file_name: file_name.map(str::to_owned),
            },
        );
        Ok(code)
    }

    fn picture_item(&mut self, app: &str, media: Option<&MediaSpec>) -> Result<(Value, String)> {
        let code = self.register_media(app, media, (PNG_1X1, "image/png"), None)?;
        let item = json!({
            "type": "picture",
            "downloadCode": code,
            "pictureDownloadCode": format!("vcOp{}", ids::b64(18)),
        });
        Ok((item, code))
    }

    fn quote_fields(&self, quote: &str, app: &str) -> Result<(Value, Map<String, Value>)> {
        let mut top = Map::new();
        if let Some(m) = self.user_messages.iter().rev().find(|m| m.msg_id == quote) {
            let sender_id = self
                .users
                .get(&m.sender)
                .map(|u| u.dingtalk_id.clone())
                .unwrap_or_default();
            let replied = json!({
                "msgType": m.msg_type,
                "msgId": m.msg_id,
                "senderId": sender_id,
                "createdAt": m.payload.get("createAt").cloned().unwrap_or(Value::Null),
                "content": {"text": m.text},
            });
            top.insert("originalMsgId".into(), json!(m.msg_id));
            return Ok((replied, top));
        }
        if let Some(s) = self
            .sent
            .iter()
            .rev()
            .find(|s| s.process_query_key.as_deref() == Some(quote))
        {
            let bot = self
                .apps
                .get(app)
                .map(|a| a.chatbot_user_id.clone())
                .unwrap_or_default();
            let replied = json!({
                "msgType": if s.api == "card" { "interactiveCard" } else { "text" },
                "msgId": ids::msg_id(),
                "senderId": bot,
                "createdAt": s.epoch_ms,
                "content": {"text": s.text},
            });
            top.insert("originalProcessQueryKey".into(), json!(quote));
            return Ok((replied, top));
        }
        Err(SimError::Invalid(format!(
            "quote {quote:?} is neither a known msgId nor a processQueryKey"
        )))
    }

    /// Builds, records and (when DingTalk would) delivers a user message.
    pub fn inject_message(&mut self, shared: &Arc<Shared>, req: &InjectMessage) -> Result<Injected> {
        let app = self.app(&req.app)?.clone();
        let user = self.user(&req.sender)?.clone();
        let mut not_delivered: Option<String> = None;
        let (conversation_id, group) = match &req.group {
            Some(cid) => {
                let g = self.group(cid)?.clone();
                if !g.members.contains(&user.staff_id) {
                    return Err(SimError::Invalid(format!(
                        "{} is not a member of group {cid}",
                        user.staff_id
                    )));
                }
                if !g.bots.contains(&app.client_id) {
                    not_delivered = Some("the bot is not a member of the group".into());
                } else if !req.at_bot {
                    not_delivered = Some("group messages reach the bot only when they @ it".into());
                }
                (cid.clone(), Some(g))
            }
            None => (self.dm_conversation(&app.client_id, &user.staff_id), None),
        };
        let is_group = group.is_some();
        let mut at_people = Vec::new();
        for staff in &req.at_users {
            at_people.push(self.user(staff)?.clone());
        }

        let msg_id = ids::msg_id();
        let create_at = ids::epoch_ms();
        let ttl_ms = u64::try_from(shared.config.session_webhook_ttl.as_millis()).unwrap_or(u64::MAX);
        let expired_time = create_at.saturating_add(ttl_ms);
        let session = ids::hex(32);
        let session_webhook = shared.url(&format!("/robot/sendBySession?session={session}"));

        let mut p = Map::new();
        p.insert("conversationId".into(), json!(conversation_id));
        p.insert("chatbotCorpId".into(), json!(app.corp_id));
        p.insert("chatbotUserId".into(), json!(app.chatbot_user_id));
        p.insert("msgId".into(), json!(msg_id));
        p.insert("senderNick".into(), json!(user.nick));
        p.insert("isAdmin".into(), json!(user.is_admin));
        p.insert("senderStaffId".into(), json!(user.staff_id));
        p.insert("senderUnionId".into(), json!(user.union_id));
        p.insert("sessionWebhookExpiredTime".into(), json!(expired_time));
        p.insert("createAt".into(), json!(create_at));
        p.insert("senderCorpId".into(), json!(user.corp_id));
        p.insert("conversationType".into(), json!(if is_group { "2" } else { "1" }));
        p.insert("senderId".into(), json!(user.dingtalk_id));
        p.insert("sessionWebhook".into(), json!(session_webhook));
        p.insert("robotCode".into(), json!(app.robot_code));
        p.insert(
            "senderPlatform".into(),
            json!(req.sender_platform.clone().unwrap_or_else(|| "Mac".into())),
        );
        if let Some(g) = &group {
            p.insert("conversationTitle".into(), json!(g.title));
            let mut at_users = Vec::new();
            if req.at_bot {
                at_users.push(json!({"dingtalkId": app.chatbot_user_id}));
            }
            for u in &at_people {
                at_users.push(json!({"dingtalkId": u.dingtalk_id, "staffId": u.staff_id}));
            }
            p.insert("isInAtList".into(), json!(req.at_bot));
            if !at_users.is_empty() {
                p.insert("atUsers".into(), Value::Array(at_users));
            }
        }

        let bot_mention = format!("@{}", app.name);
        let mut codes = Vec::new();
        let (msgtype, text) = match &req.message {
            MessageSpec::Text { text } => {
                let mut content = if is_group && req.at_bot {
                    format!(" {text}")
                } else {
                    text.clone()
                };
                for u in &at_people {
                    let mention = format!("@{}", u.nick);
                    if !content.contains(&mention) {
                        content.push_str(&format!(" {mention} "));
                    }
                }
                let mut t = Map::new();
                t.insert("content".into(), json!(content));
                if let Some(q) = &req.quote {
                    let (replied, top) = self.quote_fields(q, &app.client_id)?;
                    t.insert("isReplyMsg".into(), json!(true));
                    t.insert("repliedMsg".into(), replied);
                    p.extend(top);
                }
                p.insert("text".into(), Value::Object(t));
                ("text", text.clone())
            }
            MessageSpec::RichText { segments } => {
                let mut items = Vec::new();
                if is_group && req.at_bot {
                    items.push(json!({"text": bot_mention}));
                }
                let mut summary = String::new();
                for seg in segments {
                    match seg {
                        RichSegment::Text { text } => {
                            summary.push_str(text);
                            items.push(json!({"text": text}));
                        }
                        RichSegment::Picture { media } => {
                            let (item, code) = self.picture_item(&app.client_id, media.as_ref())?;
                            summary.push_str("[图片]");
                            codes.push(code);
                            items.push(item);
                        }
                    }
                }
                p.insert("content".into(), json!({"richText": items}));
                ("richText", summary)
            }
            MessageSpec::Picture { media } => {
                let (item, code) = self.picture_item(&app.client_id, media.as_ref())?;
                codes.push(code);
                if is_group {
                    let mut items = Vec::new();
                    if req.at_bot {
                        items.push(json!({"text": bot_mention}));
                    }
                    items.push(item);
                    p.insert("content".into(), json!({"richText": items}));
                    ("richText", "[图片]".to_owned())
                } else {
                    let mut c = item;
                    if let Some(o) = c.as_object_mut() {
                        o.remove("type");
                    }
                    p.insert("content".into(), c);
                    ("picture", "[图片]".to_owned())
                }
            }
            MessageSpec::Audio {
                recognition,
                duration_ms,
                media,
            } => {
                let code = self.register_media(
                    &app.client_id,
                    media.as_ref(),
                    (b"#!AMR\n\0\0\0\0", "audio/amr"),
                    None,
                )?;
                codes.push(code.clone());
                p.insert(
                    "content".into(),
                    json!({"downloadCode": code, "duration": duration_ms.unwrap_or(3000), "recognition": recognition}),
                );
                ("audio", recognition.clone())
            }
            MessageSpec::Video { duration_secs, media } => {
                let code = self.register_media(
                    &app.client_id,
                    media.as_ref(),
                    (b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom", "video/mp4"),
                    None,
                )?;
                codes.push(code.clone());
                p.insert(
                    "content".into(),
                    json!({"duration": duration_secs.unwrap_or(5).to_string(), "videoType": "mp4", "downloadCode": code}),
                );
                ("video", "[视频]".to_owned())
            }
            MessageSpec::File { file_name, media } => {
                let code = self.register_media(
                    &app.client_id,
                    media.as_ref(),
                    (b"%PDF-1.4\n% simulated file\n", "application/octet-stream"),
                    Some(file_name),
                )?;
                codes.push(code.clone());
                p.insert(
                    "content".into(),
                    json!({
                        "spaceId": format!("{}", 20_000_000_000u64 + u64::from(rand::random::<u32>())),
                        "fileName": file_name,
                        "downloadCode": code,
                        "fileId": format!("{}", 110_000_000_000u64 + u64::from(rand::random::<u32>())),
                    }),
                );
                ("file", format!("[文件] {file_name}"))
            }
            MessageSpec::Unknown { text } => {
                let t = text
                    .clone()
                    .unwrap_or_else(|| "用户发送了一条消息，机器人暂不支持接收。".to_owned());
                p.insert("content".into(), json!({"unknownMsgType": t}));
                ("unknownMsgType", t)
            }
            MessageSpec::Raw { fields } => {
                for (k, v) in fields {
                    if v.is_null() {
                        p.remove(k);
                    } else {
                        p.insert(k.clone(), v.clone());
                    }
                }
                let mt = p
                    .get("msgtype")
                    .and_then(Value::as_str)
                    .unwrap_or("text")
                    .to_owned();
                let text = p
                    .get("text")
                    .and_then(|t| t.get("content"))
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("[{mt}]"), str::to_owned);
                (if mt == "text" { "text" } else { "raw" }, text)
            }
        };
        if !p.contains_key("msgtype") {
            p.insert("msgtype".into(), json!(msgtype));
        }
        let msgtype = p
            .get("msgtype")
            .and_then(Value::as_str)
            .unwrap_or(msgtype)
            .to_owned();
        if is_group && not_delivered.is_none() && matches!(msgtype.as_str(), "audio" | "video" | "file") {
            not_delivered = Some(format!(
                "DingTalk does not deliver {msgtype} messages from groups to bots"
            ));
        }

        self.sessions.insert(
            session.clone(),
            SessionEntry {
                app: app.client_id.clone(),
                conversation_id: conversation_id.clone(),
                expires_at: Instant::now() + shared.config.session_webhook_ttl,
            },
        );
        let payload = Value::Object(p);
        let delivered = not_delivered.is_none();
        self.user_messages.push(UserMessage {
            at_ms: shared.now_ms(),
            msg_id: msg_id.clone(),
            app: app.client_id.clone(),
            conversation_id: conversation_id.clone(),
            is_group,
            sender: user.staff_id.clone(),
            sender_nick: user.nick.clone(),
            msg_type: msgtype,
            text,
            delivered,
            not_delivered_reason: not_delivered.clone(),
            payload: payload.clone(),
        });
        if let (true, Some(url)) = (delivered, self.ext.http_bot.get(&app.client_id).cloned()) {
            tracing::info!(%msg_id, app = %app.client_id, "injecting bot message (HTTP mode)");
            self.ext.outbox.push(crate::http_push::bot_outgoing(
                &app.client_id,
                &msg_id,
                &url,
                &payload,
            ));
        } else if delivered {
            tracing::info!(%msg_id, app = %app.client_id, "injecting bot message");
            self.enqueue_delivery(
                shared,
                NewDelivery {
                    key: msg_id.clone(),
                    kind: DeliveryKind::BotMessage,
                    app: app.client_id.clone(),
                    frame_type: "CALLBACK",
                    topic: TOPIC_BOT_MESSAGE.into(),
                    extra_headers: BTreeMap::new(),
                    data: payload.to_string(),
                },
            );
        } else {
            tracing::info!(%msg_id, reason = ?not_delivered, "user message not delivered to the bot");
        }
        Ok(Injected {
            msg_id,
            conversation_id,
            delivered,
            not_delivered_reason: not_delivered,
            session_webhook,
            session_webhook_expired_time: expired_time,
            download_codes: codes,
            payload,
        })
    }

    /// Queues an EVENT for Stream delivery; returns the eventId.
    pub fn inject_event(&mut self, shared: &Arc<Shared>, req: &InjectEvent) -> Result<String> {
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
        if self.ext.http_push.get(&app.client_id).is_some_and(|c| c.events) {
            let corp = headers.get("eventCorpId").cloned().unwrap_or_default();
            self.queue_http_event(&app.client_id, &req.event_type, &event_id, &corp, &data);
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

    /// Queues a card callback; returns its delivery key.
    pub fn inject_card_callback(&mut self, shared: &Arc<Shared>, req: &InjectCardCallback) -> Result<String> {
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
