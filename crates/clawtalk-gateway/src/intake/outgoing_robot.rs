//! A custom robot's Outgoing callbacks: when someone @-mentions the robot in its group,
//! DingTalk POSTs the message to the robot's callback URL, signed like an HTTP-mode callback
//! but with the robot's outgoing token, and carrying the same bot payload.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{http_callback, refuse};
use crate::Shared;
use clawtalk_config::{ConnectionMode, DingTalkAccount};
use clawtalk_core::inbound::Transport;

/// The key a custom robot's Outgoing callbacks are signed with, when it has the mechanism on.
pub(crate) fn outgoing_token(account: &DingTalkAccount) -> Option<&dingtalk::Secret> {
    account
        .custom_robot
        .as_ref()
        .filter(|_| account.mode == ConnectionMode::CustomRobot)
        .and_then(|robot| robot.outgoing_token.as_ref())
}

/// One Outgoing callback to `account`; refused when the robot has no outgoing token.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    account: &DingTalkAccount,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let Some(token) = outgoing_token(account) else {
        tracing::warn!(account = %account.id, "bot callback over HTTP for an account that does not take them; refused");
        return refuse(
            StatusCode::NOT_FOUND,
            format!(
                "account {:?} does not take bot callbacks over HTTP; set mode: \"http\" (an app) or outgoingToken (a custom robot) to use this URL",
                account.id
            ),
        );
    };
    http_callback::receive(
        shared,
        account,
        headers,
        body,
        token.expose(),
        Transport::OutgoingRobot,
    )
    .await
}
