//! Error shapes: DingTalk's two wire formats and the simulator's own Rust error.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::ids;

/// New-style OpenAPI error: HTTP 4xx/5xx with `{"code","message","requestid"}`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub extra: Option<(String, Value)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            extra: None,
        }
    }

    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// `MissingXxx`, the gateway's answer to an absent mandatory parameter.
    pub fn missing(param: &str) -> Self {
        Self::bad_request(
            format!("Missing{param}"),
            format!("{param} is mandatory for this action."),
        )
    }

    pub fn invalid_body(detail: impl std::fmt::Display) -> Self {
        Self::bad_request(
            "InvalidParameter",
            format!("request body is not valid JSON: {detail}"),
        )
    }

    /// A missing, unknown, expired or revoked access token on `api.dingtalk.com`: HTTP **400**
    /// (not 401) with this code and message, as real answers show (satorijs/satori#240,
    /// apache/ozhera#74, ClouGence/open-cdm#342).
    pub fn invalid_token() -> Self {
        Self::bad_request("InvalidAuthentication", "不合法的access_token")
    }

    /// `connections/open` with a wrong clientId/clientSecret: HTTP 401 `authFailed` "鉴权失败"
    /// (zfanswer/dify-on-dingtalk#28).
    pub fn open_auth_failed() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "authFailed", "鉴权失败")
    }

    pub fn with_extra(mut self, key: &str, value: Value) -> Self {
        self.extra = Some((key.to_owned(), value));
        self
    }

    pub fn body(&self) -> Value {
        let mut body = json!({
            "code": self.code,
            "message": self.message,
            "requestid": ids::request_id(),
        });
        if let (Some((k, v)), Some(map)) = (&self.extra, body.as_object_mut()) {
            map.insert(k.clone(), v.clone());
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// Legacy (oapi) error: HTTP 200 with a non-zero `errcode`.
#[derive(Debug, Clone)]
pub(crate) struct LegacyError {
    pub errcode: i64,
    pub errmsg: String,
}

impl LegacyError {
    pub fn new(errcode: i64, errmsg: impl Into<String>) -> Self {
        Self {
            errcode,
            errmsg: errmsg.into(),
        }
    }

    /// A bad token on the oapi host: HTTP 200 with errcode 40014 (satorijs/satori#240,
    /// hugozhu/godingtalk#5).
    pub fn invalid_token() -> Self {
        Self::new(40014, "不合法的access_token")
    }
}

impl IntoResponse for LegacyError {
    fn into_response(self) -> Response {
        Json(json!({"errcode": self.errcode, "errmsg": self.errmsg})).into_response()
    }
}

/// Errors of the simulator's Rust and control API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The listening socket could not be bound.
    #[error("cannot bind the simulator: {0}")]
    Bind(#[from] std::io::Error),
    /// No app with this client id.
    #[error("unknown app {0:?}")]
    UnknownApp(String),
    /// No user with this staff id.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// No group with this openConversationId.
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    /// No card with this outTrackId.
    #[error("unknown card {0:?}")]
    UnknownCard(String),
    /// Something already exists.
    #[error("{0} already exists")]
    Duplicate(String),
    /// A control request was malformed.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A `wait_for_*` helper ran out of time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

impl SimError {
    fn status(&self) -> StatusCode {
        match self {
            Self::UnknownApp(_) | Self::UnknownUser(_) | Self::UnknownGroup(_) | Self::UnknownCard(_) => {
                StatusCode::NOT_FOUND
            }
            Self::Duplicate(_) => StatusCode::CONFLICT,
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Bind(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        (self.status(), Json(json!({"error": self.to_string()}))).into_response()
    }
}

/// Result alias of the simulator's Rust API.
pub type Result<T, E = SimError> = std::result::Result<T, E>;
