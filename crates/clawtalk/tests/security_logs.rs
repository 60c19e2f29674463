//! Security review, log injection: values from outside (a webhook path segment, a DingTalk
//! nickname) cannot start a fake log line or drive the operator's terminal, in the human
//! format on stderr and in the JSON log file.

mod support;

use dingtalk_sim::UserSpec;
use support::web::client;
use support::webhook::listen_addr;
use support::world::APP1;
use support::{TIMEOUT, World, WorldOptions};

const EVE: &str = "0999123456780000";
/// A nickname carrying a newline, a fake log line, a carriage return and an ANSI colour.
const NICK: &str = "Eve\nINJECTED nick line\r\x1b[31mred";

fn config(world: &World) -> String {
    world.fill(
        r#"{
  agents: { list: [ { id: "main", model: "mock/e2e-model" } ] },
  models: { providers: { mock: { baseUrl: "{MODEL}", apiKey: "sk-test" } } },
  channels: { dingtalk: {
    endpoints: "{SIM}", dmPolicy: "pairing",
    accounts: {
      default: { clientId: "{APP1}", clientSecret: "{SECRET1}" },
      http: { clientId: "{APP2}", clientSecret: "{SECRET2}", mode: "http" },
    },
  } },
  gateway: { stateDir: "{STATE}", port: 0 },
}"#,
    )
}

/// Every line holding `marker` holds it escaped, right after `\n`: none starts a line.
fn assert_not_injected(what: &str, text: &str, marker: &str) {
    let escaped = format!("\\n{marker}");
    let holders: Vec<&str> = text.lines().filter(|line| line.contains(marker)).collect();
    assert!(
        !holders.is_empty(),
        "{what}: no line mentions {marker:?}:\n{text}"
    );
    for line in holders {
        assert!(
            line.contains(&escaped),
            "{what}: {marker:?} is on a line of its own:\n{line}"
        );
    }
    assert!(
        !text.contains('\x1b') && !text.contains('\r'),
        "{what}: raw ESC or CR:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_path_and_a_nickname_stay_on_one_escaped_log_line() {
    let world = World::start_with(WorldOptions {
        second_app: true,
        ..WorldOptions::default()
    })
    .await;
    world.sim.create_user(UserSpec::new(EVE, NICK)).unwrap();
    let config_path = world.write_config(&config(&world));
    let mut gateway = world.launch(Some(&config_path), &[], &[APP1]).await;
    let webhooks = format!("http://{}/webhooks/dingtalk", listen_addr(&mut gateway).await);

    // `%0A` decodes to a newline in the account segment.
    let response = client()
        .post(format!("{webhooks}/x%0AINJECTED%20path%20line"))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // A DM from a stranger: the pairing request is logged with the nickname.
    let dm = world.dm(APP1, EVE, "hello");
    world.wait_replies(&dm.conversation_id, 1).await;
    support::wait_until("the pairing request in the log", TIMEOUT, || {
        gateway.log().contains("pairing requested").then_some(())
    })
    .await;

    gateway.terminate();
    gateway.wait_exit(TIMEOUT).await;
    let stderr = gateway.log();
    for marker in ["INJECTED path line", "INJECTED nick line"] {
        assert_not_injected("stderr", &stderr, marker);
    }
    assert!(stderr.contains("account=x\\nINJECTED path line"), "{stderr}");
    assert!(
        stderr.contains("nick=Eve\\nINJECTED nick line\\r\\x1b[31mred"),
        "{stderr}"
    );

    let file = std::fs::read_to_string(world.state_dir().join("gateway.log")).unwrap();
    let mut seen = (false, false);
    for line in file.lines() {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        let fields = &value["fields"];
        seen.0 |= fields["account"] == "x\nINJECTED path line";
        seen.1 |= fields["nick"] == NICK;
    }
    assert!(
        seen.0 && seen.1,
        "both values logged, intact once decoded:\n{file}"
    );
    assert!(!file.contains('\x1b') && !file.contains('\r'), "{file}");
}
