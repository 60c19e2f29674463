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
use super::layout::page as layout_page;
use super::pages::conversations::transcript_view;
use super::sessions::WebSession;
use super::{St, WebState, query_value};
use clawtalk_core::mask::mask_text;
use clawtalk_gateway::{GatewayHandle, WebChatOutcome};
use clawtalk_store::TranscriptEntry;

/// Longest message accepted, in characters.
const MAX_MESSAGE_CHARS: usize = 8_000;
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
    Query(query): Query<ChatQuery>,
) -> Response {
    let agent = query
        .agent
        .filter(|a| web.gateway.config().agent(a).is_some())
        .unwrap_or_else(|| web.gateway.config().default_agent.clone());
    render(&web, &session, &agent, None, "", StatusCode::OK).await
}

/// The page: agent picker, the conversation so far, the message form (and an error).
async fn render(
    web: &WebState,
    session: &WebSession,
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
        h1 { "WebChat" }
        form method="get" action="/chat" {
            label for="agent-pick" { "Agent " }
            select #agent-pick name="agent" {
                @for a in agents {
                    option value=(a.id) selected[a.id == agent] {
                        (a.id) @if let Some(name) = &a.name { " — " (name) }
                    }
                }
            }
            " "
            button.secondary type="submit" { "Switch" }
        }
        @if let Some(e) = load_error { p.error { "cannot read the conversation: " (e) } }
        div #transcript { (transcript_view(&entries)) }
        @if let Some(e) = error { p.error #chat-error { (e) } }
        form method="post" action="/chat" {
            input type="hidden" name="csrf" value=(session.csrf);
            input type="hidden" name="agent" value=(agent);
            textarea #message name="message" placeholder="Message the agent" required { (draft) }
            p { button #send type="submit" { "Send" } span.muted { " The reply appears when the agent has answered." } }
        }
    };
    (
        status,
        layout_page("WebChat", "/chat", Some(&session.csrf), &body),
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
    Form(form): Form<ChatForm>,
) -> Response {
    if !session.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    if web.gateway.config().agent(&form.agent).is_none() {
        let agent = web.gateway.config().default_agent.clone();
        let error = format!("There is no agent {:?}; pick one from the list.", form.agent);
        return render(
            &web,
            &session,
            &agent,
            Some(&error),
            &form.message,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let text = form.message.trim();
    let problem = if text.is_empty() {
        Some("Type a message first.".to_owned())
    } else if text.chars().count() > MAX_MESSAGE_CHARS {
        Some(format!(
            "The message is too long; at most {MAX_MESSAGE_CHARS} characters."
        ))
    } else {
        None
    };
    if let Some(problem) = problem {
        return render(
            &web,
            &session,
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
        Ok(WebChatOutcome::Failed(why)) => failed(&web, &session, &form, &why).await,
        Err(e) => failed(&web, &session, &form, &format!("{e:#}")).await,
    }
}

/// The page again, with the message still in the form and why it was not answered.
async fn failed(web: &WebState, session: &WebSession, form: &ChatForm, why: &str) -> Response {
    // A model error can quote the provider's URL, credentials included.
    let error = mask_text(why).into_owned();
    tracing::warn!(agent = %form.agent, %error, "WebChat turn failed");
    render(
        web,
        session,
        &form.agent,
        Some(&error),
        &form.message,
        StatusCode::BAD_GATEWAY,
    )
    .await
}
