//! The read-mostly pages; WebChat lives in `web::chat`.

pub(crate) mod config;
pub(crate) mod conversations;
pub(crate) mod cron;
pub(crate) mod pairing;
pub(crate) mod status;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::layout::page;

/// A page saying what went wrong, with any URL credentials in it masked.
pub(crate) fn error_page(status: StatusCode, csrf: &str, message: &str) -> Response {
    // Store and model errors can quote URLs with credentials.
    let body = html! { p.error { (crate::mask::mask_text(message)) } };
    (status, page("Error", "", Some(csrf), &body)).into_response()
}
