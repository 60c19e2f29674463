//! Every route of the gateway's HTTP listener and who may use it.
//!
//! Each router (webhooks, operations, web UI) is built from its own table of
//! `(path, access, handlers)`, and the access level in the table is what puts the check in
//! front of the handlers: a route cannot be added without saying who may call it. The
//! security tests walk [`http_routes`] and knock on every door without credentials.

use axum::Router;
use axum::routing::MethodRouter;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the liveness and readiness probes, the login page.
    Public,
    /// DingTalk: each request carries a signature made with the account's secret (checked by
    /// the handler, which knows which account and scheme apply).
    Signed,
    /// Loopback callers (and `gateway.trustedProxies`) holding the gateway token
    /// (`Authorization: Bearer …`) when one is set or the listener is reachable beyond
    /// loopback; wrong tokens are throttled per client.
    Token,
    /// A logged-in web UI session (cookie); pages redirect to `/login`, `/api/…` answers 401.
    Session,
}

/// One route: its path (axum syntax, `{param}` for a segment) and who may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpRoute {
    /// The path pattern.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

/// A router's table: path, access, handlers.
pub type RouteTable<S> = Vec<(&'static str, Access, MethodRouter<S>)>;

/// Every route the gateway itself serves: operations and webhooks (mounted always, answering
/// 404 for an account that does not receive over HTTP); a mounted console adds its own.
#[must_use]
pub fn http_routes() -> Vec<HttpRoute> {
    listed(super::ops::routes())
        .chain(listed(super::http::routes()))
        .collect()
}

/// The paths and access levels of `table`.
pub fn listed<S>(table: RouteTable<S>) -> impl Iterator<Item = HttpRoute> {
    table
        .into_iter()
        .map(|(path, access, _)| HttpRoute { path, access })
}

/// The routes of `table` that have `access`, as one router, with `guard` (the access check,
/// added with `route_layer`, so only matched routes are guarded: a wrong path is still 404
/// and a wrong method 405) in front of them.
pub fn router_of<S: Clone + Send + Sync + 'static>(
    table: RouteTable<S>,
    access: Access,
    guard: impl FnOnce(Router<S>) -> Router<S>,
) -> Router<S> {
    let routes = table
        .into_iter()
        .filter(|(_, a, _)| *a == access)
        .fold(Router::new(), |router, (path, _, handlers)| {
            router.route(path, handlers)
        });
    // `route_layer` on a router without routes panics.
    if routes.has_routes() {
        guard(routes)
    } else {
        routes
    }
}
