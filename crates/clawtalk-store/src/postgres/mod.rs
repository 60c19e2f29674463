//! PostgreSQL backend: one database shared by several gateway replicas.
//!
//! Every statement runs under READ COMMITTED. What makes replicas safe:
//! - claims pick rows with `FOR UPDATE SKIP LOCKED` inside one `UPDATE … RETURNING`, so two
//!   replicas never lease the same turn, reply part or cron task;
//! - the partial unique index `inbox_one_running_per_session` makes a second running turn of
//!   a session impossible, whatever the interleaving;
//! - dedup is `INSERT … ON CONFLICT DO NOTHING` on `(robot_code, msg_id)`;
//! - read-then-write steps (planning a reply, approving a code) lock the row they checked.
//!
//! The schema lives in the connection's `search_path` (a URL's `?options=-csearch_path%3Dx`
//! picks one), so several installations or tests can share a database.

mod approvals;
mod callback_sign;
mod cards;
mod connect;
mod cron;
mod inbox;
mod memory;
mod outbox;
mod pairing;
mod rate_budget;
mod session;
mod usage;

use async_trait::async_trait;
use sqlx::PgPool;

pub use connect::{PgOptions, mask_password};

use super::error::StoreError;
use super::{QueueDepths, Store, StoreResult};

/// Embedded schema; applied on every open (already-applied steps are skipped). sqlx takes an
/// advisory lock around it, so replicas starting together migrate once.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// SQLSTATE of a unique-constraint violation.
const UNIQUE_VIOLATION: &str = "23505";

/// The PostgreSQL store. Clone it freely (it is a handle on its pools), or wrap it in
/// `Arc<dyn Store>`.
///
/// Four pools, so that no kind of work can starve another of connections:
/// - `lease`: renewing the running turns' leases, one statement for all of them. A renewal
///   that waits behind other work past the lease lets another replica run the same turn
///   again, and answer it twice. Behind the `turn` writes it did wait: on a loaded machine
///   (three replicas, the database and DingTalk's stand-in on two cores) a few hundred of
///   them a second queued for seconds, and hundreds of turns were given up.
/// - `turn`: the other writes that keep a running turn its own (finishing it, marking a part
///   sent, closing a card). They are short single-row updates, so two connections carry
///   thousands a second on an idle machine.
/// - `budget`: takes from shared send budgets. A take waits on its budget's advisory lock while
///   another replica takes, holding its connection all the while; in their own pool those
///   waits queue behind each other instead of holding every connection the turns need.
///   (Polling `pg_try_advisory_xact_lock` would free the connection between tries, but
///   replaces a fair queue by sleeps and retries that land in bursts.)
/// - `general`: everything else.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    lease_pool: PgPool,
    turn_pool: PgPool,
    budget_pool: PgPool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("connections", &self.pool.size())
            .field("lease_connections", &self.lease_pool.size())
            .field("turn_connections", &self.turn_pool.size())
            .field("budget_connections", &self.budget_pool.size())
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://…`) with the default options and brings the schema
    /// up to date. Errors never contain the URL's password.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, PgOptions::default()).await
    }

    /// [`PgStore::open`] with explicit options.
    pub async fn open_with(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        let pools = connect::pools(url, &options).await?;
        let mut conn = pools.general.acquire().await?;
        connect::check_schema(&mut conn, url).await?;
        MIGRATOR.run(&mut *conn).await?;
        drop(conn);
        Ok(Self {
            pool: pools.general,
            lease_pool: pools.lease,
            turn_pool: pools.turn,
            budget_pool: pools.budget,
        })
    }

    /// The general pool, for tests that look at the database directly.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// True when `error` is a unique-index violation (a race another replica won).
fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some(UNIQUE_VIOLATION))
}

fn positive(name: &str, value: i64) -> Result<(), StoreError> {
    if value > 0 {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{name} must be positive, got {value}"
        )))
    }
}

#[async_trait]
impl Store for PgStore {
    async fn close(&self) {
        self.pool.close().await;
        self.lease_pool.close().await;
        self.turn_pool.close().await;
        self.budget_pool.close().await;
    }

    fn shared_rate_budget(&self) -> Option<std::sync::Arc<dyn super::RateBudgetStore>> {
        Some(std::sync::Arc::new(self.clone()))
    }

    async fn queue_depths(&self) -> StoreResult<QueueDepths> {
        let sql = "SELECT (SELECT COUNT(*) FROM inbox WHERE status IN ('queued', 'running')), \
                          (SELECT COUNT(*) FROM outbox WHERE status = 'planned')";
        let (turns, parts): (i64, i64) = sqlx::query_as(sql).fetch_one(&self.pool).await?;
        Ok(QueueDepths {
            pending_turns: u64::try_from(turns).unwrap_or(0),
            planned_parts: u64::try_from(parts).unwrap_or(0),
        })
    }
}
