//! `/pairing`: requests from unknown senders (dmPolicy `pairing`) to approve or reject, as
//! `clawtalk pairing approve|reject` does.

use axum::Form;
use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::error_page_in;
use crate::operator_text::decision_error;
use crate::web::auth::csrf_refused;
use crate::web::i18n::{Lang, t, tf};
use crate::web::layout::{self, ago_in, span_in};
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
    lang: Lang,
    Query(done): Query<Done>,
) -> Response {
    let now = web.gateway.now();
    let requests = match web.gateway.store().pairing_list(PairingFilter::All, now).await {
        Ok(r) => r,
        Err(e) => {
            return error_page_in(
                lang,
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
        h1 { (t(lang, "pairing.title")) }
        @if let Some(code) = &done.approved { p.notice { (tf(lang, "pairing.approved", &[("code", code)])) } }
        @if let Some(code) = &done.rejected { p.notice { (tf(lang, "pairing.rejected", &[("code", code)])) } }
        @if let Some(error) = &done.error { p.error { (error) } }
        @if pending.is_empty() {
            p.muted { (t(lang, "pairing.none")) }
        } @else {
            table #pending {
                thead { tr {
                    th { (t(lang, "pairing.code")) } th { (t(lang, "pairing.account")) }
                    th { (t(lang, "pairing.sender")) } th { (t(lang, "pairing.requested")) }
                    th { (t(lang, "pairing.expires")) } th {}
                } }
                tbody {
                    @for r in &pending {
                        tr data-code=(r.code) {
                            td { code { (r.code) } }
                            td { (r.account_id) }
                            td { (r.nick) br; span.muted { (r.sender_id) } }
                            td { (ago_in(lang, now, r.created_at_ms)) }
                            td { (tf(lang, "pairing.expires_in", &[("when", &span_in(lang, now, r.expires_at_ms))])) }
                            td {
                                form method="post" action="/pairing/decide" {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    input type="hidden" name="code" value=(r.code);
                                    button type="submit" name="action" value="approve" { (t(lang, "pairing.approve")) }
                                    " "
                                    button.secondary type="submit" name="action" value="reject" { (t(lang, "pairing.reject")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !decided.is_empty() {
            h1 { (t(lang, "pairing.earlier")) }
            table {
                thead { tr {
                    th { (t(lang, "pairing.code")) } th { (t(lang, "pairing.account")) }
                    th { (t(lang, "pairing.sender")) } th { (t(lang, "pairing.status")) }
                    th { (t(lang, "pairing.requested")) }
                } }
                tbody {
                    @for r in decided.iter().take(HISTORY) {
                        tr {
                            td { code { (r.code) } }
                            td { (r.account_id) }
                            td { (r.nick) br; span.muted { (r.sender_id) } }
                            td { (r.status) }
                            td { (ago_in(lang, now, r.created_at_ms)) }
                        }
                    }
                }
            }
        }
    };
    layout::page_in(
        lang,
        t(lang, "pairing.title"),
        "/pairing",
        Some(&session.csrf),
        &body,
    )
    .into_response()
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
    lang: Lang,
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
            return error_page_in(
                lang,
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
