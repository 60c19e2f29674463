//! The config file's editor on `/config`: the file as JSON with every secret value masked,
//! checked by the config reader before it is saved (each problem shown with its key), then
//! written as the Setup page writes (merged in place, `.bak`, mode 0600).
//!
//! A masked value that comes back unchanged keeps the secret of the file at the same key, so
//! editing other keys never needs the secrets and the page never shows them.

use axum::Form;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use crate::onboard::read_target;
use crate::web::St;
use crate::web::auth::csrf_refused;
use crate::web::i18n::{Lang, t, tf};
use crate::web::layout::page_in;
use crate::web::sessions::WebSession;
use crate::web::setup::save::save;
use clawtalk_config::{ConfigIssue, Value, parse_document};

/// What a masked secret reads as in the editor.
pub(crate) const MASK: &str = "•••••• (unchanged)";

/// Words that make a key's string value a secret wherever the key sits: credentials of
/// accounts (`clientSecret`, `outgoingToken`, `aesKey`), providers and tools (`apiKey`), MCP
/// servers' headers (`Authorization`, `X-Api-Key`) and environment (`GITHUB_TOKEN`). A word
/// list instead of a list of keys, so a key added later is masked without being listed.
const SECRET_WORDS: [&str; 8] = [
    "secret",
    "token",
    "password",
    "apikey",
    "api-key",
    "aeskey",
    "authorization",
    "cookie",
];

fn is_secret(key: &str, value: &str) -> bool {
    let reference = value.starts_with("${") && value.ends_with('}');
    if value.is_empty() || reference {
        return false;
    }
    let credential_url = key.to_ascii_lowercase().ends_with("url")
        && (value.contains('@') || value.contains("access_token") || value.contains("sign="));
    let lower = key.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| lower.contains(w)) || credential_url
}

/// `doc` with every literal secret replaced by [`MASK`].
pub(crate) fn masked(doc: &Value) -> Value {
    match doc {
        Value::Object(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) if is_secret(k, s) => (k.clone(), Value::str(MASK)),
                    other => (k.clone(), masked(other)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(masked).collect()),
        other => other.clone(),
    }
}

/// Puts the file's secret back wherever `edited` still holds [`MASK`]; the keys of masks
/// with nothing to restore (moved or new) are returned.
fn restore(edited: &mut Value, original: Option<&Value>, path: &str, lost: &mut Vec<String>) {
    match edited {
        Value::Object(entries) => {
            for (k, v) in entries.iter_mut() {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let before = original.and_then(|o| o.get(k));
                match v {
                    Value::String(s) if s == MASK => match before {
                        Some(Value::String(secret)) => *s = secret.clone(),
                        _ => lost.push(child),
                    },
                    _ => restore(v, before, &child, lost),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let before = match original {
                    Some(Value::Array(list)) => list.get(i),
                    _ => None,
                };
                restore(item, before, &format!("{path}[{i}]"), lost);
            }
        }
        _ => {}
    }
}

/// The editor: the text, and the problems of the last save at their keys.
pub(crate) fn editor(
    lang: Lang,
    csrf: &str,
    text: &str,
    issues: &[ConfigIssue],
    notice: Option<&str>,
) -> Markup {
    html! {
        h2 #edit { (t(lang, "config.edit")) }
        p.muted { (t(lang, "config.edit_note")) }
        @if let Some(notice) = notice { div.notice #config-saved { (notice) } }
        @if !issues.is_empty() {
            div.error #config-errors {
                p { (t(lang, "config.errors")) }
                ul {
                    @for issue in issues {
                        li {
                            code.key { (issue.path) } ": " (issue.message)
                            @if let Some(fix) = &issue.fix { br; span.muted { (t(lang, "config.fix")) " " (fix) } }
                        }
                    }
                }
            }
        }
        form method="post" action="/config" {
            input type="hidden" name="csrf" value=(csrf);
            textarea #config-text name="text" rows="28" spellcheck="false" { (text) }
            p { button #config-save type="submit" { (t(lang, "config.save")) } }
        }
    }
}

/// The file's text as the editor shows it, or why it cannot be shown.
pub(crate) fn current_text(path: &std::path::Path) -> Result<String, String> {
    let (doc, _) = read_target(path).map_err(|e| format!("{e:#}"))?;
    Ok(masked(&doc).to_pretty_json())
}

#[derive(Deserialize)]
pub(crate) struct Edited {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

/// `POST /config`: checks the edited file and saves it when the reader accepts it.
pub(crate) async fn save_edit(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Form(form): Form<Edited>,
) -> Response {
    if !session.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    let issue = |path: &str, message: String| ConfigIssue {
        path: path.to_owned(),
        message,
        fix: None,
    };
    let mut edited = match parse_document(&form.text) {
        Ok(doc @ Value::Object(_)) => doc,
        Ok(_) => {
            return refused(
                lang,
                &session,
                &form.text,
                &[issue("(file)", t(lang, "config.not_object").to_owned())],
            );
        }
        Err(e) => return refused(lang, &session, &form.text, &[issue("(file)", e)]),
    };
    let _guard = web.setup_lock.lock().await;
    let original = read_target(&web.config_path).map(|(doc, _)| doc).ok();
    let mut lost = Vec::new();
    restore(&mut edited, original.as_ref(), "", &mut lost);
    if !lost.is_empty() {
        let issues: Vec<ConfigIssue> = lost
            .iter()
            .map(|key| issue(key, t(lang, "config.mask_lost").to_owned()))
            .collect();
        return refused(lang, &session, &form.text, &issues);
    }
    match save(&web.config_path, lang, |doc| *doc = edited) {
        Ok(lines) => {
            let text = current_text(&web.config_path).unwrap_or_default();
            let body = html! {
                h1 { (t(lang, "config.title")) }
                (editor(lang, &session.csrf, &text, &[], Some(&lines.join(" "))))
            };
            page_in(
                lang,
                t(lang, "config.title"),
                "/config",
                Some(&session.csrf),
                &body,
            )
            .into_response()
        }
        Err(lines) => {
            // A refusal by the reader starts with a line saying so; other failures are one line.
            let reader = lines.len() > 1;
            let issues: Vec<ConfigIssue> = lines
                .iter()
                .skip(usize::from(reader))
                .map(|line| match line.split_once(": ") {
                    Some((path, message)) => issue(path, message.to_owned()),
                    None => issue("(file)", line.clone()),
                })
                .collect();
            refused(lang, &session, &form.text, &issues)
        }
    }
}

fn refused(lang: Lang, session: &WebSession, text: &str, issues: &[ConfigIssue]) -> Response {
    let body = html! {
        h1 { (t(lang, "config.title")) }
        p.error { (tf(lang, "config.not_saved", &[("n", &issues.len().to_string())])) }
        (editor(lang, &session.csrf, text, issues, None))
    };
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        page_in(
            lang,
            t(lang, "config.title"),
            "/config",
            Some(&session.csrf),
            &body,
        ),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_restored_where_they_were() {
        let file = parse_document(
            r#"{ channels: { dingtalk: { clientId: "ding1", clientSecret: "s3cret", token: "${TOK}" } },
                 models: { providers: { q: { apiKey: "sk-1" } } } }"#,
        )
        .unwrap();
        let shown = masked(&file).to_pretty_json();
        assert!(!shown.contains("s3cret") && !shown.contains("sk-1"), "{shown}");
        assert!(shown.contains("${TOK}") && shown.contains("ding1"), "{shown}");
        let mut edited = parse_document(&shown.replace("ding1", "ding2")).unwrap();
        let mut lost = Vec::new();
        restore(&mut edited, Some(&file), "", &mut lost);
        assert!(lost.is_empty(), "{lost:?}");
        let text = edited.to_pretty_json();
        assert!(
            text.contains("s3cret") && text.contains("sk-1") && text.contains("ding2"),
            "{text}"
        );
    }

    #[test]
    fn keys_named_like_credentials_are_masked_wherever_they_sit() {
        let file = parse_document(
            r#"{ channels: { dingtalk: { outgoingToken: "out-1", aesKey: "aes-1", keywords: ["weather"] } },
                 mcp: { servers: { gh: { url: "https://mcp.example.com", headers: { Authorization: "Bearer bt-1", "X-Api-Key": "xk-1" },
                                         env: { GITHUB_TOKEN: "gh-1" } } } } }"#,
        )
        .unwrap();
        let shown = masked(&file).to_pretty_json();
        for secret in ["out-1", "aes-1", "bt-1", "xk-1", "gh-1"] {
            assert!(!shown.contains(secret), "{secret} shown: {shown}");
        }
        assert!(
            shown.contains("weather") && shown.contains("https://mcp.example.com"),
            "{shown}"
        );
    }

    #[test]
    fn a_mask_with_no_secret_behind_it_is_reported_at_its_key() {
        let file = parse_document(r#"{ models: { providers: { q: { apiKey: "sk-1" } } } }"#).unwrap();
        let mut edited = parse_document(&format!(
            r#"{{ models: {{ providers: {{ r: {{ apiKey: "{MASK}" }} }} }} }}"#
        ))
        .unwrap();
        let mut lost = Vec::new();
        restore(&mut edited, Some(&file), "", &mut lost);
        assert_eq!(lost, ["models.providers.r.apiKey"]);
    }
}
