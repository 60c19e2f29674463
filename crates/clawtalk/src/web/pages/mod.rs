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

/// A page saying what went wrong (never a secret: store errors name no credentials).
pub(crate) fn error_page(status: StatusCode, csrf: &str, message: &str) -> Response {
    let body = html! { p.error { (message) } };
    (status, page("Error", "", Some(csrf), &body)).into_response()
}
