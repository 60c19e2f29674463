//! The web UI in headless Chromium (Debian's `chromium` + `chromium-driver`, driven over
//! WebDriver with fantoccini): log in, see the connected account, approve a pairing request,
//! chat in WebChat and see the reply, approve a tool call with its button, edit an agent's
//! SOUL.md, and be refused without the token; send a console answer on to DingTalk, delete a
//! session, create and pause a scheduled task, see the MCP servers. A screenshot of every page
//! goes to `target/screenshots/`.
//!
//! Without Chromium the test fails under `CI=true` (`.ci/run` installs it) and is skipped
//! with a note otherwise.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use llm_mock::Script;
use support::web::{client, pairing_code, web_addr};
use support::world::{ALICE, APP1, BOB, OPEN, SECRET1, WorldOptions};
use support::{TIMEOUT, World, wait_until, wait_until_async};

const TOKEN: &str = "browser-e2e-token-7";

/// The browser and its driver, from `$CHROMIUM` / `$CHROMEDRIVER` or Debian's paths.
fn find_browser() -> Option<(PathBuf, PathBuf)> {
    let pick = |var: &str, paths: &[&str]| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .into_iter()
            .chain(paths.iter().map(PathBuf::from))
            .find(|p| p.is_file())
    };
    Some((
        pick("CHROMIUM", &["/usr/bin/chromium", "/usr/bin/chromium-browser"])?,
        pick(
            "CHROMEDRIVER",
            &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
        )?,
    ))
}

/// chromedriver, killed on drop.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What opens the config's `gateway` object with the console token the tests log in with.
fn console_token() -> String {
    format!(r#"gateway: {{ auth: {{ token: "{TOKEN}" }},"#)
}

/// Chromium and its driver; without them the test fails under `CI=true` (`.ci/run` installs
/// them) and is skipped with a note otherwise.
fn browser_or_skip() -> Option<(PathBuf, PathBuf)> {
    let found = find_browser();
    if found.is_none() {
        let message = "Chromium is not installed: apt-get install -y chromium chromium-driver \
                       (or set CHROMIUM and CHROMEDRIVER)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("skipping the browser test: {message}");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `target/screenshots`, next to the test binary's `target/<profile>/deps`.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .ancestors()
        .nth(3)
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf);
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("create target/screenshots");
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("take a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write the screenshot");
    eprintln!("screenshot: {}", path.display());
}

async fn connect(driver_port: u16, chromium: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--lang=en-US"],
        }),
    );
    let url = format!("http://127.0.0.1:{driver_port}");
    let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    builder.capabilities(caps);
    let mut last = None;
    // chromedriver needs a moment to listen.
    for _ in 0..100 {
        match builder.connect(&url).await {
            Ok(client) => return client,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot start a Chromium session through chromedriver at {url}: {last:?}");
}

async fn text_of(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
        .text()
        .await
        .expect("element text")
}

async fn type_into(browser: &Client, css: &str, text: &str) {
    let field = browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    field.send_keys(text).await.expect("type into the field");
}

async fn click(browser: &Client, css: &str) {
    let button = browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    button.click().await.expect("click");
}

/// Waits until a click's navigation lands on a path accepted by `wanted`.
async fn wait_path(browser: &Client, what: &str, wanted: impl Fn(&str) -> bool) {
    let wanted = &wanted;
    wait_until_async(what, TIMEOUT, || async move {
        let url = browser.current_url().await.ok()?;
        wanted(url.path()).then_some(())
    })
    .await;
}

async fn path_of(browser: &Client) -> String {
    browser
        .current_url()
        .await
        .expect("current URL")
        .path()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_logs_in_sees_status_approves_pairing_and_chats() {
    let Some((chromium, chromedriver)) = browser_or_skip() else {
        return;
    };
    let world = World::start().await;
    world
        .model
        .push(Script::text("Bonjour from the agent [b1]").when_last_user_contains("[b1]"));
    let text = world
        .config(&format!(r#"dmPolicy: "pairing", allowFrom: ["{ALICE}"],"#), "")
        .replace("gateway: {", &console_token());
    let config = world.write_config(&text);
    // A curated memory, indexed at the first turn and listed on /memories.
    let workspace = world.state_dir().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::write(
        workspace.join("MEMORY.md"),
        "- 周会每周一上午十点 (weekly sync: Monday 10:00)\n",
    )
    .unwrap();
    let mut gateway = world.start_gateway(&config).await;
    let base = format!("http://{}", web_addr(&mut gateway).await);

    let driver_port = free_port();
    let _driver = Driver(
        Command::new(&chromedriver)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let browser = connect(driver_port, &chromium).await;

    // Not logged in: the status page sends the browser to the login form.
    browser.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(path_of(&browser).await, "/login");
    screenshot(&browser, "01-login").await;
    type_into(&browser, "#token", "wrong").await;
    click(&browser, "button[type=submit]").await;
    let page = &browser;
    wait_until_async("the wrong-token error", TIMEOUT, || async move {
        let element = page.find(Locator::Css(".error")).await.ok()?;
        let text = element.text().await.ok()?;
        text.contains("not the gateway token").then_some(())
    })
    .await;

    type_into(&browser, "#token", TOKEN).await;
    click(&browser, "button[type=submit]").await;
    wait_path(&browser, "the status page after login", |p| p == "/").await;
    let row = text_of(&browser, "tr[data-account=default]").await;
    assert!(
        row.contains("connected") && !row.contains("disconnected"),
        "{row}"
    );
    screenshot(&browser, "02-status").await;

    // An unknown sender asks to pair; the operator approves in the browser.
    let bob = world.dm(APP1, BOB, "let me in [b0]");
    let reply = world.wait_replies(&bob.conversation_id, 1).await;
    let code = pairing_code(&reply[0].text);
    browser.goto(&format!("{base}/pairing")).await.unwrap();
    screenshot(&browser, "03-pairing").await;
    browser
        .find(Locator::Css(&format!(
            "tr[data-code='{code}'] button[value=approve]"
        )))
        .await
        .expect("an Approve button for the code")
        .click()
        .await
        .unwrap();
    // The click posts and redirects: wait for the next page rather than reading the old one.
    let approved = format!("Approved {code}");
    let page = &browser;
    let approved = &approved;
    wait_until_async("the approval notice", TIMEOUT, || async move {
        let element = page.find(Locator::Css(".notice")).await.ok()?;
        let text = element.text().await.ok()?;
        text.contains(approved.as_str()).then_some(())
    })
    .await;
    screenshot(&browser, "04-pairing-approved").await;
    world.dm(APP1, BOB, "thank you [b2]");
    world.wait_reply_containing(&bob.conversation_id, "[b2]").await;

    // WebChat: type, send, and the agent's reply is on the page.
    browser.goto(&format!("{base}/chat")).await.unwrap();
    type_into(&browser, "#message", "Hello agent [b1]").await;
    click(&browser, "#send").await;
    let page = &browser;
    let transcript = wait_until_async("the WebChat reply", TIMEOUT, || async move {
        // Tolerant: the page may be between the POST and the redirect's GET.
        let element = page.find(Locator::Css("#transcript")).await.ok()?;
        let text = element.text().await.ok()?;
        text.contains("Bonjour from the agent [b1]").then_some(text)
    })
    .await;
    assert!(transcript.contains("Hello agent [b1]"), "{transcript}");
    screenshot(&browser, "05-webchat").await;

    browser.goto(&format!("{base}/conversations")).await.unwrap();
    screenshot(&browser, "06-conversations").await;
    click(&browser, "td a").await;
    wait_path(&browser, "a transcript page", |p| {
        p.starts_with("/conversations/")
    })
    .await;
    screenshot(&browser, "07-transcript").await;
    browser.goto(&format!("{base}/config")).await.unwrap();
    assert!(text_of(&browser, "#config").await.contains("Secret(***)"));
    screenshot(&browser, "08-config").await;
    // Usage: the WebChat turns' tokens in the chart and the table.
    browser.goto(&format!("{base}/usage")).await.unwrap();
    assert!(text_of(&browser, "#usage-rows").await.contains("main"));
    screenshot(&browser, "08-usage").await;
    browser.goto(&format!("{base}/memories")).await.unwrap();
    let memories = text_of(&browser, "#memories").await;
    assert!(
        memories.contains("weekly sync") && memories.contains("MEMORY.md:1"),
        "{memories}"
    );
    screenshot(&browser, "09-memories").await;

    // The agent's workspace files: open SOUL.md in the editor, save, and it is on disk.
    browser.goto(&format!("{base}/agents")).await.unwrap();
    assert!(
        text_of(&browser, "table[data-agent=main]")
            .await
            .contains("SOUL.md")
    );
    browser
        .goto(&format!("{base}/agents?agent=main&file=SOUL.md"))
        .await
        .unwrap();
    type_into(&browser, "#editor textarea", "Be cheerful [persona]").await;
    click(&browser, "#editor button[type=submit]").await;
    let page = &browser;
    wait_until_async("the saved notice", TIMEOUT, || async move {
        let element = page.find(Locator::Css(".notice")).await.ok()?;
        let text = element.text().await.ok()?;
        text.contains("Saved SOUL.md").then_some(())
    })
    .await;
    let soul = std::fs::read_to_string(world.state_dir().join("workspace/SOUL.md")).unwrap();
    assert_eq!(soul, "Be cheerful [persona]");
    screenshot(&browser, "09-agents").await;

    // Without the session cookie (a request that never logged in) everything is refused.
    browser.delete_all_cookies().await.unwrap();
    browser.goto(&format!("{base}/chat")).await.unwrap();
    assert_eq!(path_of(&browser).await, "/login");
    let api = client().get(format!("{base}/api/status")).send().await.unwrap();
    assert_eq!(api.status(), 401);
    browser.close().await.unwrap();
}

/// A Chromium session (and its driver, which lives as long as the guard) logged in to the
/// console at `base` with [`TOKEN`].
async fn logged_in(chromedriver: &Path, chromium: &Path, base: &str) -> (Driver, Client) {
    let driver_port = free_port();
    let driver = Driver(
        Command::new(chromedriver)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let browser = connect(driver_port, chromium).await;
    browser.goto(&format!("{base}/login")).await.unwrap();
    type_into(&browser, "#token", TOKEN).await;
    click(&browser, "button[type=submit]").await;
    wait_path(&browser, "the status page after login", |p| p == "/").await;
    (driver, browser)
}

/// Sets a field to `text` (clearing what the page put there).
async fn fill(browser: &Client, css: &str, text: &str) {
    let field = browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    field.clear().await.expect("clear the field");
    field.send_keys(text).await.expect("type into the field");
}

async fn choose(browser: &Client, css: &str, value: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("no option {value} in {css}: {e}"));
}

/// Waits for an element whose text contains `needle`; returns the text.
async fn wait_text(browser: &Client, css: &str, needle: &str) -> String {
    wait_until_async(&format!("{needle:?} in {css}"), TIMEOUT, || async move {
        let element = browser.find(Locator::Css(css)).await.ok()?;
        let text = element.text().await.ok()?;
        text.contains(needle).then_some(text)
    })
    .await
}

/// From a config with no model and no DingTalk account to a bot that answers a DM, entirely
/// through the console's Setup page; and the console in Chinese.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sets_up_a_bot_from_an_empty_config() {
    let Some((chromium, chromedriver)) = browser_or_skip() else {
        return;
    };
    let world = World::start().await;
    world
        .model
        .push(Script::text("Set up and answering [s1]").when_last_user_contains("[s1]"));
    let config = world.write_config(&world.fill(&format!(
        r#"{{ gateway: {{ stateDir: "{{STATE}}", port: 0, auth: {{ token: "{TOKEN}" }} }} }}"#
    )));
    let mut gateway = world.launch(Some(&config), &[], &[]).await;
    let base = format!("http://{}", web_addr(&mut gateway).await);

    let (_driver, browser) = logged_in(&chromedriver, &chromium, &base).await;
    wait_text(&browser, "#no-accounts", "Setup").await;
    screenshot(&browser, "10-status-no-account").await;

    click(&browser, "#no-accounts a").await;
    wait_path(&browser, "the setup page", |p| p == "/setup").await;
    screenshot(&browser, "11-setup").await;

    // Step 1: the mock model as any OpenAI-compatible URL, tested for real.
    choose(&browser, "#provider", "custom").await;
    fill(&browser, "#provider_id", "mock").await;
    fill(&browser, "#base_url", &world.model.base_url()).await;
    fill(&browser, "#api_key", "sk-e2e-mock").await;
    fill(&browser, "#model", "e2e-model").await;
    click(&browser, "#model-save").await;
    let outcome = wait_text(&browser, "#step-model .notice", "Saved to").await;
    assert!(outcome.contains("mock/e2e-model answered in"), "{outcome}");
    screenshot(&browser, "12-setup-model-saved").await;

    // A wrong secret is refused by the live check, and nothing is written.
    let before = std::fs::read_to_string(&config).unwrap();
    fill(&browser, "#client_id", APP1).await;
    fill(&browser, "#client_secret", "not-the-secret").await;
    click(&browser, "#step-channel summary").await;
    fill(&browser, "#endpoints", world.sim.base_url().as_str()).await;
    click(&browser, "#channel-save").await;
    let refused = wait_text(
        &browser,
        "#step-channel .error",
        "wrong Client ID / Client Secret",
    )
    .await;
    assert!(!refused.contains("not-the-secret"), "{refused}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
    screenshot(&browser, "13-setup-channel-refused").await;

    // Step 2: the simulator's bot over Stream, open to DMs. The form kept everything but the
    // secret.
    fill(&browser, "#client_secret", SECRET1).await;
    choose(&browser, "#dm_policy", "open").await;
    click(&browser, "#channel-save").await;
    let outcome = wait_text(&browser, "#step-channel .notice", "Saved to").await;
    assert!(outcome.contains("applying"), "{outcome}");
    screenshot(&browser, "14-setup-channel-saved").await;
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(
        written.contains(APP1) && written.contains("\"dmPolicy\": \"open\""),
        "{written}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the config file is private");
    }

    // The config editor: secrets masked, a wrong value refused at its key, nothing written.
    browser.goto(&format!("{base}/config")).await.unwrap();
    let shown: String = browser
        .execute("return document.getElementById('config-text').value", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !shown.contains(SECRET1) && !shown.contains("sk-e2e-mock"),
        "{shown}"
    );
    assert!(shown.contains("(unchanged)"), "{shown}");
    let wrong = shown.replace("\"dmPolicy\": \"open\"", "\"dmPolicy\": \"sometimes\"");
    browser
        .execute(
            "document.getElementById('config-text').value = arguments[0]",
            vec![serde_json::json!(wrong)],
        )
        .await
        .unwrap();
    click(&browser, "#config-save").await;
    let errors = wait_text(&browser, "#config-errors", "dmPolicy").await;
    assert!(errors.contains("channels.dingtalk"), "{errors}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), written);
    screenshot(&browser, "15-config-refused").await;
    let renamed = shown.replace("\"groupPolicy\": \"open\"", "\"groupPolicy\": \"disabled\"");
    browser
        .execute(
            "document.getElementById('config-text').value = arguments[0]",
            vec![serde_json::json!(renamed)],
        )
        .await
        .unwrap();
    click(&browser, "#config-save").await;
    wait_text(&browser, "#config-saved", "Saved to").await;
    let edited = std::fs::read_to_string(&config).unwrap();
    assert!(
        edited.contains("\"groupPolicy\": \"disabled\"") && edited.contains(SECRET1),
        "the edit is saved and the masked secret kept: {edited}"
    );

    // The console in Chinese: the switch, remembered for the next page.
    browser.goto(&format!("{base}/setup")).await.unwrap();
    click(&browser, "#lang-switch").await;
    wait_text(&browser, "h1", "初始化").await;
    screenshot(&browser, "16-setup-zh").await;
    browser.goto(&format!("{base}/")).await.unwrap();
    wait_text(&browser, "h1", "状态").await;
    screenshot(&browser, "17-status-zh").await;
    browser.close().await.unwrap();

    // The gateway reloads the file it was started with: the new account connects by
    // itself, no restart.
    wait_until("the new account's Stream connection", TIMEOUT, || {
        (!world.sim.open_connections(APP1).is_empty()).then_some(())
    })
    .await;
    let dm = world.dm(APP1, ALICE, "are you there? [s1]");
    world
        .wait_reply_containing(&dm.conversation_id, "Set up and answering [s1]")
        .await;
}

/// WebChat shows the answer while the model is still writing it, renders its markdown, and
/// Stop ends a turn the way `/stop` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_webchat_streams_renders_markdown_and_stops() {
    let Some((chromium, chromedriver)) = browser_or_skip() else {
        return;
    };
    let world = World::start_with(WorldOptions {
        model_delays: true,
        ..WorldOptions::default()
    })
    .await;
    let slow = Duration::from_millis(600);
    world.model.push(
        Script::chunks([
            "Here is the table [w1]:\n\n",
            "| city | temp |\n|:--|--:|\n| Hangzhou | 21 |\n",
            "| Beijing | 12 |\n\n",
            "```sh\nclawtalk gateway run\n```\n\n",
            "All done [w1-end].",
        ])
        .delay(Duration::ZERO, slow)
        .when_last_user_contains("[w1]"),
    );
    let endless: Vec<String> = (0..60).map(|i| format!("word{i} ")).collect();
    world.model.push(
        Script::chunks(endless)
            .delay(Duration::ZERO, slow)
            .when_last_user_contains("[w2]"),
    );
    // An MCP server that cannot start, for the MCP page.
    let mcp = r#"mcp: { servers: { broken: { command: "/nonexistent/mcp-server-browser" } } },"#;
    let text = world.config(OPEN, mcp).replace("gateway: {", &console_token());
    let config = world.write_config(&text);
    let mut gateway = world.start_gateway(&config).await;
    let base = format!("http://{}", web_addr(&mut gateway).await);
    let (_driver, browser) = logged_in(&chromedriver, &chromium, &base).await;

    browser.goto(&format!("{base}/chat")).await.unwrap();
    type_into(&browser, "#message", "A table please [w1]").await;
    click(&browser, "#send").await;
    // The first part shows while the model is still writing the rest.
    let partial = wait_text(&browser, "#live-answer", "Here is the table [w1]").await;
    assert!(
        !partial.contains("[w1-end]"),
        "streamed, not all at once: {partial}"
    );
    screenshot(&browser, "20-webchat-streaming").await;
    // Once answered, the page shows the stored transcript (the live bubble is gone).
    let page = &browser;
    wait_until_async("the answered transcript", TIMEOUT, || async move {
        if page.find(Locator::Css("#live-answer")).await.is_ok() {
            return None;
        }
        let text = page
            .find(Locator::Css("#transcript"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("[w1-end]").then_some(())
    })
    .await;
    wait_text(&browser, "#transcript .msg.assistant table.md", "Hangzhou").await;
    let code = text_of(&browser, "#transcript .msg.assistant pre code").await;
    assert_eq!(code.trim(), "clawtalk gateway run");
    assert!(
        text_of(&browser, "#transcript")
            .await
            .contains("All done [w1-end].")
    );
    screenshot(&browser, "21-webchat-markdown").await;

    // Stop: the turn ends early, the page says so, and the model's words stop there.
    type_into(&browser, "#message", "Talk for a long time [w2]").await;
    click(&browser, "#send").await;
    wait_text(&browser, "#live-answer", "word1").await;
    click(&browser, "#stop").await;
    let page = &browser;
    wait_until_async("the stopped turn's notice", TIMEOUT, || async move {
        let element = page.find(Locator::Css("#chat-live-error")).await.ok()?;
        element.is_displayed().await.ok()?.then_some(())
    })
    .await;
    let shown = text_of(&browser, "#live-answer").await;
    assert!(!shown.contains("word59"), "stopped before the end: {shown}");
    screenshot(&browser, "22-webchat-stopped").await;

    // A DingTalk conversation, found by search and continued from the console: same agent
    // and history, and the answer stays in the console.
    world
        .model
        .push(Script::text("Noted, **Alice** [c0]").when_last_user_contains("[c0]"));
    world
        .model
        .push(Script::text("Continued from the console [c1]").when_last_user_contains("[c1]"));
    let dm = world.dm(APP1, ALICE, "remember the number 42 [c0]");
    world.wait_reply_containing(&dm.conversation_id, "[c0]").await;
    browser
        .goto(&format!("{base}/conversations?q=dm%3A"))
        .await
        .unwrap();
    let listed = text_of(&browser, "table").await;
    assert!(listed.contains("dm:") && !listed.contains("webchat"), "{listed}");
    screenshot(&browser, "23-conversations-search").await;
    click(&browser, "td a").await;
    wait_text(&browser, "#transcript", "Noted, Alice [c0]").await;
    type_into(&browser, "#message", "what was the number? [c1]").await;
    click(&browser, "#send").await;
    wait_text(&browser, "#transcript", "Continued from the console [c1]").await;
    let request = world.wait_request_for("[c1]").await;
    let history = support::world::texts_of(&request, "user").join(" | ");
    assert!(
        history.contains("remember the number 42"),
        "the same history: {history}"
    );
    screenshot(&browser, "24-conversation-continued").await;
    let sent_c1 = || {
        world
            .sim
            .sent_messages()
            .into_iter()
            .filter(|m| m.text.contains("[c1]"))
            .count()
    };
    assert_eq!(sent_c1(), 0, "the console's answer is not sent to DingTalk");

    // Until the operator sends it on: once, however often the button is pressed.
    let page = &browser;
    wait_until_async("the Send to DingTalk button", TIMEOUT, || async move {
        page.find(Locator::Css(".send-to-dingtalk button")).await.ok()
    })
    .await;
    click(&browser, ".send-to-dingtalk button").await;
    wait_text(&browser, "#conv-sent", "was sent to the DingTalk conversation").await;
    screenshot(&browser, "25-sent-to-dingtalk").await;
    click(&browser, ".send-to-dingtalk button").await;
    wait_text(&browser, "#conv-sent", "already sent").await;
    wait_until("the answer in Alice's DM", TIMEOUT, || {
        (sent_c1() == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sent_c1(), 1, "sent exactly once");

    // Delete the session, after a confirmation.
    click(&browser, "#conv-delete").await;
    wait_text(&browser, "h1", "Delete conversation").await;
    screenshot(&browser, "26-session-delete-confirm").await;
    click(&browser, "#conv-delete-confirm").await;
    wait_text(&browser, "#conv-deleted", "Deleted conversation").await;
    screenshot(&browser, "27-session-deleted").await;
    assert!(
        !text_of(&browser, "table").await.contains("dm:"),
        "the DM session is gone"
    );

    // Scheduled tasks: a mistake shown at its field, then created and paused.
    browser.goto(&format!("{base}/cron")).await.unwrap();
    fill(&browser, "#cron-name", "Standup nudge").await;
    fill(&browser, "#cron-prompt", "Remind the team of the standup").await;
    fill(&browser, "#cron-expr", "9 o'clock").await;
    fill(&browser, "#cron-user", ALICE).await;
    click(&browser, "#cron-create-submit").await;
    wait_text(&browser, ".field-error", "five fields").await;
    screenshot(&browser, "28-cron-create-refused").await;
    fill(&browser, "#cron-expr", "0 9 * * 1-5").await;
    fill(&browser, "#cron-user", ALICE).await;
    click(&browser, "#cron-create-submit").await;
    wait_text(&browser, ".notice", "Created task").await;
    screenshot(&browser, "29-cron-created").await;
    click(&browser, "#cron-tasks button[value=pause]").await;
    wait_text(&browser, ".notice", "Paused task").await;
    assert_eq!(text_of(&browser, "#cron-tasks td.status").await, "paused");
    screenshot(&browser, "30-cron-paused").await;

    // MCP servers: the broken one is shown with its error; a probe says why.
    browser.goto(&format!("{base}/mcp")).await.unwrap();
    let page = &browser;
    wait_until_async("the MCP server's error", TIMEOUT, || async move {
        page.refresh().await.ok()?;
        let text = page
            .find(Locator::Css("#mcp-servers"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (text.contains("broken") && text.contains("not found (install it")).then_some(())
    })
    .await;
    screenshot(&browser, "31-mcp").await;
    click(&browser, "#mcp-servers button").await;
    wait_text(&browser, "#mcp-probe", "Failed").await;
    screenshot(&browser, "32-mcp-probe").await;
    browser.close().await.unwrap();
}

/// A WebChat call that needs approval shows its buttons inside the streamed answer; pressing
/// Allow once lets the tool run, and the stored conversation shows its result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_webchat_approves_a_tool_call_with_a_button() {
    let Some((chromium, chromedriver)) = browser_or_skip() else {
        return;
    };
    let world = World::start().await;
    world
        .model
        .push(Script::tool_call("get_time", "{}").when_last_user_contains("[p1]"));
    world
        .model
        .push(Script::text("The clock says so [p1-end]").when_last_user_contains("[p1]"));
    let text = world
        .config(
            OPEN,
            r#"tools: { approval: { require: ["get_time"], cardTemplateId: "approval.schema" } },"#,
        )
        .replace("gateway: {", &console_token());
    let config = world.write_config(&text);
    let mut gateway = world.start_gateway(&config).await;
    let base = format!("http://{}", web_addr(&mut gateway).await);
    let (_driver, browser) = logged_in(&chromedriver, &chromium, &base).await;

    browser.goto(&format!("{base}/chat")).await.unwrap();
    type_into(&browser, "#message", "What time is it? [p1]").await;
    click(&browser, "#send").await;
    let asked = wait_text(&browser, "#live-answer .approval", "get_time").await;
    for label in ["Allow once", "Always allow", "Deny"] {
        assert!(asked.contains(label), "{label:?} in {asked}");
    }
    assert_eq!(
        world.requests_for("[p1]").len(),
        1,
        "the turn waits for the button"
    );
    screenshot(&browser, "25-webchat-approval").await;
    click(
        &browser,
        "#live-answer .approval button[data-decision=allow_once]",
    )
    .await;
    // The tool runs and the answer streams on (what the press answers is checked over plain
    // HTTP in webchat_approvals.rs; here the page moves on too fast to read it reliably).
    // Once answered, the page shows the stored conversation, the tool's result in it.
    let page = &browser;
    let shown = wait_until_async("the stored conversation", TIMEOUT, || async move {
        if page.find(Locator::Css("#live-answer")).await.is_ok() {
            return None;
        }
        let text = text_of(page, "#transcript").await;
        text.contains("[p1-end]").then_some(text)
    })
    .await;
    assert!(shown.contains("+08:00"), "the tool's result: {shown}");
    assert_eq!(world.requests_for("[p1]").len(), 2, "asked once, answered once");
    screenshot(&browser, "26-webchat-approved").await;
    browser.close().await.unwrap();
}
