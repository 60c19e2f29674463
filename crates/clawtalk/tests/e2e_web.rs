//! End to end, the web UI over plain HTTP: the real `clawtalk gateway run` against the
//! simulator and the mock model. Auth rules (no session → 303 / 401, wrong token, CSRF,
//! logout), the token shown once, and every page: status, conversations and transcripts
//! (escaped), pairing approval, WebChat, the masked config; and what the operator does there:
//! scheduled tasks created and paused, a console answer sent on to DingTalk, a session
//! deleted, the MCP servers' state and probe.

mod support;

use llm_mock::Script;
use support::web::{WebSession, client, pairing_code, printed_token, web_addr};
use support::world::{ALICE, APP1, BOB, SECRET1};
use support::{TIMEOUT, World, wait_until};

const PAGES: [&str; 8] = [
    "/",
    "/conversations",
    "/conversations/1",
    "/pairing",
    "/cron",
    "/mcp",
    "/chat",
    "/config",
];

fn pairing_config(world: &World) -> String {
    world.config(&format!(r#"dmPolicy: "pairing", allowFrom: ["{ALICE}"],"#), "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_without_a_session_and_the_token_is_shown_once() {
    let world = World::start().await;
    let config = world.write_config(&pairing_config(&world));
    let mut gateway = world.start_gateway(&config).await;
    let base = format!("http://{}", web_addr(&mut gateway).await);
    let token = wait_until("the first start to print the token", TIMEOUT, || {
        printed_token(&gateway.log())
    })
    .await;
    let token_file = world.state_dir().join("gateway-token");
    assert_eq!(std::fs::read_to_string(&token_file).unwrap().trim(), token);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the token file is private");
    }

    // `gateway token` prints it again; `dashboard` gives the address and a hint, not the token.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_clawtalk"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .env_clear()
            .env("HOME", world.home())
            .output()
            .expect("run clawtalk");
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(cli(&["gateway", "token"]).trim(), token);
    let dashboard = cli(&["dashboard"]);
    assert!(
        dashboard.contains("Web UI: http://127.0.0.1:18789/"),
        "{dashboard}"
    );
    assert!(
        dashboard.contains("gateway-token") && !dashboard.contains(&token),
        "{dashboard}"
    );

    let http = client();
    for path in PAGES {
        let response = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 303, "GET {path} without a session");
        assert_eq!(response.headers()["location"], "/login", "GET {path}");
    }
    for path in ["/pairing/decide", "/chat", "/logout"] {
        let response = http
            .post(format!("{base}{path}"))
            .form(&[("csrf", "x"), ("code", "ABCD2345"), ("action", "approve")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "POST {path} without a session");
    }
    let api = http.get(format!("{base}/api/status")).send().await.unwrap();
    assert_eq!(api.status(), 401, "APIs answer 401 without a session");
    let forged = http
        .get(format!("{base}/api/status"))
        .header("cookie", format!("clawtalk_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401, "the token itself is not a session id");

    let login_page = http.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(login_page.status(), 200);
    assert_eq!(login_page.headers()["cache-control"], "no-store");
    assert!(
        login_page
            .text()
            .await
            .unwrap()
            .contains("method=\"post\" action=\"/login\"")
    );
    let wrong = http
        .post(format!("{base}/login"))
        .form(&[("token", "not-the-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(wrong.text().await.unwrap().contains("not the gateway token"));

    let raw = http
        .post(format!("{base}/login"))
        .form(&[("token", &token)])
        .send()
        .await
        .unwrap();
    let set_cookie = raw.headers()["set-cookie"].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(flag), "{set_cookie}");
    }
    assert!(
        !set_cookie.contains(&token),
        "the cookie is a session id, not the token"
    );
    assert!(!set_cookie.contains("Secure"), "plain HTTP: {set_cookie}");
    // Behind a TLS-terminating proxy on this host the cookie is only ever sent over HTTPS.
    let proxied = http
        .post(format!("{base}/login"))
        .header("X-Forwarded-Proto", "https")
        .form(&[("token", &token)])
        .send()
        .await
        .unwrap();
    let set_cookie = proxied.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.ends_with("; Secure"), "{set_cookie}");
    let session = WebSession::login(&base, &token).await;
    let (status, body) = session.get("/api/status").await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["accounts"][0]["id"], "default");

    // Logging out needs the CSRF token, then ends the session.
    let (status, _, _) = session.post("/logout", &[("csrf", "wrong")]).await;
    assert_eq!(status, 403);
    let csrf = session.csrf().await;
    let (status, location, _) = session.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!((status, location.as_deref()), (303, Some("/login")));
    assert_eq!(session.get("/api/status").await.0, 401, "logged out");
    assert!(!gateway.log().contains(&format!("token={token}")));

    // A restart reuses the stored token and does not print it again.
    gateway.terminate();
    gateway.wait_exit(TIMEOUT).await;
    let mut again = world.start_gateway(&config).await;
    let base = format!("http://{}", web_addr(&mut again).await);
    // The hint is printed after the web UI address, so wait for it rather than read once.
    let log = wait_until("the restarted gateway to say where its token is", TIMEOUT, || {
        again.assert_running();
        let log = again.log();
        log.contains("Log in with the gateway token in").then_some(log)
    })
    .await;
    assert!(
        !log.contains(&token),
        "the token is shown only on the first start"
    );
    WebSession::login(&base, &token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_show_status_transcripts_pairing_webchat_and_masked_config() {
    let world = World::start().await;
    world
        .model
        .push(Script::text("Escaped? <b>bold</b> [x1]").when_last_user_contains("[x1]"));
    world
        .model
        .push(Script::text("Hello from the agent in WebChat [w1]").when_last_user_contains("[w1]"));
    let text =
        pairing_config(&world).replace("gateway: {", r#"gateway: { auth: { token: "web-e2e-token-42" },"#);
    let config = world.write_config(&text);
    let mut gateway = world.start_gateway(&config).await;
    let base = format!("http://{}", web_addr(&mut gateway).await);
    assert!(
        printed_token(&gateway.log()).is_none(),
        "a configured token is never printed"
    );
    let session = WebSession::login(&base, "web-e2e-token-42").await;
    let csrf = session.csrf().await;

    // Status: the Stream connection of the default account.
    let (status, page) = session.get("/").await;
    assert_eq!(status, 200);
    assert!(page.contains("data-account=\"default\""), "{page}");
    assert!(page.contains("<span class=\"ok\">connected</span>"), "{page}");

    // A transcript with markup in it is shown as text.
    let dm = world.dm(APP1, ALICE, "<script>alert('xss')</script> [x1]");
    world.wait_reply_containing(&dm.conversation_id, "[x1]").await;
    let (_, list) = session.get("/conversations").await;
    let id = {
        let mark = "href=\"/conversations/";
        let rest = &list[list.find(mark).expect("a conversation link") + mark.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    };
    let (status, transcript) = session.get(&format!("/conversations/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        transcript.contains("&lt;script&gt;alert('xss')&lt;/script&gt; [x1]"),
        "{transcript}"
    );
    assert!(transcript.contains("&lt;b&gt;bold&lt;/b&gt;"), "{transcript}");
    assert!(!transcript.contains("<script>alert"), "user content is escaped");
    assert!(!transcript.contains("<b>bold"), "agent content is escaped");
    assert_eq!(session.get("/conversations/99999").await.0, 404);
    assert_eq!(session.get("/conversations/nope").await.0, 404);

    // Pairing: bob is unknown, gets a code, and the operator approves it here.
    let bob = world.dm(APP1, BOB, "may I? [p1]");
    let reply = world.wait_replies(&bob.conversation_id, 1).await;
    let code = pairing_code(&reply[0].text);
    let (_, pairing) = session.get("/pairing").await;
    assert!(pairing.contains(&format!("data-code=\"{code}\"")), "{pairing}");
    let (status, _, _) = session
        .post(
            "/pairing/decide",
            &[("csrf", "forged"), ("code", &code), ("action", "approve")],
        )
        .await;
    assert_eq!(status, 403, "no CSRF token, no approval");
    let (status, location, _) = session
        .post(
            "/pairing/decide",
            &[("csrf", &csrf), ("code", &code), ("action", "approve")],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(
        location.as_deref(),
        Some(format!("/pairing?approved={code}").as_str())
    );
    let (_, pairing) = session.get(location.as_deref().unwrap()).await;
    assert!(pairing.contains(&format!("Approved {code}")), "{pairing}");
    assert!(
        !pairing.contains(&format!("data-code=\"{code}\"")),
        "no longer pending"
    );
    let (_, location, _) = session
        .post(
            "/pairing/decide",
            &[("csrf", &csrf), ("code", &code), ("action", "approve")],
        )
        .await;
    let (_, again) = session.get(location.as_deref().unwrap()).await;
    assert!(again.contains("already approved"), "a used code says so: {again}");
    world.dm(APP1, BOB, "thanks [p2]");
    world.wait_reply_containing(&bob.conversation_id, "[p2]").await;

    // WebChat: a chat like any other (inbox, turn, outbox); the reply is on the page after
    // the redirect.
    let (status, location, _) = session
        .post(
            "/chat",
            &[
                ("csrf", &csrf),
                ("agent", "main"),
                ("message", "hi from the browser [w1]"),
            ],
        )
        .await;
    assert_eq!((status, location.as_deref()), (303, Some("/chat?agent=main")));
    let (_, chat) = session.get("/chat?agent=main").await;
    assert!(chat.contains("hi from the browser [w1]"), "{chat}");
    assert!(chat.contains("Hello from the agent in WebChat [w1]"), "{chat}");
    assert_eq!(world.requests_for("[w1]").len(), 1);
    let db = world.state_dir().join("clawtalk.db");
    let rows = support::db::inbox_rows(&db, "webchat:").await;
    let [row] = rows.as_slice() else {
        panic!("one WebChat message in the inbox: {rows:?}");
    };
    assert_eq!(row.session_key, "agent:main:dingtalk:default:webchat:operator");
    assert_eq!(row.status, "replied");
    assert!(row.payload.contains("hi from the browser [w1]"), "{row:?}");
    assert!(
        row.parts
            .iter()
            .any(|(status, body)| status == "sent" && body.contains("Hello from the agent in WebChat [w1]")),
        "the answer is in the outbox, delivered: {row:?}"
    );
    let (status, _, body) = session
        .post("/chat", &[("csrf", &csrf), ("agent", "nobody"), ("message", "x")])
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("There is no agent"), "{body}");
    let (status, _, _) = session
        .post(
            "/chat",
            &[("csrf", "forged"), ("agent", "main"), ("message", "x")],
        )
        .await;
    assert_eq!(status, 403);
    let (_, list) = session.get("/conversations").await;
    assert!(
        list.contains("agent:main:dingtalk:default:webchat:operator"),
        "WebChat is a conversation too"
    );

    // Scheduled tasks: one added with the CLI shows, its target without the webhook token.
    let robot = world
        .sim
        .create_custom_robot(dingtalk_sim::CustomRobotSpec {
            group: world.group.clone(),
            name: Some("weather".into()),
            access_token: None,
            secret: None,
            keywords: Vec::new(),
        })
        .expect("custom robot");
    let config_arg = config.display().to_string();
    let added = support::process::run_cli(
        world.home(),
        &[
            "cron",
            "add",
            "--config",
            &config_arg,
            "--name",
            "daily <weather>",
            "--prompt",
            "Beijing weather",
            "--cron",
            "0 9 * * *",
            "--webhook",
            &robot.webhook_url,
        ],
    )
    .await;
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let (status, cron) = session.get("/cron").await;
    assert_eq!(status, 200);
    assert!(
        cron.contains("daily &lt;weather&gt;"),
        "listed and escaped: {cron}"
    );
    assert!(cron.contains("09:00"), "{cron}");
    assert!(
        !cron.contains(&robot.access_token),
        "the webhook token never shows"
    );

    // Config: summarised and dumped, secrets masked.
    let (status, config) = session.get("/config").await;
    assert_eq!(status, 200);
    assert!(config.contains("Secret(***)"), "{config}");
    for secret in [SECRET1, "sk-e2e-mock", "web-e2e-token-42"] {
        assert!(!config.contains(secret), "{secret} leaked into the config page");
    }
    assert!(
        !gateway.log().contains("web-e2e-token-42"),
        "the token never reaches the log"
    );
}

/// A WebChat transcript an earlier version kept under `agent:<a>:webchat:operator` (no
/// account in the key) is still what the chat page shows for that agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earlier_webchat_transcript_is_still_shown() {
    use clawtalk_core::clock::EpochMs;
    use clawtalk_store::{NewTranscriptEntry, Role, SessionStore, SqliteStore};

    let world = World::start().await;
    let text =
        pairing_config(&world).replace("gateway: {", r#"gateway: { auth: { token: "web-e2e-token-42" },"#);
    let config = world.write_config(&text);
    {
        let store = SqliteStore::open(&world.state_dir().join("clawtalk.db"))
            .await
            .expect("store");
        let opened = store
            .session_get_or_create(
                "agent:main:webchat:operator",
                "main",
                EpochMs::from_millis(1_000),
                None,
            )
            .await
            .expect("session");
        let entry = |role, content: &str| {
            NewTranscriptEntry {
            role,
            content_json: serde_json::json!({ "role": if role == Role::User { "user" } else { "assistant" }, "content": content })
                .to_string(),
            inbound_id: None,
            at_ms: EpochMs::from_millis(1_000),
        }
        };
        store
            .transcript_append(
                opened.session.id,
                opened.session.generation,
                vec![
                    entry(Role::User, "Question kept from before [old1]"),
                    entry(Role::Assistant, "Answer kept from before [old2]"),
                ],
            )
            .await
            .expect("transcript");
    }
    let mut gateway = world.start_gateway(&config).await;
    let base = format!("http://{}", web_addr(&mut gateway).await);
    let session = WebSession::login(&base, "web-e2e-token-42").await;
    let (status, chat) = session.get("/chat?agent=main").await;
    assert_eq!(status, 200);
    assert!(
        chat.contains("[old1]") && chat.contains("[old2]"),
        "the earlier transcript is shown: {chat}"
    );
}

/// The first `<attr>="…"` value in `page` after `after`.
fn attr_after(page: &str, after: &str, attr: &str) -> String {
    let rest = &page[page.find(after).unwrap_or_else(|| panic!("{after} in {page}"))..];
    let mark = format!("{attr}=\"");
    let rest = &rest[rest.find(&mark).unwrap_or_else(|| panic!("{attr} in {page}")) + mark.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_creates_pauses_tasks_sends_answers_on_deletes_sessions_and_shows_mcp() {
    let world = World::start().await;
    world
        .model
        .push(Script::text("Hello Alice, noted [d1]").when_last_user_contains("[d1]"));
    world
        .model
        .push(Script::text("Console answer for Alice [c1]").when_last_user_contains("[c1]"));
    world
        .model
        .push(Script::text("A fresh start [d2]").when_last_user_contains("[d2]"));
    // A server that cannot start: the page shows it unavailable with its error.
    let mcp = r#"mcp: { servers: { broken: { command: "/nonexistent/mcp-server-e2e" } } },"#;
    let text = world
        .config(support::world::OPEN, mcp)
        .replace("gateway: {", r#"gateway: { auth: { token: "web-e2e-token-42" },"#);
    let config = world.write_config(&text);
    let mut gateway = world.start_gateway(&config).await;
    let base = format!("http://{}", web_addr(&mut gateway).await);
    let session = WebSession::login(&base, "web-e2e-token-42").await;
    let csrf = session.csrf().await;

    // Scheduled tasks: refusals at their field (the tool's rules), then created, paused, resumed.
    let task = |kind: &'static str, value: &'static str| {
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("name", "standup <nudge>"),
            ("prompt", "Remind Alice of the standup"),
            ("kind", kind),
            ("every_unit", "minutes"),
            ("timezone", "Asia/Shanghai"),
            ("account", "default"),
            ("agent", "main"),
            ("target", "dm"),
            ("user", ALICE),
        ];
        form.push((kind, value));
        form
    };
    let (status, _, page) = session.post("/cron/create", &task("cron", "9 o'clock")).await;
    assert_eq!(status, 422);
    assert!(
        page.contains(r#"data-field="schedule""#) && page.contains("five fields"),
        "{page}"
    );
    assert!(
        page.contains("Remind Alice of the standup"),
        "the form keeps what was typed"
    );
    let (status, _, page) = session.post("/cron/create", &task("every", "7")).await;
    assert_eq!(status, 422);
    assert!(page.contains("does not divide an hour"), "{page}");
    let mut robot = task("cron", "0 9 * * *");
    robot.extend([
        ("target", "webhook"),
        (
            "webhook_url",
            "https://evil.example/robot/send?access_token=tok-e2e-9",
        ),
    ]);
    robot.retain(|(k, v)| *k != "target" || *v == "webhook");
    let (status, _, page) = session.post("/cron/create", &robot).await;
    assert_eq!(status, 422);
    assert!(page.contains(r#"data-field="target""#), "{page}");
    assert!(
        !page.contains("tok-e2e-9"),
        "the robot's token is never shown again"
    );
    let (status, _, _) = session.post("/cron/create", &[("csrf", "forged")]).await;
    assert_eq!(status, 403);
    let (status, location, _) = session.post("/cron/create", &task("every", "30")).await;
    assert_eq!(status, 303);
    let location = location.expect("redirect");
    let id = location
        .strip_prefix("/cron?created=")
        .expect(&location)
        .to_owned();
    let (_, cron) = session.get(&location).await;
    assert!(cron.contains(&format!("Created task #{id}")), "{cron}");
    assert!(
        cron.contains("standup &lt;nudge&gt;") && cron.contains("*/30 * * * *"),
        "{cron}"
    );
    for (action, shown) in [("pause", "paused"), ("resume", "active")] {
        let (status, location, _) = session
            .post(
                "/cron/action",
                &[("csrf", &csrf), ("id", &id), ("action", action)],
            )
            .await;
        assert_eq!(status, 303, "{action}");
        let (_, cron) = session.get(location.as_deref().unwrap()).await;
        let row = &cron[cron.find(&format!("data-task=\"{id}\"")).unwrap()..];
        let state = &row[row.find("class=\"status\">").unwrap() + 15..];
        assert!(state.starts_with(shown), "{action}: {row}");
    }
    let (_, location, _) = session
        .post(
            "/cron/action",
            &[("csrf", &csrf), ("id", &id), ("action", "resume")],
        )
        .await;
    assert!(
        location.unwrap().contains("error="),
        "a running task cannot be resumed"
    );

    // A DingTalk DM, continued from the console: the answer stays in the console until the
    // operator sends it on, once however often the button is pressed.
    let dm = world.dm(APP1, ALICE, "hello [d1]");
    world.wait_reply_containing(&dm.conversation_id, "[d1]").await;
    let (_, list) = session.get("/conversations").await;
    let key = format!("agent:main:dingtalk:default:dm:{ALICE}");
    let conv = {
        let before = &list[..list.find(&format!(">{key}<")).expect("Alice's conversation")];
        let href = &before[before.rfind("/conversations/").unwrap() + "/conversations/".len()..];
        href[..href.find('"').unwrap()].to_owned()
    };
    let (_, page) = session.get(&format!("/conversations/{conv}")).await;
    assert!(
        !page.contains("Send to DingTalk</button>"),
        "answers given in DingTalk have no button: {page}"
    );
    let (status, _, body) = session
        .post(
            "/api/chat/send",
            &[("csrf", &csrf), ("session", &key), ("message", "summarise [c1]")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let page = wait_for_page(
        &session,
        &format!("/conversations/{conv}"),
        "Send to DingTalk</button>",
    )
    .await;
    assert!(page.contains("Console answer for Alice [c1]"), "{page}");
    let batch_sends = || {
        world
            .sim
            .sent_messages()
            .into_iter()
            .filter(|m| m.text.contains("[c1]"))
            .count()
    };
    assert_eq!(batch_sends(), 0, "the console answer stays in the console");
    let entry = attr_after(&page, "send-to-dingtalk", "data-entry");
    for expected in ["sent", "already_sent"] {
        let (status, location, body) = session
            .post(
                &format!("/conversations/{conv}/send"),
                &[("csrf", &csrf), ("entry", &entry)],
            )
            .await;
        assert_eq!(status, 303, "{body}");
        assert_eq!(
            location.as_deref(),
            Some(format!("/conversations/{conv}?{expected}={entry}").as_str())
        );
    }
    wait_until("the console answer in Alice's DM", TIMEOUT, || {
        (batch_sends() == 1).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(batch_sends(), 1, "sent exactly once");
    let sent = world
        .sim
        .sent_messages()
        .into_iter()
        .find(|m| m.text.contains("[c1]"))
        .unwrap();
    assert_eq!(sent.api, "robot.batchSend", "{sent:?}");
    let (status, _, body) = session
        .post(
            &format!("/conversations/{conv}/send"),
            &[("csrf", &csrf), ("entry", "1")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body.contains("only console answers can be sent") || body.contains("no answer #1"),
        "{body}"
    );

    // Delete: a confirmation first, then the session and its history are gone; Alice's
    // next message starts afresh.
    let (status, _, confirm) = session
        .post(&format!("/conversations/{conv}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(status, 200);
    assert!(confirm.contains("Delete for good"), "{confirm}");
    assert_eq!(
        session.get(&format!("/conversations/{conv}")).await.0,
        200,
        "not deleted yet"
    );
    let (status, location, _) = session
        .post(
            &format!("/conversations/{conv}/delete"),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(status, 303);
    let (_, list) = session.get(location.as_deref().unwrap()).await;
    assert!(list.contains(&format!("Deleted conversation {key}")), "{list}");
    assert_eq!(session.get(&format!("/conversations/{conv}")).await.0, 404);
    world.dm(APP1, ALICE, "again [d2]");
    world.wait_reply_containing(&dm.conversation_id, "[d2]").await;
    let request = world.requests_for("[d2]").pop().expect("the model was asked");
    let asked = serde_json::to_string(&request.messages).unwrap();
    assert!(
        !asked.contains("[d1]") && !asked.contains("[c1]"),
        "no history after the delete: {asked}"
    );

    // MCP: the configured server, its state and error; a probe reports what it found.
    let page = wait_for_page(&session, "/mcp", "not found (install it").await;
    assert!(page.contains(r#"data-server="broken""#), "{page}");
    assert!(
        page.contains("unavailable") || page.contains("restarting"),
        "{page}"
    );
    let (status, _, probed) = session
        .post("/mcp/probe", &[("csrf", &csrf), ("name", "broken")])
        .await;
    assert_eq!(status, 200);
    assert!(
        probed.contains("Probe of broken") && probed.contains("Failed:"),
        "{probed}"
    );
    let (status, _, _) = session
        .post("/mcp/probe", &[("csrf", &csrf), ("name", "nobody")])
        .await;
    assert_eq!(status, 404);
}

/// `path` once it contains `needle` (the page is read again until then).
async fn wait_for_page(session: &WebSession, path: &str, needle: &str) -> String {
    let mut last = String::new();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        last = session.get(path).await.1;
        if last.contains(needle) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{path} never showed {needle:?}: {last}");
}
