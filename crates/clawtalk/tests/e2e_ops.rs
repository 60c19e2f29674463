//! End to end, operations: `/healthz`, `/readyz`, `/metrics`, the token-protected control
//! API behind `gateway status`, and `clawtalk logs [--follow]` — the real binary against the
//! simulator and the mock model.

mod support;

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use dingtalk_sim::AppPatch;
use llm_mock::Script;
use support::process::GatewayProcess;
use support::world::{ALICE, APP1, OPEN};
use support::{TIMEOUT, World, wait_until};

const TOKEN: &str = "gw-token-for-the-control-api";

/// One Stream bot, open policies, port 0, and `gateway_extra` in `gateway`.
fn config(world: &World, gateway_extra: &str) -> String {
    world.fill(&format!(
        r#"{{
  agents: {{ list: [ {{ id: "main", model: "mock/e2e-model" }} ] }},
  models: {{ providers: {{ mock: {{ baseUrl: "{{MODEL}}", apiKey: "sk-e2e-mock" }} }} }},
  channels: {{ dingtalk: {{ clientId: "{{APP1}}", clientSecret: "{{SECRET1}}", endpoints: "{{SIM}}", {OPEN} }} }},
  gateway: {{ stateDir: "{{STATE}}", port: 0, {gateway_extra} }},
}}"#
    ))
}

/// The listener address from the gateway's log line.
async fn http_addr(process: &mut GatewayProcess) -> SocketAddr {
    const MARK: &str = "gateway HTTP listening on http://";
    wait_until("the gateway to log its HTTP address", TIMEOUT, || {
        process.assert_running();
        let log = process.log();
        let rest = &log[log.find(MARK)? + MARK.len()..];
        rest[..rest.find(|c: char| c.is_whitespace())?].parse().ok()
    })
    .await
}

async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let mut request = dingtalk::tls::client_builder()
        .build()
        .unwrap()
        .get(format!("http://{addr}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// The value of one exposition sample (`name{labels}` exactly as printed).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn clawtalk(world: &World, args: &[&str]) -> Output {
    support::process::run_cli(world.home(), args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_follow_the_connection_and_metrics_count_a_dm_round_trip() {
    let world = World::start().await;
    world
        .model
        .push(Script::text("metrics are fine").when_last_user_contains("ping metrics"));
    // The bot cannot connect at first: not ready, but alive.
    let stream = |on| AppPatch {
        stream_enabled: Some(on),
        ..AppPatch::default()
    };
    world.sim.update_app(APP1, &stream(false)).expect("patch");
    let path = world.write_config(&config(&world, ""));
    let mut gateway = world.launch(Some(&path), &[], &[]).await;
    let addr = http_addr(&mut gateway).await;
    assert_eq!(get(addr, "/healthz", None).await.0, 200);
    let (status, body) = get(addr, "/readyz", None).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("account default: Stream not connected"), "{body}");

    world.sim.update_app(APP1, &stream(true)).expect("patch");
    wait_until("a Stream connection", TIMEOUT, || {
        gateway.assert_running();
        world.sim.open_connections(APP1).into_iter().next()
    })
    .await;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (status, body) = get(addr, "/readyz", None).await;
        if status == 200 {
            assert_eq!(body.trim(), "ready");
            break;
        }
        assert!(Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let injected = world.dm(APP1, ALICE, "ping metrics please");
    world.wait_replies(&injected.conversation_id, 1).await;
    // The turn is finished just after the reply is accepted; its duration is recorded last.
    let deadline = Instant::now() + TIMEOUT;
    let metrics = loop {
        let (status, text) = get(addr, "/metrics", None).await;
        assert_eq!(status, 200, "{text}");
        if sample(&text, "clawtalk_turn_duration_seconds_count") == Some(1.0) {
            break text;
        }
        assert!(Instant::now() < deadline, "no finished turn in:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let at_least_one = |series: &str| {
        let value = sample(&metrics, series).unwrap_or(0.0);
        assert!(value >= 1.0, "{series} = {value} in:\n{metrics}");
    };
    at_least_one("clawtalk_messages_in_total{account=\"default\"}");
    at_least_one("clawtalk_messages_out_total{account=\"default\"}");
    assert_eq!(
        sample(&metrics, "clawtalk_turns_total{outcome=\"replied\"}"),
        Some(1.0),
        "{metrics}"
    );
    at_least_one("clawtalk_reply_latency_seconds_count");
    at_least_one("clawtalk_reply_latency_seconds_bucket{le=\"+Inf\"}");
    at_least_one("clawtalk_stream_connected{account=\"default\"}");
    at_least_one("clawtalk_dingtalk_api_calls_total{account=\"default\",endpoint=\"sessionWebhook\"}");
    assert_eq!(sample(&metrics, "clawtalk_pending_turns"), Some(0.0), "{metrics}");
    assert_eq!(
        sample(&metrics, "clawtalk_outbox_planned_parts"),
        Some(0.0),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE clawtalk_turn_duration_seconds histogram"),
        "{metrics}"
    );

    // A dropped connection is a reconnect.
    world.sim.drop_connections(APP1);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let text = get(addr, "/metrics", None).await.1;
        if sample(&text, "clawtalk_reconnects_total{account=\"default\"}").unwrap_or(0.0) >= 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no reconnect counted:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_api_needs_the_token_and_logs_can_be_followed() {
    let world = World::start().await;
    let path = world.write_config(&config(&world, &format!(r#"auth: {{ token: "{TOKEN}" }}"#)));
    let mut gateway = world.start_gateway(&path).await;
    let addr = http_addr(&mut gateway).await;
    let config_arg = path.display().to_string();

    let (status, body) = get(addr, "/control/status", None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(get(addr, "/control/status", Some("not-the-token")).await.0, 401);
    assert_eq!(
        get(addr, "/metrics", None).await.0,
        401,
        "metrics are behind the token too"
    );
    let (status, body) = get(addr, "/control/status", Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"connected\":true"), "{body}");

    // `gateway status` goes through the control API with the config's token.
    let out = clawtalk(&world, &["gateway", "status", "--config", &config_arg]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("from the control API on {addr}")),
        "{text}"
    );
    assert!(text.contains("default") && text.contains("connected"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");

    // `logs` reads what this run wrote, readable and raw.
    let out = clawtalk(&world, &["logs", "--config", &config_arg, "-n", "500"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("DingTalk connected"), "{text}");
    let out = clawtalk(&world, &["logs", "--config", &config_arg, "--json", "-n", "3"]).await;
    let raw = String::from_utf8_lossy(&out.stdout);
    assert_eq!(raw.lines().count(), 3, "{raw}");
    for line in raw.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }

    // `--follow` shows a line written later: a connection drop makes the gateway log one.
    let mut follower = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_clawtalk"))
            .env_clear()
            .env("HOME", world.home())
            .args(["logs", "--config", &config_arg, "-n", "0", "--follow"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn logs --follow"),
    );
    let mut stdout = follower.0.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(String::from_utf8_lossy(&buf[..n]).into_owned()).is_err() {
                break;
            }
        }
    });
    // Let the follower take its starting offset before the new line is written.
    tokio::time::sleep(Duration::from_millis(500)).await;
    world.sim.drop_connections(APP1);
    let mut seen = String::new();
    let deadline = Instant::now() + TIMEOUT;
    while !seen.contains("DingTalk connection ended") {
        assert!(
            Instant::now() < deadline,
            "--follow never showed the new line; got:\n{seen}"
        );
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push_str(&chunk);
        }
    }
    assert!(
        !seen.contains("gateway running"),
        "-n 0 starts at the end:\n{seen}"
    );
}

/// A child process that is killed and reaped however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `get` with an `X-Forwarded-For` header, on a fresh connection.
async fn get_forwarded(addr: SocketAddr, path: &str, client: &str, token: &str) -> u16 {
    dingtalk::tls::client_builder()
        .build()
        .unwrap()
        .get(format!("http://{addr}{path}"))
        .header("x-forwarded-for", client)
        .bearer_auth(token)
        .send()
        .await
        .expect("the gateway answers")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_control_api_needs_the_generated_token_and_throttles_each_client() {
    let world = World::start().await;
    // A reverse proxy on this host: every client reaches the gateway from loopback.
    let path = world.write_config(&config(&world, r#"trustedProxies: ["127.0.0.1"]"#));
    let mut gateway = world.start_gateway(&path).await;
    let addr = http_addr(&mut gateway).await;

    let (status, body) = get(addr, "/metrics", None).await;
    assert_eq!(status, 401, "no token configured, yet a proxy is: {body}");
    assert!(body.contains("clawtalk gateway token"), "{body}");
    let token_file = world.state_dir().join("gateway-token");
    let token = std::fs::read_to_string(&token_file).expect("the generated gateway token");
    let token = token.trim();
    assert_eq!(get(addr, "/metrics", Some(token)).await.0, 200);

    // One client behind the proxy guesses until it is locked out, even with the right token…
    let guesser = "203.0.113.10";
    for i in 0..10 {
        let status = get_forwarded(addr, "/control/status", guesser, &format!("guess-{i}")).await;
        assert_eq!(status, 401, "guess {i}");
    }
    assert_eq!(get_forwarded(addr, "/control/status", guesser, token).await, 429);
    // …while another client behind the same proxy is not.
    assert_eq!(
        get_forwarded(addr, "/control/status", "203.0.113.11", token).await,
        200
    );

    // `gateway status` finds the generated token itself.
    let config_arg = path.display().to_string();
    let out = clawtalk(&world, &["gateway", "status", "--config", &config_arg]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("from the control API"), "{text}");
    assert!(!text.contains(token), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_the_token_is_throttled_whatever_x_forwarded_for_says() {
    let world = World::start().await;
    let path = world.write_config(&config(&world, &format!(r#"auth: {{ token: "{TOKEN}" }}"#)));
    let mut gateway = world.start_gateway(&path).await;
    let addr = http_addr(&mut gateway).await;

    // No proxy is trusted: a made-up client address per guess changes nothing.
    for i in 0..10 {
        let status = get_forwarded(addr, "/metrics", &format!("198.51.100.{i}"), "wrong").await;
        assert_eq!(status, 401, "guess {i}");
    }
    let response = dingtalk::tls::client_builder()
        .build()
        .unwrap()
        .get(format!("http://{addr}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(
        response.status().as_u16(),
        429,
        "locked out, even with the right token"
    );
    let retry: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry), "{retry}");
}
