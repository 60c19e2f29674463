//! `/pairing`: requests from unknown senders (dmPolicy `pairing`) to approve or reject, as
//! `clawtalk pairing approve|reject` does.

use axum::Form;
use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::error_page;
use crate::operator_text::decision_error;
use crate::web::auth::csrf_refused;
use crate::web::layout::{self, ago};
use crate::web::sessions::WebSession;
use crate::web::{St, query_value};
use clawtalk_store::{PairingFilter, PairingStatus};

/// Decided and expired requests shown below the pending ones.
const HISTORY: usize = 50;

#[derive(Deserialize, Default)]
pub(crate) struct Done {
    approved: Option<String>,
    rejected: Option<String>,
    error: Option<String>,
}

pub(crate) async fn page(
    State(web): St,
    Extension(session): Extension<WebSession>,
    Query(done): Query<Done>,
) -> Response {
    let now = web.gateway.now();
    let requests = match web.gateway.store().pairing_list(PairingFilter::All, now).await {
        Ok(r) => r,
        Err(e) => {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &session.csrf,
                &format!("cannot read the pairing requests: {e}"),
            );
        }
    };
    let (pending, decided): (Vec<_>, Vec<_>) = requests
        .into_iter()
        .partition(|r| r.status == PairingStatus::Pending);
    let body = html! {
        h1 { "Pairing requests" }
        @if let Some(code) = &done.approved { p.notice { "Approved " (code) ": the sender may now message the bot." } }
        @if let Some(code) = &done.rejected { p.notice { "Rejected " (code) "." } }
        @if let Some(error) = &done.error { p.error { (error) } }
        @if pending.is_empty() {
            p.muted { "No pending requests. An unknown sender who messages a bot with dmPolicy \"pairing\" appears here." }
        } @else {
            table #pending {
                thead { tr { th { "Code" } th { "Account" } th { "Sender" } th { "Requested" } th { "Expires" } th {} } }
                tbody {
                    @for r in &pending {
                        tr data-code=(r.code) {
                            td { code { (r.code) } }
                            td { (r.account_id) }
                            td { (r.nick) br; span.muted { (r.sender_id) } }
                            td { (ago(now, r.created_at_ms)) }
                            td { "in " (ago(r.expires_at_ms, now).trim_end_matches(" ago")) }
                            td {
                                form method="post" action="/pairing/decide" {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    input type="hidden" name="code" value=(r.code);
                                    button type="submit" name="action" value="approve" { "Approve" }
                                    " "
                                    button.secondary type="submit" name="action" value="reject" { "Reject" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !decided.is_empty() {
            h1 { "Earlier requests" }
            table {
                thead { tr { th { "Code" } th { "Account" } th { "Sender" } th { "Status" } th { "Requested" } } }
                tbody {
                    @for r in decided.iter().take(HISTORY) {
                        tr {
                            td { code { (r.code) } }
                            td { (r.account_id) }
                            td { (r.nick) br; span.muted { (r.sender_id) } }
                            td { (r.status) }
                            td { (ago(now, r.created_at_ms)) }
                        }
                    }
                }
            }
        }
    };
    layout::page("Pairing", "/pairing", Some(&session.csrf), &body).into_response()
}

#[derive(Deserialize)]
pub(crate) struct Decision {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    action: String,
}

pub(crate) async fn decide(
    State(web): St,
    Extension(session): Extension<WebSession>,
    Form(form): Form<Decision>,
) -> Response {
    if !session.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    let store = &web.gateway.store();
    let now = web.gateway.now();
    let (verb, done, result) = match form.action.as_str() {
        "approve" => (
            "approve",
            "approved",
            store
                .pairing_approve(&form.code, now)
                .await
                .map(|s| s.via_code.unwrap_or_else(|| form.code.clone())),
        ),
        "reject" => (
            "reject",
            "rejected",
            store.pairing_reject(&form.code, now).await.map(|r| r.code),
        ),
        other => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &session.csrf,
                &format!("unknown action {other:?}: use the Approve or Reject button"),
            );
        }
    };
    let key = match result {
        Ok(code) => {
            tracing::info!(%code, "pairing request {done} in the web UI");
            return Redirect::to(&format!("/pairing?{done}={}", query_value(&code))).into_response();
        }
        Err(e) => decision_error(e, verb, now).to_string(),
    };
    Redirect::to(&format!("/pairing?error={}", query_value(&key))).into_response()
}
