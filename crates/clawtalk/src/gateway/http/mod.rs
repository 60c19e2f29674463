//! HTTP mode: DingTalk POSTs to `gateway.bind:gateway.port`.
//!
//! - `POST /webhooks/dingtalk/<accountId>` for every account in `mode: "http"`, with
//!   `token` + `aesKey`, or a custom robot with `outgoingToken` (its Outgoing callbacks); `POST /webhooks/dingtalk` for the default one (the account named
//!   `default`, else the only such account).
//! - A request with `msg_signature` (or `signature`) in its query is an encrypted event push
//!   ([`push`]); one with `timestamp` and `sign` headers is a bot message callback
//!   ([`callback`]). Both are stored before the 200 goes out, like a Stream frame before its ACK.

mod callback;
mod push;
mod replay;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use dingtalk::crypto::EventCrypto;

use super::Shared;
use crate::config::{ConnectionMode, DingTalkAccount};
use replay::ReplayGuard;

/// Path prefix of every DingTalk webhook.
pub(crate) const WEBHOOK_PATH: &str = "/webhooks/dingtalk";

/// What the listener knows about one account.
struct Endpoint {
    account: Arc<DingTalkAccount>,
    /// Set when the account has `token` + `aesKey`.
    crypto: Option<EventCrypto>,
    replay: ReplayGuard,
}

struct Webhooks {
    shared: Arc<Shared>,
    endpoints: HashMap<String, Endpoint>,
    /// Served at the bare [`WEBHOOK_PATH`].
    default: Option<String>,
}

type St = State<Arc<Webhooks>>;

/// Whether an account needs the listener.
pub(crate) fn serves(account: &DingTalkAccount) -> bool {
    account.mode == ConnectionMode::Http || account.event_push.is_some() || outgoing_token(account).is_some()
}

/// The key a custom robot's Outgoing callbacks are signed with, when it has the mechanism on.
pub(crate) fn outgoing_token(account: &DingTalkAccount) -> Option<&dingtalk::Secret> {
    account
        .custom_robot
        .as_ref()
        .filter(|_| account.mode == ConnectionMode::CustomRobot)
        .and_then(|robot| robot.outgoing_token.as_ref())
}

/// Binds the listener when some enabled account needs it or `extra` routes (the web UI) are
/// given, and returns its address and the task serving it until shutdown.
///
/// # Errors
/// The address cannot be bound, or an account's event crypto cannot be built (validation
/// normally catches that first).
pub(crate) async fn bind(
    shared: &Arc<Shared>,
    extra: Option<Router>,
) -> anyhow::Result<Option<(SocketAddr, impl Future<Output = ()> + Send + 'static)>> {
    let webhooks = webhook_routes(shared)?;
    let app = match (webhooks, extra) {
        (None, None) => return Ok(None),
        (Some(hooks), None) => hooks,
        (None, Some(extra)) => extra,
        (Some(hooks), Some(extra)) => hooks.merge(extra),
    };
    let gateway = &shared.config.gateway;
    let wanted = SocketAddr::new(gateway.bind, gateway.port);
    let listener = tokio::net::TcpListener::bind(wanted).await.with_context(|| {
        format!(
            "cannot listen on {wanted}; free the port or set gateway.port / gateway.bind (or --port / --bind)"
        )
    })?;
    let addr = listener.local_addr().context("reading the listener address")?;
    if let Some(paths) = webhook_paths(shared) {
        tracing::info!(%addr, paths = %paths, "DingTalk webhooks listening on http://{addr}{WEBHOOK_PATH}");
    }
    let shutdown = shared.shutdown.clone();
    Ok(Some((addr, async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "the HTTP listener stopped");
        }
    })))
}

/// The webhook routes, when some enabled account receives over HTTP.
fn webhook_routes(shared: &Arc<Shared>) -> anyhow::Result<Option<Router>> {
    let mut endpoints = HashMap::new();
    for account in shared.config.enabled_accounts().filter(|a| serves(a)) {
        let crypto = account
            .event_push
            .as_ref()
            .map(|p| EventCrypto::new(p.token.expose(), p.aes_key.expose(), &account.client_id))
            .transpose()
            .with_context(|| format!("account {:?}: token / aesKey", account.id))?;
        endpoints.insert(
            account.id.clone(),
            Endpoint {
                account: Arc::new(account.clone()),
                crypto,
                replay: ReplayGuard::default(),
            },
        );
    }
    if endpoints.is_empty() {
        return Ok(None);
    }
    let default = default_account_id(endpoints.keys());
    let state = Arc::new(Webhooks {
        shared: Arc::clone(shared),
        endpoints,
        default,
    });
    Ok(Some(
        Router::new()
            .route(WEBHOOK_PATH, post(default_account))
            .route(&format!("{WEBHOOK_PATH}/{{account}}"), post(named_account))
            .with_state(state),
    ))
}

/// The account served at the bare [`WEBHOOK_PATH`]: `default`, else the only one.
fn default_account_id<'a>(ids: impl ExactSizeIterator<Item = &'a String>) -> Option<String> {
    let ids: Vec<&String> = ids.collect();
    if ids.iter().any(|id| *id == "default") {
        Some("default".to_owned())
    } else if let [only] = ids.as_slice() {
        Some((*only).clone())
    } else {
        None
    }
}

/// The webhook paths for the start-up log line, `None` when no account receives over HTTP.
fn webhook_paths(shared: &Shared) -> Option<String> {
    let ids: Vec<String> = shared
        .config
        .enabled_accounts()
        .filter(|a| serves(a))
        .map(|a| a.id.clone())
        .collect();
    if ids.is_empty() {
        return None;
    }
    let mut paths: Vec<String> = ids.iter().map(|id| format!("{WEBHOOK_PATH}/{id}")).collect();
    paths.sort();
    if let Some(id) = default_account_id(ids.iter()) {
        paths.insert(0, format!("{WEBHOOK_PATH} ({id})"));
    }
    Some(paths.join(", "))
}

async fn default_account(State(hooks): St, query: RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let Some(id) = hooks.default.clone() else {
        let known: Vec<String> = hooks
            .endpoints
            .keys()
            .map(|id| format!("{WEBHOOK_PATH}/{id}"))
            .collect();
        tracing::warn!("webhook for the default account, but no account named \"default\" uses HTTP mode");
        return refuse(
            StatusCode::NOT_FOUND,
            format!("no default HTTP-mode account; use one of: {}", known.join(", ")),
        );
    };
    dispatch(&hooks, &id, query, &headers, body).await
}

async fn named_account(
    State(hooks): St,
    Path(account): Path<String>,
    query: RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    dispatch(&hooks, &account, query, &headers, body).await
}

async fn dispatch(
    hooks: &Arc<Webhooks>,
    account_id: &str,
    RawQuery(query): RawQuery,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let Some(endpoint) = hooks.endpoints.get(account_id) else {
        tracing::warn!(account = %account_id, "webhook for an account that is not configured for HTTP");
        return refuse(
            StatusCode::NOT_FOUND,
            format!("no account {account_id:?} in HTTP mode or with an event subscription"),
        );
    };
    let query = query.unwrap_or_default();
    let is_push =
        url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "msg_signature" || k == "signature");
    if is_push {
        push::handle(&hooks.shared, endpoint, &query, &body).await
    } else {
        callback::handle(&hooks.shared, endpoint, headers, &body).await
    }
}

/// A refusal: the reason is logged by the caller and also sent back (it names no secret).
fn refuse(status: StatusCode, reason: String) -> Response {
    (status, reason).into_response()
}
