//! The gateway's operations endpoints, on the same listener as the webhooks:
//!
//! - `GET /healthz`: the process is up (always 200 while it serves).
//! - `GET /readyz`: 200 when the store answers and every enabled Stream account is
//!   connected; 503 with the reasons otherwise.
//! - `GET /metrics`: Prometheus text format (loopback only; the gateway token when set).
//! - `GET /control/status`: what `clawtalk gateway status` shows, as JSON (loopback only;
//!   the gateway token when set).

mod auth;

use std::net::SocketAddr;
use std::sync::Arc;

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
use crate::config::ConnectionMode;

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
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let open = router_of(routes(), Access::Public, |r| r);
    let guarded = router_of(routes(), Access::Token, |r| {
        r.route_layer(middleware::from_fn_with_state(Arc::clone(&shared), require_token))
    });
    open.merge(guarded).with_state(shared)
}

/// Lets a request through only from loopback with the gateway token (when one is set).
async fn require_token(
    State(shared): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let token = shared.config.gateway.auth_token.as_ref().map(|t| t.expose());
    match auth::check(peer, request.headers(), token) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            tracing::warn!(%peer, path = %request.uri().path(), reason = refusal.message(), "control API request refused");
            (refusal.status(), format!("{}\n", refusal.message())).into_response()
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
        .config
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
        "stateDir": shared.config.gateway.state_dir,
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
                .apis
                .get(&a.id)
                .map(|api| {
                    api.metrics()
                        .snapshot()
                        .into_iter()
                        .map(|(e, n)| (e.name(), n))
                        .collect()
                })
                .unwrap_or_default(),
            qps_limit_hits: shared.cards.get(&a.id).map_or(0, |c| c.budget.qps_hits()),
            messages_in: a.messages,
            connected: a.connected,
            reconnects: a.connects.saturating_sub(1),
            id: a.id,
        })
        .collect()
}
