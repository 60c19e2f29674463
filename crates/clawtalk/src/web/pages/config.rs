//! `/config`: the running configuration with every secret masked.

use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::web::St;
use crate::web::layout::page;
use crate::web::sessions::WebSession;
use clawtalk_config::command::describe;
use clawtalk_core::mask::mask_text;

pub(crate) async fn config_page(State(web): St, Extension(session): Extension<WebSession>) -> Response {
    let config = &web.gateway.config();
    // `Debug` of the config masks every secret (`Secret(***)`, store passwords, webhook
    // access tokens, provider URL credentials): the same masking the logs rely on. Any URL
    // printed as text is masked once more, for the ones a `Debug` does not know about.
    let dump = mask_text(&format!("{config:#?}")).into_owned();
    let body = html! {
        h1 { "Config" }
        p { (describe(config)) }
        p.muted { "As loaded at start-up; secrets are masked. Check a changed file with `clawtalk config validate`." }
        pre #config { (dump) }
    };
    page("Config", "/config", Some(&session.csrf), &body).into_response()
}
