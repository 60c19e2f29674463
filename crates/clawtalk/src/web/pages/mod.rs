//! The read-mostly pages; WebChat lives in `web::chat`.

pub(crate) mod agents;
pub(crate) mod config;
pub(crate) mod config_edit;
pub(crate) mod conversation_actions;
pub(crate) mod conversations;
pub(crate) mod cron;
pub(crate) mod cron_form;
pub(crate) mod logs;
pub(crate) mod mcp;
pub(crate) mod memories;
pub(crate) mod pairing;
pub(crate) mod reload;
pub(crate) mod status;
pub(crate) mod usage;
mod usage_chart;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::i18n::{Lang, t};
use super::layout::page_in;

/// A page saying what went wrong, with any URL credentials in it masked.
#[allow(dead_code, reason = "pages added in English call it")]
pub(crate) fn error_page(status: StatusCode, csrf: &str, message: &str) -> Response {
    error_page_in(Lang::En, status, csrf, message)
}

/// [`error_page`] with the frame in `lang`.
pub(crate) fn error_page_in(lang: Lang, status: StatusCode, csrf: &str, message: &str) -> Response {
    // Store and model errors can quote URLs with credentials.
    let body = html! { p.error { (clawtalk_core::mask::mask_text(message)) } };
    (
        status,
        page_in(lang, t(lang, "error.title"), "", Some(csrf), &body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn error_pages_mask_url_credentials() {
        let response = error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "csrf",
            "cannot read the sessions: cannot connect to postgres://claw:hunter2@db/claw?sslpassword=pw2",
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            body.contains("postgres://claw:***@db/claw?sslpassword=***"),
            "{body}"
        );
        assert!(!body.contains("hunter2") && !body.contains("pw2"), "{body}");
    }
}
