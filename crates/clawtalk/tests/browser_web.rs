//! The web UI in headless Chromium (Debian's `chromium` + `chromium-driver`, driven over
//! WebDriver with fantoccini): log in, see the connected account, approve a pairing request,
//! chat in WebChat and see the reply, and be refused without the token. A screenshot of
//! every page goes to `target/screenshots/`.
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
use support::world::{ALICE, APP1, BOB};
use support::{TIMEOUT, World, wait_until_async};

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
    let Some((chromium, chromedriver)) = find_browser() else {
        let message = "Chromium is not installed: apt-get install -y chromium chromium-driver \
                       (or set CHROMIUM and CHROMEDRIVER)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("skipping the browser test: {message}");
        return;
    };
    let world = World::start().await;
    world
        .model
        .push(Script::text("Bonjour from the agent [b1]").when_last_user_contains("[b1]"));
    let text = world
        .config(&format!(r#"dmPolicy: "pairing", allowFrom: ["{ALICE}"],"#), "")
        .replace(
            "gateway: {",
            &format!(r#"gateway: {{ auth: {{ token: "{TOKEN}" }},"#),
        );
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
    browser.goto(&format!("{base}/memories")).await.unwrap();
    let memories = text_of(&browser, "#memories").await;
    assert!(
        memories.contains("weekly sync") && memories.contains("MEMORY.md:1"),
        "{memories}"
    );
    screenshot(&browser, "09-memories").await;

    // Without the session cookie (a request that never logged in) everything is refused.
    browser.delete_all_cookies().await.unwrap();
    browser.goto(&format!("{base}/chat")).await.unwrap();
    assert_eq!(path_of(&browser).await, "/login");
    let api = client().get(format!("{base}/api/status")).send().await.unwrap();
    assert_eq!(api.status(), 401);
    browser.close().await.unwrap();
}
