//! The web UI the gateway serves on `gateway.bind:gateway.port` (default 127.0.0.1:18789).
//!
//! Server-rendered HTML that works without JavaScript; the CSS is embedded in every page. A
//! browser logs in by POSTing the gateway token ([`token`]); it gets an HttpOnly,
//! SameSite=Strict cookie (also Secure when it came through an HTTPS proxy) naming a
//! server-side session ([`sessions`]). Every other route
//! needs that session: pages answer 303 to `/login` without it, `/api/…` answers 401. Every
//! form that changes something carries the session's CSRF token.
//!
//! Pages ([`pages`]): account status, conversations and transcripts, pairing requests, the
//! agents' workspace files with an editor, agents' memories, the MCP servers and their tools,
//! scheduled tasks, a WebChat that runs agent turns through the gateway's agent runtime, and
//! the config with secrets masked.

mod auth;
mod chat;
mod chat_live;
mod i18n;
mod layout;
mod markdown;
mod pages;
pub mod sessions;
pub(crate) mod setup;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dingtalk::Secret;

use clawtalk_config::ConfigSource;
use clawtalk_gateway::routes::{Access, RouteTable, router_of};
use clawtalk_gateway::{GatewayHandle, WebMount};
use sessions::Sessions;

/// The web console, mounted on the gateway's listener.
#[derive(Debug, Clone)]
struct WebUi {
    /// The token a browser logs in with.
    token: Secret,
    /// The config file the setup page writes.
    config_path: PathBuf,
}

/// The console that logs browsers in with `token` ([`clawtalk_gateway::WebConsole`]); its
/// setup writes to the file the gateway read (`source`), or where `clawtalk onboard` would
/// create one when it read none.
pub(crate) fn console(token: Secret, source: &ConfigSource) -> Box<dyn WebMount> {
    let config_path = source
        .path()
        .map(PathBuf::from)
        .or_else(|| crate::onboard::target_path(None).ok())
        .unwrap_or_else(|| PathBuf::from("clawtalk.json"));
    Box::new(WebUi { token, config_path })
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
    /// The config file the setup page writes.
    pub config_path: PathBuf,
    /// One setup write at a time (each reads, merges and writes the whole file).
    pub setup_lock: tokio::sync::Mutex<()>,
}

pub(crate) type St = State<Arc<WebState>>;

/// The web UI's routes: the login page is public, everything else needs a session.
pub(crate) fn routes() -> RouteTable<Arc<WebState>> {
    use Access::{Public, Session};
    vec![
        ("/login", Public, get(auth::login_page).post(auth::login)),
        ("/", Session, get(pages::status::page)),
        ("/setup", Session, get(setup::page)),
        ("/setup/model", Session, post(setup::model_post)),
        ("/setup/channel", Session, post(setup::channel_post)),
        ("/conversations", Session, get(pages::conversations::list)),
        (
            "/conversations/{id}",
            Session,
            get(pages::conversations::transcript),
        ),
        (
            "/conversations/{id}/reset",
            Session,
            post(pages::conversation_actions::reset),
        ),
        (
            "/conversations/{id}/delete",
            Session,
            post(pages::conversation_actions::delete),
        ),
        (
            "/conversations/{id}/send",
            Session,
            post(pages::conversation_actions::send),
        ),
        ("/pairing", Session, get(pages::pairing::page)),
        ("/cron", Session, get(pages::cron::page_handler)),
        ("/cron/action", Session, post(pages::cron::action)),
        ("/cron/create", Session, post(pages::cron::create)),
        ("/agents", Session, get(pages::agents::page_handler)),
        ("/agents/save", Session, post(pages::agents::save)),
        ("/memories", Session, get(pages::memories::page)),
        ("/mcp", Session, get(pages::mcp::page)),
        ("/mcp/probe", Session, post(pages::mcp::probe)),
        ("/memories/forget", Session, post(pages::memories::forget)),
        ("/pairing/decide", Session, post(pages::pairing::decide)),
        ("/chat", Session, get(chat::page).post(chat::send)),
        ("/chat.js", Session, get(chat_live::script)),
        ("/api/chat/send", Session, post(chat_live::send)),
        ("/api/chat/stream/{id}", Session, get(chat_live::stream)),
        ("/api/chat/stop", Session, post(chat_live::stop)),
        ("/api/chat/approve", Session, post(chat_live::approve)),
        (
            "/config",
            Session,
            get(pages::config::config_page).post(pages::config_edit::save_edit),
        ),
        ("/usage", Session, get(pages::usage::page)),
        ("/logs", Session, get(pages::logs::page)),
        ("/logs.js", Session, get(pages::logs::script)),
        ("/api/logs", Session, get(pages::logs::api)),
        ("/reload", Session, post(pages::reload::reload)),
        ("/logout", Session, post(auth::logout)),
        ("/api/status", Session, get(pages::status::api)),
        ("/api/status/live", Session, get(pages::status::live)),
        ("/status.js", Session, get(pages::status::script)),
    ]
}

/// The web UI's routes, ready to be merged into the gateway's HTTP server.
fn router(gateway: GatewayHandle, ui: WebUi) -> Router {
    let state = Arc::new(WebState {
        gateway,
        token: ui.token,
        sessions: Sessions::default(),
        login_throttle: clawtalk_gateway::throttle::LoginThrottle::default(),
        config_path: ui.config_path,
        setup_lock: tokio::sync::Mutex::new(()),
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
        .layer(middleware::from_fn(i18n::remember))
        .layer(middleware::map_response(security_headers))
        .with_state(state)
}

/// No caching of pages with conversation content, no framing, only the console's own scripts.
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
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
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
