//! HTTP mode: DingTalk POSTs to `gateway.bind:gateway.port`.
//!
//! - `POST /webhooks/dingtalk/<accountId>` for every account in `mode: "http"`, with
//!   `token` + `aesKey`, or a custom robot with `outgoingToken` (its Outgoing callbacks); `POST /webhooks/dingtalk` for the default one (the account named
//!   `default`, else the only such account).
//! - A request with `msg_signature` (or `signature`) in its query is an encrypted event push
//!   ([`crate::intake::event_push`]); one with `timestamp` and `sign` headers is a bot message
//!   callback ([`crate::intake::http_callback`], or [`crate::intake::outgoing_robot`] for a
//!   custom robot).
//!   Each is stored before the 200 goes out, like a Stream frame before its ACK.
//! - `POST /webhooks/dingtalk/<accountId>/card` (and `/webhooks/dingtalk/card` for the default
//!   account): presses on the cards of an HTTP-mode account with `cardCallbackUrl`, signed with
//!   its card route's `apiSecret` ([`crate::intake::http_card_callback`]).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use dingtalk::crypto::EventCrypto;

use crate::Shared;
use crate::card_route::{self, CardRoute};
use crate::intake::{event_push, http_callback, http_card_callback, outgoing_robot, refuse};
use crate::routes::{Access, RouteTable, router_of};
use clawtalk_config::{Config, ConnectionMode, DingTalkAccount};

/// Path prefix of every DingTalk webhook.
pub(crate) const WEBHOOK_PATH: &str = "/webhooks/dingtalk";
/// The webhook of one account, by id.
const NAMED_WEBHOOK_PATH: &str = "/webhooks/dingtalk/{account}";
/// Card presses of the default account (an account may not be named `card`: validation).
const CARD_PATH: &str = "/webhooks/dingtalk/card";
/// Card presses of one account, by id.
const NAMED_CARD_PATH: &str = "/webhooks/dingtalk/{account}/card";

/// Largest webhook body read: DingTalk's bot messages and event pushes are a few KiB (media
/// arrive as download codes, never inline), so anything near this is not DingTalk's and
/// reading it would only cost memory. Bigger bodies get 413 before any handler runs.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the listener knows about one account.
struct Endpoint {
    account: Arc<DingTalkAccount>,
    /// Set when the account has `token` + `aesKey`.
    crypto: Option<EventCrypto>,
    /// Set when presses on the account's cards are POSTed here.
    card: Option<CardRoute>,
}

/// The accounts the webhook routes serve, as one value: a reload builds the next one whole
/// and swaps it in, so a request sees either the old accounts or the new, never a mix.
#[derive(Default)]
pub(crate) struct Endpoints {
    by_id: HashMap<String, Arc<Endpoint>>,
    /// Served at the bare [`WEBHOOK_PATH`].
    default: Option<String>,
}

impl Endpoints {
    /// The endpoints of `config`'s enabled accounts that receive over HTTP.
    ///
    /// # Errors
    /// An account's event crypto cannot be built (validation normally catches that first).
    pub(crate) fn of(config: &Config) -> anyhow::Result<Self> {
        let mut by_id = HashMap::new();
        for account in served(config) {
            let crypto = account
                .event_push
                .as_ref()
                .map(|p| EventCrypto::new(p.token.expose(), p.aes_key.expose(), &account.client_id))
                .transpose()
                .with_context(|| format!("account {:?}: token / aesKey", account.id))?;
            by_id.insert(
                account.id.clone(),
                Arc::new(Endpoint {
                    account: Arc::new(account.clone()),
                    crypto,
                    card: card_route::of(account),
                }),
            );
        }
        let default = default_account_id(by_id.keys());
        Ok(Self { by_id, default })
    }
}

/// The endpoints in force. Empty until the listener runs (no request can arrive before).
#[derive(Default)]
pub(crate) struct WebhookTable(std::sync::RwLock<Arc<Endpoints>>);

impl WebhookTable {
    fn now(&self) -> Arc<Endpoints> {
        Arc::clone(&self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Serves `next` from the next request on.
    pub(crate) fn replace(&self, next: Endpoints) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
    }
}

pub(crate) struct Webhooks {
    shared: Arc<Shared>,
}

type St = State<Arc<Webhooks>>;

/// Whether an account needs the listener.
fn serves(account: &DingTalkAccount) -> bool {
    account.mode == ConnectionMode::Http
        || account.event_push.is_some()
        || outgoing_robot::outgoing_token(account).is_some()
}

/// The enabled accounts of `config` that receive over HTTP.
pub(crate) fn served(config: &Config) -> impl Iterator<Item = &DingTalkAccount> {
    config.enabled_accounts().filter(|a| serves(a))
}

/// Whether some enabled account of `config` receives over HTTP.
pub(crate) fn any_served(config: &Config) -> bool {
    served(config).next().is_some()
}

/// The webhook routes, serving the accounts of `shared.webhooks`. They are always mounted on
/// the listener, so that an account a reload adds is served without a restart; a request for
/// an account that does not receive over HTTP gets 404.
///
/// # Errors
/// An account's event crypto cannot be built (validation normally catches that first).
pub(crate) fn router(shared: &Arc<Shared>) -> anyhow::Result<Router> {
    shared.webhooks.replace(Endpoints::of(&shared.config())?);
    let state = Arc::new(Webhooks {
        shared: Arc::clone(shared),
    });
    Ok(router_of(routes(), Access::Signed, |r| r)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state))
}

/// The webhook routes: DingTalk signs every request, and the handlers check the signature
/// (they know which account, and so which key and scheme, a request is for).
pub(crate) fn routes() -> RouteTable<Arc<Webhooks>> {
    vec![
        (WEBHOOK_PATH, Access::Signed, post(default_account)),
        (NAMED_WEBHOOK_PATH, Access::Signed, post(named_account)),
        (CARD_PATH, Access::Signed, post(default_card)),
        (NAMED_CARD_PATH, Access::Signed, post(named_card)),
    ]
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
pub(crate) fn webhook_paths(shared: &Shared) -> Option<String> {
    let config = shared.config();
    let ids: Vec<String> = served(&config).map(|a| a.id.clone()).collect();
    if ids.is_empty() {
        return None;
    }
    let mut paths: Vec<String> = ids.iter().map(|id| format!("{WEBHOOK_PATH}/{id}")).collect();
    paths.extend(
        served(&config)
            .filter(|a| card_route::of(a).is_some())
            .map(|a| format!("{WEBHOOK_PATH}/{}/card", a.id)),
    );
    paths.sort();
    if let Some(id) = default_account_id(ids.iter()) {
        paths.insert(0, format!("{WEBHOOK_PATH} ({id})"));
    }
    Some(paths.join(", "))
}

async fn default_account(State(hooks): St, query: RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let endpoints = hooks.shared.webhooks.now();
    let Some(id) = endpoints.default.clone() else {
        let known: Vec<String> = endpoints
            .by_id
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

async fn default_card(State(hooks): St, headers: HeaderMap, body: Bytes) -> Response {
    let Some(id) = hooks.shared.webhooks.now().default.clone() else {
        tracing::warn!(
            "card callback for the default account, but no account named \"default\" uses HTTP mode"
        );
        return refuse(
            StatusCode::NOT_FOUND,
            format!("no default HTTP-mode account; use {WEBHOOK_PATH}/<accountId>/card"),
        );
    };
    card(&hooks, &id, &headers, &body).await
}

async fn named_card(
    State(hooks): St,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    card(&hooks, &account, &headers, &body).await
}

async fn card(hooks: &Arc<Webhooks>, account_id: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let endpoint = hooks.shared.webhooks.now().by_id.get(account_id).cloned();
    let Some((endpoint, route)) = endpoint
        .as_ref()
        .and_then(|e| e.card.as_ref().map(|route| (e, route)))
    else {
        tracing::warn!(account = %account_id, "card callback for an account without cardCallbackUrl");
        return refuse(
            StatusCode::NOT_FOUND,
            format!(
                "account {account_id:?} takes no card callbacks over HTTP (mode \"http\" with cardCallbackUrl)"
            ),
        );
    };
    if let Some(refusal) = non_json(headers) {
        tracing::warn!(account = %account_id, reason = %refusal, "card callback rejected");
        return refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, refusal);
    }
    http_card_callback::handle(&hooks.shared, &endpoint.account, &route.api_secret, headers, body).await
}

async fn dispatch(
    hooks: &Arc<Webhooks>,
    account_id: &str,
    RawQuery(query): RawQuery,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let endpoint = hooks.shared.webhooks.now().by_id.get(account_id).cloned();
    let Some(endpoint) = endpoint else {
        tracing::warn!(account = %account_id, "webhook for an account that is not configured for HTTP");
        return refuse(
            StatusCode::NOT_FOUND,
            format!("no account {account_id:?} in HTTP mode or with an event subscription"),
        );
    };
    if let Some(refusal) = non_json(headers) {
        tracing::warn!(account = %account_id, reason = %refusal, "webhook rejected");
        return refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, refusal);
    }
    let query = query.unwrap_or_default();
    let is_push =
        url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "msg_signature" || k == "signature");
    let (shared, account) = (&hooks.shared, &endpoint.account);
    if is_push {
        event_push::handle(shared, account, endpoint.crypto.as_ref(), &query, &body).await
    } else if account.mode == ConnectionMode::Http {
        http_callback::handle(shared, account, headers, &body).await
    } else {
        outgoing_robot::handle(shared, account, headers, &body).await
    }
}

/// Why a body declared as something other than JSON is refused. DingTalk always sends
/// `application/json`; a request without a `Content-Type` is still read (its body must parse).
fn non_json(headers: &HeaderMap) -> Option<String> {
    let declared = headers.get(axum::http::header::CONTENT_TYPE)?;
    let essence = declared
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/json") => None,
        Some(other) if other.ends_with("+json") => None,
        Some(other) => Some(format!(
            "Content-Type {other:?} is not JSON: DingTalk webhooks carry application/json"
        )),
        None => Some("Content-Type is not valid text: DingTalk webhooks carry application/json".into()),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};

    use super::non_json;

    fn typed(value: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_bytes(value).unwrap());
        headers
    }

    #[test]
    fn only_json_bodies_are_read() {
        assert_eq!(
            non_json(&HeaderMap::new()),
            None,
            "no Content-Type: the body decides"
        );
        assert_eq!(non_json(&typed(b"application/json")), None);
        assert_eq!(non_json(&typed(b"Application/JSON; charset=utf-8")), None);
        assert_eq!(non_json(&typed(b"application/vnd.api+json")), None);
        let refusal = non_json(&typed(b"text/plain")).unwrap();
        assert!(refusal.contains("\"text/plain\" is not JSON"), "{refusal}");
        assert!(non_json(&typed(b"application/x-www-form-urlencoded")).is_some());
        assert!(
            non_json(&typed(&[0xff, 0xfe]))
                .unwrap()
                .contains("not valid text")
        );
    }
}
