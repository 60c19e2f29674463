//! `/logs`: the tail of the gateway's log file, following new lines without a reload (the
//! page's script asks `/api/logs` every two seconds), filtered by level and text.

use axum::extract::{Extension, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use serde_json::Value;

use crate::logging::tail::{last_lines, render};
use crate::web::St;
use crate::web::i18n::{Lang, t};
use crate::web::layout::page_in;
use crate::web::sessions::WebSession;
use clawtalk_core::mask::mask_text;

/// Lines read from the end of the file; the filters pick from these.
const SCANNED: usize = 2_000;
/// Lines shown at most.
const SHOWN: usize = 300;
/// The levels offered, most severe first; a level shows itself and everything above it.
const LEVELS: [&str; 5] = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

/// The page's script.
const SCRIPT: &str = include_str!("logs.js");

#[derive(Deserialize, Default)]
pub(crate) struct Filter {
    /// The least severe level shown (`INFO` shows INFO, WARN and ERROR); empty: all.
    #[serde(default)]
    level: String,
    /// Text every shown line contains (case-insensitive).
    #[serde(default)]
    q: String,
}

impl Filter {
    fn keeps(&self, line: &str, rendered: &str) -> bool {
        let rank = |level: &str| LEVELS.iter().position(|l| l.eq_ignore_ascii_case(level));
        let level_ok = match rank(&self.level) {
            None => true,
            Some(limit) => rank(&level_of(line)).is_none_or(|r| r <= limit),
        };
        let q = self.q.trim().to_lowercase();
        level_ok && (q.is_empty() || rendered.to_lowercase().contains(&q))
    }
}

/// A JSON line's level (`INFO`, …); empty for lines that are not JSON.
fn level_of(line: &str) -> String {
    serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|v| v.get("level").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default()
}

/// The last lines that pass `filter`, readable and with URL credentials masked.
fn tail(web: &crate::web::WebState, filter: &Filter) -> Result<Vec<(String, String)>, String> {
    let lines = last_lines(&web.gateway.config().gateway.state_dir, SCANNED).map_err(|e| format!("{e:#}"))?;
    let kept: Vec<(String, String)> = lines
        .iter()
        .filter_map(|line| {
            let rendered = mask_text(&render(line, false)).into_owned();
            filter
                .keeps(line, &rendered)
                .then(|| (level_of(line).to_ascii_lowercase(), rendered))
        })
        .collect();
    let skip = kept.len().saturating_sub(SHOWN);
    Ok(kept.into_iter().skip(skip).collect())
}

pub(crate) async fn page(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Query(filter): Query<Filter>,
) -> Response {
    let lines = tail(&web, &filter);
    let body = html! {
        h1 { (t(lang, "logs.title")) }
        form #log-filter method="get" action="/logs" {
            label for="level" { (t(lang, "logs.level")) " " }
            select #level name="level" {
                option value="" selected[filter.level.is_empty()] { (t(lang, "logs.all")) }
                @for level in LEVELS {
                    option value=(level) selected[filter.level.eq_ignore_ascii_case(level)] { (level) }
                }
            }
            " "
            label for="q" { (t(lang, "logs.text")) " " }
            input #q type="search" name="q" value=(filter.q);
            " "
            button type="submit" { (t(lang, "logs.apply")) }
            " "
            label { input #follow type="checkbox" checked; " " (t(lang, "logs.follow")) }
        }
        @match &lines {
            Err(e) => { p.error { (t(lang, "logs.unreadable")) " " (e) } }
            Ok(lines) if lines.is_empty() => { p.muted #log-empty { (t(lang, "logs.none")) } }
            Ok(_) => {}
        }
        pre #log {
            @for (level, text) in lines.as_deref().unwrap_or_default() {
                span class={ "l-" (level) } { (text) } "\n"
            }
        }
        script src="/logs.js" defer {}
    };
    page_in(lang, t(lang, "logs.title"), "/logs", Some(&session.csrf), &body).into_response()
}

/// `GET /api/logs?level=&q=`: the lines the page shows, for its refresh.
pub(crate) async fn api(State(web): St, Query(filter): Query<Filter>) -> Response {
    match tail(&web, &filter) {
        Ok(lines) => axum::Json(serde_json::json!({
            "lines": lines.iter().map(|(level, text)| serde_json::json!({ "level": level, "text": text })).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => axum::Json(serde_json::json!({ "error": e })).into_response(),
    }
}

/// `GET /logs.js`.
pub(crate) async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WARN: &str = r#"{"timestamp":"t","level":"WARN","fields":{"message":"reconnecting"},"target":"x"}"#;
    const INFO: &str =
        r#"{"timestamp":"t","level":"INFO","fields":{"message":"turn answered"},"target":"x"}"#;

    fn filter(level: &str, q: &str) -> Filter {
        Filter {
            level: level.into(),
            q: q.into(),
        }
    }

    #[test]
    fn levels_show_themselves_and_what_is_more_severe() {
        let keeps = |f: &Filter, line: &str| f.keeps(line, &render(line, false));
        assert!(keeps(&filter("WARN", ""), WARN));
        assert!(!keeps(&filter("WARN", ""), INFO));
        assert!(keeps(&filter("info", ""), WARN));
        assert!(keeps(&filter("", ""), INFO));
        assert!(keeps(&filter("", "TURN"), INFO));
        assert!(!keeps(&filter("", "turn"), WARN));
        assert!(
            keeps(&filter("ERROR", ""), "plain text line"),
            "lines without a level stay"
        );
    }
}
