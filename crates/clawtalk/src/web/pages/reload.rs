//! Reloading the configuration from the console: the status page's Reload button
//! (`POST /reload`) and what the last reload did, shown on the status page.

use axum::Form;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use crate::web::St;
use crate::web::auth::csrf_refused;
use crate::web::layout::{ago, utc};
use crate::web::sessions::WebSession;
use clawtalk_core::clock::EpochMs;
use clawtalk_gateway::reload::{Outcome, ReloadReport};

#[derive(Deserialize)]
pub(crate) struct ReloadForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /reload`: reads the config file again and applies it (as SIGHUP does), then shows
/// the status page with the outcome.
pub(crate) async fn reload(
    State(web): St,
    Extension(session): Extension<WebSession>,
    Form(form): Form<ReloadForm>,
) -> Response {
    if !session.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    let report = web.gateway.reload().await;
    tracing::info!(outcome = ?report.outcome, "configuration reloaded from the web UI");
    Redirect::to("/#reload").into_response()
}

/// The Reload button and the last reload's outcome: its errors (each at its key), what
/// changed, and what waits for a restart.
pub(crate) fn section(last: Option<&ReloadReport>, now: EpochMs, csrf: &str) -> Markup {
    html! {
        h2 #reload { "Configuration" }
        form method="post" action="/reload" {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" { "Reload config" }
            " "
            span.muted { "reads the config file again, as SIGHUP does" }
        }
        @if let Some(report) = last {
            p data-reload-outcome=(outcome_name(report.outcome)) {
                "Last reload " (ago(now, report.at_ms)) " (" (utc(report.at_ms)) "): "
                @match report.outcome {
                    Outcome::Applied => span.ok { "applied" },
                    Outcome::Unchanged => span.muted { "nothing changed" },
                    Outcome::Refused => span.bad { "refused, the running configuration stays" },
                    Outcome::Waiting => span.muted { "the file changed; gateway.reload.mode is off, so it waits for Reload, SIGHUP or a restart" },
                }
            }
            @if !report.errors.is_empty() {
                ul.reload-errors { @for error in &report.errors { li.bad { (error) } } }
            }
            @if !report.changes.is_empty() {
                ul { @for change in &report.changes { li { (change) } } }
            }
            @if !report.needs_restart.is_empty() {
                p { strong { "Needs a restart" } " (running with the old value until then):" }
                ul.needs-restart { @for waiting in &report.needs_restart { li { (waiting) } } }
            }
        }
    }
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Applied => "applied",
        Outcome::Unchanged => "unchanged",
        Outcome::Refused => "refused",
        Outcome::Waiting => "waiting",
    }
}
