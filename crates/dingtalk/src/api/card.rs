//! Interactive / AI cards: create-and-deliver, streaming updates, variable updates, and the
//! registration of an HTTP callback route for their button presses.

use reqwest::Method;

use crate::api::client::OpenApiClient;
use crate::endpoints::ApiEndpoint;
use crate::error::{ApiError, ApiErrorKind, Result};
use crate::model::card_register::{RegisterCardCallbackRequest, RegisterCardCallbackResponse};
use crate::model::outbound::{
    CardOkResponse, CreateAndDeliverRequest, CreateAndDeliverResponse, StreamingUpdateRequest,
    UpdateCardRequest,
};

const CREATE_AND_DELIVER: &str = "/v1.0/card/instances/createAndDeliver";
const STREAMING: &str = "/v1.0/card/streaming";
const INSTANCES: &str = "/v1.0/card/instances";
const REGISTER_CALLBACK: &str = "/v1.0/card/callbacks/register";

impl OpenApiClient {
    /// Creates a card instance and delivers it (`POST /v1.0/card/instances/createAndDeliver`).
    ///
    /// DingTalk answers HTTP 200 even when a delivery failed; any `success:false` (overall or
    /// per space) is returned as [`ApiErrorKind::DeliveryFailed`] with the raw body kept.
    /// Needs permission `Card.Instance.Write`.
    ///
    /// # Errors
    /// [`ApiErrorKind::DeliveryFailed`] when the answer says `success:false`, overall or for any
    /// space; [`ApiErrorKind::PermissionMissing`] without `Card.Instance.Write`; otherwise the errors every call can return (see [`OpenApiClient`]).
    pub async fn create_and_deliver_card(
        &self,
        request: &CreateAndDeliverRequest,
    ) -> Result<CreateAndDeliverResponse> {
        let endpoint = ApiEndpoint::CardCreateAndDeliver;
        let (response, body): (CreateAndDeliverResponse, String) = self
            .call_keep_body(endpoint, Method::POST, CREATE_AND_DELIVER, request)
            .await?;
        let failures: Vec<String> = response
            .failed_deliveries()
            .map(|d| {
                format!(
                    "{} {}: {}",
                    d.space_type,
                    d.space_id,
                    d.error_msg.as_deref().unwrap_or("no reason given")
                )
            })
            .collect();
        if response.success == Some(false) || !failures.is_empty() {
            let message = if failures.is_empty() {
                "createAndDeliver answered success=false".to_owned()
            } else {
                format!("card not delivered to {}", failures.join("; "))
            };
            return Err(ApiError::business(endpoint, ApiErrorKind::DeliveryFailed, message, body).into());
        }
        if response.deliver_results().is_empty() {
            tracing::debug!(
                out_track_id = %request.out_track_id,
                "createAndDeliver returned no deliverResults"
            );
        }
        Ok(response)
    }

    /// Pushes content into a card variable (`PUT /v1.0/card/streaming`).
    ///
    /// A retry after a token refresh reuses the request's `guid`, so DingTalk can tell it apart
    /// from a new update. Needs permission `Card.Streaming.Write`.
    ///
    /// # Errors
    /// [`ApiErrorKind::Other`] when DingTalk answers HTTP 200 with `success:false`;
    /// [`ApiErrorKind::MessageTooLong`] for content above DingTalk's limit (`param.stream.content`);
    /// otherwise the errors every call can return (see [`OpenApiClient`]).
    pub async fn stream_card(&self, request: &StreamingUpdateRequest) -> Result<()> {
        let endpoint = ApiEndpoint::CardStreaming;
        let (response, body) = self
            .call_keep_body(endpoint, Method::PUT, STREAMING, request)
            .await?;
        check_ok(endpoint, &response, body)
    }

    /// Sets card variables (`PUT /v1.0/card/instances`). Use
    /// [`UpdateCardRequest::merge`] unless you mean to replace all card data.
    ///
    /// # Errors
    /// [`ApiErrorKind::Other`] when DingTalk answers HTTP 200 with `success:false`; otherwise the errors every call can return (see [`OpenApiClient`]).
    pub async fn update_card(&self, request: &UpdateCardRequest) -> Result<()> {
        let endpoint = ApiEndpoint::CardUpdate;
        let (response, body) = self
            .call_keep_body(endpoint, Method::PUT, INSTANCES, request)
            .await?;
        check_ok(endpoint, &response, body)
    }

    /// Binds a callback route key to a URL and signing secret
    /// (`POST /v1.0/card/callbacks/register`, DOC:register-card-callback-address). Without
    /// `force_update` an existing binding is kept and reported in the answer: compare it with
    /// [`RegisterCardCallbackResponse::binds`]. Needs permission `Card.Instance.Write`.
    ///
    /// # Errors
    /// [`ApiErrorKind::Other`] when DingTalk answers HTTP 200 with `success:false`; otherwise
    /// the errors every call can return (see [`OpenApiClient`]), e.g. HTTP 400
    /// `param.callbackUrlEmpty`.
    pub async fn register_card_callback(
        &self,
        request: &RegisterCardCallbackRequest,
    ) -> Result<RegisterCardCallbackResponse> {
        let endpoint = ApiEndpoint::CardCallbackRegister;
        // `call`, not `call_keep_body`: the answer repeats the secret, so its text is not kept.
        let response: RegisterCardCallbackResponse = self
            .call(endpoint, Method::POST, REGISTER_CALLBACK, request)
            .await?;
        if response.success == Some(false) {
            return Err(ApiError::business(
                endpoint,
                ApiErrorKind::Other,
                "DingTalk answered success=false",
                String::new(),
            )
            .into());
        }
        Ok(response)
    }
}

fn check_ok(endpoint: ApiEndpoint, response: &CardOkResponse, body: String) -> Result<()> {
    if response.success == Some(false) {
        return Err(ApiError::business(
            endpoint,
            ApiErrorKind::Other,
            "DingTalk answered success=false",
            body,
        )
        .into());
    }
    Ok(())
}
