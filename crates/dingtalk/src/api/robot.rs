//! Robot OpenAPI: proactive DM and group sends, and recall.

use reqwest::Method;

use crate::api::client::OpenApiClient;
use crate::endpoints::ApiEndpoint;
use crate::error::{Error, Result};
use crate::ids::{ConversationId, ProcessQueryKey, RobotCode, StaffId};
use crate::model::outbound::{
    BatchSendRequest, BatchSendResponse, DmRecallRequest, GroupRecallRequest, GroupSendRequest,
    GroupSendResponse, MAX_RECALL_KEYS, RecallResponse, RobotMessage,
};

/// Note the capital `T`: `oToMessages` for sending …
const BATCH_SEND: &str = "/v1.0/robot/oToMessages/batchSend";
/// … but lower-case `otoMessages` for recalling.
const DM_RECALL: &str = "/v1.0/robot/otoMessages/batchRecall";
const GROUP_SEND: &str = "/v1.0/robot/groupMessages/send";
const GROUP_RECALL: &str = "/v1.0/robot/groupMessages/recall";

impl OpenApiClient {
    /// Sends `message` as DMs from the bot to up to 20 users (`oToMessages/batchSend`).
    ///
    /// Users listed in [`BatchSendResponse::flow_controlled_staff_id_list`] did not get the
    /// message (rate-limited) and should be retried later. Needs permission
    /// `qyapi_robot_sendmsg`.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for no or more than 20 users or a button layout without a template
    /// (see [`RobotMessage::msg_key`]); otherwise the errors every call can return (see [`OpenApiClient`]).
    pub async fn batch_send_to_users(
        &self,
        robot_code: &RobotCode,
        users: &[StaffId],
        message: &RobotMessage,
    ) -> Result<BatchSendResponse> {
        let body = BatchSendRequest::new(robot_code.clone(), users.to_vec(), message)?;
        let response: BatchSendResponse = self
            .call(ApiEndpoint::BatchSend, Method::POST, BATCH_SEND, &body)
            .await?;
        if !response.flow_controlled_staff_id_list.is_empty() || !response.invalid_staff_id_list.is_empty() {
            tracing::debug!(
                flow_controlled = response.flow_controlled_staff_id_list.len(),
                invalid = response.invalid_staff_id_list.len(),
                "batchSend did not reach every user"
            );
        }
        Ok(response)
    }

    /// Sends `message` from the bot into a group it is a member of (`groupMessages/send`).
    ///
    /// `cool_app_code` is only needed when the bot was installed as a group cool-app.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for a button layout without a template; [`Error::TooLarge`] when
    /// `msgParam` exceeds its documented size; otherwise the errors every call can return (see [`OpenApiClient`]).
    pub async fn send_to_group(
        &self,
        robot_code: &RobotCode,
        conversation: &ConversationId,
        message: &RobotMessage,
        cool_app_code: Option<&str>,
    ) -> Result<GroupSendResponse> {
        let body = GroupSendRequest::new(
            robot_code.clone(),
            conversation.clone(),
            message,
            cool_app_code.map(str::to_owned),
        )?;
        self.call(ApiEndpoint::GroupSend, Method::POST, GROUP_SEND, &body)
            .await
    }

    /// Recalls bot DMs by their processQueryKeys (≤ 20, sent within 24 h).
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for no or more than 20 keys (nothing is sent); otherwise the errors every call can return (see [`OpenApiClient`]).
    pub async fn recall_dm(
        &self,
        robot_code: &RobotCode,
        keys: &[ProcessQueryKey],
    ) -> Result<RecallResponse> {
        check_recall_keys(keys)?;
        let body = DmRecallRequest {
            robot_code: robot_code.clone(),
            process_query_keys: keys.to_vec(),
        };
        self.call(ApiEndpoint::RecallDm, Method::POST, DM_RECALL, &body)
            .await
    }

    /// Recalls bot messages in a group (also cards, by their `carrierId`).
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for no or more than 20 keys (nothing is sent); otherwise the errors every call can return (see [`OpenApiClient`]).
    pub async fn recall_group(
        &self,
        robot_code: &RobotCode,
        conversation: &ConversationId,
        keys: &[ProcessQueryKey],
    ) -> Result<RecallResponse> {
        check_recall_keys(keys)?;
        let body = GroupRecallRequest {
            open_conversation_id: conversation.clone(),
            robot_code: robot_code.clone(),
            process_query_keys: keys.to_vec(),
        };
        self.call(ApiEndpoint::RecallGroup, Method::POST, GROUP_RECALL, &body)
            .await
    }
}

fn check_recall_keys(keys: &[ProcessQueryKey]) -> Result<()> {
    if keys.is_empty() || keys.len() > MAX_RECALL_KEYS {
        return Err(Error::InvalidRequest(format!(
            "recall takes 1 to {MAX_RECALL_KEYS} processQueryKeys, got {}",
            keys.len()
        )));
    }
    Ok(())
}
