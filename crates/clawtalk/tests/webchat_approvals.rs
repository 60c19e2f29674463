//! Approvals in WebChat, end to end over HTTP: the real `clawtalk gateway run` against the
//! simulator and the mock model. A call needing approval shows up in the streamed answer
//! (`/api/chat/stream/{id}`) with its buttons; the operator's press (`/api/chat/approve`)
//! decides it in the store and the waiting turn goes on: the tool runs, or the model is told
//! it was refused; "always allow" stops the asking. The console cannot decide a call a
//! DingTalk user was asked about.

mod support;

use llm_mock::Script;
use serde_json::Value;
use support::web::{WebSession, web_addr};
use support::world::{ALICE, APP1, OPEN};
use support::{TIMEOUT, World, wait_until};

const TOKEN: &str = "webchat-approvals-token-5";
const TEMPLATE: &str = "approval-template.schema";

/// The server-sent events of one WebChat answer.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(session: &WebSession, id: i64, query: &str) -> Self {
        let response = session
            .http
            .get(format!("{}/api/chat/stream/{id}{query}", session.base))
            .header("cookie", &session.cookie)
            .send()
            .await
            .expect("GET the answer's stream");
        assert_eq!(response.status(), 200);
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (name, data); `None` when the stream ends.
    async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim().to_owned())
                };
                if let (Some(event), Some(data)) = (field("event:"), field("data:")) {
                    return Some((event, serde_json::from_str(&data).expect("JSON data")));
                }
                continue;
            }
            let chunk = tokio::time::timeout(TIMEOUT, self.response.chunk())
                .await
                .expect("an event in time")
                .expect("read the stream")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads events until one satisfies `wanted`; panics if the stream ends first.
    async fn until(&mut self, what: &str, wanted: impl Fn(&str, &Value) -> bool) -> (String, Value) {
        let mut seen = Vec::new();
        while let Some((event, data)) = self.next().await {
            if wanted(&event, &data) {
                return (event, data);
            }
            seen.push(format!("{event} {data}"));
        }
        panic!("the stream ended without {what}: {seen:#?}");
    }

    /// The waiting call the answer shows.
    async fn approval(&mut self) -> Value {
        let (_, data) = self
            .until("a call waiting for approval", |e, d| {
                e == "text" && !d["approval"].is_null()
            })
            .await;
        data["approval"].clone()
    }

    /// Reads to the end of the answer; every event's approval, in order.
    async fn done(&mut self) -> Vec<Value> {
        let mut approvals = Vec::new();
        while let Some((event, data)) = self.next().await {
            match event.as_str() {
                "done" => return approvals,
                "failed" => panic!("the turn failed: {data}"),
                _ => approvals.push(data["approval"].clone()),
            }
        }
        panic!("the stream ended without done");
    }
}

struct Console {
    session: WebSession,
    csrf: String,
}

impl Console {
    async fn send(&self, message: &str) -> i64 {
        let (status, _, body) = self
            .session
            .post(
                "/api/chat/send",
                &[("csrf", &self.csrf), ("agent", "main"), ("message", message)],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["id"]
            .as_i64()
            .unwrap()
    }

    async fn approve(&self, id: &str, decision: &str) -> (u16, Value) {
        let (status, _, body) = self
            .session
            .post(
                "/api/chat/approve",
                &[("csrf", &self.csrf), ("id", id), ("decision", decision)],
            )
            .await;
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
}

/// The tool results the model saw in its last request about `needle`.
async fn tool_results(world: &World, needle: &str) -> Vec<String> {
    let what = format!("the tool result about {needle:?}");
    wait_until(&what, TIMEOUT, || {
        let request = world.requests_for(needle).into_iter().last()?;
        let results: Vec<String> = request
            .messages
            .iter()
            .filter(|m| m["role"] == "tool")
            .filter_map(|m| m["content"].as_str().map(str::to_owned))
            .collect();
        (!results.is_empty()).then_some(results)
    })
    .await
}

fn script_call(world: &World, needle: &str) {
    world
        .model
        .push(Script::tool_call("get_time", "{}").when_last_user_contains(needle));
    world
        .model
        .push(Script::text(format!("Done {needle}")).when_last_user_contains(needle));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_decides_a_webchat_call_with_buttons_in_the_streamed_answer() {
    let world = World::start().await;
    let text = world
        .config(
            OPEN,
            &format!(
                r#"tools: {{ approval: {{ require: ["get_time"], timeoutSeconds: 600, cardTemplateId: "{TEMPLATE}" }} }},"#
            ),
        )
        .replace(
            "gateway: {",
            &format!(r#"gateway: {{ auth: {{ token: "{TOKEN}" }},"#),
        );
    let config = world.write_config(&text);
    let mut gateway = world.start_gateway(&config).await;
    let base = format!("http://{}", web_addr(&mut gateway).await);
    let session = WebSession::login(&base, TOKEN).await;
    let csrf = session.csrf().await;
    let console = Console { session, csrf };

    // Allow once: the buttons come with the streamed answer; the press lets the tool run.
    script_call(&world, "[a1]");
    let id = console.send("what time is it? [a1]").await;
    let mut events = Events::open(&console.session, id, "").await;
    let approval = events.approval().await;
    let approval_id = approval["id"].as_str().unwrap().to_owned();
    assert!(approval_id.starts_with("approval_"), "{approval}");
    assert!(
        approval["title"].as_str().unwrap().contains("get_time"),
        "{approval}"
    );
    assert!(
        approval["html"]
            .as_str()
            .unwrap()
            .contains("<code>get_time</code>"),
        "the call in words, rendered: {approval}"
    );
    let labels: Vec<&str> = approval["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["Allow once", "Always allow", "Deny"]);
    assert!(
        world.requests_for("[a1]").len() == 1,
        "the turn waits for the press"
    );

    // A form without the page's CSRF token, an unknown button or request: nothing decided.
    let (status, _, _) = console
        .session
        .post(
            "/api/chat/approve",
            &[
                ("csrf", "forged"),
                ("id", &approval_id),
                ("decision", "allow_once"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = console.approve(&approval_id, "maybe").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("allow_once"), "{body}");
    let (status, _) = console.approve("approval_nope", "deny").await;
    assert_eq!(status, 404);

    let (status, decided) = console.approve(&approval_id, "allow_once").await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["status"], "allowed");
    assert_eq!(decided["text"], "Allowed once by console:operator");
    let after = events.done().await;
    assert!(
        after.last().is_none_or(Value::is_null),
        "the buttons go once decided: {after:?}"
    );
    assert!(
        tool_results(&world, "[a1]").await[0].contains("+08:00"),
        "the tool ran"
    );
    // A second press (a double click, another tab) finds it decided and changes nothing.
    let (status, again) = console.approve(&approval_id, "deny").await;
    assert_eq!((status, again["status"].as_str()), (200, Some("allowed")));

    // Deny: the model is told the call was refused, and by whom.
    script_call(&world, "[a2]");
    let id = console.send("and now? [a2]").await;
    let mut events = Events::open(&console.session, id, "").await;
    let approval = events.approval().await;
    let (_, decided) = console.approve(approval["id"].as_str().unwrap(), "deny").await;
    assert_eq!(decided["text"], "Denied by console:operator");
    events.done().await;
    let results = tool_results(&world, "[a2]").await;
    assert!(
        results
            .last()
            .unwrap()
            .contains("not approved: denied by console:operator"),
        "{results:?}"
    );

    // Always allow (the page in Chinese): asked once, then the same tool runs unasked.
    script_call(&world, "[a3]");
    let id = console.send("几点了 [a3]").await;
    let mut events = Events::open(&console.session, id, "?lang=zh").await;
    let approval = events.approval().await;
    assert_eq!(approval["buttons"][1]["label"], "始终允许");
    assert!(
        approval["title"].as_str().unwrap().contains("需要你的批准"),
        "{approval}"
    );
    let (_, decided) = console
        .approve(approval["id"].as_str().unwrap(), "allow_always")
        .await;
    assert_eq!(decided["status"], "allowed");
    events.done().await;
    script_call(&world, "[a4]");
    let id = console.send("once more [a4]").await;
    let mut events = Events::open(&console.session, id, "").await;
    let shown = events.done().await;
    assert!(
        shown.iter().all(Value::is_null),
        "always allowed: no buttons {shown:?}"
    );
    assert!(tool_results(&world, "[a4]").await[0].contains("+08:00"));

    // A DingTalk user's call waits for that user's card; the console cannot decide it.
    script_call(&world, "[d1]");
    world.dm(APP1, ALICE, "what time is it? [d1]");
    let card = wait_until("the DingTalk user's approval card", TIMEOUT, || {
        world.sim.cards().into_iter().find(|c| c.template_id == TEMPLATE)
    })
    .await;
    let (status, _) = console.approve(&card.out_track_id, "allow_once").await;
    assert_eq!(status, 404);
    assert!(
        world.sim.card(&card.out_track_id).unwrap().card_data["statusText"].contains("Waiting"),
        "still waiting for Alice"
    );
    assert_eq!(world.requests_for("[d1]").len(), 1);
}
