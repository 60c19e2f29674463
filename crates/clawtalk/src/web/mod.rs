//! The web UI the gateway serves on `gateway.bind:gateway.port` (default 127.0.0.1:18789).
//!
//! Server-rendered HTML that works without JavaScript; the CSS is embedded in every page. A
//! browser logs in by POSTing the gateway token ([`token`]); it gets an HttpOnly,
//! SameSite=Strict cookie (also Secure when it came through an HTTPS proxy) naming a
//! server-side session ([`sessions`]). Every other route
//! needs that session: pages answer 303 to `/login` without it, `/api/…` answers 401. Every
//! form that changes something carries the session's CSRF token.
//!
//! Pages ([`pages`]): account status, conversations and transcripts, pairing requests, a
//! WebChat that runs agent turns through the gateway's agent runtime, and the config with
//! secrets masked.

mod auth;
mod chat;
mod layout;
mod pages;
pub mod sessions;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dingtalk::Secret;

use clawtalk_gateway::routes::{Access, RouteTable, router_of};
use clawtalk_gateway::{GatewayHandle, WebMount};
use sessions::Sessions;

/// The web console, mounted on the gateway's listener.
#[derive(Debug, Clone)]
struct WebUi {
    /// The token a browser logs in with.
    token: Secret,
}

/// The console that logs browsers in with `token` ([`clawtalk_gateway::WebConsole`]).
pub(crate) fn console(token: Secret) -> Box<dyn WebMount> {
    Box::new(WebUi { token })
}

impl WebMount for WebUi {
    fn router(self: Box<Self>, gateway: GatewayHandle) -> Router {
        router(gateway, *self)
    }
}

/// State shared by every web handler.
pub(crate) struct WebState {
    pub gateway: GatewayHandle,
    pub token: Secret,
    pub sessions: Sessions,
    /// Wrong-token attempts at `/login` per client address.
    pub login_throttle: clawtalk_gateway::throttle::LoginThrottle,
}

pub(crate) type St = State<Arc<WebState>>;

/// The web UI's routes: the login page is public, everything else needs a session.
pub(crate) fn routes() -> RouteTable<Arc<WebState>> {
    use Access::{Public, Session};
    vec![
        ("/login", Public, get(auth::login_page).post(auth::login)),
        ("/", Session, get(pages::status::page)),
        ("/conversations", Session, get(pages::conversations::list)),
        (
            "/conversations/{id}",
            Session,
            get(pages::conversations::transcript),
        ),
        ("/pairing", Session, get(pages::pairing::page)),
        ("/cron", Session, get(pages::cron::page_handler)),
        ("/pairing/decide", Session, post(pages::pairing::decide)),
        ("/chat", Session, get(chat::page).post(chat::send)),
        ("/config", Session, get(pages::config::config_page)),
        ("/reload", Session, post(pages::reload::reload)),
        ("/logout", Session, post(auth::logout)),
        ("/api/status", Session, get(pages::status::api)),
    ]
}

/// The web UI's routes, ready to be merged into the gateway's HTTP server.
fn router(gateway: GatewayHandle, ui: WebUi) -> Router {
    let state = Arc::new(WebState {
        gateway,
        token: ui.token,
        sessions: Sessions::default(),
        login_throttle: clawtalk_gateway::throttle::LoginThrottle::default(),
    });
    let public = router_of(routes(), Access::Public, |r| r);
    let protected = router_of(routes(), Access::Session, |r| {
        r.route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            auth::require_session,
        ))
    });
    public
        .merge(protected)
        .layer(middleware::map_response(security_headers))
        .with_state(state)
}

/// No caching of pages with conversation content, no framing, no scripts at all.
async fn security_headers(response: Response) -> Response {
    let mut response = response.into_response();
    let headers = response.headers_mut();
    let set = [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// `text` for a URL query value.
pub(crate) fn query_value(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
