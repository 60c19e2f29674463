//! Connecting to PostgreSQL with errors an operator can act on, and never a password in them.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use crate::error::StoreError;

/// SQLSTATEs the connect errors explain.
const INVALID_PASSWORD: &str = "28P01";
const INVALID_AUTHORIZATION: &str = "28000";
const UNKNOWN_DATABASE: &str = "3D000";

/// Tuning for [`super::PgStore::open_with`].
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Most connections this process holds. A gateway runs a handful of turn workers and
    /// one receive loop; more connections only cost the server memory.
    pub max_connections: u32,
    /// How long to wait for the server to accept a new connection.
    pub connect_timeout: Duration,
    /// How long a query waits for a free pooled connection before failing as `Busy`.
    pub acquire_timeout: Duration,
    /// Connections kept apart for renewing the running turns' leases, on top of the others.
    pub lease_connections: u32,
    /// Connections kept apart for the other writes a running turn cannot do without
    /// (finishing it, marking a part sent, closing a card), on top of `max_connections`.
    pub turn_connections: u32,
    /// Connections kept apart for takes from shared send budgets, on top of the others: a
    /// take waits on its budget's lock while another replica takes, connection in hand.
    pub budget_connections: u32,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            connect_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(10),
            lease_connections: 1,
            turn_connections: 2,
            budget_connections: 2,
        }
    }
}

/// `url` with its password (in the user info or a `password=` parameter, or any other
/// secret-named parameter: [`clawtalk_core::mask::mask_url`]) replaced by `***`, fit for logs,
/// errors and `clawtalk doctor`.
#[must_use]
pub fn mask_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(_) => clawtalk_core::mask::mask_url(url),
        // Unparsable: show only the scheme, the rest may hold anything.
        Err(_) => format!("{}://…", url.split("://").next().unwrap_or("postgres")),
    }
}

fn cant_open(url: &str, detail: impl Into<String>) -> StoreError {
    StoreError::CantOpen {
        path: mask_password(url),
        detail: detail.into(),
    }
}

/// What went wrong while connecting, in words that say what to do.
fn explain(error: &sqlx::Error, options: &PgConnectOptions, timeout: Duration) -> String {
    let user = options.get_username();
    let database = options.get_database().unwrap_or(user);
    let server = format!("{}:{}", options.get_host(), options.get_port());
    match error {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some(INVALID_PASSWORD | INVALID_AUTHORIZATION) => format!(
                "authentication failed for user {user:?}: check the user name and password in \
                 store.url and the server's pg_hba.conf"
            ),
            Some(UNKNOWN_DATABASE) => format!(
                "the database {database:?} does not exist on {server}: create it \
                 (createdb {database}) or fix the database name in store.url"
            ),
            _ => format!("the server refused the connection: {}", db.message()),
        },
        sqlx::Error::Io(io) => format!(
            "cannot reach PostgreSQL at {server} ({io}); check that the server runs and that \
             host and port in store.url are right"
        ),
        sqlx::Error::PoolTimedOut => format!(
            "PostgreSQL at {server} did not accept a connection within {timeout:?}; check the \
             server, the network and any firewall"
        ),
        sqlx::Error::Tls(tls) => format!("TLS with {server} failed: {tls}"),
        other => other.to_string(),
    }
}

/// The store's pools on one server: see [`super::PgStore`] for why there are four.
pub(super) struct Pools {
    pub(super) general: PgPool,
    pub(super) lease: PgPool,
    pub(super) turn: PgPool,
    pub(super) budget: PgPool,
}

/// Opens the store's pools on `url` and checks that one connection works.
pub(super) async fn pools(url: &str, options: &super::PgOptions) -> Result<Pools, StoreError> {
    let connect = PgConnectOptions::from_str(url)
        .map_err(|error| {
            // The parser's message may quote parts of the URL.
            let detail = scrub(&error.to_string(), url);
            cant_open(url, format!("store.url is not a valid PostgreSQL URL: {detail}"))
        })?
        .application_name("clawtalk");
    // One plain connection first: the pool would retry a refused connection until its
    // timeout and then report only that it timed out.
    let timeout = options.connect_timeout;
    let first = match tokio::time::timeout(timeout, PgConnection::connect_with(&connect)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(error)) => return Err(cant_open(url, scrub(&explain(&error, &connect, timeout), url))),
        Err(_) => {
            let error = sqlx::Error::PoolTimedOut;
            return Err(cant_open(url, scrub(&explain(&error, &connect, timeout), url)));
        }
    };
    let _ = first.close().await;
    let pool = |size: u32| {
        PgPoolOptions::new()
            .max_connections(size.max(1))
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect.clone())
    };
    Ok(Pools {
        general: pool(options.max_connections),
        lease: pool(options.lease_connections),
        turn: pool(options.turn_connections),
        budget: pool(options.budget_connections),
    })
}

/// Removes the URL's password from a message, should a driver ever quote it.
fn scrub(message: &str, url: &str) -> String {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
    {
        Some(password) if !password.is_empty() => message.replace(&password, "***"),
        _ => message.to_owned(),
    }
}

/// Fails clearly when the `search_path` names no existing schema: tables would otherwise
/// fail to be created with "no schema has been selected".
pub(super) async fn check_schema(conn: &mut PgConnection, url: &str) -> Result<(), StoreError> {
    let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&mut *conn)
        .await?;
    if schema.is_none() {
        let path: String = sqlx::query_scalar("SHOW search_path")
            .fetch_one(&mut *conn)
            .await?;
        return Err(cant_open(
            url,
            format!(
                "no schema of the search_path ({path}) exists; create it (CREATE SCHEMA …) or \
                 fix options=-csearch_path%3D… in store.url"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        let masked = mask_password("postgres://clawtalk:hunter2@db.internal:5432/clawtalk?sslmode=require");
        assert_eq!(
            masked,
            "postgres://clawtalk:***@db.internal:5432/clawtalk?sslmode=require"
        );
        let param = mask_password("postgresql://db/x?user=u&password=hunter2");
        assert!(
            !param.contains("hunter2") && param.contains("password=***"),
            "{param}"
        );
        assert_eq!(
            mask_password("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert!(!mask_password("postgres://u:hunter2@[::1").contains("hunter2"));
    }

    #[tokio::test]
    async fn connect_errors_never_show_the_password() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let url = "postgres://clawtalk:hunter2@127.0.0.1:1/clawtalk";
        let options = super::super::PgOptions {
            connect_timeout: Duration::from_secs(5),
            ..super::super::PgOptions::default()
        };
        let error = super::super::PgStore::open_with(url, options)
            .await
            .unwrap_err()
            .to_string();
        assert!(!error.contains("hunter2"), "{error}");
        assert!(error.contains("clawtalk:***@127.0.0.1:1"), "{error}");
        assert!(
            error.contains("cannot reach PostgreSQL") || error.contains("did not accept"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_missing_database_is_named() {
        let Ok(server) = std::env::var("CLAWTALK_TEST_PG") else {
            eprintln!("skipped: CLAWTALK_TEST_PG unset");
            return;
        };
        let mut url = url::Url::parse(&server).unwrap();
        url.set_path("/clawtalk_no_such_database");
        let error = super::super::PgStore::open(url.as_str())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("\"clawtalk_no_such_database\" does not exist") && error.contains("createdb"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_search_path_without_a_schema_says_to_create_it() {
        let Ok(server) = std::env::var("CLAWTALK_TEST_PG") else {
            eprintln!("skipped: CLAWTALK_TEST_PG unset");
            return;
        };
        let separator = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{separator}options=-csearch_path%3Dclawtalk_no_such_schema");
        let error = super::super::PgStore::open(&url).await.unwrap_err().to_string();
        assert!(
            error.contains("clawtalk_no_such_schema") && error.contains("CREATE SCHEMA"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn bad_urls_are_refused_without_echoing_them() {
        let error = super::super::PgStore::open("postgres://u:hunter2@host:notaport/db")
            .await
            .unwrap_err()
            .to_string();
        assert!(!error.contains("hunter2"), "{error}");
        assert!(error.contains("not a valid PostgreSQL URL"), "{error}");
    }
}
