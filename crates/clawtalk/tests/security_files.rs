//! Security review, end to end: everything the gateway writes is owner-only. During and
//! after a run with a DM round trip and a generated gateway token, every directory under the
//! state directory is 0700 and every file 0600: the database (and its WAL), the JSON log,
//! the status file, the token. (The config writers, `onboard`, `channels add`
//! and `config import`, are checked in `onboard.rs`; the token file also in `e2e_web.rs`.)

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use llm_mock::Script;
use support::World;
use support::world::{ALICE, APP1, OPEN};

fn walk(dir: &Path, found: &mut Vec<(PathBuf, u32, bool)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        found.push((path.clone(), meta.permissions().mode() & 0o777, meta.is_dir()));
        if meta.is_dir() {
            walk(&path, found);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_in_the_state_directory_is_owner_only() {
    let world = World::start().await;
    world
        .model
        .push(Script::text("Owner-only.").when_last_user_contains("[p1]"));
    let path = world.write_config(&world.config(OPEN, ""));
    assert!(!world.state_dir().exists(), "the gateway creates it");
    let mut gateway = world.start_gateway(&path).await;
    let dm = world.dm(APP1, ALICE, "who may read this [p1]");
    world
        .wait_reply_containing(&dm.conversation_id, "Owner-only.")
        .await;
    let state = world.state_dir();
    assert_owner_only(
        &state,
        &[
            "clawtalk.db",
            "clawtalk.db-wal",
            "gateway.log",
            "gateway-token",
            "status.json",
        ],
    );
    gateway.terminate();
    assert!(gateway.wait_exit(support::TIMEOUT).await.success());
    assert_owner_only(&state, &["clawtalk.db", "gateway.log", "gateway-token"]);
}

/// `state` is 0700, holds `expected`, and everything under it is 0700 (directories) or 0600.
fn assert_owner_only(state: &Path, expected: &[&str]) {
    let mode = std::fs::metadata(state).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{}", state.display());
    let mut found = Vec::new();
    walk(state, &mut found);
    let names: Vec<String> = found
        .iter()
        .map(|(p, _, _)| p.strip_prefix(state).unwrap().display().to_string())
        .collect();
    for name in expected {
        assert!(names.iter().any(|n| n == name), "{name} written: {names:?}");
    }
    let loose: Vec<String> = found
        .iter()
        .filter(|(_, mode, is_dir)| *mode != if *is_dir { 0o700 } else { 0o600 })
        .map(|(p, mode, _)| format!("{} {mode:o}", p.display()))
        .collect();
    assert!(loose.is_empty(), "not owner-only: {loose:?}");
}
