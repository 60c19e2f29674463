//! `/memories`: what the agents remember (saved with `memory_save`, and read from their
//! workspaces' memory files), filtered by agent, scope and subject, and forgetting them.

use axum::Form;
use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::error_page;
use crate::web::auth::csrf_refused;
use crate::web::layout::{self, ago};
use crate::web::sessions::WebSession;
use crate::web::{St, query_value};
use clawtalk_store::{MemoryFilter, MemoryRecord, MemoryScope, MemorySource, MemorySubject};

/// Memories shown on one page, most recently saved first.
const SHOWN: u32 = 200;

#[derive(Deserialize, Default)]
pub(crate) struct Filter {
    #[serde(default)]
    agent: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    subject: String,
    /// How many memories the last action forgot.
    #[serde(default)]
    forgot: Option<u64>,
    #[serde(default)]
    error: Option<String>,
}

impl Filter {
    fn scope(&self) -> Result<Option<MemoryScope>, String> {
        match self.scope.trim() {
            "" => Ok(None),
            text => MemoryScope::ALL
                .into_iter()
                .find(|s| s.as_str() == text)
                .map(Some)
                .ok_or_else(|| format!("unknown scope {text:?}: pick agent, user, conversation or group")),
        }
    }

    fn query_string(&self) -> String {
        format!(
            "agent={}&scope={}&subject={}",
            query_value(&self.agent),
            query_value(&self.scope),
            query_value(&self.subject)
        )
    }
}

fn non_empty(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

fn origin(record: &MemoryRecord) -> String {
    match (record.source, &record.path, record.lines) {
        (MemorySource::Tool, ..) => "memory_save".to_owned(),
        (_, Some(path), Some((start, end))) if start == end => format!("{path}:{start}"),
        (_, Some(path), Some((start, end))) => format!("{path}:{start}-{end}"),
        (_, path, _) => path.clone().unwrap_or_default(),
    }
}

pub(crate) async fn page(
    State(web): St,
    Extension(session): Extension<WebSession>,
    Query(filter): Query<Filter>,
) -> Response {
    let scope = match filter.scope() {
        Ok(scope) => scope,
        Err(message) => return error_page(StatusCode::BAD_REQUEST, &session.csrf, &message),
    };
    let wanted = MemoryFilter {
        agent_id: non_empty(&filter.agent),
        scope,
        subject: non_empty(&filter.subject),
        limit: SHOWN,
    };
    let memories = match web.gateway.store().memory_list(&wanted).await {
        Ok(memories) => memories,
        Err(e) => {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &session.csrf,
                &format!("cannot read the memories: {e}"),
            );
        }
    };
    let now = web.gateway.now();
    let agents: Vec<String> = web.gateway.config().agents.iter().map(|a| a.id.clone()).collect();
    let whole_owner = match (&wanted.agent_id, scope, &wanted.subject) {
        (Some(agent), Some(scope), Some(subject)) if scope != MemoryScope::Agent => {
            Some((agent.clone(), scope, subject.clone()))
        }
        _ => None,
    };
    let body = html! {
        h1 { "Memories" }
        @if let Some(n) = filter.forgot { p.notice { "Forgot " (n) " memor" (if n == 1 { "y" } else { "ies" }) "." } }
        @if let Some(error) = &filter.error { p.error { (error) } }
        form #filter method="get" action="/memories" {
            label { "Agent " select name="agent" {
                option value="" selected[wanted.agent_id.is_none()] { "all" }
                @for id in &agents { option value=(id) selected[wanted.agent_id.as_deref() == Some(id.as_str())] { (id) } }
            } }
            " "
            label { "Scope " select name="scope" {
                option value="" selected[scope.is_none()] { "all" }
                @for s in MemoryScope::ALL { option value=(s.as_str()) selected[scope == Some(s)] { (s.as_str()) } }
            } }
            " "
            label { "Subject " input type="text" name="subject" value=(filter.subject) placeholder="staff id or conversation"; }
            " "
            button type="submit" { "Filter" }
        }
        @if let Some((agent, scope, subject)) = &whole_owner {
            form method="post" action="/memories/forget" {
                input type="hidden" name="csrf" value=(session.csrf);
                input type="hidden" name="agent" value=(agent);
                input type="hidden" name="scope" value=(scope.as_str());
                input type="hidden" name="subject" value=(subject);
                button.secondary #forget-all type="submit" name="all" value="1" { "Forget everything of " (scope.as_str()) " " (subject) }
            }
        }
        @if memories.is_empty() {
            p.muted { "No memories here. The agent keeps one when a user asks it to remember something (memory_save), and reads MEMORY.md and memory/*.md in its workspace." }
        } @else {
            table #memories {
                thead { tr { th { "ID" } th { "Agent" } th { "Scope" } th { "Subject" } th { "Memory" } th { "From" } th { "Saved" } th {} } }
                tbody {
                    @for m in &memories {
                        tr data-id=(m.id) {
                            td { (m.id) }
                            td { (m.agent_id) }
                            td { (m.owner.scope.as_str()) }
                            td { span.muted { (m.owner.subject) } }
                            td { (m.text) }
                            td { span.muted { (origin(m)) } }
                            td { (ago(now, m.updated_at_ms)) }
                            td {
                                @if m.source == MemorySource::Tool {
                                    form method="post" action="/memories/forget" {
                                        input type="hidden" name="csrf" value=(session.csrf);
                                        input type="hidden" name="id" value=(m.id);
                                        input type="hidden" name="agent" value=(filter.agent);
                                        input type="hidden" name="scope" value=(filter.scope);
                                        input type="hidden" name="subject" value=(filter.subject);
                                        button.secondary type="submit" { "Forget" }
                                    }
                                } @else {
                                    span.muted { "edit the file" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page("Memories", "/memories", Some(&session.csrf), &body).into_response()
}

#[derive(Deserialize)]
pub(crate) struct ForgetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    all: Option<String>,
    /// The page's filter, to return to; with `all`, whose memories to forget.
    #[serde(default)]
    agent: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    subject: String,
}

pub(crate) async fn forget(
    State(web): St,
    Extension(session): Extension<WebSession>,
    Form(form): Form<ForgetForm>,
) -> Response {
    if !session.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    let store = web.gateway.store();
    let result = match (form.id, form.all.is_some()) {
        (Some(id), false) => store
            .memory_forget(id)
            .await
            .map(|gone| u64::from(gone.is_some())),
        (None, true) => {
            let scope = Filter {
                scope: form.scope.clone(),
                ..Filter::default()
            }
            .scope();
            match (scope, non_empty(&form.agent), non_empty(&form.subject)) {
                (Ok(Some(scope)), Some(agent), Some(subject)) => {
                    store
                        .memory_forget_owner(&agent, &MemorySubject::new(scope, subject))
                        .await
                }
                _ => {
                    return error_page(
                        StatusCode::BAD_REQUEST,
                        &session.csrf,
                        "to forget everything of someone, filter by agent, scope and subject first",
                    );
                }
            }
        }
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &session.csrf,
                "use a Forget button: it names one memory, or everything of one subject",
            );
        }
    };
    let back = Filter {
        agent: form.agent,
        scope: form.scope,
        subject: form.subject,
        ..Filter::default()
    }
    .query_string();
    match result {
        Ok(count) => {
            tracing::info!(count, "memories forgotten in the web UI");
            Redirect::to(&format!("/memories?{back}&forgot={count}")).into_response()
        }
        Err(e) => Redirect::to(&format!(
            "/memories?{back}&error={}",
            query_value(&format!("could not forget: {e}"))
        ))
        .into_response(),
    }
}
