//! `/`: every account's connection and traffic, from the gateway's status board.

use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::web::St;
use crate::web::layout::{self, ago, utc};
use crate::web::sessions::WebSession;
use clawtalk_config::ConnectionMode;

pub(crate) async fn page(State(web): St, Extension(session): Extension<WebSession>) -> Response {
    let status = web.gateway.status();
    let now = web.gateway.now();
    let config = &web.gateway.config();
    let body = html! {
        h1 { "Status" }
        p.muted {
            "Instance " (status.instance) " · version " (status.version) " · up "
            (ago(now, status.started_at_ms).trim_end_matches(" ago"))
        }
        table {
            thead { tr {
                th { "Account" } th { "Mode" } th { "Connection" } th { "Last message" }
                th { "Messages" } th { "Reconnects" } th { "Last error" }
            } }
            tbody {
                @for a in &status.accounts {
                    @let mode = config.account(&a.id).map(|acc| acc.mode);
                    tr data-account=(a.id) {
                        td { (a.id) }
                        td { (mode_label(mode)) }
                        td {
                            @match mode {
                                Some(ConnectionMode::Stream) | None => {
                                    @if a.connected { span.ok { "connected" } } @else { span.bad { "disconnected" } }
                                }
                                Some(_) => { span.muted { "no Stream connection (receives over HTTP or only sends)" } }
                            }
                        }
                        td {
                            @match a.last_message_ms {
                                Some(ms) => { (ago(now, ms)) br; span.muted { (utc(ms)) } }
                                None => { span.muted { "none yet" } }
                            }
                        }
                        td { (a.messages) }
                        td { (a.connects.saturating_sub(1)) }
                        td {
                            @match &a.last_error {
                                Some(e) => { span.bad { (e) } }
                                None => { span.muted { "none" } }
                            }
                        }
                    }
                }
            }
        }
        (super::reload::section(web.gateway.reload_status().as_ref(), now, &session.csrf))
    };
    layout::page("Status", "/", Some(&session.csrf), &body).into_response()
}

/// `GET /api/status`: the same status as JSON (what `gateway status --json` reads).
pub(crate) async fn api(State(web): St) -> Response {
    axum::Json(web.gateway.status()).into_response()
}

fn mode_label(mode: Option<ConnectionMode>) -> &'static str {
    match mode {
        Some(ConnectionMode::Stream) => "Stream",
        Some(ConnectionMode::Http) => "HTTP",
        Some(_) => "custom robot",
        None => "removed from config",
    }
}
