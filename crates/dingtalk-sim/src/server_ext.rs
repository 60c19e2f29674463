//! Routes of the milestone-2 features.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};

use crate::state::Shared;
use crate::{cards, chat_page, contact, custom_robot, media, robot_api, session_webhook};

/// DingTalk endpoints (behind the fault middleware).
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(robot_api::BATCH_SEND, post(robot_api::batch_send))
        .route(robot_api::GROUP_SEND, post(robot_api::group_send))
        .route(robot_api::OTO_RECALL, post(robot_api::oto_recall))
        .route(robot_api::GROUP_RECALL, post(robot_api::group_recall))
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
        .route(contact::USER_GET, post(contact::user_get))
}

/// Other endpoints (chat page, download URLs).
pub(crate) fn extra_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_download/{token}", get(media::fetch))
        .route("/", get(chat_page::page))
}
