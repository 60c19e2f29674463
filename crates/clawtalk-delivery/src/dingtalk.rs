//! [`DingTalkOutbound`]: the real sender of one account, choosing between sessionWebhook,
//! robot OpenAPI and custom robot.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use clawtalk_core::clock::{Clock, SystemClock};
use dingtalk::ApiErrorKind;
use dingtalk::api::{BodyGate, CustomRobotClient, OpenApiClient, SessionWebhookClient};
use dingtalk::ids::{ConversationId, RobotCode, StaffId};
use dingtalk::model::outbound::{BtnOrientation, RobotMessage, WebhookBody, WebhookMessage};
use tracing::Instrument;
use url::Url;

use super::handover::{HandoverGate, Refusal};
use super::{
    Body, DeliveryError, DeliveryPath, Handover, Mentions, Outbound, OutboundMessage, ReplyContext,
    SendReceipt, Target, ensure_keyword, plan, redact_url,
};

/// How long before its expiry a sessionWebhook is no longer used: a reply posted in the last
/// seconds could arrive after DingTalk dropped the session.
pub const DEFAULT_WEBHOOK_MARGIN: Duration = Duration::from_secs(60);

/// sessionWebhooks that DingTalk already reported expired, remembered so that the later parts
/// of a long reply go straight to the robot OpenAPI.
const DEAD_WEBHOOKS_REMEMBERED: usize = 256;

/// Sends the messages of one DingTalk account.
///
/// - Replies go through the sessionWebhook while it has more than [`DEFAULT_WEBHOOK_MARGIN`] to
///   live; in groups the sender is @-ed (`at.atUserIds` plus `@<staffId>` in the text, both are
///   needed for the mention to render). When the webhook expired, or DingTalk refuses the post,
///   the message goes through the robot OpenAPI instead (which cannot @).
/// - Proactive messages use the robot OpenAPI: `batchSend` to one user or `groupMessages/send`.
/// - Custom robots post to their webhook, signed when a secret is set.
///
/// It makes one attempt per path; retries and rate limits are the job of the layers around it.
/// Clones share their state (clients, dead webhooks).
#[derive(Clone)]
pub struct DingTalkOutbound {
    account_id: String,
    robot_code: RobotCode,
    api: OpenApiClient,
    webhooks: SessionWebhookClient,
    custom_robots: CustomRobotClient,
    clock: Arc<dyn Clock>,
    webhook_margin: Duration,
    dead_webhooks: Arc<Mutex<DeadWebhooks>>,
}

impl std::fmt::Debug for DingTalkOutbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DingTalkOutbound")
            .field("account_id", &self.account_id)
            .field("robot_code", &self.robot_code)
            .field("webhook_margin", &self.webhook_margin)
            .finish_non_exhaustive()
    }
}

impl DingTalkOutbound {
    /// A sender for `account_id` acting as `robot_code` through `api`. sessionWebhook replies
    /// share `api`'s connection pool and counters; custom robots use a default client.
    pub fn new(account_id: impl Into<String>, robot_code: RobotCode, api: OpenApiClient) -> Self {
        Self {
            account_id: account_id.into(),
            robot_code,
            webhooks: api.session_webhook_client(),
            custom_robots: CustomRobotClient::new(custom_robot_http(), Arc::clone(api.metrics())),
            api,
            clock: Arc::new(SystemClock),
            webhook_margin: DEFAULT_WEBHOOK_MARGIN,
            dead_webhooks: Arc::default(),
        }
    }

    /// Uses `client` for sessionWebhook replies.
    #[must_use]
    pub fn with_session_webhook_client(mut self, client: SessionWebhookClient) -> Self {
        self.webhooks = client;
        self
    }

    /// Uses `client` for custom robots.
    #[must_use]
    pub fn with_custom_robot_client(mut self, client: CustomRobotClient) -> Self {
        self.custom_robots = client;
        self
    }

    /// Reads "now" (epoch ms) from `clock` instead of the system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Stops using a sessionWebhook this long before it expires (default 60 s).
    #[must_use]
    pub fn with_webhook_margin(mut self, margin: Duration) -> Self {
        self.webhook_margin = margin;
        self
    }

    /// The account this sender belongs to.
    #[must_use]
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    async fn reply_via_webhook(
        &self,
        reply: &ReplyContext,
        msg: &OutboundMessage,
    ) -> Result<SendReceipt, dingtalk::Error> {
        let mut mentions = msg.mentions.clone();
        if let Some(sender) = mention(reply) {
            mentions.extend(&Mentions {
                user_ids: vec![sender],
                ..Mentions::default()
            });
        }
        let message = webhook_message(&msg.body, &mentions).ok_or_else(|| media_on_webhook(&msg.body))?;
        self.webhooks.send(&reply.session_webhook, &message).await?;
        Ok(SendReceipt {
            path: DeliveryPath::SessionWebhook,
            process_query_key: None,
            parts: 1,
        })
    }

    async fn send_via_robot_api(
        &self,
        target: RobotTarget<'_>,
        body: &Body,
    ) -> Result<SendReceipt, DeliveryError> {
        let message = robot_message(body).map_err(|e| DeliveryError::dingtalk(DeliveryPath::RobotApi, e))?;
        let key = match target {
            RobotTarget::User(user) => self.dm(user, &message).await?,
            RobotTarget::Group(group) => self
                .group(group, &message)
                .await
                .map_err(|e| DeliveryError::dingtalk(DeliveryPath::RobotApi, e))?,
        };
        Ok(SendReceipt {
            path: DeliveryPath::RobotApi,
            process_query_key: Some(key),
            parts: 1,
        })
    }

    async fn dm(
        &self,
        user: &StaffId,
        message: &RobotMessage,
    ) -> Result<dingtalk::ids::ProcessQueryKey, DeliveryError> {
        let response = self
            .api
            .batch_send_to_users(&self.robot_code, std::slice::from_ref(user), message)
            .await
            .map_err(|e| DeliveryError::dingtalk(DeliveryPath::RobotApi, e))?;
        // batchSend answers 200 even when the one recipient did not get the message.
        if response.flow_controlled_staff_id_list.contains(user) {
            return Err(DeliveryError::FlowControlled { user: user.clone() });
        }
        if response.invalid_staff_id_list.contains(user) {
            return Err(DeliveryError::UnknownRecipient { user: user.clone() });
        }
        Ok(response.process_query_key)
    }

    async fn group(
        &self,
        group: &ConversationId,
        message: &RobotMessage,
    ) -> Result<dingtalk::ids::ProcessQueryKey, dingtalk::Error> {
        let response = self
            .api
            .send_to_group(&self.robot_code, group, message, None)
            .await?;
        Ok(response.process_query_key)
    }

    async fn send_via_custom_robot(
        &self,
        webhook: &Url,
        secret: Option<&dingtalk::Secret>,
        keywords: &[String],
        msg: &OutboundMessage,
    ) -> Result<SendReceipt, DeliveryError> {
        let mut body = msg.body.clone();
        ensure_keyword(&mut body, keywords);
        let mut message = webhook_message(&body, &msg.mentions)
            .ok_or_else(|| DeliveryError::dingtalk(DeliveryPath::CustomRobot, media_on_webhook(&msg.body)))?;
        // Custom robots document `msgUuid` as an idempotency key for retried posts.
        message.msg_uuid = Some(msg.idempotency_key.clone()).filter(|k| !k.is_empty());
        self.custom_robots
            .send(webhook, secret.map(dingtalk::Secret::expose), &message)
            .await
            .map_err(|e| DeliveryError::dingtalk(DeliveryPath::CustomRobot, e))?;
        Ok(SendReceipt {
            path: DeliveryPath::CustomRobot,
            process_query_key: None,
            parts: 1,
        })
    }

    fn is_dead(&self, url: &Url) -> bool {
        self.dead_webhooks
            .lock()
            .is_ok_and(|dead| dead.set.contains(url.as_str()))
    }

    fn mark_dead(&self, url: &Url) {
        if let Ok(mut dead) = self.dead_webhooks.lock() {
            dead.insert(url.as_str());
        }
    }
}

#[async_trait]
impl Outbound for DingTalkOutbound {
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, DeliveryError> {
        if msg.account_id != self.account_id {
            return Err(DeliveryError::WrongAccount {
                message_account: msg.account_id.clone(),
                sender_account: self.account_id.clone(),
            });
        }
        let Some(handover) = msg.handover.clone() else {
            return self.deliver(msg).await;
        };
        // In a task of its own: a caller that stops waiting (its turn's lease lost, a stop)
        // must not cut the attempt between the mark and the request, which would leave a
        // message marked as leaving that never left.
        let sender = self.clone();
        let msg = msg.clone();
        let attempt = async move { sender.hand_over(&handover, &msg).await };
        tokio::spawn(attempt.instrument(tracing::Span::current()))
            .await
            .unwrap_or(Err(DeliveryError::Interrupted))
    }

    fn planned_path(&self, msg: &OutboundMessage) -> DeliveryPath {
        match plan(msg, self.clock.now(), self.webhook_margin) {
            DeliveryPath::SessionWebhook
                if msg.reply.as_ref().is_some_and(|r| {
                    self.is_dead(&r.session_webhook) || self.webhooks.check(&r.session_webhook).is_err()
                }) =>
            {
                DeliveryPath::RobotApi
            }
            path => path,
        }
    }
}

impl DingTalkOutbound {
    /// One attempt told to `handover`: marked when a request that carries the message has its
    /// connection open, just before its body leaves (so that the mark stands only as long as
    /// the body needs to leave, not while a connection or a token is awaited), and unmarked
    /// when DingTalk refused it.
    async fn hand_over(
        &self,
        handover: &Handover,
        msg: &OutboundMessage,
    ) -> Result<SendReceipt, DeliveryError> {
        let gate = Arc::new(HandoverGate::new(handover.clone()));
        let result = self
            .gated(Arc::clone(&gate) as Arc<dyn BodyGate>)
            .deliver(msg)
            .await;
        let (marked, refusal) = gate.outcome().await;
        let result = match refusal {
            Some(Refusal::Superseded) => Err(DeliveryError::Superseded),
            Some(Refusal::Failed(reason)) => Err(DeliveryError::NotHandedOver { reason }),
            None => result,
        };
        // A request DingTalk refused, or one whose body was withheld, left it nothing.
        if marked && result.as_ref().is_err_and(|error| !error.may_have_arrived()) {
            handover.not_taken().await;
        }
        result
    }

    /// This sender with every request's body waiting for `gate`.
    fn gated(&self, gate: Arc<dyn BodyGate>) -> Self {
        Self {
            api: self.api.clone().with_body_gate(Arc::clone(&gate)),
            webhooks: self.webhooks.clone().with_body_gate(Arc::clone(&gate)),
            custom_robots: self.custom_robots.clone().with_body_gate(gate),
            ..self.clone()
        }
    }

    /// One attempt: the sessionWebhook when usable (the robot API when DingTalk refused it
    /// there), the robot API, or the custom robot.
    async fn deliver(&self, msg: &OutboundMessage) -> Result<SendReceipt, DeliveryError> {
        let target = match &msg.target {
            Target::CustomRobot {
                webhook,
                secret,
                keywords,
            } => {
                return self
                    .send_via_custom_robot(webhook, secret.as_ref(), keywords, msg)
                    .await;
            }
            Target::User(user) => RobotTarget::User(user),
            Target::Group(group) => RobotTarget::Group(group),
        };
        if let Some(reply) = &msg.reply
            && let Err(refusal) = self.webhooks.check(&reply.session_webhook)
        {
            // The URL came in the callback body; posting it elsewhere than DingTalk's own host
            // would let a forged callback aim the gateway at internal services.
            tracing::warn!(
                account = %self.account_id,
                idempotency_key = %msg.idempotency_key,
                reason = %refusal,
                "sessionWebhook refused; sending through the robot OpenAPI"
            );
        }
        if let (DeliveryPath::SessionWebhook, Some(reply)) = (self.planned_path(msg), &msg.reply) {
            match self.reply_via_webhook(reply, msg).await {
                Ok(receipt) => return Ok(receipt),
                Err(err) if falls_back(&err) => {
                    if err.kind() == Some(ApiErrorKind::SessionWebhookExpired) {
                        self.mark_dead(&reply.session_webhook);
                    }
                    tracing::info!(
                        account = %self.account_id,
                        idempotency_key = %msg.idempotency_key,
                        webhook = %redact_url(&reply.session_webhook),
                        error = %err,
                        "sessionWebhook refused the reply; sending through the robot OpenAPI"
                    );
                }
                Err(err) => return Err(DeliveryError::dingtalk(DeliveryPath::SessionWebhook, err)),
            }
        }
        self.send_via_robot_api(target, &msg.body).await
    }
}

/// Where a robot OpenAPI send goes.
#[derive(Clone, Copy)]
enum RobotTarget<'a> {
    User(&'a StaffId),
    Group(&'a ConversationId),
}

/// Whether a failed sessionWebhook post should be retried through the robot OpenAPI right away.
///
/// Only when DingTalk answered: then nothing was delivered, whereas a timeout may have delivered
/// the reply and a second path would duplicate it. Content DingTalk rejects as such would be
/// rejected by the robot API too, and local checks (size) fail the same way on both paths.
fn falls_back(err: &dingtalk::Error) -> bool {
    match err.kind() {
        None => false,
        Some(kind) => !matches!(kind, ApiErrorKind::MessageTooLong | ApiErrorKind::ContentRejected),
    }
}

/// `at` for a group reply to a sender with a staff id.
fn mention(reply: &ReplyContext) -> Option<StaffId> {
    reply
        .sender_staff_id
        .as_ref()
        .filter(|id| reply.is_group && !id.is_empty())
        .cloned()
}

/// The webhook body with `mentions` (text and markdown only; the text must name everyone it
/// @-s for the mention to render, so missing `@<id>` tags are appended). `None` for media:
/// webhooks (sessionWebhook and custom robots) have no image or file message.
pub(super) fn webhook_message(body: &Body, mentions: &Mentions) -> Option<WebhookMessage> {
    let of = |body| WebhookMessage {
        body,
        at: None,
        msg_uuid: None,
    };
    let message = match body {
        Body::Text(text) => WebhookMessage::text(tagged(text, mentions)),
        Body::Markdown { title, text } => WebhookMessage::markdown(title, tagged(text, mentions)),
        Body::Link(link) => return Some(of(WebhookBody::Link { link: link.clone() })),
        Body::ActionCard(card) => {
            return Some(of(WebhookBody::ActionCard {
                action_card: card.clone(),
            }));
        }
        Body::FeedCard(links) => return Some(WebhookMessage::feed_card(links.clone())),
        Body::Image { .. } | Body::File { .. } => return None,
    };
    Some(match mentions.to_at() {
        Some(at) => message.with_at(at),
        None => message,
    })
}

fn media_on_webhook(body: &Body) -> dingtalk::Error {
    dingtalk::Error::InvalidRequest(format!(
        "a {} message cannot go through a webhook (DingTalk webhooks take text, markdown, links and \
         cards); send it to the user or group through the robot OpenAPI",
        body.kind()
    ))
}

/// `text` followed by an `@<id>` for each mention it does not already contain.
fn tagged(text: &str, mentions: &Mentions) -> String {
    let missing: Vec<String> = mentions
        .mobiles
        .iter()
        .map(String::as_str)
        .chain(mentions.user_ids.iter().map(StaffId::as_str))
        .map(|id| format!("@{id}"))
        .filter(|tag| !text.contains(tag.as_str()))
        .collect();
    if missing.is_empty() {
        text.to_owned()
    } else {
        format!("{text}\n\n{}", missing.join(" "))
    }
}

pub(super) fn robot_message(body: &Body) -> Result<RobotMessage, dingtalk::Error> {
    Ok(match body {
        Body::Text(text) => RobotMessage::text(text),
        Body::Markdown { title, text } => RobotMessage::markdown(title, text),
        Body::Link(link) => RobotMessage::Link {
            title: link.title.clone(),
            text: link.text.clone(),
            message_url: link.message_url.clone(),
            pic_url: link.pic_url.clone(),
        },
        Body::ActionCard(card) => match (&card.single_title, &card.single_url) {
            (Some(single_title), Some(single_url)) if card.btns.is_empty() => RobotMessage::ActionCard {
                title: card.title.clone(),
                text: card.text.clone(),
                single_title: single_title.clone(),
                single_url: single_url.clone(),
            },
            _ => RobotMessage::ActionCardButtons {
                title: card.title.clone(),
                text: card.text.clone(),
                buttons: card
                    .btns
                    .iter()
                    .map(|b| (b.title.clone(), b.action_url.clone()))
                    .collect(),
                horizontal: card.btn_orientation == Some(BtnOrientation::Horizontal),
            },
        },
        Body::FeedCard(_) => {
            return Err(dingtalk::Error::InvalidRequest(
                "feed cards can only be sent through a custom robot or a sessionWebhook, not the robot \
                 OpenAPI; send a link or markdown message instead"
                    .into(),
            ));
        }
        Body::Image { media_id } => RobotMessage::Image {
            photo_url: media_id.as_str().to_owned(),
        },
        Body::File {
            media_id,
            file_name,
            file_type,
        } => RobotMessage::File {
            media_id: media_id.clone(),
            file_name: file_name.clone(),
            file_type: file_type.clone(),
        },
    })
}

/// HTTP client for custom robots, with the same timeouts as the DingTalk clients' default, and
/// like them following no redirect (a webhook that redirects is not DingTalk's).
fn custom_robot_http() -> reqwest::Client {
    dingtalk::tls::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        // Only fails when the TLS backend cannot initialise; the default client fails the same way.
        .unwrap_or_default()
}

/// A bounded set, oldest entries forgotten first.
#[derive(Default)]
struct DeadWebhooks {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl DeadWebhooks {
    fn insert(&mut self, url: &str) {
        if self.set.insert(url.to_owned()) {
            self.order.push_back(url.to_owned());
            while self.order.len() > DEAD_WEBHOOKS_REMEMBERED {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_core::clock::EpochMs;

    fn reply(is_group: bool, sender: Option<&str>) -> ReplyContext {
        ReplyContext {
            session_webhook: Url::parse("http://127.0.0.1/robot/sendBySession?session=x").unwrap(),
            expires_at_ms: EpochMs::from_millis(0),
            sender_staff_id: sender.map(StaffId::new),
            is_group,
            conversation_id: "cid".to_owned(),
        }
    }

    #[test]
    fn group_replies_mention_the_sender_in_text_and_at() {
        let at = sender_mentions(&reply(true, Some("0312")));
        let msg = webhook_message(&Body::markdown("T", "**hi**"), &at).unwrap();
        let json = serde_json::to_value(&msg).unwrap();
        assert_eq!(json["markdown"]["text"], "**hi**\n\n@0312");
        assert_eq!(json["at"]["atUserIds"][0], "0312");
        let text =
            webhook_message(&Body::text("plain"), &sender_mentions(&reply(true, Some("0312")))).unwrap();
        assert_eq!(
            serde_json::to_value(&text).unwrap()["text"]["content"],
            "plain\n\n@0312"
        );
    }

    #[test]
    fn dms_and_external_senders_are_not_mentioned() {
        assert_eq!(mention(&reply(false, Some("0312"))), None);
        assert_eq!(mention(&reply(true, None)), None);
        assert_eq!(mention(&reply(true, Some(""))), None);
        let msg = webhook_message(&Body::text("x"), &Mentions::default()).unwrap();
        assert!(serde_json::to_value(&msg).unwrap().get("at").is_none());
    }

    fn sender_mentions(reply: &ReplyContext) -> Mentions {
        Mentions {
            user_ids: mention(reply).into_iter().collect(),
            ..Mentions::default()
        }
    }

    #[test]
    fn mobiles_already_in_the_text_are_not_repeated() {
        let mentions = Mentions::from_text("@13800138000 please review");
        let msg = webhook_message(&Body::text("@13800138000 please review"), &mentions);
        let json = serde_json::to_value(&msg).unwrap();
        assert_eq!(json["text"]["content"], "@13800138000 please review");
        assert_eq!(json["at"]["atMobiles"][0], "13800138000");
        let named = webhook_message(&Body::markdown("T", "hi"), &Mentions::mobiles(["13900139000"]));
        let json = serde_json::to_value(&named).unwrap();
        assert_eq!(json["markdown"]["text"], "hi\n\n@13900139000");
    }

    #[test]
    fn cards_and_links_map_to_both_apis() {
        let card = Body::ActionCard(dingtalk::model::outbound::WebhookActionCard {
            title: "Release".into(),
            text: "ship it?".into(),
            single_title: None,
            single_url: None,
            btn_orientation: Some(BtnOrientation::Horizontal),
            btns: vec![
                dingtalk::model::outbound::WebhookButton {
                    title: "Yes".into(),
                    action_url: "https://e.com/y".into(),
                },
                dingtalk::model::outbound::WebhookButton {
                    title: "No".into(),
                    action_url: "https://e.com/n".into(),
                },
            ],
        });
        let json = serde_json::to_value(webhook_message(&card, &Mentions::mobiles(["13800138000"]))).unwrap();
        assert_eq!(json["msgtype"], "actionCard");
        assert_eq!(json["actionCard"]["btnOrientation"], "1");
        assert!(json.get("at").is_none(), "cards cannot @");
        assert_eq!(
            robot_message(&card).unwrap().msg_key().unwrap(),
            "sampleActionCard6"
        );
        let feed = Body::FeedCard(Vec::new());
        let err = robot_message(&feed).unwrap_err();
        assert!(err.to_string().contains("custom robot"), "{err}");
    }

    #[test]
    fn only_answered_refusals_fall_back() {
        let err = |status, body: &str| -> dingtalk::Error {
            dingtalk::ApiError::from_response("sessionWebhook", status, body)
                .unwrap()
                .into()
        };
        assert!(falls_back(&err(
            200,
            r#"{"errcode":300001,"errmsg":"session 不存在"}"#
        )));
        assert!(falls_back(&err(503, "")));
        assert!(falls_back(&err(200, r#"{"errcode":410100,"errmsg":"too fast"}"#)));
        assert!(!falls_back(&err(
            200,
            r#"{"errcode":460101,"errmsg":"too long"}"#
        )));
        assert!(!falls_back(&dingtalk::Error::InvalidRequest("x".into())));
    }

    #[test]
    fn media_bodies_map_to_robot_templates_and_never_to_webhooks() {
        let file = Body::File {
            media_id: dingtalk::ids::MediaId::new("@lAfile"),
            file_name: "plan.pdf".into(),
            file_type: "pdf".into(),
        };
        assert!(webhook_message(&file, &Mentions::default()).is_none());
        let robot = robot_message(&file).unwrap();
        assert_eq!(robot.msg_key().unwrap(), "sampleFile");
        let image = robot_message(&Body::Image {
            media_id: dingtalk::ids::MediaId::new("@lAimg"),
        })
        .unwrap();
        assert_eq!(image.msg_key().unwrap(), "sampleImageMsg");
        assert!(image.msg_param_json().unwrap().contains("@lAimg"));
    }

    /// The injected clock, not the system's, decides when a sessionWebhook is too close to its
    /// expiry: with tokio's time paused, a test moves both together.
    #[tokio::test(start_paused = true)]
    async fn the_webhook_is_left_for_the_robot_api_by_the_injected_clock() {
        use clawtalk_core::clock::{EpochMs, ManualClock};
        let endpoints = dingtalk::Endpoints::single(Url::parse("http://127.0.0.1:4000").unwrap());
        let api = OpenApiClient::builder(dingtalk::ids::ClientId::new("app"), "secret".into())
            .endpoints(endpoints)
            .build();
        let clock = Arc::new(ManualClock::at(EpochMs::from_millis(1_000_000)));
        let sender = DingTalkOutbound::new("a", RobotCode::new("app"), api)
            .with_clock(Arc::clone(&clock) as Arc<dyn Clock>);
        let expires = EpochMs::from_millis(1_000_000).plus(DEFAULT_WEBHOOK_MARGIN * 3);
        let context = ReplyContext {
            session_webhook: Url::parse("http://127.0.0.1:4000/robot/sendBySession?session=x").unwrap(),
            expires_at_ms: expires,
            sender_staff_id: None,
            conversation_id: "cid".to_owned(),
            is_group: false,
        };
        let msg = OutboundMessage::new("a", Target::User(StaffId::new("u")), Body::text("x"), "k")
            .in_reply(context);
        assert_eq!(sender.planned_path(&msg), DeliveryPath::SessionWebhook);
        let step = DEFAULT_WEBHOOK_MARGIN * 3;
        tokio::time::advance(step).await;
        clock.advance(step);
        assert_eq!(
            sender.planned_path(&msg),
            DeliveryPath::RobotApi,
            "at its expiry the webhook is no longer used"
        );
    }

    #[test]
    fn a_session_webhook_off_the_oapi_host_is_planned_through_the_robot_api() {
        let endpoints = dingtalk::Endpoints::single(Url::parse("http://127.0.0.1:4000").unwrap());
        let api = OpenApiClient::builder(dingtalk::ids::ClientId::new("app"), "secret".into())
            .endpoints(endpoints)
            .build();
        let sender = DingTalkOutbound::new("a", RobotCode::new("app"), api)
            .with_clock(Arc::new(clawtalk_core::clock::ManualClock::default()));
        let to = |hook: &str| {
            let context = ReplyContext {
                session_webhook: Url::parse(hook).unwrap(),
                expires_at_ms: EpochMs::from_millis(i64::MAX),
                sender_staff_id: None,
                conversation_id: "cid".to_owned(),
                is_group: false,
            };
            OutboundMessage::new("a", Target::User(StaffId::new("u")), Body::text("x"), "k").in_reply(context)
        };
        assert_eq!(
            sender.planned_path(&to("http://127.0.0.1:4000/robot/sendBySession?session=x")),
            DeliveryPath::SessionWebhook
        );
        for hook in [
            "http://127.0.0.1:4001/robot/sendBySession?session=x",
            "http://127.0.0.2:4000/robot/sendBySession?session=x",
            "http://169.254.169.254:4000/robot/sendBySession?session=x",
            "http://127.0.0.1:4000@10.0.0.1:4000/robot/sendBySession?session=x",
        ] {
            assert_eq!(sender.planned_path(&to(hook)), DeliveryPath::RobotApi, "{hook}");
        }
    }

    #[test]
    fn dead_webhooks_are_bounded() {
        let mut dead = DeadWebhooks::default();
        for i in 0..(DEAD_WEBHOOKS_REMEMBERED + 10) {
            dead.insert(&format!("u{i}"));
        }
        assert_eq!(dead.set.len(), DEAD_WEBHOOKS_REMEMBERED);
        assert!(!dead.set.contains("u0"));
        assert!(dead.set.contains(&format!("u{}", DEAD_WEBHOOKS_REMEMBERED + 9)));
    }
}
