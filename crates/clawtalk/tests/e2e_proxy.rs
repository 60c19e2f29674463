//! End to end behind a proxy: with `HTTP_PROXY` set (the simulator and the mock model speak
//! plain HTTP; against DingTalk it is `HTTPS_PROXY`, matched the same way), every connection
//! the gateway makes goes through the proxy — the OpenAPI calls as proxied requests, the
//! Stream WebSocket through a `CONNECT` tunnel — and a DM is answered. With the simulator's
//! host in `NO_PROXY`, nothing does.

mod support;

use llm_mock::Script;
use support::World;
use support::proxy::RecordingProxy;
use support::world::{ALICE, APP1, OPEN};

fn sim_authority(world: &World) -> String {
    let url = world.sim.base_url();
    format!("{}:{}", url.host_str().unwrap(), url.port().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_calls_and_the_stream_socket_go_through_the_proxy() {
    let world = World::start().await;
    let proxy = RecordingProxy::start().await;
    world
        .model
        .push(Script::text("Answered through the proxy.").when_last_user_contains("[proxy]"));
    let config = world.write_config(&world.config(OPEN, ""));
    let env = [("HTTP_PROXY".to_owned(), proxy.url.clone())];
    let _gateway = world.launch(Some(&config), &env, &[APP1]).await;

    let dm = world.dm(APP1, ALICE, "[proxy] are you there?");
    let reply = world
        .wait_reply_containing(&dm.conversation_id, "Answered through the proxy.")
        .await;
    assert_eq!(reply.api, "sessionWebhook");

    let sim = sim_authority(&world);
    let seen = proxy.seen();
    assert!(
        seen.iter().any(|s| *s == format!("CONNECT {sim}")),
        "the Stream socket went through a tunnel: {seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|s| s.starts_with("POST ") && s.contains(&format!("http://{sim}/"))),
        "the OpenAPI calls went through the proxy: {seen:#?}"
    );
    let model = world.model.base_url();
    let model = model.trim_start_matches("http://").split('/').next().unwrap();
    assert!(
        seen.iter().any(|s| s.contains(&format!("http://{model}/"))),
        "the model's requests too: {seen:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_proxy_keeps_every_connection_direct() {
    let world = World::start().await;
    let proxy = RecordingProxy::start().await;
    world
        .model
        .push(Script::text("Answered directly.").when_last_user_contains("[direct]"));
    let config = world.write_config(&world.config(OPEN, ""));
    let env = [
        ("HTTP_PROXY".to_owned(), proxy.url.clone()),
        ("NO_PROXY".to_owned(), "127.0.0.1".to_owned()),
    ];
    let _gateway = world.launch(Some(&config), &env, &[APP1]).await;
    let dm = world.dm(APP1, ALICE, "[direct] hello");
    world
        .wait_reply_containing(&dm.conversation_id, "Answered directly.")
        .await;
    assert!(proxy.seen().is_empty(), "{:#?}", proxy.seen());
}
