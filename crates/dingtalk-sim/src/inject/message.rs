//! A user's message to a bot: who talks to whom, the conversation and sender fields, the
//! @-mentions, and handing the payload to the bot when DingTalk would.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::error::{Result, SimError};
use crate::ids;
use crate::model::{App, DeliveryKind, Group, InjectMessage, Injected, TOPIC_BOT_MESSAGE, User, UserMessage};
use crate::state::{NewDelivery, SessionEntry, Shared, State};

/// A bot payload under construction, with the parties it is between.
pub(super) struct Draft<'a> {
    pub req: &'a InjectMessage,
    pub app: App,
    pub user: User,
    pub group: Option<Group>,
    pub conversation_id: String,
    /// Users @-ed besides the bot.
    pub at_people: Vec<User>,
    pub payload: Map<String, Value>,
    /// Download codes of attached media, in order.
    pub codes: Vec<String>,
}

/// Identifiers minted for one message.
struct Minted {
    msg_id: String,
    create_at: u64,
    /// `sessionWebhookExpiredTime`: `createAt` + the sessionWebhook TTL.
    expired_time: u64,
    session: String,
    session_webhook: String,
}

impl Minted {
    fn new(shared: &Shared) -> Self {
        let create_at = ids::epoch_ms();
        let ttl_ms = u64::try_from(shared.config.session_webhook_ttl.as_millis()).unwrap_or(u64::MAX);
        let session = ids::hex(32);
        Self {
            msg_id: ids::msg_id(),
            create_at,
            expired_time: create_at.saturating_add(ttl_ms),
            session_webhook: shared.url(&format!("/robot/sendBySession?session={session}")),
            session,
        }
    }
}

impl State {
    /// Builds, records and (when DingTalk would) delivers a user message.
    pub(super) fn inject_message(&mut self, shared: &Arc<Shared>, req: &InjectMessage) -> Result<Injected> {
        let (mut d, not_delivered) = self.draft(req)?;
        let minted = Minted::new(shared);
        d.conversation_fields(&minted);
        d.group_fields();
        let (body_type, text) = self.message_body(&mut d)?;
        let msgtype = d.settle_msgtype(body_type);
        let not_delivered = not_delivered.or_else(|| group_media_reason(d.is_group(), &msgtype));

        self.sessions.insert(
            minted.session.clone(),
            SessionEntry {
                app: d.app.client_id.clone(),
                conversation_id: d.conversation_id.clone(),
                expires_at: Instant::now() + shared.config.session_webhook_ttl,
            },
        );
        let payload = Value::Object(std::mem::take(&mut d.payload));
        let delivered = not_delivered.is_none();
        self.user_messages.push(UserMessage {
            at_ms: shared.now_ms(),
            msg_id: minted.msg_id.clone(),
            app: d.app.client_id.clone(),
            conversation_id: d.conversation_id.clone(),
            is_group: d.is_group(),
            sender: d.user.staff_id.clone(),
            sender_nick: d.user.nick.clone(),
            msg_type: msgtype,
            text,
            delivered,
            not_delivered_reason: not_delivered.clone(),
            payload: payload.clone(),
        });
        if delivered {
            self.hand_to_bot(shared, &d.app.client_id, &minted.msg_id, &payload);
        } else {
            tracing::info!(msg_id = %minted.msg_id, reason = ?not_delivered, "user message not delivered to the bot");
        }
        Ok(Injected {
            msg_id: minted.msg_id,
            conversation_id: d.conversation_id,
            delivered,
            not_delivered_reason: not_delivered,
            session_webhook: minted.session_webhook,
            session_webhook_expired_time: minted.expired_time,
            download_codes: d.codes,
            payload,
        })
    }

    /// Resolves who talks to whom, and why DingTalk would keep the message from the bot
    /// (`None`: it would deliver it).
    fn draft<'a>(&mut self, req: &'a InjectMessage) -> Result<(Draft<'a>, Option<String>)> {
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
        let mut at_people = Vec::new();
        for staff in &req.at_users {
            at_people.push(self.user(staff)?.clone());
        }
        let draft = Draft {
            req,
            app,
            user,
            group,
            conversation_id,
            at_people,
            payload: Map::new(),
            codes: Vec::new(),
        };
        Ok((draft, not_delivered))
    }

    /// Hands a deliverable message to the bot: to its callback URL in HTTP mode, over Stream
    /// otherwise.
    fn hand_to_bot(&mut self, shared: &Arc<Shared>, app: &str, msg_id: &str, payload: &Value) {
        if let Some(url) = self.http_push.bot_urls.get(app).cloned() {
            tracing::info!(%msg_id, app = %app, "injecting bot message (HTTP mode)");
            self.http_push.queue_bot_message(app, msg_id, &url, payload);
            return;
        }
        tracing::info!(%msg_id, app = %app, "injecting bot message");
        self.enqueue_delivery(
            shared,
            NewDelivery {
                key: msg_id.to_owned(),
                kind: DeliveryKind::BotMessage,
                app: app.to_owned(),
                frame_type: "CALLBACK",
                topic: TOPIC_BOT_MESSAGE.into(),
                extra_headers: BTreeMap::new(),
                data: payload.to_string(),
            },
        );
    }
}

impl Draft<'_> {
    pub fn is_group(&self) -> bool {
        self.group.is_some()
    }

    /// The bot's `@Name`, as group rich text shows it.
    pub fn bot_mention(&self) -> String {
        format!("@{}", self.app.name)
    }

    /// The conversation and sender fields of every bot message.
    fn conversation_fields(&mut self, m: &Minted) {
        let (app, user) = (&self.app, &self.user);
        let p = &mut self.payload;
        p.insert("conversationId".into(), json!(self.conversation_id));
        p.insert("chatbotCorpId".into(), json!(app.corp_id));
        p.insert("chatbotUserId".into(), json!(app.chatbot_user_id));
        p.insert("msgId".into(), json!(m.msg_id));
        p.insert("senderNick".into(), json!(user.nick));
        p.insert("isAdmin".into(), json!(user.is_admin));
        p.insert("senderStaffId".into(), json!(user.staff_id));
        p.insert("senderUnionId".into(), json!(user.union_id));
        p.insert("sessionWebhookExpiredTime".into(), json!(m.expired_time));
        p.insert("createAt".into(), json!(m.create_at));
        p.insert("senderCorpId".into(), json!(user.corp_id));
        p.insert(
            "conversationType".into(),
            json!(if self.group.is_some() { "2" } else { "1" }),
        );
        p.insert("senderId".into(), json!(user.dingtalk_id));
        p.insert("sessionWebhook".into(), json!(m.session_webhook));
        p.insert("robotCode".into(), json!(app.robot_code));
        p.insert(
            "senderPlatform".into(),
            json!(self.req.sender_platform.clone().unwrap_or_else(|| "Mac".into())),
        );
    }

    /// The group title and who is @-ed (`atUsers`, `isInAtList`); DMs carry none of them.
    fn group_fields(&mut self) {
        let Some(g) = &self.group else { return };
        let p = &mut self.payload;
        p.insert("conversationTitle".into(), json!(g.title));
        let mut at_users = Vec::new();
        if self.req.at_bot {
            at_users.push(json!({"dingtalkId": self.app.chatbot_user_id}));
        }
        for u in &self.at_people {
            at_users.push(json!({"dingtalkId": u.dingtalk_id, "staffId": u.staff_id}));
        }
        p.insert("isInAtList".into(), json!(self.req.at_bot));
        if !at_users.is_empty() {
            p.insert("atUsers".into(), Value::Array(at_users));
        }
    }

    /// The payload's msgtype: the body's, unless raw fields set their own.
    fn settle_msgtype(&mut self, body_type: &str) -> String {
        if !self.payload.contains_key("msgtype") {
            self.payload.insert("msgtype".into(), json!(body_type));
        }
        self.payload
            .get("msgtype")
            .and_then(Value::as_str)
            .unwrap_or(body_type)
            .to_owned()
    }
}

/// DingTalk keeps audio, video and files sent in groups from bots, @ or not.
fn group_media_reason(is_group: bool, msgtype: &str) -> Option<String> {
    (is_group && matches!(msgtype, "audio" | "video" | "file"))
        .then(|| format!("DingTalk does not deliver {msgtype} messages from groups to bots"))
}
