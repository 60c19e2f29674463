//! Shared harness of the end-to-end tests: the real `clawtalk` binary, spawned as a child
//! process, against an in-process DingTalk simulator and mock model on 127.0.0.1.
//!
//! - [`world`]: the simulator (apps, users, a group with the bots), the mock model, a temp
//!   HOME with the state directory, config files, injecting messages and reading replies.
//! - [`process`]: the gateway child process: spawn, SIGKILL, SIGTERM, logs; always killed on drop.
//! - [`db`]: read-only looks into the gateway's SQLite state (WAL lets us read while it runs).
//! - [`dead_worker`]: a turn claimed by a gateway that then died, for the crash tests.
//! - [`pg`]: a private PostgreSQL schema per test (`CLAWTALK_TEST_PG`), and its `store.url`.
//! - [`replicas`]: several gateways on one PostgreSQL store and one app.
//! - [`in_process`]: the config of a gateway run inside the test process.
//! - [`proxy`]: a forward HTTP proxy that records what went through it.

#![allow(dead_code)]

pub mod db;
pub mod dead_worker;
pub mod faults;
pub mod in_process;
#[path = "../../../clawtalk-store/tests/support/pg.rs"]
pub mod pg;
pub mod process;
pub mod proxy;
pub mod replicas;
pub mod web;
pub mod webhook;
pub mod world;

use std::time::{Duration, Instant};

// Not every test binary uses both.
#[allow(unused_imports)]
pub use world::{World, WorldOptions};

/// Default wait for anything the gateway should do promptly. Generous: debug builds on two
/// busy cores are slow, and a passing test never waits this long.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Polls `probe` every 20 ms until it yields a value; panics with `what` after `timeout`.
/// Used instead of fixed sleeps wherever there is a condition to wait for.
pub async fn wait_until<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Async version of [`wait_until`], for probes that query the database.
pub async fn wait_until_async<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
