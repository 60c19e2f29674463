//! Contacts: which departments a user belongs to (for department routing).

use serde::{Deserialize, Serialize};

use crate::api::client::OpenApiClient;
use crate::api::token_retry::with_token_retry;
use crate::endpoints::ApiEndpoint;
use crate::error::{Error, Result};
use crate::http::{decode, execute};
use crate::ids::StaffId;

/// Legacy `POST /topapi/v2/user/get?access_token=` (needs `qyapi_get_member`).
const USER_GET: &str = "/topapi/v2/user/get";

#[derive(Serialize)]
struct UserGetRequest<'a> {
    userid: &'a str,
    language: &'static str,
}

#[derive(Deserialize)]
struct UserGetResponse {
    result: Option<UserDetail>,
}

#[derive(Deserialize)]
struct UserDetail {
    #[serde(default)]
    dept_id_list: Vec<i64>,
}

impl OpenApiClient {
    /// The ids of the departments `user` belongs to (`topapi/v2/user/get`, `dept_id_list`).
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for an empty staff id; [`crate::ApiErrorKind::NotFound`] (errcode
    /// 60121) for a user outside the organisation or unknown; [`crate::ApiErrorKind::PermissionMissing`]
    /// (60011) without the contacts permission; [`Error::Decode`] when the answer has no `result`;
    /// otherwise the errors every call can return (see [`OpenApiClient`]), with the legacy token.
    pub async fn user_departments(&self, user: &StaffId) -> Result<Vec<i64>> {
        let endpoint = ApiEndpoint::UserGet;
        if user.as_str().is_empty() {
            return Err(Error::InvalidRequest("user lookup needs a staff id".into()));
        }
        let body = serde_json::to_vec(&UserGetRequest {
            userid: user.as_str(),
            language: "zh_CN",
        })
        .map_err(|e| Error::InvalidRequest(format!("user lookup body does not serialise: {e}")))?;
        let body = bytes::Bytes::from(body);
        let inner = &self.inner;
        let text = with_token_retry(&inner.legacy_tokens, |token| {
            let mut url = inner.endpoints.oapi_url(USER_GET);
            url.query_pairs_mut().append_pair("access_token", token.as_str());
            let request = inner
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            async move { execute(&inner.metrics, endpoint, request).await }
        })
        .await?;
        let response: UserGetResponse = decode(endpoint, &text)?;
        response
            .result
            .map(|r| r.dept_id_list)
            .ok_or_else(|| Error::decode(endpoint.name(), MissingResult, text))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the answer has no `result`")]
struct MissingResult;
