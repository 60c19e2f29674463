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

/// Two gateways on one SQLite state directory would answer the same messages: the second
/// exits at once, naming the directory and the first one's pid, and the first keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gateway_on_the_same_state_directory_refuses_to_start() {
    let world = World::start().await;
    world
        .model
        .push(Script::text("Only once.").when_last_user_contains("[lock1]"));
    let path = world.write_config(&world.config(OPEN, ""));
    let mut first = world.start_gateway(&path).await;
    let mut second = world.launch(Some(&path), &[], &[]).await;
    let status = second.wait_exit(support::TIMEOUT).await;
    assert!(!status.success(), "{status}");
    let log = second.log();
    let state = world.state_dir();
    assert!(
        log.contains("already running on the state directory")
            && log.contains(&state.display().to_string())
            && log.contains(&format!("pid {}", first.pid())),
        "{log}"
    );
    assert!(!log.contains("gateway running"), "{log}");
    assert_eq!(
        world.sim.open_connections(APP1).len(),
        1,
        "the second gateway opened no Stream connection"
    );

    let dm = world.dm(APP1, ALICE, "still there? [lock1]");
    world
        .wait_reply_containing(&dm.conversation_id, "Only once.")
        .await;
    first.assert_running();
    first.terminate();
    assert!(first.wait_exit(support::TIMEOUT).await.success());
    // The lock went with the process: the next start is not refused.
    let mut again = world.start_gateway(&path).await;
    again.assert_running();
}

/// A state directory or log file that another user can read (made by hand, or by an older
/// tool with a loose umask) is tightened at start, with a warning in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loose_state_directory_and_log_permissions_are_corrected_at_start() {
    let world = World::start().await;
    let state = world.state_dir();
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log_file = state.join("gateway.log");
    std::fs::write(&log_file, "{\"earlier\":true}\n").unwrap();
    std::fs::set_permissions(&log_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let path = world.write_config(&world.config(OPEN, ""));
    let mut gateway = world.start_gateway(&path).await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&log_file), 0o600);
    let log = gateway.log();
    assert!(
        log.contains("was accessible to other users") && log.contains("0755"),
        "{log}"
    );
    gateway.terminate();
    assert!(gateway.wait_exit(support::TIMEOUT).await.success());
}
