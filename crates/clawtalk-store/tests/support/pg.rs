//! PostgreSQL for tests: a private schema per test in the database `CLAWTALK_TEST_PG` names,
//! so tests run in parallel and leave the database clean.
//!
//! ```ignore
//! let Some(schema) = support::pg::TestSchema::create("my_test").await else { return };
//! let url = schema.url(); // store.url for a gateway, or PgStore::open(&url)
//! ```
//!
//! The schema is dropped when the [`TestSchema`] is dropped, also when the test panics.
//! Schemas of killed runs are dropped by the next run once they are an hour old (their name
//! carries their creation time), so leftovers never pile up or collide (names are random).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

/// The environment variable with the test server's URL.
pub const ENV: &str = "CLAWTALK_TEST_PG";

/// Prefix of every test schema's name.
const PREFIX: &str = "ct_test_";

/// Leftover schemas older than this are dropped when a test creates its own.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// The server URL, or `None` after printing that `test` was skipped.
pub fn server_url(test: &str) -> Option<String> {
    match std::env::var(ENV) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!("{test}: skipped: {ENV} unset");
            None
        }
    }
}

/// `base` with `search_path` set to `schema`, as a `store.url` (the driver's `options`
/// parameter, `-c search_path=<schema>`).
#[must_use]
pub fn url_with_schema(base: &str, schema: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-csearch_path%3D{schema}")
}

/// A schema private to one test.
pub struct TestSchema {
    server: String,
    name: String,
}

impl TestSchema {
    /// Creates a fresh schema; `None` (test skipped, message printed) when `CLAWTALK_TEST_PG`
    /// is unset. Panics when the server is configured but unreachable: CI must not silently
    /// skip.
    pub async fn create(test: &str) -> Option<Self> {
        let server = server_url(test)?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let name = format!("{PREFIX}{}_{:08x}", now.as_secs(), rand::random::<u32>());
        let mut conn = PgConnection::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("{ENV} is set but PostgreSQL is unreachable: {e}"));
        drop_stale(&mut conn, now).await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("create schema {name}: {e}"));
        conn.close().await.ok();
        Some(Self { server, name })
    }

    /// The schema's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A `store.url` whose tables live in this schema.
    #[must_use]
    pub fn url(&self) -> String {
        url_with_schema(&self.server, &self.name)
    }

    /// A small pool on this schema, for looking at what the gateway wrote.
    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.url())
            .await
            .unwrap_or_else(|e| panic!("connect to test schema {}: {e}", self.name))
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        // Drop runs outside any async context we could await in (and maybe while
        // panicking), so the cleanup gets its own thread and runtime.
        let (server, name) = (self.server.clone(), self.name.clone());
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for schema cleanup");
            runtime.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&server).await {
                    let sql = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
                    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
                        eprintln!("could not drop test schema {name}: {e}");
                    }
                    conn.close().await.ok();
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Drops test schemas a killed run left behind, once they are older than [`STALE_AFTER`].
async fn drop_stale(conn: &mut PgConnection, now: Duration) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT nspname::TEXT FROM pg_namespace WHERE nspname LIKE $1")
            .bind(format!("{PREFIX}%"))
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for name in names {
        let created = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        let stale = created.is_some_and(|secs| now.as_secs().saturating_sub(secs) > STALE_AFTER.as_secs());
        if stale {
            let sql = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
            // Another run may be dropping it at the same moment; that is fine.
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await;
        }
    }
}
