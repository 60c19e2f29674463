//! Card presses in HTTP mode, end to end against the real binary. Approvals: the account registers its card
//! callback route at start (after a failed first try, replacing an older binding of its
//! key), the approval card names
//! it (`callbackType: HTTP`), the simulator POSTs the requester's press to the gateway signed
//! with the route's `apiSecret`, the tool runs and the answer arrives; the card shows the
//! decision from the callback's answer. Forged, stale and replayed presses are refused and
//! decide nothing. AI cards: their buttons come back over HTTP too, and a press is answered
//! by the agent like over Stream.

mod support;

use std::time::Duration;

use clawtalk_core::clock::{Clock, SystemClock};
use dingtalk::crypto::card_callback_signature;
use dingtalk_sim::{ApiFault, Card, CardCallbackRoute, InjectCardCallback};
use llm_mock::Script;
use serde_json::{Value, json};
use support::process::GatewayProcess;
use support::webhook::listen_addr;
use support::world::{ALICE, APP1, BOB, SECRET1};
use support::{TIMEOUT, World, wait_until};

const TEMPLATE: &str = "approval-template.schema";
/// `clawtalk_<clientId>` of APP1.
const ROUTE_KEY: &str = "clawtalk_dinge2ebot1q7vxkt3mw";

/// A port nobody listens on right now: the card callback URL must name the gateway's port
/// before it starts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_config(world: &World, port: u16) -> String {
    http_config_with(world, port, "")
}

fn http_config_with(world: &World, port: u16, account_extra: &str) -> String {
    world.fill(&format!(
        r#"{{
  agents: {{ list: [ {{ id: "main", model: "mock/e2e-model" }} ] }},
  models: {{ providers: {{ mock: {{ baseUrl: "{{MODEL}}", apiKey: "sk-e2e-mock" }} }} }},
  tools: {{ approval: {{ require: ["get_time"], timeoutSeconds: 600, cardTemplateId: "{TEMPLATE}" }} }},
  channels: {{ dingtalk: {{
    clientId: "{{APP1}}", clientSecret: "{{SECRET1}}", endpoints: "{{SIM}}",
    mode: "http", dmPolicy: "open", allowFrom: ["*"], progressNotes: false,
    cardCallbackUrl: "http://127.0.0.1:{port}/webhooks/dingtalk/default/card",
    {account_extra}
  }} }},
  gateway: {{ stateDir: "{{STATE}}" }},
}}"#
    ))
}

/// Binds the route key to another URL first, as a gateway that moved would find it.
async fn register_elsewhere(world: &World) {
    let token = world.access_token(APP1, SECRET1).await;
    let body =
        json!({"callbackRouteKey": ROUTE_KEY, "callbackUrl": "https://old.example/cb", "apiSecret": "old"});
    let answer = world
        .post_to_sim("/v1.0/card/callbacks/register", Some(&token), &body)
        .await;
    assert_eq!(answer["success"], true, "{answer}");
}

fn route(world: &World, port: u16) -> Option<CardCallbackRoute> {
    world
        .sim
        .card_callback_routes()
        .into_iter()
        .find(|r| r.route_key == ROUTE_KEY && r.url.contains(&format!(":{port}/")))
}

fn approval_card(world: &World) -> Option<Card> {
    world.sim.cards().into_iter().find(|c| c.template_id == TEMPLATE)
}

fn press_body(card: &Card, user: &str, action: &str) -> Value {
    json!({
        "type": "actionCallback", "outTrackId": card.out_track_id, "userId": user, "userIdType": 1,
        "content": json!({"cardPrivateData": {"actionIds": [action], "params": {}}}).to_string(),
    })
}

/// POSTs a press to the gateway's card path with the given signature headers.
async fn post_press(url: &str, signed: Option<(&str, &str)>, body: &Value) -> (u16, String) {
    let mut request = dingtalk::tls::client_builder()
        .build()
        .expect("HTTP client")
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some((timestamp, signature)) = signed {
        request = request
            .header("x-ddpaas-signature-timestamp", timestamp)
            .header("x-ddpaas-signature", signature);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

fn waiting(world: &World, card: &Card) -> bool {
    world.sim.card(&card.out_track_id).unwrap().card_data["statusText"].contains("Waiting")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_mode_approval_is_pressed_over_http_and_forgeries_decide_nothing() {
    let world = World::start().await;
    assert_eq!(ROUTE_KEY, format!("clawtalk_{APP1}"));
    register_elsewhere(&world).await;
    world
        .model
        .push(Script::tool_call("get_time", "{}").when_last_user_contains("what time"));
    world
        .model
        .push(Script::text("It is tea time.").when_last_user_contains("what time"));
    // DingTalk fails the first registration: the gateway says so and tries again.
    world.sim.add_api_fault(&ApiFault {
        path_prefix: "/v1.0/card/callbacks/register".into(),
        fail_next: Some(1),
        status: Some(503),
        ..ApiFault::default()
    });
    let port = free_port();
    let path = world.write_config(&http_config(&world, port));
    let mut gateway: GatewayProcess = world.launch_on(Some(&path), &[], &[], Some(port)).await;
    let addr = listen_addr(&mut gateway).await;
    let webhook = format!("http://{addr}/webhooks/dingtalk");
    let card_url = format!("{webhook}/default/card");

    // The older binding of the key was replaced (the documented forceUpdate confirmation).
    let registered = wait_until("the card callback route to be registered", TIMEOUT, || {
        route(&world, port)
    })
    .await;
    assert_eq!(registered.url, card_url);
    assert_eq!(registered.updates, 2, "{registered:?}");
    let api_secret = registered
        .api_secret
        .clone()
        .expect("registered with an apiSecret");

    world
        .sim
        .set_http_bot_callback(APP1, Some(webhook.clone()))
        .unwrap();
    let asked = world.dm(APP1, ALICE, "what time is it?");
    let card = wait_until("the approval card", TIMEOUT, || approval_card(&world)).await;
    assert_eq!(card.callback_type.as_deref(), Some("HTTP"));
    assert_eq!(card.callback_route_key.as_deref(), Some(ROUTE_KEY));
    assert!(waiting(&world, &card), "{:?}", card.card_data);

    // Forged, unsigned and stale presses by the requester herself are refused.
    let allow = press_body(&card, ALICE, "approval_allow_once");
    let now = SystemClock.now_ms();
    let ts = now.to_string();
    let forged = card_callback_signature("not-the-secret", &ts);
    let (status, body) = post_press(&card_url, Some((&ts, &forged)), &allow).await;
    assert_eq!(status, 401, "forged: {body}");
    assert!(body.contains("does not match"), "{body}");
    let (status, body) = post_press(&card_url, None, &allow).await;
    assert_eq!(status, 401, "unsigned: {body}");
    let stale = (now - 2 * 3_600_000).to_string();
    let stale_sig = card_callback_signature(&api_secret, &stale);
    let (status, body) = post_press(&card_url, Some((&stale, &stale_sig)), &allow).await;
    assert_eq!(status, 401, "stale: {body}");
    assert!(body.contains("away from this host's clock"), "{body}");
    // A genuine pair carried Bob's press (not his to decide: answered, nothing changes); the
    // same pair with Alice's "allow" is a replay.
    let ts = SystemClock.now_ms().to_string();
    let genuine = card_callback_signature(&api_secret, &ts);
    let (status, body) = post_press(
        &card_url,
        Some((&ts, &genuine)),
        &press_body(&card, BOB, "approval_allow_once"),
    )
    .await;
    assert_eq!(status, 200, "Bob's signed press is answered: {body}");
    let (status, body) = post_press(&card_url, Some((&ts, &genuine)), &allow).await;
    assert_eq!(status, 401, "replayed: {body}");
    assert!(body.contains("replayed"), "{body}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(waiting(&world, &card), "nothing was decided");
    assert_eq!(world.model.requests().len(), 1, "the tool still waits");

    // The requester's press, as DingTalk sends it.
    world
        .sim
        .inject_card_callback(&InjectCardCallback::new(
            card.out_track_id.clone(),
            ALICE,
            "approval_allow_once",
            json!({}),
        ))
        .unwrap();
    let push = wait_until("the press to be POSTed", TIMEOUT, || {
        world
            .sim
            .http_push_log()
            .into_iter()
            .find(|p| p.kind == "card_callback")
    })
    .await;
    assert!(push.ok && push.status == Some(200), "{push:?}");
    let answered = push.response.clone().unwrap_or_default();
    assert!(
        answered["cardData"]["cardParamMap"]["statusText"]
            .as_str()
            .is_some_and(|s| s.contains("Allowed once by")),
        "the answer carries the decision: {answered}"
    );
    let decided = world.sim.card(&card.out_track_id).unwrap();
    assert!(
        decided.card_data["statusText"].contains(ALICE),
        "{:?}",
        decided.card_data
    );
    assert_eq!(
        decided.update_history.len(),
        1,
        "shown by the answer alone, no extra card update call: {:?}",
        decided.update_history
    );
    world
        .wait_reply_containing(&asked.conversation_id, "It is tea time.")
        .await;
    let tool_results: Vec<String> = world
        .model
        .requests()
        .iter()
        .flat_map(|r| r.messages.clone())
        .filter(|m| m["role"] == "tool")
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect();
    assert!(
        tool_results.iter().any(|r| r.contains("+08:00")),
        "the tool ran: {tool_results:?}"
    );

    let log = gateway.log();
    assert!(log.contains("cannot register the card callback route"), "{log}");
    assert!(log.contains("card callback route registered"), "{log}");
    assert!(log.contains("card callback rejected"), "{log}");
    assert!(!log.contains(&api_secret), "the apiSecret never reaches the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_press_on_an_ai_card_comes_back_over_http_and_the_agent_answers_it() {
    let world = World::start().await;
    world
        .model
        .push(Script::text("Here is the plan.").when_last_user_contains("make a plan"));
    world
        .model
        .push(Script::text("Glad it helped.").when_last_user_contains("feedback_up"));
    let port = free_port();
    let config = http_config_with(
        &world,
        port,
        r#"messageType: "card", cardTemplateId: "ai-card.schema","#,
    );
    let path = world.write_config(&config);
    let mut gateway = world.launch_on(Some(&path), &[], &[], Some(port)).await;
    let addr = listen_addr(&mut gateway).await;
    wait_until("the card callback route to be registered", TIMEOUT, || {
        route(&world, port)
    })
    .await;
    world
        .sim
        .set_http_bot_callback(APP1, Some(format!("http://{addr}/webhooks/dingtalk")))
        .unwrap();

    let asked = world.dm(APP1, ALICE, "make a plan");
    world
        .wait_reply_containing(&asked.conversation_id, "Here is the plan.")
        .await;
    let card = wait_until("the AI card", TIMEOUT, || {
        world
            .sim
            .cards()
            .into_iter()
            .find(|c| c.template_id == "ai-card.schema")
    })
    .await;
    assert_eq!(card.callback_type.as_deref(), Some("HTTP"));
    assert_eq!(card.callback_route_key.as_deref(), Some(ROUTE_KEY));

    world
        .sim
        .inject_card_callback(&InjectCardCallback::new(
            card.out_track_id.clone(),
            ALICE,
            "feedback_up",
            json!({}),
        ))
        .unwrap();
    world.wait_request_for("feedback_up").await;
    world
        .wait_reply_containing(&asked.conversation_id, "Glad it helped.")
        .await;
    let push = world
        .sim
        .http_push_log()
        .into_iter()
        .find(|p| p.kind == "card_callback")
        .expect("the press was POSTed");
    assert!(push.ok && push.status == Some(200), "{push:?}");
    assert!(
        world
            .sim
            .deliveries()
            .iter()
            .all(|d| d.kind != dingtalk_sim::DeliveryKind::CardCallback)
    );
}
