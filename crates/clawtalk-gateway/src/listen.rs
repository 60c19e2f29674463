//! The gateway's one HTTP listener on `gateway.bind:gateway.port` (default 127.0.0.1:18789;
//! port 0 picks a free one): DingTalk webhooks ([`super::http`]), the operations endpoints
//! ([`super::ops`]) and the web UI when it is on, each a `Router` merged here.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;

use super::Shared;

/// Binds the listener and returns its address and the task serving it until shutdown; `None`
/// when the port is taken and neither an account nor the web UI (`web`) needs it (the gateway
/// then runs without its local endpoints). The webhook routes are mounted whether or not an
/// account receives over HTTP yet: one that a reload adds is served at once.
///
/// # Errors
/// The address cannot be bound while an HTTP-mode account or the web UI needs it, or a
/// webhook route cannot be built.
pub(crate) async fn bind(
    shared: &Arc<Shared>,
    web: Option<Router>,
) -> anyhow::Result<Option<(SocketAddr, impl Future<Output = ()> + Send + 'static)>> {
    let webhooks = super::http::router(shared)?;
    let gateway = &shared.config().gateway;
    let wanted = SocketAddr::new(gateway.bind, gateway.port);
    let listener = match tokio::net::TcpListener::bind(wanted).await {
        Ok(listener) => listener,
        Err(error) if super::http::any_served(&shared.config()) || web.is_some() => {
            return Err(error).with_context(|| {
                format!(
                    "cannot listen on {wanted} for DingTalk webhooks and the web UI; free the port or set gateway.port / gateway.bind (or --port / --bind)"
                )
            });
        }
        Err(error) => {
            tracing::warn!(
                %wanted, %error,
                "cannot listen on {wanted}: /healthz, /readyz, /metrics and the control API are off \
                 (`gateway status` reads the status file); free the port or set gateway.port"
            );
            return Ok(None);
        }
    };
    let addr = listener.local_addr().context("reading the listener address")?;
    shared.status.set_http_addr(addr);
    // At once rather than at the next refresh, so `gateway status` finds the address.
    if let Err(error) = shared.status.write() {
        tracing::warn!(error = %format!("{error:#}"), "cannot write the status file");
    }
    let mut app = super::ops::router(Arc::clone(shared))?;
    app = app.merge(webhooks);
    if let Some(paths) = super::http::webhook_paths(shared) {
        let path = super::http::WEBHOOK_PATH;
        tracing::info!(%addr, %paths, "DingTalk webhooks listening on http://{addr}{path}");
    }
    if let Some(web) = web {
        app = app.merge(web);
    }
    tracing::info!(%addr, "gateway HTTP listening on http://{addr} (/healthz, /readyz, /metrics, /control/status)");
    let limits = super::http_server::Limits {
        max_connections: super::fd_budget::connection_cap(gateway.http.max_connections),
        header_timeout: gateway.http.header_timeout,
    };
    let shutdown = shared.shutdown.clone();
    Ok(Some((
        addr,
        super::http_server::serve(listener, app, limits, shutdown),
    )))
}
