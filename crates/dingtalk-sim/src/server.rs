//! The axum router: every DingTalk endpoint (behind the fault middleware), the temporary
//! download URLs, the control API under `/_sim` and the chat page.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Router, middleware};

use crate::api::{
    BODY_LIMIT, cards, contact, custom_robot, faults, media, oauth, robot, session_webhook, stream_open,
    stream_socket,
};
use crate::control;
use crate::control::chat_page;
use crate::error::ApiError;
use crate::state::Shared;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let dingtalk = dingtalk_routes().layer(middleware::from_fn_with_state(
        Arc::clone(&shared),
        faults::api_faults,
    ));
    Router::new()
        .merge(dingtalk)
        .nest("/_sim", control::router())
        .route("/_download/{token}", get(media::fetch))
        .route("/", get(chat_page::page))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared)
}

fn dingtalk_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1.0/oauth2/accessToken", post(oauth::access_token))
        .route("/gettoken", get(oauth::gettoken))
        .route(stream_open::OPEN_PATH, post(stream_open::open))
        .route("/connect", get(stream_socket::connect))
        .route(robot::BATCH_SEND, post(robot::batch_send))
        .route(robot::GROUP_SEND, post(robot::group_send))
        .route(robot::OTO_RECALL, post(robot::oto_recall))
        .route(robot::GROUP_RECALL, post(robot::group_recall))
        .route(media::DOWNLOAD, post(media::download))
        .route(media::UPLOAD, post(media::upload))
        .route(
            session_webhook::SEND_BY_SESSION,
            post(session_webhook::send_by_session),
        )
        .route(custom_robot::ROBOT_SEND, post(custom_robot::send))
        .route(cards::CREATE_AND_DELIVER, post(cards::create_and_deliver))
        .route(cards::STREAMING, put(cards::streaming))
        .route(cards::INSTANCES, put(cards::update_instance))
        .route(cards::REGISTER_CALLBACK, post(cards::register))
        .route(contact::USER_GET, post(contact::user_get))
}

async fn not_found() -> impl IntoResponse {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "InvalidAction.NotFound",
        "Specified api is not found, please check your url and method.",
    )
}
