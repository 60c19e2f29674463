//! `/chat`: WebChat. A form post runs one agent turn through the gateway's agent runtime
//! (same models, fallbacks and tools as DingTalk turns) in a per-agent session
//! `agent:<agent>:webchat:operator`, stores it like any transcript, and redirects back to
//! the page, which shows the conversation with the reply.

use anyhow::Context;
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
use clawtalk_agent::ToolContext;
use clawtalk_core::clock::now_ms;
use clawtalk_core::mask::mask_text;
use clawtalk_gateway::{GatewayHandle, transcript_entry};
use clawtalk_llm::ChatMessage;
use clawtalk_store::TranscriptEntry;

/// Longest message accepted, in characters.
const MAX_MESSAGE_CHARS: usize = 8_000;
/// History sent to the model and shown on the page.
const HISTORY_LIMIT: u32 = 40;

/// The WebChat session of an agent.
pub(crate) fn session_key(agent_id: &str) -> String {
    format!("agent:{agent_id}:webchat:operator")
}

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
    match gateway.store().session_get(&session_key(agent)).await? {
        Some(s) => Ok(gateway.store().transcript_load(s.id, HISTORY_LIMIT).await?),
        None => Ok(Vec::new()),
    }
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
    match run_turn(&web.gateway, &form.agent, text).await {
        Ok(()) => Redirect::to(&format!("/chat?agent={}", query_value(&form.agent))).into_response(),
        Err(e) => {
            // A model error can quote the provider's URL, credentials included.
            let error = mask_text(&format!("{e:#}")).into_owned();
            tracing::warn!(agent = %form.agent, %error, "WebChat turn failed");
            render(
                &web,
                &session,
                &form.agent,
                Some(&error),
                &form.message,
                StatusCode::BAD_GATEWAY,
            )
            .await
        }
    }
}

/// One turn: history from the store, the agent runtime, then the transcript.
async fn run_turn(gateway: &GatewayHandle, agent_id: &str, text: &str) -> anyhow::Result<()> {
    let key = session_key(agent_id);
    let idle_reset = clawtalk_gateway::idle_reset_ms(gateway.config());
    let opened = gateway
        .store()
        .session_get_or_create(&key, agent_id, now_ms(), idle_reset)
        .await?;
    let history: Vec<ChatMessage> = gateway
        .store()
        .transcript_load(opened.session.id, HISTORY_LIMIT)
        .await?
        .iter()
        .filter_map(|entry| serde_json::from_str::<ChatMessage>(&entry.content_json).ok())
        .skip_while(|m| m.role != clawtalk_llm::Role::User)
        .collect();
    // No DingTalk conversation: tools that send into one have no target and say so.
    let context = ToolContext {
        session_key: key.clone(),
        workspace: gateway.config().agent(agent_id).map(|a| a.workspace.clone()),
        ..ToolContext::default()
    };
    let user = ChatMessage::user(text);
    let asked_at = now_ms();
    let cancel = gateway.shutdown_token();
    let outcome = gateway
        .agent()
        .run_turn(agent_id, &history, user.clone(), &context, &cancel)
        .await
        .map_err(|e| anyhow::anyhow!("{} ({e})", e.user_message()))?;
    tracing::info!(agent = %agent_id, model = %outcome.model, "WebChat turn answered");
    let mut entries = vec![transcript_entry(&user, None, asked_at)?];
    for message in &outcome.appended {
        entries.push(transcript_entry(message, None, now_ms())?);
    }
    gateway
        .store()
        .transcript_append(opened.session.id, opened.session.generation, entries)
        .await
        .context("storing the WebChat transcript")
}
