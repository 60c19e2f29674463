//! `/config`: the running configuration with every secret masked.

use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::config_edit;
use crate::web::St;
use crate::web::i18n::{Lang, t};
use crate::web::layout::page_in;
use crate::web::sessions::WebSession;
use clawtalk_config::command::describe;
use clawtalk_core::mask::mask_text;

pub(crate) async fn config_page(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
) -> Response {
    let config = &web.gateway.config();
    // `Debug` of the config masks every secret (`Secret(***)`, store passwords, webhook
    // access tokens, provider URL credentials): the same masking the logs rely on. Any URL
    // printed as text is masked once more, for the ones a `Debug` does not know about.
    let dump = mask_text(&format!("{config:#?}")).into_owned();
    let body = html! {
        h1 { (t(lang, "config.title")) }
        p { (describe(config)) }
        p.muted { (t(lang, "config.note")) }
        pre #config { (dump) }
        @match config_edit::current_text(&web.config_path) {
            Ok(text) => { (config_edit::editor(lang, &session.csrf, &text, &[], None)) }
            Err(e) => { p.error { (t(lang, "config.unreadable")) " " (e) } }
        }
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
