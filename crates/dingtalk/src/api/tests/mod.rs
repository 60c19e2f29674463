//! Client tests against scripted stub servers on 127.0.0.1.

mod card;
mod gate;
mod logging;
mod media;
mod robot;
mod webhook;
mod webhook_hosts;

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use crate::api::OpenApiClient;
use crate::http::test_stub::{Recorded, Reply, Stub};
use crate::ids::ClientId;
use crate::token::ClientSecret;

pub(super) const TOKEN_PATH: &str = "/v1.0/oauth2/accessToken";
pub(super) const LEGACY_TOKEN_PATH: &str = "/gettoken";

pub(super) fn client(stub: &Stub) -> OpenApiClient {
    OpenApiClient::builder(ClientId::new("dingclient"), ClientSecret::new("s3cret"))
        .endpoints(stub.endpoints())
        .http_client(crate::tls::client_builder().build().unwrap())
        .build()
}

/// A handler that answers token requests with `tok-1`, `tok-2`, … (new API) and `legacy-1`, …
/// (gettoken), and delegates everything else to `rest`.
pub(super) fn with_tokens(
    rest: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
) -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    let new = AtomicUsize::new(0);
    let legacy = AtomicUsize::new(0);
    move |r: &Recorded| match r.path.as_str() {
        TOKEN_PATH => {
            let n = new.fetch_add(1, Ordering::SeqCst) + 1;
            Reply::ok(json!({"accessToken": format!("tok-{n}"), "expireIn": 7200}))
        }
        LEGACY_TOKEN_PATH => {
            let n = legacy.fetch_add(1, Ordering::SeqCst) + 1;
            Reply::ok(
                json!({"errcode": 0, "errmsg": "ok", "access_token": format!("legacy-{n}"), "expires_in": 7200}),
            )
        }
        _ => rest(r),
    }
}
