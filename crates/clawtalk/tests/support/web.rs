//! Web UI helpers: where it listens, the token the first start printed, and a logged-in
//! HTTP client that does not follow redirects (so tests see the 303s).

use std::net::SocketAddr;

use super::process::GatewayProcess;
use super::{TIMEOUT, wait_until};

/// Waits for "web UI listening on http://ADDR/" in the log.
pub async fn web_addr(process: &mut GatewayProcess) -> SocketAddr {
    const MARK: &str = "web UI listening on http://";
    wait_until("the gateway to log its web UI address", TIMEOUT, || {
        process.assert_running();
        let log = process.log();
        let rest = &log[log.find(MARK)? + MARK.len()..];
        rest[..rest.find('/')?].parse().ok()
    })
    .await
}

/// The token printed on the first start ("Log in with this gateway token …:\n  TOKEN").
pub fn printed_token(log: &str) -> Option<String> {
    const MARK: &str = "Log in with this gateway token";
    let rest = &log[log.find(MARK)?..];
    rest.lines()
        .nth(1)
        .map(|l| l.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// The code in a pairing reply ("… Pairing code: K7QX2M9P …").
pub fn pairing_code(reply: &str) -> String {
    let (_, rest) = reply
        .split_once("Pairing code:")
        .unwrap_or_else(|| panic!("no pairing code in {reply:?}"));
    rest.split_whitespace()
        .next()
        .expect("a code after the label")
        .to_owned()
}

/// A client that keeps no cookies and follows no redirects.
pub fn client() -> reqwest::Client {
    dingtalk::tls::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("build an HTTP client")
}

/// A logged-in browser session as plain HTTP: the cookie and the CSRF token of the pages.
pub struct WebSession {
    pub base: String,
    pub cookie: String,
    pub http: reqwest::Client,
}

impl WebSession {
    /// POSTs the token to /login; panics unless it succeeds.
    pub async fn login(base: &str, token: &str) -> Self {
        let http = client();
        let response = http
            .post(format!("{base}/login"))
            .form(&[("token", token)])
            .send()
            .await
            .expect("POST /login");
        assert_eq!(response.status(), 303, "login succeeds");
        let set_cookie = response
            .headers()
            .get("set-cookie")
            .expect("login sets a cookie")
            .to_str()
            .unwrap()
            .to_owned();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        Self {
            base: base.to_owned(),
            cookie,
            http,
        }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("GET");
        (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        )
    }

    /// POSTs a form; returns status, `Location` and body.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Option<String>, String) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .expect("POST");
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        (
            response.status().as_u16(),
            location,
            response.text().await.unwrap_or_default(),
        )
    }

    /// The CSRF token in a page's forms.
    pub async fn csrf(&self) -> String {
        let (_, page) = self.get("/").await;
        let mark = "name=\"csrf\" value=\"";
        let rest = &page[page.find(mark).expect("a form with a CSRF token") + mark.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}
