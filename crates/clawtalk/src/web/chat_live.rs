//! WebChat with the answer streamed as it is generated (the page's script, `/chat.js`,
//! uses these; without JavaScript the form posts to `/chat` and waits):
//!
//! - `POST /api/chat/send`: admits the message (into the agent's WebChat, or into a stored
//!   session to continue it: the answer stays in the console), answers `{"id": …}` at once;
//! - `GET /api/chat/stream/{id}`: server-sent events — `text` with the answer so far as HTML
//!   (rendered here from its markdown, so the page needs no markdown library) and the tool
//!   in use, then `done`, or `failed` with why;
//! - `POST /api/chat/stop`: stops the session's running turn, as `/stop` in a chat does;
//! - `POST /api/chat/approve`: the operator's press on a tool call waiting for approval,
//!   which the `text` events carry (`approval`: its id, the call in words, the buttons).

use std::convert::Infallible;
use std::time::Duration;

use axum::Form;
use axum::extract::{Extension, Path, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;

use super::auth::csrf_refused;
use super::i18n::{Lang, t, tf};
use super::markdown;
use super::sessions::WebSession;
use super::{St, chat::MAX_MESSAGE_CHARS};
use clawtalk_core::mask::mask_text;
use clawtalk_gateway::{GatewayHandle, LiveAnswer, LiveApproval, WebChatApproval, WebChatOutcome};
use clawtalk_store::{ApprovalRecord, ApprovalStatus};

/// How long the stream waits on the inbox between looks for the running turn.
const LOOK: Duration = Duration::from_millis(200);

/// The page's script, embedded in the binary.
const SCRIPT: &str = include_str!("chat.js");

/// `GET /chat.js`.
pub(crate) async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response()
}

#[derive(Deserialize)]
pub(crate) struct SendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    agent: String,
    /// A stored session to continue (a DingTalk conversation) instead of the agent's WebChat.
    #[serde(default)]
    session: String,
    #[serde(default)]
    message: String,
}

/// Admits `text` into the session the form names, else into `agent`'s WebChat.
async fn admit(
    web: &super::WebState,
    lang: Lang,
    agent: &str,
    session: &str,
    text: &str,
) -> Result<i64, Response> {
    let admitted = if session.is_empty() {
        if web.gateway.config().agent(agent).is_none() {
            let error = tf(lang, "chat.no_agent", &[("agent", &format!("{agent:?}"))]);
            return Err(refusal(StatusCode::BAD_REQUEST, &error));
        }
        web.gateway.webchat_admit(agent, text).await
    } else {
        web.gateway.webchat_continue(session, text).await
    };
    admitted.map_err(|e| refusal(StatusCode::BAD_GATEWAY, &mask_text(&format!("{e:#}"))))
}

fn refusal(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({ "error": error }))).into_response()
}

/// `POST /api/chat/send`.
pub(crate) async fn send(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Form(form): Form<SendForm>,
) -> Response {
    if !session.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    let text = form.message.trim();
    if text.is_empty() {
        return refusal(StatusCode::BAD_REQUEST, t(lang, "chat.empty"));
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        let error = tf(lang, "chat.too_long", &[("max", &MAX_MESSAGE_CHARS.to_string())]);
        return refusal(StatusCode::BAD_REQUEST, &error);
    }
    match admit(&web, lang, &form.agent, &form.session, text).await {
        Ok(id) => axum::Json(json!({ "id": id })).into_response(),
        Err(refused) => refused,
    }
}

#[derive(Deserialize)]
pub(crate) struct StopForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    agent: String,
    #[serde(default)]
    session: String,
}

/// `POST /api/chat/stop`.
pub(crate) async fn stop(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Form(form): Form<StopForm>,
) -> Response {
    if !session.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    let key = if form.session.is_empty() {
        web.gateway
            .config()
            .agent(&form.agent)
            .and_then(|_| web.gateway.webchat_session(&form.agent))
    } else {
        Some(form.session.clone())
    };
    let Some(key) = key else {
        let error = tf(lang, "chat.no_agent", &[("agent", &format!("{:?}", form.agent))]);
        return refusal(StatusCode::BAD_REQUEST, &error);
    };
    match web.gateway.session_stop(&key).await {
        Ok(stopped) => axum::Json(json!({ "stopped": stopped })).into_response(),
        Err(e) => refusal(StatusCode::BAD_GATEWAY, &mask_text(&format!("{e:#}"))),
    }
}

#[derive(Deserialize)]
pub(crate) struct ApproveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    decision: String,
}

/// The buttons a waiting call offers, in the order shown: the decision each posts, its label.
const DECISIONS: [(&str, &str); 3] = [
    ("allow_once", "chat.approval.allow_once"),
    ("allow_always", "chat.approval.allow_always"),
    ("deny", "chat.approval.deny"),
];

/// `POST /api/chat/approve`: `{"status", "text"}` saying what now stands, whoever decided.
pub(crate) async fn approve(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Form(form): Form<ApproveForm>,
) -> Response {
    if !session.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    if !DECISIONS.iter().any(|(d, _)| *d == form.decision) {
        let names: Vec<&str> = DECISIONS.iter().map(|(d, _)| *d).collect();
        let error = format!(
            "unknown decision {:?}: use one of {}",
            form.decision,
            names.join(", ")
        );
        return refusal(StatusCode::BAD_REQUEST, &error);
    }
    match web.gateway.webchat_approve(&form.id, &form.decision).await {
        Ok(WebChatApproval::Decided(row) | WebChatApproval::AlreadyDecided(row)) => {
            axum::Json(json!({ "status": row.status.as_str(), "text": decided_text(lang, &row) }))
                .into_response()
        }
        Ok(WebChatApproval::Unknown) => refusal(StatusCode::NOT_FOUND, t(lang, "chat.approval.unknown")),
        Err(e) => refusal(StatusCode::BAD_GATEWAY, &mask_text(&format!("{e:#}"))),
    }
}

/// What was decided and by whom, in the page's language.
fn decided_text(lang: Lang, row: &ApprovalRecord) -> String {
    let by = row.decided_by.as_deref().unwrap_or("?");
    let key = match row.status {
        ApprovalStatus::Pending => return String::new(),
        ApprovalStatus::Allowed if row.always => "chat.approval.allowed_always",
        ApprovalStatus::Allowed => "chat.approval.allowed_once",
        ApprovalStatus::Denied => "chat.approval.denied",
        ApprovalStatus::Expired => "chat.approval.expired",
    };
    tf(lang, key, &[("by", by)])
}

/// Where a stream is.
struct Following {
    gateway: GatewayHandle,
    id: i64,
    live: Option<watch::Receiver<LiveAnswer>>,
    lang: Lang,
}

/// `GET /api/chat/stream/{id}`.
pub(crate) async fn stream(
    State(web): St,
    lang: Lang,
    Path(id): Path<String>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let following = id.parse::<i64>().ok().map(|id| Following {
        gateway: web.gateway.clone(),
        id,
        live: None,
        lang,
    });
    let events = futures_util::stream::unfold(following, |following| async move {
        let mut f = following?;
        let event = f.next().await;
        let last = matches!(event, Step::End(_));
        let event = match event {
            Step::More(e) | Step::End(e) => e,
        };
        Some((Ok(event), (!last).then_some(f)))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

enum Step {
    More(Event),
    End(Event),
}

impl Following {
    async fn next(&mut self) -> Step {
        loop {
            if let Some(live) = self.live.as_mut() {
                if live.changed().await.is_ok() {
                    let answer = live.borrow_and_update().clone();
                    return Step::More(text_event(self.lang, &answer));
                }
                // The turn has finished running the agent; the inbox says how it ended.
                self.live = None;
            } else if let Some(mut live) = self.gateway.webchat_follow(self.id) {
                live.mark_changed();
                self.live = Some(live);
                continue;
            }
            if self.gateway.shutdown_token().is_cancelled() {
                return Step::End(failed_event(t(self.lang, "chat.shutdown")));
            }
            match self.gateway.webchat_wait(self.id, LOOK).await {
                Ok(WebChatOutcome::Pending) => {}
                Ok(WebChatOutcome::Answered) => return Step::End(Event::default().event("done").data("{}")),
                Ok(WebChatOutcome::Failed(why)) => return Step::End(failed_event(&mask_text(&why))),
                Err(e) => return Step::End(failed_event(&mask_text(&format!("{e:#}")))),
            }
        }
    }
}

fn text_event(lang: Lang, answer: &LiveAnswer) -> Event {
    let tool = answer
        .tool
        .as_deref()
        .map(|tool| tf(lang, "chat.using_tool", &[("tool", tool)]));
    let approval = answer.approval.as_ref().map(|a| approval_json(lang, a));
    let data = json!({ "html": markdown::to_html(&answer.text), "tool": tool, "approval": approval });
    Event::default().event("text").data(data.to_string())
}

/// A waiting call as the page shows it: the call in words (HTML rendered and escaped here)
/// and its buttons.
fn approval_json(lang: Lang, approval: &LiveApproval) -> serde_json::Value {
    let buttons: Vec<serde_json::Value> = DECISIONS
        .iter()
        .map(|(decision, label)| json!({ "decision": decision, "label": t(lang, label) }))
        .collect();
    json!({
        "id": approval.id,
        "title": tf(lang, "chat.approval.title", &[("tool", &approval.tool)]),
        "html": markdown::to_html(&approval.summary),
        "buttons": buttons,
    })
}

fn failed_event(why: &str) -> Event {
    Event::default()
        .event("failed")
        .data(json!({ "error": why }).to_string())
}
