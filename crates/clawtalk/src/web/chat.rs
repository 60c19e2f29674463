//! `/chat`: WebChat. A form post hands the message to the gateway, which admits it like any
//! chat message (inbox, scheduler, a turn with the same models, fallbacks and tools as
//! DingTalk turns, outbox) in the agent's WebChat session; the post waits for the answer and
//! redirects back to the page, which shows the conversation with the reply.

use std::time::Duration;

use axum::Form;
use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::auth::csrf_refused;
use super::i18n::{Lang, t, tf};
use super::layout::page_in as layout_page;
use super::pages::conversations::transcript_view;
use super::sessions::WebSession;
use super::{St, WebState, query_value};
use clawtalk_core::mask::mask_text;
use clawtalk_gateway::{GatewayHandle, WebChatOutcome};
use clawtalk_store::TranscriptEntry;

/// Longest message accepted, in characters.
pub(crate) const MAX_MESSAGE_CHARS: usize = 8_000;
/// Messages shown on the page (as many as a turn sends the model).
const HISTORY_LIMIT: u32 = 40;
/// How long a post waits for the answer before showing the page without it (it appears
/// there once the agent has answered).
const ANSWER_WAIT: Duration = Duration::from_secs(300);

#[derive(Deserialize, Default)]
pub(crate) struct ChatQuery {
    agent: Option<String>,
}

pub(crate) async fn page(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Query(query): Query<ChatQuery>,
) -> Response {
    let agent = query
        .agent
        .filter(|a| web.gateway.config().agent(a).is_some())
        .unwrap_or_else(|| web.gateway.config().default_agent.clone());
    render(&web, &session, lang, &agent, None, "", StatusCode::OK).await
}

/// The page: agent picker, the conversation so far, the message form (and an error).
async fn render(
    web: &WebState,
    session: &WebSession,
    lang: Lang,
    agent: &str,
    error: Option<&str>,
    draft: &str,
    status: StatusCode,
) -> Response {
    let (entries, load_error) = match history(&web.gateway, agent).await {
        Ok(entries) => (entries, None),
        Err(e) => (Vec::new(), Some(mask_text(&format!("{e:#}")).into_owned())),
    };
    let agents = &web.gateway.config().agents;
    let body = html! {
        h1 { (t(lang, "chat.title")) }
        form method="get" action="/chat" {
            label for="agent-pick" { (t(lang, "chat.agent")) }
            select #agent-pick name="agent" {
                @for a in agents {
                    option value=(a.id) selected[a.id == agent] {
                        (a.id) @if let Some(name) = &a.name { " — " (name) }
                    }
                }
            }
            " "
            button.secondary type="submit" { (t(lang, "chat.switch")) }
        }
        @if let Some(e) = load_error { p.error { (t(lang, "chat.cannot_read")) (e) } }
        div #transcript { (transcript_view(lang, &entries)) }
        @if let Some(e) = error { p.error #chat-error { (e) } }
        p.error #chat-live-error hidden {}
        form #chat-form method="post" action="/chat"
            data-you=(t(lang, "role.user")) data-agent=(t(lang, "role.assistant"))
            data-thinking=(t(lang, "chat.thinking")) data-refused=(t(lang, "chat.refused"))
            data-after={ "/chat?agent=" (query_value(agent)) } {
            input type="hidden" name="csrf" value=(session.csrf);
            input type="hidden" name="agent" value=(agent);
            textarea #message name="message" placeholder=(t(lang, "chat.placeholder")) required { (draft) }
            p {
                button #send type="submit" { (t(lang, "chat.send")) }
                " "
                button.secondary #stop type="button" hidden { (t(lang, "chat.stop")) }
                span.muted { (t(lang, "chat.hint")) }
            }
        }
        script src="/chat.js" defer {}
    };
    (
        status,
        layout_page(lang, t(lang, "chat.title"), "/chat", Some(&session.csrf), &body),
    )
        .into_response()
}

async fn history(gateway: &GatewayHandle, agent: &str) -> anyhow::Result<Vec<TranscriptEntry>> {
    let keys = gateway
        .webchat_session(agent)
        .into_iter()
        .chain([gateway.webchat_earlier_session(agent)]);
    for key in keys {
        if let Some(s) = gateway.store().session_get(&key).await? {
            return Ok(gateway.store().transcript_load(s.id, HISTORY_LIMIT).await?);
        }
    }
    Ok(Vec::new())
}

#[derive(Deserialize)]
pub(crate) struct ChatForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    agent: String,
    #[serde(default)]
    message: String,
}

pub(crate) async fn send(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Form(form): Form<ChatForm>,
) -> Response {
    if !session.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    if web.gateway.config().agent(&form.agent).is_none() {
        let agent = web.gateway.config().default_agent.clone();
        let error = tf(lang, "chat.no_agent", &[("agent", &format!("{:?}", form.agent))]);
        return render(
            &web,
            &session,
            lang,
            &agent,
            Some(&error),
            &form.message,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let text = form.message.trim();
    let problem = if text.is_empty() {
        Some(t(lang, "chat.empty").to_owned())
    } else if text.chars().count() > MAX_MESSAGE_CHARS {
        Some(tf(
            lang,
            "chat.too_long",
            &[("max", &MAX_MESSAGE_CHARS.to_string())],
        ))
    } else {
        None
    };
    if let Some(problem) = problem {
        return render(
            &web,
            &session,
            lang,
            &form.agent,
            Some(&problem),
            &form.message,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let outcome = web.gateway.webchat_send(&form.agent, text, ANSWER_WAIT).await;
    match outcome {
        Ok(WebChatOutcome::Answered | WebChatOutcome::Pending) => {
            Redirect::to(&format!("/chat?agent={}", query_value(&form.agent))).into_response()
        }
        Ok(WebChatOutcome::Failed(why)) => failed(&web, &session, lang, &form, &why).await,
        Err(e) => failed(&web, &session, lang, &form, &format!("{e:#}")).await,
    }
}

/// The page again, with the message still in the form and why it was not answered.
async fn failed(web: &WebState, session: &WebSession, lang: Lang, form: &ChatForm, why: &str) -> Response {
    // A model error can quote the provider's URL, credentials included.
    let error = mask_text(why).into_owned();
    tracing::warn!(agent = %form.agent, %error, "WebChat turn failed");
    render(
        web,
        session,
        lang,
        &form.agent,
        Some(&error),
        &form.message,
        StatusCode::BAD_GATEWAY,
    )
    .await
}
