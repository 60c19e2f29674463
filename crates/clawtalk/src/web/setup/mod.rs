//! `/setup`: the first-run page. Step 1 picks the model (a provider preset or any
//! OpenAI-compatible URL, the API key, the model) and tests it with a real call; step 2 adds
//! a DingTalk channel (Stream by default, HTTP mode or a custom robot) and checks its
//! credentials against DingTalk. Both write the config file the gateway was started from
//! (merged, mode 0600, the previous file kept as `.bak`), with each secret stored as the
//! operator chooses: its value, or a `${VAR}` reference.
//!
//! The same building blocks as `clawtalk onboard` ([`crate::onboard`]): its plan, its edit
//! of the document and its DingTalk check.

mod channel;
mod form;
mod model;
pub(crate) mod save;

use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::St;
use super::i18n::{Lang, t};
use super::layout::page_in;
use super::sessions::WebSession;

pub(crate) use channel::post as channel_post;
pub(crate) use model::post as model_post;

/// What a step's post found, shown above its form.
pub(crate) enum Notice {
    /// It worked: the lines to show.
    Ok(Vec<String>),
    /// It did not: why, and what to do.
    Failed(Vec<String>),
}

/// `GET /setup`.
pub(crate) async fn page(State(web): St, Extension(session): Extension<WebSession>, lang: Lang) -> Response {
    render(
        &web,
        &session,
        lang,
        &model::Fields::current(&web.gateway),
        None,
        &channel::Fields::default(),
        None,
    )
}

/// The page with both steps, each with its fields and the outcome of its last post.
pub(crate) fn render(
    web: &super::WebState,
    session: &WebSession,
    lang: Lang,
    model_fields: &model::Fields,
    model_notice: Option<&Notice>,
    channel_fields: &channel::Fields,
    channel_notice: Option<&Notice>,
) -> Response {
    let config = web.gateway.config();
    let body = html! {
        h1 { (t(lang, "setup.title")) }
        p.muted { (t(lang, "setup.intro")) " " code { (web.config_path.display()) } }
        section.card #step-model {
            h2 { "1 · " (t(lang, "setup.model")) }
            p.muted {
                (t(lang, "setup.model.current")) " "
                @match config.agent(&config.default_agent).filter(|a| !a.model.provider.is_empty()) {
                    Some(agent) => { code { (agent.model.provider) "/" (agent.model.model) } }
                    None => { (t(lang, "status.none")) }
                }
            }
            (notice(model_notice))
            (model::form(lang, &session.csrf, model_fields))
        }
        section.card #step-channel {
            h2 { "2 · " (t(lang, "setup.channel")) }
            p.muted {
                (t(lang, "setup.channel.current")) " "
                @if config.accounts.is_empty() { (t(lang, "status.none")) }
                @for (i, a) in config.accounts.iter().enumerate() {
                    @if i > 0 { ", " }
                    code { (a.id) }
                }
            }
            (notice(channel_notice))
            (channel::form(lang, &session.csrf, channel_fields))
        }
    };
    page_in(lang, t(lang, "setup.title"), "/setup", Some(&session.csrf), &body).into_response()
}

fn notice(notice: Option<&Notice>) -> Markup {
    html! {
        @match notice {
            Some(Notice::Ok(lines)) => { div.notice.outcome { @for l in lines { p { (l) } } } }
            Some(Notice::Failed(lines)) => { div.error.outcome { @for l in lines { p { (l) } } } }
            None => {}
        }
    }
}
