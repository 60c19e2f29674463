//! `/mcp`: the MCP servers of `mcp.servers` as the running gateway holds them (running,
//! starting, restarting, unavailable or disabled), the tools each offers the agents (by
//! the names the agents see, `<server>__<tool>`, after `toolFilter`), and its last error;
//! "Probe" connects to one once more, as `clawtalk mcp probe` does, and shows what it found.

use axum::Form;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use crate::operator_text::mcp_launch;
use crate::web::St;
use crate::web::i18n::{Lang, t, tf};
use crate::web::layout::page_in;
use crate::web::sessions::WebSession;
use clawtalk_config::{Config, McpServerConfig};
use clawtalk_core::mask::mask_text;
use clawtalk_mcp::{Phase, ProbeReport, ServerStatus};

/// A server's state, as the page names it (an i18n key).
fn state_key(server: &McpServerConfig, status: Option<&ServerStatus>) -> &'static str {
    match status {
        _ if !server.enabled => "mcp.state.disabled",
        None => "mcp.state.not_started",
        Some(s) => match s.phase {
            Phase::Ready => "mcp.state.running",
            Phase::Starting if s.restarts == 0 => "mcp.state.starting",
            Phase::Starting => "mcp.state.restarting",
            Phase::Down => "mcp.state.unavailable",
            Phase::Disabled => "mcp.state.disabled",
        },
    }
}

pub(crate) async fn page(State(web): St, Extension(session): Extension<WebSession>, lang: Lang) -> Response {
    let config = web.gateway.config();
    let status = web.gateway.mcp_status();
    view(lang, &session.csrf, &config, &status, None).into_response()
}

#[derive(Deserialize)]
pub(crate) struct ProbeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

/// `POST /mcp/probe`: connects to server `name` once (a connection of its own, beside the
/// gateway's), lists its tools and shows the report above the list.
pub(crate) async fn probe(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Form(form): Form<ProbeForm>,
) -> Response {
    if !session.csrf_ok(&form.csrf) {
        return crate::web::auth::csrf_refused();
    }
    let config = web.gateway.config();
    let Some(server) = config.mcp.server(&form.name) else {
        let error = tf(lang, "mcp.no_server", &[("name", &form.name)]);
        return super::error_page_in(lang, axum::http::StatusCode::NOT_FOUND, &session.csrf, &error);
    };
    let report = clawtalk_mcp::probe(server).await;
    tracing::info!(server = %server.name, ok = report.error.is_none(), "MCP server probed from the web console");
    let status = web.gateway.mcp_status();
    view(lang, &session.csrf, &config, &status, Some((server, &report))).into_response()
}

fn view(
    lang: Lang,
    csrf: &str,
    config: &Config,
    status: &[ServerStatus],
    probed: Option<(&McpServerConfig, &ProbeReport)>,
) -> Markup {
    let body = html! {
        h1 { (t(lang, "mcp.title")) }
        @if let Some((server, report)) = probed { (probe_view(lang, server, report)) }
        @if config.mcp.servers.is_empty() {
            p.muted { (t(lang, "mcp.none")) }
        } @else {
            table #mcp-servers {
                thead { tr {
                    th { (t(lang, "mcp.server")) } th { (t(lang, "mcp.transport")) } th { (t(lang, "mcp.state")) }
                    th { (t(lang, "mcp.tools")) } th { (t(lang, "mcp.last_error")) } th {}
                } }
                tbody {
                    @for server in &config.mcp.servers {
                        @let found = status.iter().find(|s| s.name == server.name);
                        tr data-server=(server.name) {
                            td { strong { (server.name) } br; span.muted { (mcp_launch(server)) } }
                            td { (server.transport.kind()) }
                            td.state { (t(lang, state_key(server, found))) }
                            td {
                                @match found {
                                    Some(s) if !s.tools.is_empty() => { @for tool in &s.tools { code { (tool) } br; } }
                                    _ => span.muted { "-" },
                                }
                            }
                            td {
                                @match found.and_then(|s| s.last_error.as_deref()) {
                                    Some(e) => (mask_text(e)),
                                    None => span.muted { "-" },
                                }
                                @if let Some(s) = found.filter(|s| s.restarts > 0) {
                                    br; span.muted { (tf(lang, "mcp.restarts", &[("n", &s.restarts.to_string())])) }
                                }
                            }
                            td {
                                form method="post" action="/mcp/probe" {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="name" value=(server.name);
                                    button.secondary type="submit" { (t(lang, "mcp.probe")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        p.muted { (t(lang, "mcp.note")) }
    };
    page_in(lang, t(lang, "mcp.title"), "/mcp", Some(csrf), &body)
}

fn probe_view(lang: Lang, server: &McpServerConfig, report: &ProbeReport) -> Markup {
    let ok = report.error.is_none();
    html! {
        div #mcp-probe .card {
            h2 { (tf(lang, "mcp.probe_of", &[("name", &server.name)])) }
            p class=(if ok { "ok" } else { "bad" }) {
                @match &report.error {
                    None => (tf(lang, "mcp.probe_ok", &[("n", &report.tools.len().to_string())])),
                    Some(e) => (tf(lang, "mcp.probe_failed", &[("error", &mask_text(e))])),
                }
            }
            p.muted {
                @if let Some(info) = &report.server_info { (info) " · " }
                (tf(lang, "mcp.probe_times", &[
                    ("connect", &report.connect_time.as_millis().to_string()),
                    ("list", &report.list_time.map_or_else(|| "-".to_owned(), |d| d.as_millis().to_string())),
                ]))
                @if report.filtered_out > 0 { " · " (tf(lang, "mcp.filtered_out", &[("n", &report.filtered_out.to_string())])) }
            }
            @for tool in &report.tools { code { (tool) } " " }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_config::test_support::config;

    fn status(phase: Phase, restarts: u32) -> ServerStatus {
        ServerStatus {
            name: "files".into(),
            transport: "stdio",
            phase,
            tools: vec!["files__read_file".into()],
            last_error: Some("exited; https://u:pw9@example.com/".into()),
            restarts,
            listings: 1,
        }
    }

    #[test]
    fn each_phase_has_its_state_and_errors_are_masked() {
        let cfg = config(
            r#"{ agents: { list: [ { id: "main", model: "deepseek/deepseek-chat" } ] },
                 mcp: { servers: { files: { command: "mcp-files" }, off: { command: "x", enabled: false } } } }"#,
        );
        let files = cfg.mcp.server("files").unwrap();
        let off = cfg.mcp.server("off").unwrap();
        assert_eq!(state_key(files, None), "mcp.state.not_started");
        assert_eq!(state_key(off, None), "mcp.state.disabled");
        assert_eq!(
            state_key(files, Some(&status(Phase::Ready, 0))),
            "mcp.state.running"
        );
        assert_eq!(
            state_key(files, Some(&status(Phase::Starting, 0))),
            "mcp.state.starting"
        );
        assert_eq!(
            state_key(files, Some(&status(Phase::Starting, 2))),
            "mcp.state.restarting"
        );
        assert_eq!(
            state_key(files, Some(&status(Phase::Down, 1))),
            "mcp.state.unavailable"
        );
        let html = view(Lang::En, "c", &cfg, &[status(Phase::Down, 1)], None).into_string();
        assert!(
            html.contains("files__read_file") && html.contains("unavailable"),
            "{html}"
        );
        assert!(!html.contains("pw9"), "{html}");
    }
}
