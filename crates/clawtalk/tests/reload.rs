//! End to end, reloading the configuration without a restart: the real binary against the
//! simulator. An edited file applies to the next turn while unchanged accounts keep their
//! Stream connection (the simulator sees no new `connections/open`); an added account
//! connects, a disabled one drains its turn and then disconnects; an invalid file is
//! refused and the running configuration keeps answering; SIGHUP reloads; with
//! `gateway.reload.mode: "off"` file edits wait for SIGHUP or the web console's Reload,
//! whose status page shows a refused file's errors and what needs a restart.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use llm_mock::Script;
use support::process::GatewayProcess;
use support::web::{WebSession, printed_token, web_addr};
use support::webhook::gateway_addr;
use support::world::{ALICE, APP1, APP2, BOB, texts_of};
use support::{TIMEOUT, World, WorldOptions, wait_until};

/// A config with `agent` as agent `main`'s prompt and model, `accounts` inside
/// `channels.dingtalk.accounts`, and `gateway` keys.
fn config(world: &World, prompt: &str, model: &str, accounts: &str, gateway: &str) -> String {
    world.fill(&format!(
        r#"{{
  agents: {{ list: [ {{ id: "main", model: "{model}", systemPrompt: "{prompt}" }} ] }},
  models: {{ providers: {{ mock: {{ baseUrl: "{{MODEL}}", apiKey: "sk-e2e-mock" }} }} }},
  channels: {{ dingtalk: {{
    endpoints: "{{SIM}}", dmPolicy: "open", allowFrom: ["*"],
    accounts: {{ bot1: {{ clientId: "{{APP1}}", clientSecret: "{{SECRET1}}" }}, {accounts} }},
  }} }},
  gateway: {{ stateDir: "{{STATE}}", {gateway} }},
}}"#
    ))
}

/// Replaces the file the way many editors save: a temp file renamed over it.
fn save_by_rename(path: &Path, text: &str) {
    let temp = path.with_extension("json.tmp");
    std::fs::write(&temp, text).expect("write the temp file");
    std::fs::rename(&temp, path).expect("rename it over the config");
}

/// Waits until the gateway's log has `needle` at least `n` times.
async fn wait_log(gateway: &mut GatewayProcess, needle: &str, n: usize) -> String {
    let what = format!("{n}× {needle:?} in the gateway log");
    wait_until(&what, TIMEOUT, || {
        gateway.assert_running();
        let log = gateway.log();
        (log.matches(needle).count() >= n).then_some(log)
    })
    .await
}

fn sighup(gateway: &GatewayProcess) {
    let status = Command::new("kill")
        .arg("-HUP")
        .arg(gateway.pid().to_string())
        .status()
        .expect("run kill -HUP");
    assert!(status.success(), "kill -HUP failed: {status}");
}

/// `connections/open` calls made with `app`'s credentials.
fn opens(world: &World, app: &str) -> usize {
    world
        .sim
        .open_log()
        .iter()
        .filter(|o| o.client_id.as_deref() == Some(app))
        .count()
}

/// The system prompt of the model request about `needle`.
async fn system_of(world: &World, needle: &str) -> (String, String) {
    let request = world.wait_request_for(needle).await;
    (texts_of(&request, "system").join("\n"), request.model)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_agent_applies_to_the_next_turn_and_an_invalid_file_is_refused() {
    let world = World::start().await;
    let path = world.write_config(&config(&world, "You are version one.", "mock/model-one", "", ""));
    let mut gateway = world.start_gateway(&path).await;
    let first = world.dm(APP1, ALICE, "before the edit [r1]");
    world.wait_replies(&first.conversation_id, 1).await;
    let (system, model) = system_of(&world, "[r1]").await;
    assert!(system.contains("version one"), "{system}");
    assert_eq!(model, "model-one");
    let opened = opens(&world, APP1);
    let connection = world.sim.open_connections(APP1)[0].connection_id.clone();

    save_by_rename(
        &path,
        &config(&world, "You are version two.", "mock/model-two", "", ""),
    );
    wait_log(&mut gateway, "config reloaded", 1).await;
    let second = world.dm(APP1, ALICE, "after the edit [r2]");
    world.wait_replies(&second.conversation_id, 2).await;
    let (system, model) = system_of(&world, "[r2]").await;
    assert!(
        system.contains("version two"),
        "the next turn has the new prompt: {system}"
    );
    assert_eq!(model, "model-two", "and the new model");

    // A typo: refused with its key path, and the running configuration keeps answering.
    let broken = config(&world, "You are version three.", "mock/model-two", "", "")
        .replace(r#"dmPolicy: "open""#, r#"dmPolicy: "sometimes""#);
    std::fs::write(&path, broken).expect("write the broken config");
    let log = wait_log(&mut gateway, "config reload refused", 1).await;
    assert!(
        log.contains("channels.dingtalk.dmPolicy"),
        "the error names its key:\n{log}"
    );
    let third = world.dm(APP1, BOB, "while the file is broken [r3]");
    world.wait_replies(&third.conversation_id, 1).await;
    let (system, _) = system_of(&world, "[r3]").await;
    assert!(
        system.contains("version two"),
        "the running config stays: {system}"
    );

    assert_eq!(
        opens(&world, APP1),
        opened,
        "no new connections/open for the unchanged account"
    );
    let open_now: Vec<String> = world
        .sim
        .open_connections(APP1)
        .into_iter()
        .map(|c| c.connection_id)
        .collect();
    assert_eq!(open_now, [connection], "its Stream connection is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_account_connects_and_a_disabled_one_drains_then_disconnects() {
    let world = World::start_with(WorldOptions {
        second_app: true,
        model_delays: true,
        ..WorldOptions::default()
    })
    .await;
    let prompt = "You are the bot.";
    let path = world.write_config(&config(&world, prompt, "mock/e2e-model", "", ""));
    let mut gateway = world.start_gateway(&path).await;
    let opened = opens(&world, APP1);
    assert!(world.sim.open_connections(APP2).is_empty());

    let bot2 = r#"bot2: { clientId: "{APP2}", clientSecret: "{SECRET2}" },"#;
    std::fs::write(&path, config(&world, prompt, "mock/e2e-model", bot2, "")).expect("add bot2");
    wait_until("bot2 to connect", TIMEOUT, || {
        gateway.assert_running();
        world.sim.open_connections(APP2).into_iter().next()
    })
    .await;
    let hello = world.dm(APP2, ALICE, "hello bot two [a1]");
    world.wait_reply_containing(&hello.conversation_id, "[a1]").await;

    // A turn of bot2 runs while bot2 is disabled: it is answered, then bot2 disconnects.
    world.model.push(
        Script::text("SLOW ANSWER [a2]")
            .delay(Duration::from_secs(3), Duration::ZERO)
            .when_last_user_contains("[a2]"),
    );
    let slow = world.dm(APP2, BOB, "a slow question [a2]");
    world.wait_request_for("[a2]").await;
    let disabled = r#"bot2: { enabled: false, clientId: "{APP2}", clientSecret: "{SECRET2}" },"#;
    std::fs::write(&path, config(&world, prompt, "mock/e2e-model", disabled, "")).expect("disable bot2");
    wait_log(&mut gateway, "account removed from the config: draining", 1).await;
    assert!(
        !world.sim.open_connections(APP2).is_empty(),
        "bot2 keeps its connection while its turn runs"
    );
    let reply = world
        .wait_reply_containing(&slow.conversation_id, "SLOW ANSWER")
        .await;
    assert_eq!(reply.app.as_deref(), Some(APP2), "answered as bot2");
    let closed = wait_until("bot2 to disconnect", TIMEOUT, || {
        gateway.assert_running();
        let connections = world.sim.connections();
        let bot2: Vec<_> = connections.iter().filter(|c| c.app == APP2).collect();
        bot2.iter()
            .all(|c| c.closed_at_ms.is_some())
            .then(|| bot2.iter().filter_map(|c| c.closed_at_ms).max())
            .flatten()
    })
    .await;
    assert!(closed >= reply.at_ms, "disconnected after the reply went out");
    wait_log(&mut gateway, "removed account drained and disconnected", 1).await;

    assert_eq!(opens(&world, APP1), opened, "bot1 was never reconnected");
    assert_eq!(world.sim.open_connections(APP1).len(), 1);
    let still = world.dm(APP1, ALICE, "bot one still answers [a3]");
    world.wait_reply_containing(&still.conversation_id, "[a3]").await;
}

/// An HTTP-mode account that a reload adds is served on its webhook path at once, and one
/// that a reload removes gets 404 there; the Stream account beside it is never reconnected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_http_mode_account_is_served_without_a_restart() {
    let world = World::start_with(WorldOptions {
        second_app: true,
        ..WorldOptions::default()
    })
    .await;
    let prompt = "You are the bot.";
    let path = world.write_config(&config(&world, prompt, "mock/e2e-model", "", "port: 0,"));
    let mut gateway = world.start_gateway(&path).await;
    let addr = gateway_addr(&mut gateway).await;
    let opened = opens(&world, APP1);

    let bot2 = r#"bot2: { clientId: "{APP2}", clientSecret: "{SECRET2}", mode: "http" },"#;
    std::fs::write(&path, config(&world, prompt, "mock/e2e-model", bot2, "port: 0,")).expect("add bot2");
    wait_log(&mut gateway, "webhooks: now serving", 1).await;
    let hook = format!("http://{addr}/webhooks/dingtalk/bot2");
    world.sim.set_http_bot_callback(APP2, Some(hook)).unwrap();
    world
        .model
        .push(Script::text("Hello over HTTP [h1]").when_last_user_contains("[h1]"));
    let hello = world.dm(APP2, ALICE, "hello bot two over http [h1]");
    let reply = world
        .wait_reply_containing(&hello.conversation_id, "Hello over HTTP [h1]")
        .await;
    assert_eq!(reply.app.as_deref(), Some(APP2));
    assert!(
        world.sim.open_connections(APP2).is_empty(),
        "an HTTP-mode account opens no Stream connection"
    );

    std::fs::write(&path, config(&world, prompt, "mock/e2e-model", "", "port: 0,")).expect("remove bot2");
    wait_log(&mut gateway, "webhooks: now serving", 2).await;
    let pushed = world.sim.wait_for_http_pushes(1, TIMEOUT).await.unwrap().len();
    world.dm(APP2, BOB, "anyone there? [h2]");
    let pushes = world.sim.wait_for_http_pushes(pushed + 1, TIMEOUT).await.unwrap();
    let last = pushes.last().unwrap();
    assert_eq!(
        last.status,
        Some(404),
        "a removed account's webhook is refused: {last:?}"
    );
    assert!(world.requests_for("[h2]").is_empty());
    assert_eq!(opens(&world, APP1), opened, "bot1 was never reconnected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_reload_mode_off_a_file_edit_waits_for_sighup() {
    let world = World::start().await;
    let off = r#"reload: { mode: "off" },"#;
    let path = world.write_config(&config(&world, "You are version one.", "mock/e2e-model", "", off));
    let mut gateway = world.start_gateway(&path).await;
    let opened = opens(&world, APP1);

    let two = config(&world, "You are version two.", "mock/e2e-model", "", off);
    std::fs::write(&path, &two).expect("edit the config");
    wait_log(&mut gateway, "gateway.reload.mode is \"off\"", 1).await;
    let first = world.dm(APP1, ALICE, "after the edit [o1]");
    world.wait_replies(&first.conversation_id, 1).await;
    let (system, _) = system_of(&world, "[o1]").await;
    assert!(system.contains("version one"), "the edit waits: {system}");

    // SIGHUP applies it; a setting that cannot apply live is reported, not applied.
    let three = config(
        &world,
        "You are version three.",
        "mock/e2e-model",
        "",
        r#"reload: { mode: "off" }, maxConcurrentTurns: 7,"#,
    );
    std::fs::write(&path, &three).expect("edit the config again");
    wait_log(&mut gateway, "gateway.reload.mode is \"off\"", 2).await;
    sighup(&gateway);
    let log = wait_log(&mut gateway, "config reloaded", 1).await;
    assert!(
        log.contains("needs a restart: gateway.maxConcurrentTurns"),
        "the restart-only change is reported:\n{log}"
    );
    let second = world.dm(APP1, BOB, "after SIGHUP [o2]");
    world.wait_replies(&second.conversation_id, 1).await;
    let (system, _) = system_of(&world, "[o2]").await;
    assert!(
        system.contains("version three"),
        "SIGHUP applied the file: {system}"
    );
    assert_eq!(opens(&world, APP1), opened, "no reconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consoles_reload_button_shows_errors_and_what_needs_a_restart() {
    let world = World::start().await;
    let off = r#"reload: { mode: "off" },"#;
    let path = world.write_config(&config(&world, "You are version one.", "mock/e2e-model", "", off));
    let mut gateway = world.start_gateway(&path).await;
    let base = format!("http://{}", web_addr(&mut gateway).await);
    let token = printed_token(&gateway.log()).expect("the first start prints the token");
    let session = WebSession::login(&base, &token).await;
    let csrf = session.csrf().await;

    let (status, _, _) = session.post("/reload", &[("csrf", "forged")]).await;
    assert_eq!(status, 403, "no CSRF token, no reload");

    let broken = config(&world, "You are version two.", "mock/e2e-model", "", off)
        .replace(r#"dmPolicy: "open""#, r#"dmPolicy: "sometimes""#);
    std::fs::write(&path, broken).expect("write the broken config");
    let (status, location, _) = session.post("/reload", &[("csrf", &csrf)]).await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some("/#reload"));
    let (_, page) = session.get("/").await;
    assert!(page.contains(r#"data-reload-outcome="refused""#), "{page}");
    assert!(
        page.contains("channels.dingtalk.dmPolicy"),
        "the error at its key: {page}"
    );

    let fixed = config(
        &world,
        "You are version two.",
        "mock/e2e-model",
        "",
        r#"reload: { mode: "off" }, maxConcurrentTurns: 9,"#,
    );
    std::fs::write(&path, fixed).expect("fix the config");
    session.post("/reload", &[("csrf", &csrf)]).await;
    let (_, page) = session.get("/").await;
    assert!(page.contains(r#"data-reload-outcome="applied""#), "{page}");
    assert!(page.contains("Needs a restart"), "{page}");
    assert!(page.contains("gateway.maxConcurrentTurns"), "{page}");
    let dm = world.dm(APP1, ALICE, "after the console's reload [w1]");
    world.wait_replies(&dm.conversation_id, 1).await;
    let (system, _) = system_of(&world, "[w1]").await;
    assert!(system.contains("version two"), "{system}");
}
