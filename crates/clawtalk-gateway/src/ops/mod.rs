//! The gateway's operations endpoints, on the same listener as the webhooks:
//!
//! - `GET /healthz`: the process is up (always 200 while it serves).
//! - `GET /readyz`: 200 when the store answers and every enabled Stream account is
//!   connected; 503 with the reasons otherwise.
//! - `GET /metrics`: Prometheus text format.
//! - `GET /control/status`: what `clawtalk gateway status` shows, as JSON.
//!
//! The last two answer loopback callers and `gateway.trustedProxies` only, with the gateway
//! token when one is configured or the listener is reachable beyond loopback (a LAN bind, or
//! a proxy that makes every client look local); see [`auth`].

mod auth;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use dingtalk::Secret;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::Shared;
use super::metrics::{AccountFigures, Depths};
use super::routes::{Access, RouteTable, router_of};
use clawtalk_config::ConnectionMode;

/// Path of the control API's status.
pub(crate) const STATUS_PATH: &str = "/control/status";

type St = State<Arc<Shared>>;

/// The operations routes: the probes are public, the rest need [`require_token`].
pub(crate) fn routes() -> RouteTable<Arc<Shared>> {
    vec![
        ("/healthz", Access::Public, get(healthz)),
        ("/readyz", Access::Public, get(readyz)),
        ("/metrics", Access::Token, get(metrics)),
        (STATUS_PATH, Access::Token, get(status)),
    ]
}

/// The operations routes, ready to merge into the gateway's listener.
///
/// # Errors
/// A token is needed but none is configured and the generated one cannot be read or written.
pub(crate) fn router(shared: Arc<Shared>) -> anyhow::Result<Router> {
    let guard = Arc::new(auth::ControlGuard::new(
        control_token(&shared.config())?,
        shared.config().gateway.trusted_proxies.clone(),
    ));
    let open = router_of(routes(), Access::Public, |r| r);
    let guarded = router_of(routes(), Access::Token, |r| {
        r.route_layer(middleware::from_fn_with_state(guard, require_token))
    });
    Ok(open.merge(guarded).with_state(shared))
}

/// The token the control API asks for: `gateway.auth.token`; else, when the listener is
/// reachable beyond loopback, the generated gateway token (the web UI's, created when
/// missing), since behind a same-host proxy every client looks local; else none.
fn control_token(config: &clawtalk_config::Config) -> anyhow::Result<Option<Secret>> {
    if let Some(token) = config.gateway.auth_token.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Some(token.clone()));
    }
    if !config.gateway.reachable_beyond_loopback() {
        return Ok(None);
    }
    let (token, source) = crate::token::resolve(config)
        .context("the control API's gateway token (gateway.trustedProxies is set)")?;
    let path = match &source {
        crate::token::TokenSource::Generated(path) | crate::token::TokenSource::Stored(path) => {
            path.display().to_string()
        }
        _ => "the config".to_owned(),
    };
    tracing::info!(
        token_file = %path,
        "gateway.trustedProxies is set: /metrics and /control/status need the gateway token \
         (`clawtalk gateway token` prints it; or set gateway.auth.token)"
    );
    Ok(Some(token))
}

/// Lets a request through only from this host or a trusted proxy, with the gateway token
/// when one applies.
async fn require_token(
    State(guard): State<Arc<auth::ControlGuard>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    match guard.check(peer, request.headers(), Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            tracing::warn!(%peer, path = %request.uri().path(), reason = refusal.message(), "control API request refused");
            let mut response = (refusal.status(), format!("{}\n", refusal.message())).into_response();
            if let Some(secs) = refusal.retry_after() {
                response.headers_mut().insert(header::RETRY_AFTER, secs.into());
            }
            response
        }
    }
}

async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

async fn readyz(State(shared): St) -> Response {
    let mut problems = Vec::new();
    if let Err(error) = shared.store.queue_depths().await {
        problems.push(format!("store: {error}"));
    }
    let board = shared.status.snapshot();
    for account in shared
        .config()
        .enabled_accounts()
        .filter(|a| a.mode == ConnectionMode::Stream)
    {
        let connected = board.accounts.iter().any(|s| s.id == account.id && s.connected);
        if !connected {
            problems.push(format!("account {}: Stream not connected", account.id));
        }
    }
    if problems.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let body = format!("not ready: {}\n", problems.join("; "));
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

async fn metrics(State(shared): St) -> Response {
    let depths = match shared.store.queue_depths().await {
        Ok(d) => Some(Depths {
            pending_turns: d.pending_turns,
            planned_parts: d.planned_parts,
        }),
        Err(error) => {
            tracing::warn!(%error, "metrics: cannot read queue depths from the store");
            None
        }
    };
    let text = super::metrics::render(&shared.metrics, &account_figures(&shared), depths);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}

async fn status(State(shared): St) -> Response {
    let body = json!({
        "stateDir": shared.config().gateway.state_dir,
        "status": shared.status.snapshot(),
    });
    axum::Json(body).into_response()
}

fn account_figures(shared: &Shared) -> Vec<AccountFigures> {
    shared
        .status
        .snapshot()
        .accounts
        .into_iter()
        .map(|a| AccountFigures {
            api_calls: shared
                .account(&a.id)
                .map(|account| {
                    account
                        .api
                        .metrics()
                        .snapshot()
                        .into_iter()
                        .map(|(e, n)| (e.name(), n))
                        .collect()
                })
                .unwrap_or_default(),
            qps_limit_hits: shared.cards_of(&a.id).map_or(0, |c| c.budget.qps_hits()),
            card_overflows: shared.cards_of(&a.id).map_or(0, |c| c.overflowed()),
            messages_in: a.messages,
            connected: a.connected,
            reconnects: a.connects.saturating_sub(1),
            id: a.id,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(gateway: &str) -> clawtalk_config::Config {
        clawtalk_config::test_support::config(&format!(
            r#"{{ gateway: {gateway},
                 agents: {{ defaults: {{ model: "deepseek/deepseek-chat" }} }},
                 channels: {{ dingtalk: {{ clientId: "dingx", clientSecret: "s" }} }} }}"#
        ))
    }

    #[test]
    fn a_token_is_required_whenever_the_listener_is_reachable_beyond_loopback() {
        let lan = control_token(&config(r#"{ bind: "lan", auth: { token: "lan-token" } }"#));
        assert_eq!(
            lan.unwrap().map(|t| t.expose().to_owned()).as_deref(),
            Some("lan-token")
        );
        let local = control_token(&config(r#"{ bind: "loopback" }"#)).unwrap();
        assert!(
            local.is_none(),
            "loopback only, nothing configured: local callers only"
        );

        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let proxied = config(&format!(
            r#"{{ trustedProxies: ["127.0.0.1"], stateDir: "{}" }}"#,
            state.display()
        ));
        let generated = control_token(&proxied).unwrap().expect("a generated token");
        let stored = std::fs::read_to_string(state.join(crate::token::TOKEN_FILE)).unwrap();
        assert_eq!(stored.trim(), generated.expose());
        assert_eq!(generated.expose().len(), 64);
    }
}
