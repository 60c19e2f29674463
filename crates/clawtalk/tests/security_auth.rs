//! Security review, end to end: every route of the gateway's listener refuses callers
//! without credentials, or with wrong ones.
//!
//! The routes come from `clawtalk::all_http_routes()`, the same tables the
//! routers are built from, so a route added later is knocked on here too; and each access
//! level is checked to be what actually guards the route: refused without credentials,
//! served with the right ones.

mod support;

use clawtalk::all_http_routes;
use clawtalk_gateway::routes::{Access, HttpRoute};
use reqwest::Method;
use support::World;
use support::web::{WebSession, client, web_addr};
use support::webhook::listen_addr;
use support::world::OPEN;

const TOKEN: &str = "e2e-auth-gateway-token-0451";
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
];

/// A concrete path for a route pattern (`{param}` segments filled in).
fn concrete(route: &HttpRoute) -> String {
    route
        .path
        .split('/')
        .map(|segment| match segment {
            "{account}" => "hooks",
            s if s.starts_with('{') => "1",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether `status` (and `location`) is a refusal for a route of `access`.
fn refused(access: Access, path: &str, status: u16, location: Option<&str>) -> bool {
    match access {
        // A method the route does not have is refused before any handler runs.
        _ if status == 405 => true,
        Access::Signed => status == 401,
        // After ten wrong tokens the caller is locked out: 429 says nothing about the token.
        Access::Token => status == 401 || status == 429,
        Access::Session if path.starts_with("/api/") => status == 401,
        Access::Session => status == 303 && location == Some("/login"),
        Access::Public => true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_callers_without_or_with_wrong_credentials() {
    let world = World::start().await;
    // An HTTP-mode account, so the webhook routes are mounted too, next to a Stream one.
    let config = world.fill(&format!(
        r#"{{
  agents: {{ list: [ {{ id: "main", model: "mock/e2e-model" }} ] }},
  models: {{ providers: {{ mock: {{ baseUrl: "{{MODEL}}", apiKey: "sk-e2e-mock" }} }} }},
  channels: {{ dingtalk: {{ endpoints: "{{SIM}}", {OPEN}
    accounts: {{ default: {{ clientId: "{{APP1}}", clientSecret: "{{SECRET1}}" }},
                 hooks: {{ clientId: "dinghooks", clientSecret: "hook-secret", mode: "http",
                           cardCallbackUrl: "https://bot.example.com/webhooks/dingtalk/hooks/card" }} }} }} }},
  gateway: {{ stateDir: "{{STATE}}", port: 0, auth: {{ token: "{TOKEN}" }} }},
}}"#
    ));
    let path = world.write_config(&config);
    let mut gateway = world.start_gateway(&path).await;
    let web = web_addr(&mut gateway).await;
    assert_eq!(
        listen_addr(&mut gateway).await,
        web,
        "one listener serves everything"
    );
    let base = format!("http://{web}");
    let http = client();

    let routes = all_http_routes();
    for expected in [
        "/webhooks/dingtalk",
        "/webhooks/dingtalk/{account}/card",
        "/control/status",
        "/metrics",
        "/login",
        "/",
        "/config",
        "/agents",
        "/agents/save",
        "/memories",
        "/memories/forget",
    ] {
        assert!(routes.iter().any(|r| r.path == expected), "{expected} is listed");
    }
    // Anything public must be meant to be: a new route marked Public fails here until it is
    // added to this list on purpose.
    let mut public: Vec<&str> = routes
        .iter()
        .filter(|r| r.access == Access::Public)
        .map(|r| r.path)
        .collect();
    public.sort_unstable();
    assert_eq!(public, ["/healthz", "/login", "/readyz"], "the public routes");
    // The right token first: the knocking below locks this address out of the token routes.
    for route in routes.iter().filter(|r| r.access == Access::Token) {
        let path = concrete(route);
        let response = http
            .get(format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path} with the token");
    }
    let wrong_credentials: [(&str, &str); 3] = [
        ("authorization", "Bearer not-the-token"),
        ("cookie", "clawtalk_session=forged-session-id"),
        ("authorization", "Basic ZTJlOnRva2Vu"),
    ];
    let mut problems = Vec::new();
    for route in routes.iter().filter(|r| r.access != Access::Public) {
        let path = concrete(route);
        let mut answered = false;
        for method in METHODS {
            let attempts = std::iter::once(None).chain(wrong_credentials.iter().map(Some));
            for credential in attempts {
                let mut request = http.request(method.clone(), format!("{base}{path}"));
                if let Some((name, value)) = credential {
                    request = request.header(*name, *value);
                }
                let response = request.send().await.expect("the gateway answers");
                let status = response.status().as_u16();
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .map(str::to_owned);
                answered |= status != 405;
                if !refused(route.access, &path, status, location.as_deref()) {
                    problems.push(format!(
                        "{method} {path} ({:?}) with {credential:?}: {status} {location:?}",
                        route.access
                    ));
                }
            }
        }
        assert!(answered, "{} answers some method (the route exists)", route.path);
    }
    assert!(problems.is_empty(), "not refused:\n{}", problems.join("\n"));

    // The refusals are the access checks, not broken routes: the right credentials get in.
    let session = WebSession::login(&base, TOKEN).await;
    for route in routes.iter() {
        let path = concrete(route);
        let status = match route.access {
            Access::Session => {
                let (status, _) = session.get(&path).await;
                if status == 405 {
                    // POST-only: the session gets past the check, the form's CSRF token does not.
                    let (status, _, _) = session.post(&path, &[("csrf", "forged")]).await;
                    assert_eq!(status, 403, "POST {path} with a session but no CSRF token");
                    continue;
                }
                status
            }
            Access::Public | Access::Signed | Access::Token => continue,
        };
        // `/conversations/1` does not exist in an empty store: 404 is the page's answer.
        assert!(
            status == 200 || (status == 404 && path.contains("/1")),
            "{path} with credentials: {status}"
        );
    }

    // Guessing the token online: ten wrong tries from an address, then even the right token
    // waits out the minute (so the answers give nothing away), and says for how long.
    let login = |token: &'static str| {
        let http = http.clone();
        let url = format!("{base}/login");
        async move { http.post(url).form(&[("token", token)]).send().await.unwrap() }
    };
    for attempt in 0..10 {
        assert_eq!(login("guess").await.status(), 401, "wrong token #{attempt}");
    }
    let locked = login(TOKEN).await;
    assert_eq!(locked.status(), 429, "locked out");
    let retry: u64 = locked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
}
