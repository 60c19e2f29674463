//! `/`: every account's connection and traffic, from the gateway's status board.

use axum::extract::{Extension, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use crate::web::St;
use crate::web::i18n::{Lang, t};
use crate::web::layout::{self, ago_in, span_in, utc};
use crate::web::sessions::WebSession;
use clawtalk_config::{Config, ConnectionMode};
use clawtalk_core::clock::EpochMs;
use clawtalk_gateway::status::GatewayStatus;

/// The page's script: it refreshes the table and the running turns every few seconds.
const SCRIPT: &str = include_str!("status.js");

pub(crate) async fn page(State(web): St, Extension(session): Extension<WebSession>, lang: Lang) -> Response {
    let status = web.gateway.status();
    let now = web.gateway.now();
    let config = &web.gateway.config();
    // A store that cannot be read costs the banner, not the status page.
    let quota = web.gateway.quota().await.unwrap_or_default();
    let body = html! {
        h1 { (t(lang, "status.title")) }
        (super::usage::quota_banner(lang, &quota))
        p.muted {
            (t(lang, "status.instance")) " " (status.instance) " · " (t(lang, "status.version")) " "
            (status.version) " · " (t(lang, "status.up")) " " (span_in(lang, status.started_at_ms, now))
        }
        @if status.accounts.is_empty() {
            p.notice #no-accounts { a href="/setup" { (t(lang, "status.no_accounts")) } }
        }
        table {
            thead { tr {
                th { (t(lang, "status.account")) } th { (t(lang, "status.mode")) }
                th { (t(lang, "status.connection")) } th { (t(lang, "status.last_message")) }
                th { (t(lang, "status.messages")) } th { (t(lang, "status.reconnects")) }
                th { (t(lang, "status.last_error")) }
            } }
            tbody #account-rows { (rows(lang, now, config, &status)) }
        }
        p.muted {
            (t(lang, "status.turns")) " " span #turns-running { (web.gateway.turns_running()) }
        }
        (super::reload::section(web.gateway.reload_status().as_ref(), now, &session.csrf))
        script src="/status.js" defer {}
    };
    layout::page_in(lang, t(lang, "status.title"), "/", Some(&session.csrf), &body).into_response()
}

/// One row per account: connection, last message, traffic, last error.
fn rows(lang: Lang, now: EpochMs, config: &Config, status: &GatewayStatus) -> Markup {
    html! {
        @for a in &status.accounts {
            @let mode = config.account(&a.id).map(|acc| acc.mode);
            tr data-account=(a.id) {
                td { (a.id) }
                td { (mode_label(lang, mode)) }
                td {
                    @match mode {
                        Some(ConnectionMode::Stream) | None => {
                            @if a.connected { span.ok { (t(lang, "status.connected")) } } @else { span.bad { (t(lang, "status.disconnected")) } }
                        }
                        Some(_) => { span.muted { (t(lang, "status.no_stream")) } }
                    }
                }
                td {
                    @match a.last_message_ms {
                        Some(ms) => { (ago_in(lang, now, ms)) br; span.muted { (utc(ms)) } }
                        None => { span.muted { (t(lang, "status.none_yet")) } }
                    }
                }
                td { (a.messages) }
                td { (a.connects.saturating_sub(1)) }
                td {
                    @match &a.last_error {
                        Some(e) => { span.bad { (e) } }
                        None => { span.muted { (t(lang, "status.none")) } }
                    }
                }
            }
        }
    }
}

/// `GET /api/status/live`: the table's rows (HTML, as the page renders them) and the turns
/// running, for the page's refresh.
pub(crate) async fn live(State(web): St, lang: Lang) -> Response {
    let status = web.gateway.status();
    let rows = rows(lang, web.gateway.now(), &web.gateway.config(), &status);
    axum::Json(serde_json::json!({
        "rows": rows.into_string(),
        "turns": web.gateway.turns_running(),
    }))
    .into_response()
}

/// `GET /status.js`.
pub(crate) async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response()
}

/// `GET /api/status`: the same status as JSON (what `gateway status --json` reads).
pub(crate) async fn api(State(web): St) -> Response {
    axum::Json(web.gateway.status()).into_response()
}

fn mode_label(lang: Lang, mode: Option<ConnectionMode>) -> &'static str {
    match mode {
        Some(ConnectionMode::Stream) => "Stream",
        Some(ConnectionMode::Http) => "HTTP",
        Some(_) => t(lang, "status.mode_robot"),
        None => t(lang, "status.mode_removed"),
    }
}
