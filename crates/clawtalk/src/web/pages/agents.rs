//! `/agents`: each agent's workspace and its bootstrap files (`AGENTS.md`, `SOUL.md`, …), with
//! an editor for one file at a time. Only the bootstrap file names of configured agents can be
//! read or written; a save replaces the file atomically, and the next turn reads it.

use axum::Form;
use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::error_page;
use crate::web::auth::csrf_refused;
use crate::web::layout::page;
use crate::web::sessions::WebSession;
use crate::web::{St, query_value};
use clawtalk_agent::workspace::BOOTSTRAP_FILES;
use clawtalk_agent::workspace::edit::{MAX_EDIT_BYTES, read_file, write_file};
use clawtalk_config::AgentConfig;

/// `?agent=…&file=…` opens the editor; `saved` and `error` report the last save.
#[derive(Deserialize, Default)]
pub(crate) struct Shown {
    agent: Option<String>,
    file: Option<String>,
    saved: Option<String>,
    error: Option<String>,
}

pub(crate) async fn page_handler(
    State(web): St,
    Extension(session): Extension<WebSession>,
    Query(shown): Query<Shown>,
) -> Response {
    let config = web.gateway.config();
    let editing = match (&shown.agent, &shown.file) {
        (Some(agent_id), Some(file)) => {
            let Some(agent) = config.agent(agent_id) else {
                return error_page(
                    StatusCode::NOT_FOUND,
                    &session.csrf,
                    &format!("no agent {agent_id:?} is configured"),
                );
            };
            match read_file(&agent.workspace, file) {
                Ok(text) => Some((agent, file.as_str(), text.unwrap_or_default())),
                Err(e) => return error_page(StatusCode::BAD_REQUEST, &session.csrf, &e.to_string()),
            }
        }
        _ => None,
    };
    let body = html! {
        h1 { "Agents and their workspaces" }
        @if let Some(saved) = &shown.saved { p.notice { "Saved " (saved) ". The agent reads it from its next turn on." } }
        @if let Some(error) = &shown.error { p.error { (error) } }
        @if let Some((agent, file, text)) = &editing {
            h2 { "Edit " (file) " of " (agent.id) }
            form #editor method="post" action="/agents/save" {
                input type="hidden" name="csrf" value=(session.csrf);
                input type="hidden" name="agent" value=(agent.id);
                input type="hidden" name="file" value=(file);
                textarea name="text" rows="24" maxlength=(MAX_EDIT_BYTES) { (text) }
                p { button type="submit" { "Save" } " " a href="/agents" { "Cancel" } }
            }
        }
        p.muted {
            "The files below are read before every turn and go into the system prompt in this order \
             (MEMORY.md in private chats only), each cut at agents.defaults.bootstrapMaxChars."
        }
        @for agent in &config.agents {
            (agent_table(agent, agent.id == config.default_agent))
        }
    };
    page("Agents", "/agents", Some(&session.csrf), &body).into_response()
}

fn agent_table(agent: &AgentConfig, is_default: bool) -> maud::Markup {
    let name = agent.identity.name.as_ref().or(agent.name.as_ref());
    html! {
        h2 {
            (agent.id)
            @if let Some(name) = name { " · " (name) }
            @if is_default { span.muted { " (default)" } }
        }
        p.muted { "Workspace: " code { (agent.workspace.display()) } }
        table data-agent=(agent.id) {
            thead { tr { th { "File" } th { "Size" } th {} } }
            tbody {
                @for file in BOOTSTRAP_FILES {
                    @let size = std::fs::metadata(agent.workspace.join(file)).ok().filter(std::fs::Metadata::is_file).map(|m| m.len());
                    tr {
                        td { code { (file) } }
                        td {
                            @if let Some(n) = size { (n) " bytes" } @else { span.muted { "missing" } }
                        }
                        td {
                            a href={ "/agents?agent=" (query_value(&agent.id)) "&file=" (file) } {
                                @if size.is_some() { "Edit" } @else { "Create" }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct Save {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    agent: String,
    #[serde(default)]
    file: String,
    #[serde(default)]
    text: String,
}

pub(crate) async fn save(
    State(web): St,
    Extension(session): Extension<WebSession>,
    Form(form): Form<Save>,
) -> Response {
    if !session.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    let config = web.gateway.config();
    let Some(agent) = config.agent(&form.agent) else {
        return error_page(
            StatusCode::NOT_FOUND,
            &session.csrf,
            &format!("no agent {:?} is configured", form.agent),
        );
    };
    // Browsers send textarea line breaks as CRLF; the files are written as Unix text.
    let text = form.text.replace("\r\n", "\n");
    let workspace = agent.workspace.clone();
    let file = form.file.clone();
    let written = tokio::task::spawn_blocking(move || write_file(&workspace, &file, &text)).await;
    let back = format!(
        "/agents?agent={}&file={}",
        query_value(&form.agent),
        query_value(&form.file)
    );
    match written {
        Ok(Ok(())) => {
            tracing::info!(agent = %form.agent, file = %form.file, "workspace file saved in the web UI");
            Redirect::to(&format!("{back}&saved={}", query_value(&form.file))).into_response()
        }
        Ok(Err(e)) => {
            tracing::warn!(agent = %form.agent, "workspace file not saved: {e}");
            if matches!(
                e,
                clawtalk_agent::workspace::edit::EditError::NotABootstrapFile(_)
            ) {
                return error_page(StatusCode::BAD_REQUEST, &session.csrf, &e.to_string());
            }
            Redirect::to(&format!("/agents?error={}", query_value(&e.to_string()))).into_response()
        }
        Err(e) => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &session.csrf,
            &format!("saving failed: {e}"),
        ),
    }
}
