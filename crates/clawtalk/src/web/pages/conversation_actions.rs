//! What the operator does to one conversation: reset its session, delete it (after a
//! confirmation), and send an answer given in the console on to DingTalk.

use axum::Form;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::error_page_in;
use crate::web::i18n::{Lang, t, tf};
use crate::web::layout::page_in;
use crate::web::sessions::WebSession;
use crate::web::{St, WebState};
use clawtalk_gateway::Posted;
use clawtalk_store::Session;

/// The session a form posted to `/conversations/{id}/…` acts on, once its CSRF token
/// (`given`) is the browser session's; else the refusal to answer with.
async fn posted_to(
    web: &WebState,
    session: &WebSession,
    lang: Lang,
    given: &str,
    id: &str,
) -> Result<Session, Response> {
    if !session.csrf_ok(given) {
        return Err(crate::web::auth::csrf_refused());
    }
    session_of(web, lang, &session.csrf, id).await
}

/// The stored session `/conversations/{id}` names, or the page saying why there is none.
pub(crate) async fn session_of(
    web: &WebState,
    lang: Lang,
    csrf: &str,
    id: &str,
) -> Result<Session, Response> {
    let Ok(number) = id.parse::<i64>() else {
        return Err(error_page_in(
            lang,
            StatusCode::NOT_FOUND,
            csrf,
            t(lang, "conv.not_a_number"),
        ));
    };
    match web.gateway.store().session_by_id(number).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(error_page_in(
            lang,
            StatusCode::NOT_FOUND,
            csrf,
            &tf(lang, "conv.missing", &[("id", id)]),
        )),
        Err(e) => Err(error_page_in(
            lang,
            StatusCode::INTERNAL_SERVER_ERROR,
            csrf,
            &format!("cannot read the session: {e}"),
        )),
    }
}

/// `POST /conversations/{id}/reset`: a new generation of the session, as `/new` in the chat
/// starts one (the agent forgets; the old transcript stays in the store until retention).
pub(crate) async fn reset(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Path(id): Path<String>,
    Form(form): Form<crate::web::auth::CsrfForm>,
) -> Response {
    let conversation = match posted_to(&web, &session, lang, &form.csrf, &id).await {
        Ok(s) => s,
        Err(refusal) => return refusal,
    };
    let store = web.gateway.store();
    if let Err(e) = store.session_reset(&conversation.key, web.gateway.now()).await {
        return error_page_in(
            lang,
            StatusCode::INTERNAL_SERVER_ERROR,
            &session.csrf,
            &format!("cannot reset the session: {e}"),
        );
    }
    tracing::info!(session = %conversation.key, "session reset in the web console");
    Redirect::to(&format!("/conversations/{}", conversation.id)).into_response()
}

#[derive(Deserialize)]
pub(crate) struct DeleteForm {
    #[serde(default)]
    csrf: String,
    /// `yes` once the operator confirmed.
    #[serde(default)]
    confirm: String,
}

/// `POST /conversations/{id}/delete`: first a page asking to confirm, then the session
/// and all its history are deleted (a turn running in it is stopped); the conversation's
/// next message starts a new session. Durable memories stay.
pub(crate) async fn delete(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Path(id): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Response {
    let conversation = match posted_to(&web, &session, lang, &form.csrf, &id).await {
        Ok(s) => s,
        Err(refusal) => return refusal,
    };
    if form.confirm != "yes" {
        return confirm_page(lang, &session.csrf, &conversation).into_response();
    }
    match web.gateway.session_delete(&conversation.key).await {
        Ok(_) => {
            tracing::info!(session = %conversation.key, "session deleted in the web console");
            let to = format!(
                "/conversations?deleted={}",
                crate::web::query_value(&conversation.key)
            );
            Redirect::to(&to).into_response()
        }
        Err(e) => error_page_in(
            lang,
            StatusCode::INTERNAL_SERVER_ERROR,
            &session.csrf,
            &format!("cannot delete the session: {e:#}"),
        ),
    }
}

fn confirm_page(lang: Lang, csrf: &str, conversation: &Session) -> Markup {
    let body = html! {
        h1 { (tf(lang, "conv.delete_confirm_title", &[("key", &conversation.key)])) }
        p { (t(lang, "conv.delete_confirm")) }
        form method="post" action={ "/conversations/" (conversation.id) "/delete" } {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="confirm" value="yes";
            button #conv-delete-confirm type="submit" { (t(lang, "conv.delete_for_good")) }
            " "
            a href={ "/conversations/" (conversation.id) } { (t(lang, "conv.keep")) }
        }
    };
    page_in(
        lang,
        &tf(lang, "conv.delete_confirm_title", &[("key", &conversation.key)]),
        "/conversations",
        Some(csrf),
        &body,
    )
}

/// The delete button of a conversation's page.
pub(crate) fn delete_button(lang: Lang, csrf: &str, session_id: i64) -> Markup {
    html! {
        form method="post" action={ "/conversations/" (session_id) "/delete" } {
            input type="hidden" name="csrf" value=(csrf);
            button.secondary #conv-delete type="submit" { (t(lang, "conv.delete")) }
            span.muted { " " (t(lang, "conv.delete_note")) }
        }
    }
}

/// The "Send to DingTalk" button under a console answer (transcript entry `entry_id`).
pub(crate) fn send_button(lang: Lang, csrf: &str, session_id: i64, entry_id: i64) -> Markup {
    html! {
        form.send-to-dingtalk method="post" action={ "/conversations/" (session_id) "/send" } {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="entry" value=(entry_id);
            button.secondary type="submit" data-entry=(entry_id) { (t(lang, "conv.send_to_dingtalk")) }
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct SendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    entry: String,
}

/// `POST /conversations/{id}/send`: the console answer `entry` into the DingTalk
/// conversation, through the outbox, once however often it is pressed.
pub(crate) async fn send(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Path(id): Path<String>,
    Form(form): Form<SendForm>,
) -> Response {
    let conversation = match posted_to(&web, &session, lang, &form.csrf, &id).await {
        Ok(s) => s,
        Err(refusal) => return refusal,
    };
    let Ok(entry) = form.entry.parse::<i64>() else {
        return error_page_in(
            lang,
            StatusCode::BAD_REQUEST,
            &session.csrf,
            &format!(
                "{:?} is not an answer number; use the Send to DingTalk button",
                form.entry
            ),
        );
    };
    match web.gateway.post_to_dingtalk(&conversation.key, entry).await {
        Ok(posted) => {
            let outcome = match posted {
                Posted::Sent => "sent",
                Posted::AlreadySent => "already_sent",
            };
            Redirect::to(&format!("/conversations/{}?{outcome}={entry}", conversation.id)).into_response()
        }
        Err(e) => error_page_in(
            lang,
            StatusCode::BAD_REQUEST,
            &session.csrf,
            &format!("cannot send answer #{entry} to DingTalk: {e:#}"),
        ),
    }
}
