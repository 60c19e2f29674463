//! End to end, a slow-client flood: the real binary under a 256-descriptor limit, in HTTP
//! mode, while more half-sent requests than it has descriptors keep arriving. `/healthz`
//! keeps answering within two seconds, and every DingTalk message, one sent mid-flood among
//! them, is answered; none is marked failed.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use llm_mock::Script;
use support::World;
use support::process::{GatewayProcess, Launch};
use support::webhook::listen_addr;
use support::world::{ALICE, APP1, BOB, CAROL};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The gateway's open-files limit, as `prlimit --nofile=256:256` would set it.
const NOFILE: u64 = 256;
/// Half-sent requests held open before the checks start: more than the gateway has
/// descriptors.
const FLOOD: usize = 300;
/// The flood keeps growing during the checks, up to this many connections.
const FLOOD_MAX: usize = 600;
/// How fast `/healthz` must answer during the flood.
const HEALTHZ_WITHIN: Duration = Duration::from_secs(2);

fn http_config(world: &World) -> String {
    world.fill(
        r#"{
  agents: { list: [ { id: "main", model: "mock/e2e-model" } ] },
  models: { providers: { mock: { baseUrl: "{MODEL}", apiKey: "sk-e2e-mock" } } },
  channels: { dingtalk: {
    clientId: "{APP1}", clientSecret: "{SECRET1}", endpoints: "{SIM}",
    mode: "http", dmPolicy: "open", allowFrom: ["*"],
  } },
  gateway: { stateDir: "{STATE}", port: 0 },
}"#,
    )
}

/// `clawtalk gateway run` with RLIMIT_NOFILE lowered to [`NOFILE`] before it starts.
fn spawn_limited(world: &World, config: &std::path::Path) -> GatewayProcess {
    let launch = Launch {
        home: world.home(),
        config: Some(config),
        env: &[],
        log: world.home().join("gateway-flood.log"),
        port: None,
    };
    GatewayProcess::spawn_with(&launch, |command| {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe and touches only the child's own limits.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: NOFILE,
                    rlim_max: NOFILE,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    })
}

/// Opens a connection every few milliseconds and sends half a request head on it, holding
/// every one open (as a stalled client would) until `stop`; [`FLOOD`] and then more, up to
/// [`FLOOD_MAX`]. Counts them in `opened`.
async fn flood(addr: SocketAddr, stop: Arc<AtomicBool>, opened: Arc<AtomicUsize>) {
    let mut held = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        if held.len() >= FLOOD_MAX {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let connected = tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr)).await;
        if let Ok(Ok(mut stream)) = connected {
            let _ = stream
                .write_all(b"POST /webhooks/dingtalk HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n")
                .await;
            held.push(stream);
            opened.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// One `/healthz` on a fresh connection; how long it took, or why it failed.
async fn healthz(addr: SocketAddr) -> Result<Duration, String> {
    let client = dingtalk::tls::client_builder()
        .pool_max_idle_per_host(0)
        .timeout(HEALTHZ_WITHIN)
        .build()
        .expect("client");
    let started = Instant::now();
    let response = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .map_err(|e| format!("{e}"))?;
    if response.status() != 200 {
        return Err(format!("HTTP {}", response.status()));
    }
    Ok(started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_flood_beyond_the_descriptor_limit_starves_neither_healthz_nor_messages() {
    let world = World::start().await;
    for (needle, answer) in [
        ("before the flood", "answered before"),
        ("during the flood", "answered during"),
        ("after the flood", "answered after"),
    ] {
        world
            .model
            .push(Script::text(answer).when_last_user_contains(needle));
    }
    let path = world.write_config(&http_config(&world));
    let mut gateway = spawn_limited(&world, &path);
    let addr = listen_addr(&mut gateway).await;
    let url = format!("http://{addr}/webhooks/dingtalk");
    world.sim.set_http_bot_callback(APP1, Some(url)).unwrap();

    let before = world.dm(APP1, ALICE, "a question before the flood");
    world
        .wait_reply_containing(&before.conversation_id, "answered before")
        .await;

    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicUsize::new(0));
    let flooding = tokio::spawn(flood(addr, Arc::clone(&stop), Arc::clone(&opened)));
    // Until the flood holds more connections than the gateway has descriptors.
    support::wait_until(
        "the flood to exceed the descriptor limit",
        support::TIMEOUT,
        || (opened.load(Ordering::Relaxed) > FLOOD).then_some(()),
    )
    .await;

    for i in 0..5 {
        let took = healthz(addr).await;
        gateway.assert_running();
        assert!(
            took.is_ok(),
            "/healthz #{i} during the flood: {took:?} ({} flood connections opened)",
            opened.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let during = world.dm(APP1, BOB, "a question during the flood");
    world
        .wait_reply_containing(&during.conversation_id, "answered during")
        .await;
    assert!(
        healthz(addr).await.is_ok(),
        "/healthz after the mid-flood message"
    );

    stop.store(true, Ordering::Relaxed);
    flooding.await.expect("the flood task");
    let after = world.dm(APP1, CAROL, "a question after the flood");
    world
        .wait_reply_containing(&after.conversation_id, "answered after")
        .await;
    gateway.assert_running();

    let db = world.state_dir().join("clawtalk.db");
    // The reply reaches DingTalk a moment before its turn is recorded as replied.
    let statuses = support::wait_until_async("every message settled", support::TIMEOUT, || async {
        let statuses = support::db::statuses(&db, "inbox").await;
        (statuses.values().sum::<i64>()
            == statuses.get("replied").copied().unwrap_or(0) + statuses.get("failed").copied().unwrap_or(0))
        .then_some(statuses)
    })
    .await;
    assert_eq!(statuses.get("failed"), None, "{statuses:?}");
    assert_eq!(statuses.get("replied"), Some(&3), "{statuses:?}");
    let log = gateway.log();
    assert!(
        log.contains("HTTP connection limit reached"),
        "the cap was reached"
    );
}
