//! The control API under `/_sim/…`: JSON twins of the `Simulator` methods, one file per
//! group of endpoints, plus the chat page served at `/`.

pub(crate) mod chat_page;
mod directory;
mod faults;
mod http_push;
mod inject;
mod observe;

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};

use crate::error::Result;
use crate::state::Shared;

type S = State<Arc<Shared>>;

fn ok<T: serde::Serialize>(r: Result<T>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .merge(directory::router())
        .merge(inject::router())
        .merge(observe::router())
        .merge(faults::router())
        .merge(http_push::router())
}
