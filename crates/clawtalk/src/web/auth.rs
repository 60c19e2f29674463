//! Login, logout, and the session check in front of every other route.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Form;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::i18n::{Lang, t, tf};
use super::layout::page_in;
use super::sessions::{WebSession, clear_cookie, cookie_value, reached_over_https, set_cookie};
use super::{St, WebState};
use clawtalk_gateway::token;

/// Lets a request through only with a live session, which handlers then read as an
/// `Extension<WebSession>`. Pages redirect to the login; APIs answer 401.
pub(crate) async fn require_session(
    State(web): State<Arc<WebState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let session = session_of(&web, request.headers());
    match session {
        Some(session) => {
            request.extensions_mut().insert(session);
            next.run(request).await
        }
        None if request.uri().path().starts_with("/api/") => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Cookie realm=\"clawtalk\"")],
            axum::Json(serde_json::json!({
                "error": "not logged in: POST the gateway token to /login first"
            })),
        )
            .into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

fn session_of(web: &WebState, headers: &HeaderMap) -> Option<WebSession> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(cookie_value)
        .and_then(|id| web.sessions.touch(id, Instant::now()))
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(cookie_value)
        .map(str::to_owned)
}

fn login_form(lang: Lang, error: Option<&str>) -> Markup {
    let body = html! {
        div.login {
            h1 { (t(lang, "login.title")) }
            @if let Some(error) = error { p.error { (error) } }
            form method="post" action="/login" {
                label for="token" { (t(lang, "login.token")) }
                input #token type="password" name="token" autocomplete="current-password" autofocus required;
                button type="submit" { (t(lang, "login.submit")) }
            }
            p.muted { (t(lang, "login.help")) }
        }
    };
    page_in(lang, t(lang, "login.title"), "/login", None, &body)
}

pub(crate) async fn login_page(State(web): St, lang: Lang, headers: HeaderMap) -> Response {
    if session_of(&web, &headers).is_some() {
        return Redirect::to("/").into_response();
    }
    login_form(lang, None).into_response()
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    token: String,
}

/// The token comes in the form body, never in the URL, so no access log can record it.
/// Wrong tokens are counted per client address ([`super::throttle`]).
pub(crate) async fn login(
    State(web): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    lang: Lang,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let now = Instant::now();
    // Behind a trusted proxy, counted per client, so one guesser does not lock out the rest.
    let client = clawtalk_gateway::client_ip::client_ip(
        peer.ip(),
        &headers,
        &web.gateway.config().gateway.trusted_proxies,
    );
    if let Err(wait) = web.login_throttle.check(client, now) {
        tracing::warn!(%peer, "web UI login refused: too many wrong tokens from this address");
        let retry = wait.as_secs().max(1);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry.to_string())],
            login_form(
                lang,
                Some(&tf(lang, "login.throttled", &[("secs", &retry.to_string())])),
            ),
        )
            .into_response();
    }
    if !token::matches(&web.token, &form.token) {
        web.login_throttle.failed(client, now);
        tracing::warn!(%peer, "web UI login refused: wrong gateway token");
        return (
            StatusCode::UNAUTHORIZED,
            login_form(lang, Some(t(lang, "login.wrong"))),
        )
            .into_response();
    }
    web.login_throttle.succeeded(client);
    let id = web.sessions.create(now);
    tracing::info!("web UI login");
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                set_cookie(
                    &id,
                    reached_over_https(peer.ip(), &headers, &web.gateway.config().gateway.trusted_proxies),
                ),
            ),
            (header::LOCATION, "/".to_owned()),
        ],
    )
        .into_response()
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub(crate) async fn logout(
    State(web): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::Extension(session): axum::Extension<WebSession>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !session.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    if let Some(id) = session_id(&headers) {
        web.sessions.remove(&id);
    }
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                clear_cookie(reached_over_https(
                    peer.ip(),
                    &headers,
                    &web.gateway.config().gateway.trusted_proxies,
                )),
            ),
            (header::LOCATION, "/login".to_owned()),
        ],
    )
        .into_response()
}

/// A form without this session's CSRF token: made by another site, or from before a restart.
pub(crate) fn csrf_refused() -> Response {
    tracing::warn!("web UI form refused: missing or wrong CSRF token");
    let lang = Lang::En;
    let body = html! { p.error { (t(lang, "refused.csrf")) } };
    (
        StatusCode::FORBIDDEN,
        page_in(lang, t(lang, "refused.title"), "", None, &body),
    )
        .into_response()
}
