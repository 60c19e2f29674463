//! End to end, the console's usage page: the real `clawtalk gateway run` against the
//! simulator and the mock model. `/usage` shows the tokens the model reported and the DingTalk
//! calls the simulator counted; past 80 % of a small `monthlyApiQuota` the quota warning shows
//! on `/usage` and the status page and is logged once; a graceful stop stores what was counted.

mod support;

use std::time::Duration;

use llm_mock::Script;
use support::web::{WebSession, printed_token, web_addr};
use support::world::{ALICE, APP1, BOB, OPEN};
use support::{TIMEOUT, World, wait_until, wait_until_async};

/// What the simulator counted on the path a markdown DM reply takes.
fn webhook_calls(world: &World) -> u64 {
    ["-", APP1]
        .iter()
        .map(|app| world.sim.api_call_count(app, "/robot/sendBySession"))
        .sum()
}

/// The text of the first `<td class="{class}">` in the usage table's row of `account` and
/// `agent`.
fn cell(page: &str, account: &str, agent: &str, class: &str) -> Option<u64> {
    let row = &page[page.find(&format!("data-account=\"{account}\" data-agent=\"{agent}\""))?..];
    let row = &row[..row.find("</tr>")?];
    let mark = format!("<td class=\"{class}\">");
    let rest = &row[row.find(&mark)? + mark.len()..];
    rest[..rest.find('<')?].trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_shows_reported_tokens_and_counted_calls_and_warns_near_the_quota() {
    let world = World::start().await;
    world.model.push(
        Script::text("first answer")
            .usage(11, 7)
            .when_last_user_contains("one"),
    );
    world.model.push(
        Script::text("second answer")
            .usage(13, 5)
            .when_last_user_contains("two"),
    );
    for later in ["again please", "and again", "last one"] {
        world
            .model
            .push(Script::text("more").usage(1, 1).when_last_user_contains(later));
    }
    let config = world.write_config(&world.config(&format!("{OPEN} monthlyApiQuota: 5,"), ""));
    let mut gateway = world.start_gateway(&config).await;
    let base = format!("http://{}", web_addr(&mut gateway).await);
    let token = wait_until("the token", TIMEOUT, || printed_token(&gateway.log())).await;
    let web = WebSession::login(&base, &token).await;

    let one = world.dm(APP1, ALICE, "question one");
    world.wait_replies(&one.conversation_id, 1).await;
    let two = world.dm(APP1, BOB, "question two");
    world.wait_replies(&two.conversation_id, 1).await;

    let page = {
        let web = &web;
        wait_until_async("/usage to show both turns' tokens", TIMEOUT, move || async move {
            let (_, page) = web.get("/usage").await;
            (cell(&page, "default", "main", "prompt") == Some(24)).then_some(page)
        })
        .await
    };
    assert_eq!(cell(&page, "default", "main", "completion"), Some(12), "{page}");
    assert!(page.contains("<svg id=\"chart-tokens\""), "{page}");
    assert!(
        page.contains("data-value=\"36\""),
        "today's bar holds 24 + 12 tokens: {page}"
    );
    let calls = webhook_calls(&world);
    assert_eq!(calls, 2, "one sessionWebhook reply per DM");
    assert_eq!(cell(&page, "default", "-", "quota-calls"), Some(calls), "{page}");
    assert!(
        !page.contains("quota-warning"),
        "2 of 5 calls is no warning: {page}"
    );
    // The filter by agent keeps the account's calls; another account's name hides everything.
    let (_, filtered) = web.get("/usage?account=other&agent=").await;
    assert!(
        cell(&filtered, "default", "main", "prompt").is_none(),
        "{filtered}"
    );

    // Two more replies: 4 of 5 calls, 80 %.
    for (user, text) in [(ALICE, "again please"), (BOB, "and again")] {
        let injected = world.dm(APP1, user, text);
        world.wait_replies(&injected.conversation_id, 2).await;
    }
    let (status, page) = web.get("/usage").await;
    assert_eq!(status, 200);
    assert_eq!(
        cell(&page, "default", "-", "quota-calls"),
        Some(webhook_calls(&world))
    );
    assert!(page.contains("class=\"quota-warning notice\""), "{page}");
    assert!(page.contains("4 / 5 (80%)"), "{page}");
    let (_, status_page) = web.get("/").await;
    assert!(
        status_page.contains("quota-warning"),
        "the status page warns too: {status_page}"
    );

    // The flush (every 5 s) stores the figures and logs the warning, once.
    let log = wait_until("the quota warning in the log", TIMEOUT, || {
        let log = gateway.log();
        log.contains("passed 80% of channels.dingtalk.monthlyApiQuota")
            .then_some(log)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        gateway
            .log()
            .matches("passed 80% of channels.dingtalk.monthlyApiQuota")
            .count(),
        1,
        "{log}"
    );

    // A graceful stop stores what the last flush had not; the next start shows it.
    let sixth = world.dm(APP1, ALICE, "last one");
    world.wait_replies(&sixth.conversation_id, 3).await;
    gateway.terminate();
    assert!(gateway.wait_exit(TIMEOUT).await.success());
    let mut gateway = world.start_gateway(&config).await;
    let base = format!("http://{}", web_addr(&mut gateway).await);
    let web = WebSession::login(&base, &token).await;
    let (_, page) = web.get("/usage").await;
    assert_eq!(cell(&page, "default", "-", "quota-calls"), Some(5), "{page}");
    assert!(page.contains("class=\"quota-warning error\""), "5 of 5: {page}");
    assert_eq!(cell(&page, "default", "main", "prompt"), Some(27), "{page}");
}
