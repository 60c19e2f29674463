//! The one retry every token-authenticated call gets: after DingTalk rejected the token.

use std::future::Future;

use crate::error::{ApiError, ApiErrorKind, Result};
use crate::token::{AccessToken, TokenCache};

/// Runs `attempt` with a token; if DingTalk rejects the token, drops it from the cache and runs
/// `attempt` exactly once more with a fresh one.
///
/// Only the stale token is invalidated, so concurrent callers that all saw the same rejection
/// cause one refresh between them. A fresh token rejected as well is a credentials problem
/// (wrong app, app disabled): logged as an error naming the account, and returned.
pub(crate) async fn with_token_retry<T, F, Fut>(tokens: &TokenCache, mut attempt: F) -> Result<T>
where
    F: FnMut(AccessToken) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let token = tokens.token().await?;
    match attempt(token.clone()).await {
        Err(e) if e.kind() == Some(ApiErrorKind::TokenExpired) => {
            tracing::debug!(
                account = tokens.account(),
                "DingTalk rejected the access token; refreshing once and retrying"
            );
            tokens.invalidate(&token);
            let fresh = tokens.token().await?;
            let result = attempt(fresh).await;
            if let Err(e) = &result
                && let Some(api) = e.api().filter(|a| a.kind == ApiErrorKind::TokenExpired)
            {
                log_rejected_twice(tokens, api);
            }
            result
        }
        other => other,
    }
}

fn log_rejected_twice(tokens: &TokenCache, api: &ApiError) {
    tracing::error!(
        account = tokens.account(),
        client_id = %tokens.client_id(),
        endpoint = api.endpoint,
        http_status = api.http_status,
        code = %api.code,
        request_id = api.request_id.as_deref().unwrap_or(""),
        "DingTalk credentials problem: a freshly fetched access token was rejected too; check \
         this account's clientId/clientSecret and that the app is still enabled in the DingTalk \
         developer console"
    );
}
