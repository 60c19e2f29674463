//! Several gateway processes on one PostgreSQL database and one DingTalk app: replicas.
//!
//! Each replica has its own `CLAWTALK_INSTANCE` (lease owner), config file and state dir
//! (status file, logs), and all share `store.url`, a schema made by [`super::pg::TestSchema`].
//! The simulator spreads Stream deliveries over the replicas' connections at random.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sqlx::PgPool;

use super::process::GatewayProcess;
use super::world::{APP1, World};

/// One replica: its name (the lease owner in the store) and its process.
pub struct Replica {
    pub name: String,
    pub config: PathBuf,
    pub process: GatewayProcess,
}

/// Writes `<home>/<name>.json`: [`World::config`] with `channels_extra`, the replica's own
/// state dir, and `store.url` set to `store_url`.
pub fn write_replica_config(world: &World, name: &str, channels_extra: &str, store_url: &str) -> PathBuf {
    let state = world.home().join(format!("state-{name}"));
    let text = world
        .config(
            channels_extra,
            &format!("store: {{ url: {} }},", serde_json::json!(store_url)),
        )
        .replace(
            &world.state_dir().display().to_string(),
            &state.display().to_string(),
        );
    let path = world.home().join(format!("{name}.json"));
    std::fs::write(&path, text).expect("write the replica config");
    path
}

/// Starts replica `name` and waits for its Stream connection for APP1.
pub async fn start_replica(world: &World, name: &str, channels_extra: &str, store_url: &str) -> Replica {
    let config = write_replica_config(world, name, channels_extra, store_url);
    let env = [("CLAWTALK_INSTANCE".to_owned(), name.to_owned())];
    let process = world.launch(Some(&config), &env, &[APP1]).await;
    Replica {
        name: name.to_owned(),
        config,
        process,
    }
}

/// Starts the replica again on its config (after a kill), as the same instance.
pub async fn restart_replica(world: &World, replica: &mut Replica) {
    let env = [("CLAWTALK_INSTANCE".to_owned(), replica.name.clone())];
    replica.process = world.launch(Some(&replica.config), &env, &[APP1]).await;
}

/// `status → rows` of the inbox.
pub async fn inbox_statuses(pool: &PgPool) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT status, count(*) FROM inbox GROUP BY status")
        .fetch_all(pool)
        .await
        .expect("count inbox rows by status");
    rows.into_iter().collect()
}

/// Inbox rows and reply parts not yet in a final state.
pub async fn unfinished(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM inbox WHERE status IN ('received', 'queued', 'running')), \
                (SELECT count(*) FROM outbox WHERE status = 'planned')",
    )
    .fetch_one(pool)
    .await
    .expect("count unfinished rows")
}

/// Finished turns per replica (the lease owner stays on the row after the turn).
pub async fn turns_by_replica(pool: &PgPool) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT lease_owner, count(*) FROM inbox \
         WHERE status = 'replied' AND lease_owner IS NOT NULL GROUP BY lease_owner",
    )
    .fetch_all(pool)
    .await
    .expect("count turns per replica");
    rows.into_iter().collect()
}

/// Inbox rows stored so far.
pub async fn recorded(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM inbox")
        .fetch_one(pool)
        .await
        .expect("count inbox rows")
}
