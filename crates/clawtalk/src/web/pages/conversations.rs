//! `/conversations`: sessions, most recently active first; `/conversations/<id>`: the
//! transcript of a session's current generation, continued from the console, with its
//! buttons ([`super::conversation_actions`]).

use std::collections::HashMap;

use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use super::conversation_actions::{delete_button, send_button, session_of};
use super::error_page_in;
use crate::web::St;
use crate::web::i18n::{Lang, t, tf};
use crate::web::layout::{ago_in, page_in, utc};
use crate::web::markdown;
use crate::web::sessions::WebSession;
use clawtalk_core::ids::{SessionKey, SessionScope};
use clawtalk_core::mask::{mask_arguments, mask_text};
use clawtalk_llm::ChatMessage;
use clawtalk_store::{Role, TranscriptEntry};

/// Sessions listed at most.
const LIST_LIMIT: u32 = 500;
/// Transcript entries shown at most (the newest).
const TRANSCRIPT_LIMIT: u32 = 500;

/// The list's filters: text in the session key (conversation, account, sender) and the agent.
#[derive(Deserialize, Default)]
pub(crate) struct ListFilter {
    #[serde(default)]
    q: String,
    #[serde(default)]
    agent: String,
    /// The session just deleted, for the notice.
    #[serde(default)]
    deleted: Option<String>,
}

impl ListFilter {
    fn keeps(&self, s: &clawtalk_store::Session) -> bool {
        let q = self.q.trim().to_lowercase();
        (q.is_empty() || s.key.to_lowercase().contains(&q))
            && (self.agent.is_empty() || s.agent_id == self.agent)
    }
}

pub(crate) async fn list(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Query(filter): Query<ListFilter>,
) -> Response {
    let sessions = match web.gateway.store().session_list(LIST_LIMIT).await {
        Ok(s) => s,
        Err(e) => {
            return error_page_in(
                lang,
                StatusCode::INTERNAL_SERVER_ERROR,
                &session.csrf,
                &format!("cannot read the sessions: {e}"),
            );
        }
    };
    let now = web.gateway.now();
    let mut agents: Vec<&str> = sessions.iter().map(|s| s.agent_id.as_str()).collect();
    agents.sort_unstable();
    agents.dedup();
    let shown: Vec<&clawtalk_store::Session> = sessions.iter().filter(|s| filter.keeps(s)).collect();
    let body = html! {
        h1 { (t(lang, "conv.title")) }
        @if let Some(key) = &filter.deleted { p.notice #conv-deleted { (tf(lang, "conv.deleted", &[("key", key)])) } }
        form #conv-filter method="get" action="/conversations" {
            input #conv-q type="search" name="q" value=(filter.q) placeholder=(t(lang, "conv.search"));
            " "
            select #conv-agent name="agent" {
                option value="" { (t(lang, "conv.all_agents")) }
                @for a in &agents { option value=(a) selected[*a == filter.agent] { (a) } }
            }
            " "
            button type="submit" { (t(lang, "logs.apply")) }
        }
        @if shown.is_empty() {
            p.muted { (t(lang, "conv.none")) }
        } @else {
            table {
                thead { tr {
                    th { (t(lang, "conv.session")) } th { (t(lang, "conv.agent")) }
                    th { (t(lang, "conv.generation")) } th { (t(lang, "conv.last_active")) }
                } }
                tbody {
                    @for s in &shown {
                        tr {
                            td { a href={ "/conversations/" (s.id) } { (s.key) } }
                            td { (s.agent_id) }
                            td { (s.generation) }
                            td { (ago_in(lang, now, s.last_active_ms)) }
                        }
                    }
                }
            }
        }
    };
    page_in(
        lang,
        t(lang, "conv.title"),
        "/conversations",
        Some(&session.csrf),
        &body,
    )
    .into_response()
}

/// What the last button on a conversation's page did.
#[derive(Deserialize, Default)]
pub(crate) struct Sent {
    sent: Option<i64>,
    already_sent: Option<i64>,
}

pub(crate) async fn transcript(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Path(id): Path<String>,
    Query(sent): Query<Sent>,
) -> Response {
    let conversation = match session_of(&web, lang, &session.csrf, &id).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let (id, store) = (conversation.id, web.gateway.store());
    let entries = match store.transcript_load(id, TRANSCRIPT_LIMIT).await {
        Ok(e) => e,
        Err(e) => {
            return error_page_in(
                lang,
                StatusCode::INTERNAL_SERVER_ERROR,
                &session.csrf,
                &format!("cannot read the transcript: {e}"),
            );
        }
    };
    let mut actions = HashMap::new();
    for entry in &entries {
        // Only a DingTalk conversation has somewhere to send to; errors just hide a button.
        if dingtalk_chat(&conversation.key) && web.gateway.is_console_answer(entry).await.unwrap_or(false) {
            actions.insert(entry.id, send_button(lang, &session.csrf, id, entry.id));
        }
    }
    let body = html! {
        h1 { (tf(lang, "conv.one", &[("key", &conversation.key)])) }
        @if let Some(entry) = sent.sent { p.notice #conv-sent { (tf(lang, "conv.sent", &[("id", &entry.to_string())])) } }
        @if let Some(entry) = sent.already_sent { p.notice #conv-sent { (tf(lang, "conv.already_sent", &[("id", &entry.to_string())])) } }
        p.muted {
            (tf(lang, "conv.meta", &[
                ("agent", &conversation.agent_id),
                ("generation", &conversation.generation.to_string()),
                ("since", &utc(conversation.generation_started_at_ms)),
            ]))
        }
        form method="post" action={ "/conversations/" (id) "/reset" } {
            input type="hidden" name="csrf" value=(session.csrf);
            button.secondary #conv-reset type="submit" { (t(lang, "conv.reset")) }
            span.muted { " " (t(lang, "conv.reset_note")) }
        }
        (delete_button(lang, &session.csrf, id))
        div #transcript { (transcript_with_actions(lang, &entries, &actions)) }
        h2 { (t(lang, "conv.continue")) }
        p.muted { (t(lang, "conv.continue_note")) }
        p.error #chat-live-error hidden {}
        form #chat-form method="post" action="/api/chat/send"
            data-you=(t(lang, "role.user")) data-agent=(t(lang, "role.assistant"))
            data-thinking=(t(lang, "chat.thinking")) data-refused=(t(lang, "chat.refused"))
            data-after={ "/conversations/" (id) } {
            input type="hidden" name="csrf" value=(session.csrf);
            input type="hidden" name="session" value=(conversation.key);
            textarea #message name="message" placeholder=(t(lang, "chat.placeholder")) required {}
            p {
                button #send type="submit" { (t(lang, "chat.send")) }
                " "
                button.secondary #stop type="button" hidden { (t(lang, "chat.stop")) }
            }
        }
        script src="/chat.js" defer {}
    };
    page_in(
        lang,
        &tf(lang, "conv.one", &[("key", &conversation.key)]),
        "/conversations",
        Some(&session.csrf),
        &body,
    )
    .into_response()
}

/// Whether session `key` is a DingTalk DM or group (where a console answer can be sent).
fn dingtalk_chat(key: &str) -> bool {
    SessionKey::parse(key).is_ok_and(|key| {
        matches!(
            key.scope,
            SessionScope::Dm { .. }
                | SessionScope::User { .. }
                | SessionScope::Group { .. }
                | SessionScope::GroupSender { .. }
        )
    })
}

/// A transcript as chat bubbles; the agent's answers rendered from their markdown.
pub(crate) fn transcript_view(lang: Lang, entries: &[TranscriptEntry]) -> Markup {
    transcript_with_actions(lang, entries, &HashMap::new())
}

/// [`transcript_view`] with `actions` (buttons) under the entries they are keyed by.
fn transcript_with_actions(
    lang: Lang,
    entries: &[TranscriptEntry],
    actions: &HashMap<i64, Markup>,
) -> Markup {
    html! {
        @if entries.is_empty() {
            p.muted { (t(lang, "conv.empty")) }
        }
        @for entry in entries {
            div class={ "msg " (entry.role.as_str()) } {
                span.who { (role_label(lang, entry.role)) " · " (utc(entry.at_ms)) }
                @let (text, calls) = entry_text(entry);
                @if matches!(entry.role, Role::Assistant) {
                    @if !text.is_empty() { div.md { (PreEscaped(markdown::to_html(&text))) } }
                    @for call in &calls { div.call { (call) } }
                } @else {
                    (text)
                    @for call in &calls { "\n" (call) }
                }
                @if let Some(action) = actions.get(&entry.id) { (action) }
            }
        }
    }
}

fn role_label(lang: Lang, role: Role) -> &'static str {
    match role {
        Role::System => t(lang, "role.system"),
        Role::User => t(lang, "role.user"),
        Role::Assistant => t(lang, "role.assistant"),
        Role::Tool => t(lang, "role.tool"),
    }
}

/// What a stored message says: its text and the tools it called, with credentials masked
/// (a `cron_create` call carries a custom robot's webhook `access_token` and `secret`).
fn entry_text(entry: &TranscriptEntry) -> (String, Vec<String>) {
    let Ok(message) = serde_json::from_str::<ChatMessage>(&entry.content_json) else {
        return (mask_text(&entry.content_json).into_owned(), Vec::new());
    };
    let text = mask_text(&message.text().unwrap_or_default()).into_owned();
    let calls = message
        .tool_calls
        .iter()
        .map(|call| format!("→ calls {}({})", call.name, mask_arguments(&call.arguments)))
        .collect();
    (text, calls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_core::clock::EpochMs;
    use clawtalk_llm::ToolCall;

    fn entry(role: Role, message: &ChatMessage) -> TranscriptEntry {
        TranscriptEntry {
            id: 1,
            generation: 1,
            role,
            content_json: serde_json::to_string(message).unwrap(),
            inbound_id: None,
            at_ms: EpochMs::from_millis(0),
        }
    }

    #[test]
    fn stored_tool_arguments_and_texts_are_shown_masked() {
        let secret = format!("SEC{}", "9f".repeat(32));
        let webhook = "https://oapi.dingtalk.com/robot/send?access_token=tok4leak";
        let arguments = serde_json::json!({
            "prompt": "daily report", "cron": "0 9 * * *", "deliver_to": "webhook",
            "webhook_url": webhook, "webhook_secret": secret,
        })
        .to_string();
        let entries = [
            entry(
                Role::User,
                &ChatMessage::user(format!("post to {webhook} signed with {secret}")),
            ),
            entry(
                Role::Assistant,
                &ChatMessage::assistant_tool_calls(
                    None,
                    vec![ToolCall {
                        id: "c1".into(),
                        name: "cron_create".into(),
                        arguments,
                    }],
                ),
            ),
            entry(
                Role::Tool,
                &ChatMessage::tool("c1", format!("scheduled for {webhook}")),
            ),
        ];
        let html = transcript_view(Lang::En, &entries).into_string();
        assert!(!html.contains("tok4leak") && !html.contains(&secret), "{html}");
        assert!(html.contains("→ calls cron_create("), "{html}");
        assert!(html.contains("access_token=***"), "{html}");
        assert!(html.contains("webhook_secret&quot;:&quot;***"), "{html}");
        assert!(html.contains("signed with SEC***"), "{html}");
    }
}
